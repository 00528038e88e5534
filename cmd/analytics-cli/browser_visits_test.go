package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserVisitOfTwoPages follows a visitor in headless Chromium through
// the real pipeline: they open /a, follow a link to /b 10 seconds later and
// leave. That is one visit, not a bounce, of 10 seconds and 2 page views,
// entering on /a and leaving from /b.
//
// The snippet sends no timestamp (the collector stamps each event when it
// arrives, a tenth of a second after it happened), so the visitor really
// stays 10 seconds on /a: the wait is the scenario, not a synchronisation.
//
// The collector stamps the click's page view when it arrives, so on a busy
// machine the visit lasts a second more than the wait: the duration wanted
// is the one between the two stored timestamps, at least 10 seconds.
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
	day := depthDay(t, docs)
	if len(docs) != 2 {
		t.Fatalf("%d stored events, want the 2 page views: %v", len(docs), docs)
	}
	a, b := depthTime(docs[0]), depthTime(docs[1])
	if b.Before(a) {
		a, b = b, a
	}
	// Rounded to the second, as the visit model counts it.
	dur := (b.Sub(a).Milliseconds() + 500) / 1000
	if dur < 10 {
		t.Fatalf("the page views are %v apart, want at least the 10 s the visitor read /a", b.Sub(a))
	}
	depthWantAPI(t, p, site, day, []depthCheck{
		{"aggregate", "metrics=visitors,pageviews,visits,bounce_rate,visit_duration,views_per_visit",
			fmt.Sprintf(`{"results":{"bounce_rate":{"value":0},"pageviews":{"value":2},"views_per_visit":{"value":2},"visit_duration":{"value":%d},"visitors":{"value":1},"visits":{"value":1}},"approximate":false}`, dur)},
		{"breakdown", "property=visit:entry_page&metrics=visits,bounce_rate,visit_duration",
			fmt.Sprintf(`{"results":[{"entry_page":"/a","visits":1,"bounce_rate":0,"visit_duration":%d}],"approximate":false}`, dur)},
		{"breakdown", "property=visit:exit_page&metrics=visits,visit_duration,views_per_visit",
			fmt.Sprintf(`{"results":[{"exit_page":"/b","visits":1,"visit_duration":%d,"views_per_visit":2}],"approximate":false}`, dur)},
		{"breakdown", "property=visit:source&metrics=visits,bounce_rate",
			`{"results":[{"source":"Direct / None","visits":1,"bounce_rate":0}],"approximate":false}`},
	})
}
