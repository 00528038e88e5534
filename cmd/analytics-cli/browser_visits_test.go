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
func TestBrowserVisitOfTwoPages(t *testing.T) {
	// Not parallel: the visit lasts the 10 s the test waits, to the second.
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
	day := depthDay(t, depthRawEvents(t, p, site))
	depthWantAPI(t, p, site, day, []depthCheck{
		{"aggregate", "metrics=visitors,pageviews,visits,bounce_rate,visit_duration,views_per_visit",
			`{"results":{"bounce_rate":{"value":0},"pageviews":{"value":2},"views_per_visit":{"value":2},"visit_duration":{"value":10},"visitors":{"value":1},"visits":{"value":1}},"approximate":false}`},
		{"breakdown", "property=visit:entry_page&metrics=visits,bounce_rate,visit_duration",
			`{"results":[{"entry_page":"/a","visits":1,"bounce_rate":0,"visit_duration":10}],"approximate":false}`},
		{"breakdown", "property=visit:exit_page&metrics=visits,visit_duration,views_per_visit",
			`{"results":[{"exit_page":"/b","visits":1,"visit_duration":10,"views_per_visit":2}],"approximate":false}`},
		{"breakdown", "property=visit:source&metrics=visits,bounce_rate",
			`{"results":[{"source":"Direct / None","visits":1,"bounce_rate":0}],"approximate":false}`},
	})
}
