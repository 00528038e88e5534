package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowserVisitOfTwoPages follows a visitor in headless Chromium through
// the real pipeline: they open /a, follow a link to /b 10 seconds later and
// leave. That is one visit, not a bounce, of 10 seconds and 2 page views,
// entering on /a and leaving from /b.
//
// The browser's clock is set for each page (the page's Date starts at the
// moment given, and runs on), so "10 seconds later" is exact without the
// test waiting 10 seconds: the snippet stamps each event with the page's
// clock, as it always does.
func TestBrowserVisitOfTwoPages(t *testing.T) {
	p := startPipeline(t)
	site := fmt.Sprintf("visit-two-pages-%d", time.Now().UnixNano())
	tag := `<script defer src="` + p.collector + `/t.js" data-site="` + site + `" data-allow-localhost></script>`
	siteURL := depthPages(t, map[string]string{
		"/a": `<!doctype html><title>a</title>` + tag + `<body><a id="next" href="/b">next</a></body>`,
		"/b": `<!doctype html><title>b</title>` + tag + `<body><h1 id="b">B</h1></body>`,
	})
	// An hour ago, ten minutes past the hour: never near midnight.
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Hour).Add(10 * time.Minute)
	day := base.Format("2006-01-02")
	clock := fmt.Sprintf(`(() => {
  const Real = Date, from = Real.now(), at = %d + (location.pathname === "/b" ? 10000 : 0);
  const now = () => at + Real.now() - from;
  class Clock extends Real { constructor(...a) { super(...(a.length ? a : [now()])); } static now() { return now(); } }
  window.Date = Clock;
})()`, base.UnixMilli())

	ctx := browser(t)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: clock}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(siteURL+"/a"), chromedp.WaitReady(chromedp.CSS("#next")), snippetLoaded); err != nil {
		t.Fatal(err)
	}
	if got := depthEval[string](ctx, t, "new Date().toISOString()"); !strings.HasPrefix(got, base.Format("2006-01-02T15:04")) {
		t.Fatalf("the page's clock says %s, want %s", got, base.Format(time.RFC3339))
	}
	depthClickAndLoad(ctx, t, "#next")
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("#b")), snippetLoaded, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}

	p.waitProcessed(t, 2, 2)
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
