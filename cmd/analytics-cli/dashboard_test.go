package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// These tests open the reporter's dashboard in headless Chromium against
// the real pipeline and compare what it draws with what the Stats API
// answers for the same view.

// ScreenshotDir is where the dashboard tests write their screenshots (the
// README shows one); relative to this package.
const screenshotDir = "../../docs/screenshots"

const xssPath = "/<img src=x onerror=alert(1)>"

// watch records every request the page makes and every dialog it opens
// (dismissing it, so the page does not hang).
type watch struct {
	mu       sync.Mutex
	requests []string
	dialogs  []string
}

func watchPage(t *testing.T, ctx context.Context) *watch {
	t.Helper()
	w := &watch{}
	dialogs := make(chan string, 16)
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			w.mu.Lock()
			w.requests = append(w.requests, e.Request.URL)
			w.mu.Unlock()
		case *page.EventJavascriptDialogOpening:
			select {
			case dialogs <- e.Message:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for msg := range dialogs {
			w.mu.Lock()
			w.dialogs = append(w.dialogs, msg)
			w.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
		}
	}()
	return w
}

func (w *watch) take() (requests, dialogs []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	requests, dialogs = w.requests, w.dialogs
	w.requests = nil
	return requests, dialogs
}

// dashBrowser is a Chromium tab that gives up after a few minutes, so a
// page that never answers fails the test instead of hanging it.
func dashBrowser(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(browser(t), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls expr until it is true. Unlike chromedp.Poll it survives
// navigations (whose new document starts a new execution context).
func waitFor(ctx context.Context, expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still false after %v", timeout)
			}
			return fmt.Errorf("waiting for %s: %w", expr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dashEval evaluates expr and decodes its JSON value into T.
func dashEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify("+expr+")"))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("evaluate %s: %v in %s", expr, err, s)
	}
	return v
}

// waitDrawn waits until the dashboard has drawn a view newer than gen
// (the page counts the views it loads) and returns the new one's number.
func waitDrawn(t *testing.T, ctx context.Context, gen int) int {
	t.Helper()
	expr := fmt.Sprintf(`document.documentElement.dataset.state === "ready" && +document.documentElement.dataset.gen > %d`, gen)
	if err := waitFor(ctx, expr, 30*time.Second); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the dashboard did not finish drawing: %v\npage text:\n%s", err, body)
	}
	return dashEval[int](t, ctx, `+document.documentElement.dataset.gen`)
}

// apiGet asks the reporter's API, with the token when there is one, and
// decodes the answer.
func apiGet(t *testing.T, base, path string, params url.Values, token string) map[string]any {
	t.Helper()
	return getJSONAuth(t, base+path+"?"+params.Encode(), token)
}

// dashWorkload sends a known mix of events for site over the last days
// and today, and returns how many. It looks like a small site's traffic
// (the README's screenshot is of it): 100 visits of 37 visitors over nine
// days, of 1 to 5 pages each, read for half a minute to four minutes a
// page, so about four in ten bounce.
func dashWorkload(t *testing.T, p *pipeline, site string, now time.Time) int {
	t.Helper()
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
	}
	ips := []string{"81.2.69.160", "8.8.8.8", "5.9.0.1", "1.1.1.1", "200.160.2.3"}
	referrers := []string{"", "https://www.google.com/search?q=x", "https://news.ycombinator.com/", "https://github.com/some/repo", "https://t.co/abc"}
	pages := []int{1, 3, 1, 2, 4, 1, 2, 5, 1, 3} // page views of a visit, by visit number
	var events []map[string]any
	for v := 0; v < 100; v++ {
		visitor := v % 37
		// Visits start at least 30 minutes ago, so their pages stay in the
		// past; the realtime line gets the visits of the last minutes below.
		ts := now.Add(-time.Duration(v%9)*24*time.Hour - 30*time.Minute - time.Duration(v*13)*time.Minute)
		referrer := referrers[v%len(referrers)]
		for n := 0; n < pages[v%len(pages)]; n++ {
			i := len(events)
			path := fmt.Sprintf("/docs/page-%d", (v+n*3)%7)
			if n == 0 && v%5 == 0 {
				path += fmt.Sprintf("?utm_source=newsletter&utm_medium=email&utm_campaign=launch-%d", v%3)
			}
			ev := map[string]any{
				"id": fmt.Sprintf("dash-%d", i), "site_id": site, "event_type": "page_view", "path": path,
				"user_id": fmt.Sprintf("visitor-%d", visitor), "timestamp": ts.UTC().Format(time.RFC3339),
				"user_agent": agents[visitor%len(agents)], "ip": ips[visitor%len(ips)],
			}
			if n == 0 && referrer != "" {
				ev["referrer"] = referrer
			}
			events = append(events, ev)
			if i%6 == 0 {
				events = append(events, map[string]any{
					"id": fmt.Sprintf("dash-ev-%d", i), "site_id": site, "event_type": []string{"signup", "download", "Order Completed"}[(i/6)%3],
					"path": path, "user_id": fmt.Sprintf("visitor-%d", visitor), "timestamp": ts.UTC().Format(time.RFC3339),
					"props": map[string]any{"plan": []string{"free", "pro", "team", "free"}[(i/6)%4]},
				})
			}
			ts = ts.Add(30*time.Second + time.Duration((v*47+n*61)%210)*time.Second)
		}
	}
	// Sent in time order, as visitors make them.
	sort.SliceStable(events, func(i, j int) bool { return events[i]["timestamp"].(string) < events[j]["timestamp"].(string) })
	// A page whose path is HTML, yesterday: inside "Last 7 days", which
	// are Plausible's, the seven days before today. And visits in the last
	// minutes.
	events = append(events, map[string]any{"id": "dash-xss", "site_id": site, "event_type": "page_view", "path": xssPath, "user_id": "visitor-xss", "timestamp": now.Add(-24 * time.Hour).UTC().Format(time.RFC3339)})
	for i := range 3 {
		events = append(events, map[string]any{"id": fmt.Sprintf("dash-now-%d", i), "site_id": site, "event_type": "page_view", "path": "/live", "user_id": fmt.Sprintf("live-%d", i), "timestamp": now.Add(-time.Duration(i) * time.Minute).UTC().Format(time.RFC3339)})
	}
	for i := 0; i < len(events); i += 100 {
		b, _ := json.Marshal(events[i:min(i+100, len(events))])
		if code, body := post(t, p.collector+"/events", string(b)); code/100 != 2 {
			t.Fatalf("POST /events: %d %s", code, body)
		}
	}
	return len(events)
}

// kpi is a headline number as the page shows it.
type kpi struct {
	Metric   string `json:"metric"`
	Value    string `json:"value"`
	Text     string `json:"text"`
	Change   string `json:"change"`
	Previous string `json:"previous"`
}

const readKPIs = `[...document.querySelectorAll("#kpis .kpi")].map(k => ({metric: k.dataset.metric, value: k.dataset.value, text: k.querySelector(".value").textContent,
	change: k.querySelector(".change") ? k.querySelector(".change").dataset.change : "", previous: k.querySelector(".change") ? k.querySelector(".change").dataset.previous : ""}))`

// dashView is a view of the dashboard as the test expects it: its first
// and last day (the site's), the site's today, the chart's time
// dimension, the v2 filters it applies and the comparison.
type dashView struct {
	From, To, Today string
	Interval        string
	Filters         []any
	Compare         string
}

// v2Query posts a v2 query (with the token when there is one) and decodes
// the answer; anything but 200 fails the test.
func v2Query(t *testing.T, base string, body map[string]any, token string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", base+"/api/v2/query", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /api/v2/query %s: %d %v %v", b, resp.StatusCode, out, err)
	}
	return out
}

// body is the test's own v2 query for a view: written from the API's
// documentation, not read from the page.
func (v dashView) body(site string, metrics, dims []string, extra ...any) map[string]any {
	b := map[string]any{"site_id": site, "metrics": metrics, "date_range": []string{v.From, v.To}, "date": v.Today}
	if len(dims) > 0 {
		b["dimensions"] = dims
	}
	filters := append(append([]any{}, v.Filters...), extra...)
	if len(filters) > 0 {
		b["filters"] = filters
	}
	if v.Compare != "" {
		b["include"] = map[string]any{"comparisons": map[string]any{"mode": v.Compare}}
	}
	return b
}

func (v dashView) filtersOn(dim string) bool {
	for _, f := range v.Filters {
		if f.([]any)[1] == dim {
			return true
		}
	}
	return false
}

// tableMetrics are the metrics each table shows, by property.
func tableMetrics(prop string) []string {
	switch {
	case prop == "event:page":
		return []string{"visitors", "pageviews"}
	case prop == "event:name", strings.HasPrefix(prop, "event:props:"):
		return []string{"visitors", "events"}
	case prop == "event:goal":
		return []string{"visitors", "events", "conversion_rate"}
	case prop == "visit:entry_page":
		return []string{"visitors", "visits"}
	case prop == "visit:exit_page":
		return []string{"visits"}
	}
	return []string{"visitors"}
}

// checkView compares every number the drawn view shows (headline, chart,
// every table, goals, properties, funnel) with the v2 API's answer to the
// same question, asked by the test.
func checkView(t *testing.T, ctx context.Context, p *pipeline, site string, v dashView, token string) {
	t.Helper()
	shownRange := dashEval[map[string]string](t, ctx, `({...document.getElementById("range").dataset})`)
	if shownRange["from"] != v.From || shownRange["to"] != v.To {
		t.Errorf("the page shows the range %v, want %s to %s", shownRange, v.From, v.To)
	}
	// Headline.
	metrics := []string{"visitors", "visits", "pageviews"}
	if !v.filtersOn("event:page") {
		metrics = append(metrics, "views_per_visit")
	}
	metrics = append(metrics, "bounce_rate", "visit_duration", "events")
	if v.filtersOn("event:goal") {
		metrics = append(metrics, "conversion_rate")
	}
	agg := v2Query(t, p.reporter, v.body(site, metrics, nil), token)["results"].([]any)
	shown := dashEval[[]kpi](t, ctx, readKPIs)
	if len(shown) != len(metrics) {
		t.Errorf("headline: %d numbers %v, want %v", len(shown), shown, metrics)
	}
	var row map[string]any
	if len(agg) > 0 {
		row = agg[0].(map[string]any)
	}
	for i, m := range metrics {
		if i >= len(shown) || row == nil {
			break
		}
		want := row["metrics"].([]any)[i]
		if shown[i].Metric != m || shown[i].Value != jsNumber(want) {
			t.Errorf("headline %s: page shows %s=%s, API %v", m, shown[i].Metric, shown[i].Value, want)
		}
		if v.Compare != "" {
			c := row["comparison"].(map[string]any)
			if wc, wp := jsNumber(c["change"].([]any)[i]), jsNumber(c["metrics"].([]any)[i]); shown[i].Change != wc || shown[i].Previous != wp {
				t.Errorf("headline %s compared: page shows change %s of %s, API %s of %s", m, shown[i].Change, shown[i].Previous, wc, wp)
			}
		}
		if m == "visit_duration" && want != nil {
			if got, w := shown[i].Text, formatSeconds(int64(want.(float64))); got != w {
				t.Errorf("visit duration: the page shows %q, the CLI %q", got, w)
			}
		}
	}

	// Chart: one point per bucket, every bucket of the range.
	cb := v.body(site, []string{"visitors", "pageviews"}, []string{v.Interval})
	inc, _ := cb["include"].(map[string]any)
	if inc == nil {
		inc = map[string]any{}
	}
	inc["time_labels"] = true
	cb["include"] = inc
	ts := v2Query(t, p.reporter, cb, token)
	labels := ts["meta"].(map[string]any)["time_labels"].([]any)
	byLabel := map[string][]any{}
	cmpBy := map[string]any{}
	for _, r := range ts["results"].([]any) {
		r := r.(map[string]any)
		l := r["dimensions"].([]any)[0].(string)
		byLabel[l] = r["metrics"].([]any)
		if c, ok := r["comparison"].(map[string]any); ok {
			cmpBy[l] = c["metrics"].([]any)[0]
		}
	}
	points := dashEval[[][]float64](t, ctx, `JSON.parse(document.getElementById("plot").dataset.points)`)
	shownLabels := dashEval[[]string](t, ctx, `JSON.parse(document.getElementById("plot").dataset.labels)`)
	series := 3
	if v.Compare != "" {
		series = 4
	}
	if len(points) != series || len(points[0]) != len(labels) {
		t.Fatalf("chart: %d series of %d points, want %d of %d (the API's buckets)", len(points), len(points[0]), series, len(labels))
	}
	for i, l := range labels {
		l := l.(string)
		want := byLabel[l]
		if want == nil {
			want = []any{0.0, 0.0}
		}
		if shownLabels[i] != l || points[1][i] != want[0].(float64) || points[2][i] != want[1].(float64) {
			t.Errorf("chart point %d: page %s (%v, %v), API %s %v", i, shownLabels[i], points[1][i], points[2][i], l, want)
		}
		if v.Compare != "" {
			if c, _ := cmpBy[l].(float64); points[3][i] != c {
				t.Errorf("chart comparison point %d (%s): page %v, API %v", i, l, points[3][i], cmpBy[l])
			}
		}
	}

	// Every table, in the API's order.
	type trow struct {
		Key    string            `json:"key"`
		Values map[string]string `json:"values"`
		Change string            `json:"change"`
	}
	type table struct {
		Card     string `json:"card"`
		Property string `json:"property"`
		Rows     []trow `json:"rows"`
		Empty    string `json:"empty"`
	}
	tables := dashEval[[]table](t, ctx, `[...document.querySelectorAll(".grid .card")].filter(c => !c.hidden && c.id !== "card-funnels").map(c => {
		const tb = c.querySelector("table");
		const rows = tb ? [...tb.querySelectorAll("tbody tr")].map(tr => ({key: tr.dataset.key,
			values: Object.fromEntries([...tr.querySelectorAll("td.num")].map(td => [td.dataset.metric, td.dataset.value])),
			change: tr.querySelector("td.num").dataset.change || ""})) : [];
		const e = c.querySelector(".empty");
		return {card: c.id, property: c.querySelector(".body").dataset.property || "", rows, empty: e ? e.textContent : ""};
	})`)
	if len(tables) < 11 {
		t.Fatalf("%d tables, want at least 11", len(tables))
	}
	notSet := map[string]bool{"visit:utm_source": true, "visit:utm_medium": true, "visit:utm_campaign": true, "visit:utm_content": true, "visit:utm_term": true}
	for _, tb := range tables {
		if tb.Property == "" {
			t.Errorf("%s: no table and no property (empty %q)", tb.Card, tb.Empty)
			continue
		}
		metrics := tableMetrics(tb.Property)
		var own []any
		if tb.Property == "event:name" {
			own = append(own, []any{"is_not", "event:name", []any{"pageview"}})
		}
		if notSet[tb.Property] {
			own = append(own, []any{"is_not", tb.Property, []any{"(not set)"}})
		}
		b := v.body(site, metrics, []string{tb.Property}, own...)
		b["pagination"] = map[string]any{"limit": 10}
		res := v2Query(t, p.reporter, b, token)["results"].([]any)
		var want []trow
		for _, r := range res {
			m := r.(map[string]any)
			w := trow{Key: m["dimensions"].([]any)[0].(string), Values: map[string]string{}}
			for i, metric := range metrics {
				w.Values[metric] = jsNumber(m["metrics"].([]any)[i])
			}
			if c, ok := m["comparison"].(map[string]any); ok {
				w.Change = jsNumber(c["change"].([]any)[0])
			}
			want = append(want, w)
		}
		if len(want) == 0 {
			wantText := "Nothing in this period."
			if len(v.Filters) > 0 {
				wantText = "Nothing matches these filters in this period."
			}
			if tb.Empty != wantText {
				t.Errorf("%s: the API has no rows; the page says %q, want %q", tb.Card, tb.Empty, wantText)
			}
			continue
		}
		if g, w := fmt.Sprint(tb.Rows), fmt.Sprint(want); g != w {
			t.Errorf("%s (%s):\npage %s\nAPI  %s", tb.Card, tb.Property, g, w)
		}
	}

	// The funnel, when the site has one.
	fn := dashEval[map[string]any](t, ctx, `(c => c.hidden ? null : {name: c.querySelector(".body").dataset.funnel, steps: [...c.querySelectorAll(".funnel li")].map(li => [li.dataset.goal, li.dataset.visitors, li.dataset.dropoff, li.dataset.conversion])})(document.getElementById("card-funnels"))`)
	if fn != nil {
		params := url.Values{"site_id": {site}, "funnel": {fn["name"].(string)}, "period": {"custom"}, "date": {v.From + "," + v.To}}
		if len(v.Filters) > 0 {
			b, _ := json.Marshal(v.Filters)
			params.Set("filters", string(b))
		}
		ans := apiGet(t, p.reporter, "/api/v1/stats/funnel", params, token)
		var want [][]string
		for _, s := range ans["steps"].([]any) {
			s := s.(map[string]any)
			want = append(want, []string{s["goal"].(string), jsNumber(s["visitors"]), jsNumber(s["dropoff"]), jsNumber(s["conversion_rate"])})
		}
		if g, w := fmt.Sprint(fn["steps"]), fmt.Sprint(want); g != w {
			t.Errorf("funnel %s:\npage %s\nAPI  %s", fn["name"], g, w)
		}
	}
}

// dayOf is the UTC date n days from now.
func dayOf(now time.Time, n int) string { return now.AddDate(0, 0, n).Format("2006-01-02") }

// jsNumber writes a JSON value as the page's String(value) does.
func jsNumber(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func TestDashboardMatchesTheAPI(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	site := "dash.example"
	now := time.Now().UTC()
	n := dashWorkload(t, p, site, now)
	p.waitProcessed(t, n, n)

	ctx := dashBrowser(t)
	w := watchPage(t, ctx)
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	start := p.reporter + "/sites/" + site + "?period=7d"
	if _, err := chromedp.Run(ctx, chromedp.Navigate(start)); err != nil {
		t.Fatal(err)
	}
	gen := waitDrawn(t, ctx, 0)
	today := now.Format("2006-01-02")
	checkView(t, ctx, p, site, dashView{From: dayOf(now, -7), To: dayOf(now, -1), Today: today, Interval: "time:day"}, "")

	// The page's requests: its own origin only, and a known number of API
	// calls per load.
	requests, dialogs := w.take()
	var api int
	for _, r := range requests {
		if !strings.HasPrefix(r, p.reporter+"/") && !strings.HasPrefix(r, "data:") {
			t.Errorf("request to another origin: %s", r)
		}
		if strings.Contains(r, "/api/") {
			api++
		}
	}
	t.Logf("one load: %d requests, %d of them API calls", len(requests), api)
	if api != dashboardAPICalls {
		t.Errorf("%d API calls per load, want %d: %q", api, dashboardAPICalls, requests)
	}

	// The HTML path is text: no element made of it, no dialog.
	cells := dashEval[[]string](t, ctx, `[...document.querySelectorAll("#card-pages td.name .rowlink")].map(e => e.textContent)`)
	found := false
	for _, c := range cells {
		found = found || c == xssPath
	}
	if !found {
		t.Errorf("the page %q is not shown as text among %q", xssPath, cells)
	}
	if imgs := dashEval[int](t, ctx, `document.querySelectorAll("main img").length`); imgs != 0 {
		t.Errorf("%d img elements in the page: a value was rendered as HTML", imgs)
	}
	if len(dialogs) > 0 {
		t.Errorf("dialogs opened: %q", dialogs)
	}

	// The UTM card's other tabs.
	if _, err := chromedp.Run(ctx, eval(`document.querySelector('#card-campaigns [data-property="visit:utm_source"]').click()`)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, `document.querySelector("#card-campaigns table")?.dataset.property === "visit:utm_source"`, 10*time.Second); err != nil {
		t.Fatalf("UTM sources tab: %v", err)
	}
	checkView(t, ctx, p, site, dashView{From: dayOf(now, -7), To: dayOf(now, -1), Today: today, Interval: "time:day"}, "")

	// The period picker and the URL agree, both ways; the open tab stays
	// in the URL.
	if _, err := chromedp.Run(ctx, eval(`(s => { s.value = "yesterday"; s.dispatchEvent(new Event("change")); })(document.getElementById("period"))`)); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, gen)
	yesterday := now.AddDate(0, 0, -1).Format("2006-01-02")
	loc := dashEval[map[string]string](t, ctx, `({path: location.pathname, search: location.search, range: document.getElementById("range").dataset.from})`)
	if loc["path"] != "/sites/"+site || loc["search"] != "?period=yesterday&tab.campaigns=visit%3Autm_source" || !strings.HasPrefix(loc["range"], yesterday) {
		t.Errorf("after choosing yesterday: %v", loc)
	}
	checkView(t, ctx, p, site, dashView{From: yesterday, To: yesterday, Today: today, Interval: "time:hour"}, "")

	from := now.AddDate(0, 0, -3).Format("2006-01-02")
	custom := p.reporter + "/sites/" + site + "?period=custom&from=" + from + "&to=" + yesterday
	if _, err := chromedp.Run(ctx, chromedp.Navigate(custom)); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, 0)
	picker := dashEval[map[string]any](t, ctx, `({period: document.getElementById("period").value, from: document.getElementById("from").value, to: document.getElementById("to").value, hidden: document.getElementById("custom").hidden})`)
	if picker["period"] != "custom" || picker["from"] != from || picker["to"] != yesterday || picker["hidden"] != false {
		t.Errorf("custom range from the URL: picker shows %v", picker)
	}
	checkView(t, ctx, p, site, dashView{From: from, To: yesterday, Today: today, Interval: "time:day"}, "")
	// Back within the page's history (the page may come from the
	// back-forward cache, without a load event).
	if _, err := chromedp.Run(ctx, eval(`history.back()`)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, `location.search === "?period=yesterday&tab.campaigns=visit%3Autm_source" && document.getElementById("period").value === "yesterday" && document.documentElement.dataset.state === "ready"`, 30*time.Second); err != nil {
		s := dashEval[string](t, ctx, `location.search + " " + document.getElementById("period").value`)
		t.Errorf("back to yesterday: the page shows %q: %v", s, err)
	}
	gen = dashEval[int](t, ctx, `+document.documentElement.dataset.gen`)

	// Realtime: what the API says, refreshed without a reload.
	rt := apiGet(t, p.reporter, "/api/v1/stats/realtime", url.Values{"site_id": {site}}, "")
	if rt["pageviews"].(float64) < 3 || rt["visitors"].(float64) < 3 {
		t.Errorf("realtime API: %v; want at least the 3 page views of the last minutes", rt)
	}
	line := dashEval[map[string]string](t, ctx, `({...document.getElementById("realtime").dataset, text: document.getElementById("realtime").textContent})`)
	if line["pageviews"] != fmt.Sprint(rt["pageviews"]) || line["visitors"] != fmt.Sprint(rt["visitors"]) {
		t.Errorf("realtime line %v, API %v", line, rt)
	}
	more := fmt.Sprintf(`[{"id":"dash-rt-1","site_id":%q,"event_type":"page_view","path":"/live","user_id":"rt-new"},{"id":"dash-rt-2","site_id":%q,"event_type":"page_view","path":"/live","user_id":"rt-new"}]`, site, site)
	if code, body := post(t, p.collector+"/events", more); code/100 != 2 {
		t.Fatalf("POST /events: %d %s", code, body)
	}
	want := fmt.Sprint(rt["pageviews"].(float64) + 2)
	if err := waitFor(ctx, `document.getElementById("realtime").dataset.pageviews === "`+want+`"`, 40*time.Second); err != nil {
		now := apiGet(t, p.reporter, "/api/v1/stats/realtime", url.Values{"site_id": {site}}, "")
		line := dashEval[map[string]string](t, ctx, `({...document.getElementById("realtime").dataset, text: document.getElementById("realtime").textContent})`)
		t.Errorf("the realtime line did not reach %s page views within 40 s: %v; API now %v, line %v", want, err, now, line)
	}
	if g := dashEval[int](t, ctx, `+document.documentElement.dataset.gen`); g != gen {
		t.Errorf("the view was reloaded (gen %d -> %d); realtime must refresh in place", gen, g)
	}

	if _, dialogs := w.take(); len(dialogs) > 0 {
		t.Errorf("dialogs opened: %q", dialogs)
	}
}

// screenshots writes the dashboard at url, desktop and phone, light and
// dark, to docs/screenshots; the phone layout has one column and no
// horizontal scroll.
func screenshots(t *testing.T, ctx context.Context, start string) {
	t.Helper()
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, shot := range []struct {
		name   string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		for _, scheme := range []string{"light", "dark"} {
			_, err := chromedp.Run(ctx, chromedp.EmulateViewport(shot.w, shot.h, func(p1 *emulation.SetDeviceMetricsOverrideParams, p2 *emulation.SetTouchEmulationEnabledParams) {
				p1.Mobile = shot.mobile
			}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Run(ctx, chromedp.Navigate(start)); err != nil {
				t.Fatal(err)
			}
			waitDrawn(t, ctx, 0)
			if shot.mobile {
				layout := dashEval[map[string]float64](t, ctx, `({scroll: document.documentElement.scrollWidth, width: window.innerWidth, columns: getComputedStyle(document.querySelector(".grid")).gridTemplateColumns.split(" ").length})`)
				if layout["scroll"] > layout["width"] || layout["columns"] != 1 {
					t.Errorf("phone layout (%s): %v; want no horizontal scroll and one column", scheme, layout)
				}
			}
			bg := dashEval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`)
			if dark := bg == "rgb(20, 23, 28)"; dark != (scheme == "dark") {
				t.Errorf("%s scheme: body background %s", scheme, bg)
			}
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(screenshotDir, "dashboard-"+shot.name+"-"+scheme+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Back to the desktop size for whatever the test does next.
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
}

// dashboardAPICalls is what one load of a site's view asks: the sites, the
// site's details (goals, funnels, property keys), the headline, the time
// series, eleven tables, the properties panel, the probe for imported data
// and the realtime line.
const dashboardAPICalls = 1 + 1 + 1 + 1 + 11 + 1 + 1 + 1

func TestDashboardLogin(t *testing.T) {
	// Not parallel: a slow machine lets a 401 of the wrong token's view
	// arrive after the right token is set, which logs it out again (the
	// dashboard does not yet drop answers of a view it left).
	const token = "s3cret-token"
	p := startPipeline(t, "--token", token)
	site := "login.example"
	if code, body := post(t, p.collector+"/event", fmt.Sprintf(`{"site_id":%q,"event_type":"page_view","path":"/","user_id":"u1"}`, site)); code/100 != 2 {
		t.Fatalf("POST /event: %d %s", code, body)
	}
	p.waitProcessed(t, 1, 1)

	ctx := dashBrowser(t)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/sites/"+site)); err != nil {
		t.Fatal(err)
	}
	visible := func(id string) error {
		return waitFor(ctx, `!document.getElementById("`+id+`").hidden`, 15*time.Second)
	}
	if err := visible("login"); err != nil {
		t.Fatalf("no login form with a token set: %v", err)
	}
	signIn := func(tok string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, eval(fmt.Sprintf(`document.getElementById("token").value = %q; document.getElementById("login").requestSubmit()`, tok))); err != nil {
			t.Fatal(err)
		}
	}
	signIn("wrong")
	if err := waitFor(ctx, `document.getElementById("login-error").textContent.includes("not accepted") && !document.getElementById("login").hidden`, 15*time.Second); err != nil {
		t.Fatalf("a wrong token does not say so: %v", err)
	}
	signIn(token)
	waitDrawn(t, ctx, 0)
	if err := visible("dashboard"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	checkView(t, ctx, p, site, dashView{From: dayOf(now, -30), To: dayOf(now, -1), Today: dayOf(now, 0), Interval: "time:day"}, token)
	// Kept for the session: a reload asks nothing.
	if _, err := chromedp.Run(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, 0)
	if hidden := dashEval[bool](t, ctx, `document.getElementById("login").hidden && !document.getElementById("dashboard").hidden`); !hidden {
		t.Error("after a reload the login form shows again")
	}
	// The API itself refuses without the token.
	resp, err := http.Get(p.reporter + "/api/v1/sites")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/v1/sites without a token: %d", resp.StatusCode)
	}
}

// TestDashboardPublicSite: with reporter tokens, a public site's dashboard
// draws without one (every number as the API answers it), and a site that
// is not public still asks for a token.
func TestDashboardPublicSite(t *testing.T) {
	t.Parallel()
	p := startPipelineEnv(t, map[string]string{"SITES_REFRESH": "200ms"}, append(append([]string{}, serveArgs...), "--token", "s3cret-token"))
	p.cli(t, "sites", "add", "--public", "--domain", "pub.example", "pub.example")
	p.cli(t, "sites", "add", "--domain", "priv.example", "priv.example")
	for _, site := range []string{"pub.example", "priv.example"} {
		if code, body := post(t, p.collector+"/event", fmt.Sprintf(`{"site_id":%q,"event_type":"page_view","path":"/","user_id":"u1"}`, site)); code/100 != 2 {
			t.Fatalf("POST /event: %d %s", code, body)
		}
	}
	p.waitProcessed(t, 2, 2)
	// The reporter reads the registry within SITES_REFRESH.
	testenv.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(p.reporter + "/api/v1/stats/aggregate?site_id=pub.example&metrics=pageviews")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("public site's aggregate without a token: %d", resp.StatusCode)
		}
		return nil
	})

	ctx := dashBrowser(t)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/sites/pub.example")); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, 0)
	if ok := dashEval[bool](t, ctx, `document.getElementById("login").hidden && !document.getElementById("dashboard").hidden`); !ok {
		t.Fatal("the public site's dashboard is not shown without a token")
	}
	now := time.Now().UTC()
	checkView(t, ctx, p, "pub.example", dashView{From: dayOf(now, -30), To: dayOf(now, -1), Today: dayOf(now, 0), Interval: "time:day"}, "")

	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/sites/priv.example")); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, `!document.getElementById("login").hidden && document.getElementById("dashboard").hidden`, 15*time.Second); err != nil {
		t.Fatalf("a site that is not public shows no login form: %v", err)
	}
}

func TestDashboardEmptyStates(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	ctx := dashBrowser(t)
	text := func(id string) string {
		return dashEval[string](t, ctx, `document.getElementById("`+id+`").textContent`)
	}

	// No data at all: how to send some.
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/")); err != nil {
		t.Fatal(err)
	}
	waitOnboarding := func() {
		t.Helper()
		if err := waitFor(ctx, `!document.getElementById("onboarding").hidden`, 15*time.Second); err != nil {
			t.Fatalf("no empty state: %v", err)
		}
	}
	waitOnboarding()
	if s := text("snippet"); !strings.Contains(s, `src="`+p.collector+`/t.js"`) || !strings.Contains(s, "data-site=") {
		t.Errorf("script tag: %q", s)
	}
	if s := text("curl"); !strings.Contains(s, "curl -X POST "+p.collector+"/event") {
		t.Errorf("curl line: %q", s)
	}

	// A site that has data, but not in the period; and an unknown one.
	old := time.Now().UTC().AddDate(0, 0, -60).Format(time.RFC3339)
	if code, body := post(t, p.collector+"/event", `{"site_id":"old.example","event_type":"page_view","path":"/","user_id":"u1","timestamp":"`+old+`"}`); code/100 != 2 {
		t.Fatalf("POST /event: %d %s", code, body)
	}
	p.waitProcessed(t, 1, 1)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/sites/nosuch.example")); err != nil {
		t.Fatal(err)
	}
	waitOnboarding()
	if s := text("onboarding-title") + " " + text("onboarding-why"); !strings.Contains(s, "nosuch.example") || !strings.Contains(s, "never received") {
		t.Errorf("unknown site: %q", s)
	}
	if s := text("snippet"); !strings.Contains(s, `data-site="nosuch.example"`) {
		t.Errorf("unknown site's script tag: %q", s)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/sites/old.example?period=today")); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, 0)
	state := dashEval[map[string]any](t, ctx, `({nodata: !document.getElementById("nodata").hidden, empty: document.querySelectorAll(".grid .empty").length})`)
	if state["nodata"] != true || state["empty"] != float64(11) {
		t.Errorf("a site with no data in the period: %v; want the no-data note and 11 empty tables", state)
	}
	// The note is neutral, not an alert, and offers the month of the last
	// events, which draws them.
	if err := waitFor(ctx, `!!document.getElementById("nodata-last")`, 15*time.Second); err != nil {
		t.Fatalf("the no-data note offers no period with data: %q: %v", text("nodata"), err)
	}
	oldMonth := time.Now().UTC().AddDate(0, 0, -60)
	first := time.Date(oldMonth.Year(), oldMonth.Month(), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1)
	note := dashEval[map[string]string](t, ctx, `(n => ({role: n.getAttribute("role") || "", class: n.className, alerts: String([...document.querySelectorAll("main [role=alert]")].filter(e => e.offsetParent && e.textContent).length), href: document.getElementById("nodata-last").getAttribute("href"), text: n.textContent}))(document.getElementById("nodata"))`)
	wantHref := "/sites/old.example?period=custom&from=" + first.Format("2006-01-02") + "&to=" + last.Format("2006-01-02")
	if note["role"] == "alert" || strings.Contains(note["class"], "banner") || note["alerts"] != "0" || note["href"] != wantHref || !strings.Contains(note["text"], "No events in this period.") {
		t.Errorf("the no-data note: %v; want a neutral note linking to %s", note, wantHref)
	}
	if _, err := chromedp.Run(ctx, eval(`document.getElementById("nodata-last").click()`)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, `location.search.includes("period=custom") && document.documentElement.dataset.state === "ready" && document.getElementById("nodata").hidden`, 30*time.Second); err != nil {
		t.Errorf("the offered period does not show the events: %q, %v", text("nodata"), err)
	} else if kpis := dashEval[[]kpi](t, ctx, readKPIs); len(kpis) == 0 || kpis[0].Value != "1" {
		t.Errorf("the offered period's headline: %v; want the 1 visitor", kpis)
	}
	// The chooser at / lists it.
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.reporter+"/")); err != nil {
		t.Fatal(err)
	}
	waitDrawn(t, ctx, 0)
	if s := text("site-list"); s != "old.example" {
		t.Errorf("site list: %q", s)
	}
}
