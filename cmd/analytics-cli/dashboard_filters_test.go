package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// The dashboard answers follow-up questions: a click (or Enter) on a row
// filters every panel, the Filter menu adds is / is not / contains on any
// property, goals, properties and a funnel have panels, the comparison
// draws, and the URL holds all of it. Every number drawn under every
// filter is checked against the v2 API's answer (checkView).

// chips are the filter chips as the page shows them.
const readChips = `[...document.querySelectorAll("#chips .chip")].map(c => c.querySelector(".chip-text").textContent)`

// pressEnterOn focuses the element sel and presses Enter, as a keyboard
// user does.
func pressEnterOn(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := waitFor(ctx, fmt.Sprintf("!!document.querySelector(%q)", sel), 15*time.Second); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		t.Fatalf("no %s to press Enter on: %v\npage text:\n%s", sel, err, body)
	}
	if _, err := chromedp.Run(ctx, chromedp.Focus(chromedp.CSS(sel))); err != nil {
		t.Fatalf("focus %s: %v", sel, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatalf("Enter on %s: %v", sel, err)
	}
}

// filterURL is the search part of the page's URL after a change, decoded.
func filterURL(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return dashEval[[]string](t, ctx, `new URLSearchParams(location.search).getAll("f")`)
}

func TestDashboardFilters(t *testing.T) {
	t.Parallel()
	p := startPipelineEnv(t, map[string]string{"SITES_REFRESH": "200ms"}, serveArgs)
	const site = "filters.example"
	const zone = "America/Los_Angeles"
	p.cli(t, "sites", "update", "--timezone", zone, site)
	p.cli(t, "goals", "add", "--site", site, "--event", "signup")
	p.cli(t, "goals", "add", "--site", site, "--page", "/docs/page-1")
	p.cli(t, "funnels", "add", "--site", site, "--name", "docs to signup", "--step", "page:/docs/page-0", "--step", "page:/docs/page-6", "--step", "event:signup")
	now := time.Now().UTC()
	n := dashWorkload(t, p, site, now)
	// A path longer than any table cell, yesterday, from Google.
	long := fmt.Sprintf(`{"id":"dash-long","site_id":%q,"event_type":"page_view","path":"/docs/a-very-long-path/with/many/segments/that/keeps/going/and-going-and-going/until-it-overflows-any-cell/index.html","user_id":"visitor-long","referrer":"https://www.google.com/","timestamp":%q}`,
		site, now.Add(-24*time.Hour).Format(time.RFC3339))
	if code, body := post(t, p.collector+"/event", long); code/100 != 2 {
		t.Fatalf("POST /event: %d %s", code, body)
	}
	n++
	p.waitProcessed(t, n, n)
	// The reporter reads the settings within SITES_REFRESH.
	testenv.Eventually(t, 20*time.Second, func() error {
		d := getJSON(t, p.reporter+"/api/v1/sites/"+site)
		if d["timezone"] != zone || len(d["goals"].([]any)) != 2 || len(d["funnels"].([]any)) != 1 {
			return fmt.Errorf("site details %v", d)
		}
		return nil
	})
	loc, _ := time.LoadLocation(zone)
	local := now.In(loc)
	today := local.Format("2006-01-02")
	day := func(n int) string { return local.AddDate(0, 0, n).Format("2006-01-02") }
	week := dashView{From: day(-7), To: day(-1), Today: today, Interval: "time:day"}

	ctx := dashBrowser(t)
	w := watchPage(t, ctx)
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/sites/"+site+"?period=7d")); err != nil {
		t.Fatal(err)
	}
	gen := waitDrawn(t, ctx, 0)
	if z := dashEval[string](t, ctx, `document.getElementById("zone").textContent`); z != "Times in "+zone {
		t.Errorf("the header names the zone as %q", z)
	}
	panels := dashEval[map[string]bool](t, ctx, `({goals: !document.getElementById("card-goals").hidden, props: !document.getElementById("card-props").hidden, funnel: !document.getElementById("card-funnels").hidden})`)
	if !panels["goals"] || !panels["props"] || !panels["funnel"] {
		t.Fatalf("panels shown: %v; want goals, properties and the funnel", panels)
	}
	checkView(t, ctx, p, site, week, "")

	// 1. Enter on the "Google" row of Sources filters every panel by it.
	pressEnterOn(t, ctx, `#card-sources tr[data-key="Google"] .rowlink`)
	gen = waitDrawn(t, ctx, gen)
	if f := filterURL(t, ctx); fmt.Sprint(f) != "[is,visit:source,Google]" {
		t.Errorf("URL filters after the Google row: %q", f)
	}
	if c := dashEval[[]string](t, ctx, readChips); fmt.Sprint(c) != "[Source is Google]" {
		t.Errorf("chips: %q", c)
	}
	google := []any{"is", "visit:source", []any{"Google"}}
	week.Filters = []any{google}
	checkView(t, ctx, p, site, week, "")

	// A table's search box: contains, case-insensitive, that table only.
	if _, err := chromedp.Run(ctx, chromedp.SendKeys(chromedp.CSS("#card-pages .search"), "PAGE-2")); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, `(document.querySelector("#card-pages .body").dataset.query || "").includes("PAGE-2")`, 10*time.Second); err != nil {
		t.Errorf("the pages search: %v", err)
	}
	b := week.body(site, []string{"visitors", "pageviews"}, []string{"event:page"}, []any{"contains", "event:page", []any{"PAGE-2"}, map[string]any{"case_sensitive": false}})
	b["pagination"] = map[string]any{"limit": 10}
	var want []string
	for _, r := range v2Query(t, p.reporter, b, "")["results"].([]any) {
		m := r.(map[string]any)
		want = append(want, fmt.Sprint(m["dimensions"].([]any)[0], " ", m["metrics"]))
	}
	got := dashEval[[]string](t, ctx, `[...document.querySelectorAll("#card-pages tbody tr")].map(tr => tr.dataset.key + " [" + [...tr.querySelectorAll("td.num")].map(td => td.dataset.value).join(" ") + "]")`)
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
		t.Errorf("searched pages: page %q, API %q", got, want)
	}
	// Cleared, the table lists every page again.
	if _, err := chromedp.Run(ctx, eval(`(s => { s.value = ""; s.dispatchEvent(new Event("input")); })(document.querySelector("#card-pages .search"))`)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, `!(document.querySelector("#card-pages .body").dataset.query || "").includes("PAGE-2")`, 10*time.Second); err != nil {
		t.Errorf("the pages search cleared: %v", err)
	}

	// 2. The Filter menu: page is not /docs/page-3, with suggestions of
	// the period's pages.
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS("#filter-open"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, eval(`(s => { s.value = "event:page"; s.dispatchEvent(new Event("change")); })(document.getElementById("filter-prop"))`)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, `[...document.querySelectorAll("#filter-values option")].some(o => o.value === "/docs/page-3")`, 10*time.Second); err != nil {
		t.Errorf("no suggestions of pages: %v", err)
	}
	if _, err := chromedp.Run(ctx, eval(`document.getElementById("filter-op").value = "is_not"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.SendKeys(chromedp.CSS("#filter-value"), "/docs/page-3")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	gen = waitDrawn(t, ctx, gen)
	if c := dashEval[[]string](t, ctx, readChips); fmt.Sprint(c) != "[Source is Google Page is not /docs/page-3]" {
		t.Errorf("chips: %q", c)
	}
	notPage := []any{"is_not", "event:page", []any{"/docs/page-3"}}
	week.Filters = []any{google, notPage}
	checkView(t, ctx, p, site, week, "")

	// 3. Remove the Google chip from the keyboard; filter by a custom
	// property's value from the Properties panel.
	pressEnterOn(t, ctx, `#chips .chip:first-child .chip-x`)
	gen = waitDrawn(t, ctx, gen)
	if c := dashEval[[]string](t, ctx, readChips); fmt.Sprint(c) != "[Page is not /docs/page-3]" {
		t.Errorf("chips after removing one: %q", c)
	}
	if k := dashEval[string](t, ctx, `document.getElementById("prop-key").value`); k != "plan" {
		t.Errorf("property key picked: %q", k)
	}
	pressEnterOn(t, ctx, `#card-props tr[data-key="pro"] .rowlink`)
	gen = waitDrawn(t, ctx, gen)
	week.Filters = []any{notPage, []any{"is", "event:props:plan", []any{"pro"}}}
	if f := filterURL(t, ctx); fmt.Sprint(f) != "[is_not,event:page,/docs/page-3 is,event:props:plan,pro]" {
		t.Errorf("URL filters: %q", f)
	}
	checkView(t, ctx, p, site, week, "")

	// 4. A goal, with the comparison with the previous period.
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS(`#card-goals tr[data-key="signup"] .rowlink`))); err != nil {
		t.Fatal(err)
	}
	gen = waitDrawn(t, ctx, gen)
	if _, err := chromedp.Run(ctx, eval(`(s => { s.value = "previous_period"; s.dispatchEvent(new Event("change")); })(document.getElementById("compare"))`)); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, gen)
	week.Filters = append(week.Filters, []any{"is", "event:goal", []any{"signup"}})
	week.Compare = "previous_period"
	checkView(t, ctx, p, site, week, "")
	if kpis := dashEval[[]kpi](t, ctx, readKPIs); len(kpis) == 0 || kpis[len(kpis)-1].Metric != "conversion_rate" {
		t.Errorf("under a goal filter the headline ends with the conversion rate: %v", kpis)
	}

	// 5. A copied link opens the same view; Back returns to the last one.
	link := dashEval[string](t, ctx, `location.href`)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	gen = waitDrawn(t, ctx, 0)
	checkView(t, ctx, p, site, week, "")
	if _, err := chromedp.Run(ctx, eval(`history.back()`)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, `!location.search.includes("compare=") && document.documentElement.dataset.state === "ready" && document.getElementById("compare").value === ""`, 30*time.Second); err != nil {
		t.Fatalf("back: %v", err)
	}
	waitFor(ctx, `document.documentElement.dataset.state === "ready"`, 30*time.Second)
	week.Compare = ""
	checkView(t, ctx, p, site, week, "")

	// Imported data: the API answers meta.imports_included, so the toggle
	// shows; it goes into the URL, and no panel claims imported data the
	// API did not include.
	if hidden := dashEval[bool](t, ctx, `document.getElementById("imports-toggle").hidden`); hidden {
		t.Error("the Include imported data toggle is hidden, though the API answers meta.imports_included")
	}
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS("#imports"))); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, gen)
	if q := dashEval[string](t, ctx, `new URLSearchParams(location.search).get("imports")`); q != "1" {
		t.Errorf("imports in the URL: %q", q)
	}
	if notes := dashEval[int](t, ctx, `document.querySelectorAll(".note.imports").length`); notes != 0 {
		t.Errorf("%d panels say they include imported data; the API included none", notes)
	}
	checkView(t, ctx, p, site, week, "")

	// Year over year, from the URL.
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/sites/"+site+"?period=7d&compare=year_over_year&f="+url.QueryEscape("is_not,visit:source,Google"))); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, 0)
	checkView(t, ctx, p, site, dashView{From: week.From, To: week.To, Today: today, Interval: "time:day", Compare: "year_over_year",
		Filters: []any{[]any{"is_not", "visit:source", []any{"Google"}}}}, "")

	// 6. A filter that leaves nothing: every panel says so.
	nothing := p.reporter + "/sites/" + site + "?period=7d&f=" + url.QueryEscape("is,visit:source,Nowhere")
	if _, err := chromedp.Run(ctx, chromedp.Navigate(nothing)); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, 0)
	week.Filters = []any{[]any{"is", "visit:source", []any{"Nowhere"}}}
	checkView(t, ctx, p, site, week, "")
	if s := dashEval[string](t, ctx, `document.getElementById("nodata").hidden ? "" : document.getElementById("nodata").textContent`); s != "Nothing matches these filters in this period." {
		t.Errorf("the note of an empty filtered view: %q", s)
	}

	// Keyboard: Tab from the top reaches the filter button, a chip's
	// remove button and the rows.
	reached := map[string]bool{}
	if _, err := chromedp.Run(ctx, eval(`document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60 && len(reached) < 3; i++ {
		if _, err := chromedp.Run(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		a := dashEval[string](t, ctx, `(e => e.id || e.className)(document.activeElement)`)
		if a == "filter-open" || a == "chip-x" || a == "search" {
			reached[a] = true
		}
	}
	if len(reached) < 3 {
		t.Errorf("Tab reaches only %v of the filter button, a chip and a table's search", reached)
	}

	// Nothing from another origin, no dialog; values stay text.
	requests, dialogs := w.take()
	for _, r := range requests {
		if !strings.HasPrefix(r, p.reporter+"/") && !strings.HasPrefix(r, "data:") {
			t.Errorf("request to another origin: %s", r)
		}
	}
	if len(dialogs) > 0 {
		t.Errorf("dialogs opened: %q", dialogs)
	}

	// Screenshots: a filter applied, compared with the previous period;
	// and the whole page once, every panel.
	view := p.reporter + "/sites/" + site + "?period=7d&compare=previous_period&f=" + url.QueryEscape("is,visit:source,Google")
	screenshots(t, ctx, view)
	_, err := chromedp.Run(ctx, chromedp.EmulateViewport(390, 844, func(p1 *emulation.SetDeviceMetricsOverrideParams, p2 *emulation.SetTouchEmulationEnabledParams) {
		p1.Mobile = true
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(view)); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, 0)
	if wide := dashEval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth`); wide {
		t.Error("the long path makes the page scroll sideways")
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, "dashboard-phone-full-light.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
