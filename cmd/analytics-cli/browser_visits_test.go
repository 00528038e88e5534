package main

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserVisitOfTwoPages follows a visitor in headless Chromium through
// the real pipeline: they open /a, follow a link to /b 10 seconds later and
// leave. That is one visit, not a bounce, of 10 seconds (as the collector
// stamped the page views, to the millisecond) and 2 page views,
// entering on /a and leaving from /b.
//
// The snippet sends no timestamp (the collector stamps each event when it
// arrives, a tenth of a second after it happened), so the visitor really
// stays 10 seconds on /a: the wait is the scenario, not a synchronisation.
func TestBrowserVisitOfTwoPages(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	site := fmt.Sprintf("visit-two-pages-%d", time.Now().UnixNano())
	tag := `<script defer src="` + p.collector + `/t.js" data-site="` + site + `" data-allow-localhost></script>`
	siteURL := depthPages(t, map[string]string{
		"/a": `<!doctype html><title>a</title>` + tag + `<body><a id="next" href="/b">next</a></body>`,
		"/b": `<!doctype html><title>b</title>` + tag + `<body><h1 id="b">B</h1></body>`,
	})
	// A visit across midnight UTC is two visits, one per day: start after it.
	if untilMidnight := time.Until(time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)); untilMidnight < 30*time.Second {
		time.Sleep(untilMidnight + time.Second)
	}

	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(siteURL+"/a"), chromedp.WaitReady(chromedp.CSS("#next")), snippetLoaded); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second) // the visitor reads /a
	depthClickAndLoad(ctx, t, "#next")
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("#b")), snippetLoaded, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}

	p.waitProcessed(t, 2, 2)
	docs := depthRawEvents(t, p, site)
	if len(docs) != 2 {
		t.Fatalf("%d raw events stored, want 2: %v", len(docs), docs)
	}
	day := depthDay(t, docs)
	// The visit lasts from the first page view to the second, as the
	// collector stamped them (milliseconds); the API shows whole seconds,
	// rounded, as Plausible's.
	ms := depthTime(docs[1]).Sub(depthTime(docs[0])).Milliseconds()
	if ms < 10000 || ms > 20000 {
		t.Fatalf("the page views were stamped %d ms apart, want the 10 s the visitor read /a (and a little more)", ms)
	}
	dur := int64(math.Round(float64(ms) / 1000))
	depthWantAPI(t, p, site, day, []depthCheck{
		{"aggregate", "metrics=visitors,pageviews,visits,bounce_rate,visit_duration,views_per_visit",
			fmt.Sprintf(`{"results":{"visitors":{"value":1},"pageviews":{"value":2},"visits":{"value":1},"bounce_rate":{"value":0},"visit_duration":{"value":%d},"views_per_visit":{"value":2}}}`, dur)},
		{"breakdown", "property=visit:entry_page&metrics=visits,bounce_rate,visit_duration",
			fmt.Sprintf(`{"results":[{"entry_page":"/a","visits":1,"bounce_rate":0,"visit_duration":%d}]}`, dur)},
		// views_per_visit is not a breakdown metric (Plausible's rule).
		{"breakdown", "property=visit:exit_page&metrics=visits,visit_duration",
			fmt.Sprintf(`{"results":[{"exit_page":"/b","visits":1,"visit_duration":%d}]}`, dur)},
		{"breakdown", "property=visit:source&metrics=visits,bounce_rate",
			`{"results":[{"source":"Direct / None","visits":1,"bounce_rate":0}]}`},
	})
}
