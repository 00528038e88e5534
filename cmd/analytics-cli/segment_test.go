package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"
	segment "github.com/segmentio/analytics-go/v3"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// segmentCallback records what analytics-go reports for each message.
type segmentCallback struct {
	mu                sync.Mutex
	success, failures int
	errs              []error
}

func (c *segmentCallback) Success(segment.Message) { c.mu.Lock(); c.success++; c.mu.Unlock() }
func (c *segmentCallback) Failure(_ segment.Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures++
	c.errs = append(c.errs, err)
}

// segmentClient is Segment's own Go library, unchanged but for the endpoint.
func segmentClient(t *testing.T, endpoint, writeKey string, cb *segmentCallback) segment.Client {
	t.Helper()
	c, err := segment.NewWithConfig(writeKey, segment.Config{
		Endpoint: endpoint, Interval: 50 * time.Millisecond, BatchSize: 100, Callback: cb,
		RetryAfter: func(int) time.Duration { return 10 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	return getJSONAuth(t, url, "")
}

// getJSONAuth GETs url, sending token as a bearer token when there is one,
// and decodes the JSON object it answers; anything but 200 fails the test.
func getJSONAuth(t *testing.T, url, token string) map[string]any {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSegmentGoLibrary sends page, track, identify, group and alias calls
// and a resent messageId through analytics-go v3 into the real pipeline:
// /stats and the Stats API must count exactly what the calls say.
func TestSegmentGoLibrary(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	const site = "segment-go"
	day := time.Now().UTC().Add(-24 * time.Hour)
	at := time.Date(day.Year(), day.Month(), day.Day(), 12, 0, 0, 0, time.UTC)
	date := at.Format("2006-01-02")

	cb := &segmentCallback{}
	c := segmentClient(t, p.collector, site, cb)
	ctx := &segment.Context{UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"}
	msgs := []segment.Message{
		segment.Page{UserId: "u1", Name: "Pricing", Timestamp: at, Context: ctx,
			Properties: segment.NewProperties().SetURL("https://shop.example/pricing?utm_source=newsletter").
				SetReferrer("https://www.google.com/")},
		segment.Page{AnonymousId: "anon-1", Timestamp: at.Add(time.Minute), Context: ctx,
			Properties: segment.NewProperties().SetPath("/blog/post-1")},
		segment.Page{UserId: "u1", Timestamp: at.Add(2 * time.Minute),
			Context: &segment.Context{Page: segment.PageInfo{URL: "https://shop.example/pricing"}}},
		segment.Track{MessageId: "order-1", UserId: "u1", Event: "Order Completed", Timestamp: at.Add(3 * time.Minute),
			Properties: segment.NewProperties().SetRevenue(42.5).SetCurrency("EUR").
				Set("products", []map[string]any{{"sku": "a"}})},
		segment.Identify{UserId: "u2", Timestamp: at.Add(4 * time.Minute), Traits: segment.NewTraits().SetEmail("u2@example.com")},
		segment.Group{UserId: "u1", GroupId: "g1", Timestamp: at.Add(5 * time.Minute)},
		segment.Alias{UserId: "u1", PreviousId: "anon-1", Timestamp: at.Add(6 * time.Minute)},
	}
	for _, m := range msgs {
		if err := c.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The same message again, from a new client (a process that restarted
	// before it knew the first send worked): counted once.
	again := segmentClient(t, p.collector, site, cb)
	if err := again.Enqueue(msgs[3]); err != nil {
		t.Fatal(err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if cb.success != len(msgs)+1 || cb.failures != 0 {
		t.Fatalf("analytics-go reported %d sent, %d failed (%v); want %d sent", cb.success, cb.failures, cb.errs, len(msgs)+1)
	}

	checkSegmentCounts(t, p, site, date, segmentCounts{
		views: 3, users: 3, paths: []analytics.PathViews{{Path: "/pricing", Views: 2}, {Path: "/blog/post-1", Views: 1}},
		events:    map[string]float64{"pageview": 3, "Order Completed": 1, "identify": 1},
		utmSource: "newsletter", browser: "Safari",
	})
}

// segmentCounts is what a Segment client test sent: page views, distinct
// users, paths, events by name (page views under Plausible's name,
// "pageview"), the one utm_source of its first page and the browser of its
// two visitors with a browser User-Agent; the third visitor's only event
// (an identify) carries none: Plausible's "(not set)" row.
type segmentCounts struct {
	views, users       int64
	paths              []analytics.PathViews
	events             map[string]float64
	utmSource, browser string
}

// checkSegmentCounts waits for the views, then checks /stats and the Stats
// API against what the test sent, exactly.
func checkSegmentCounts(t *testing.T, p *pipeline, site, date string, want segmentCounts) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		st, _ := getStats(t, p.reporter, site, date)
		if st.TotalViews != want.views {
			return fmt.Errorf("total_views %d, want %d", st.TotalViews, want.views)
		}
		return nil
	})
	st, raw := getStats(t, p.reporter, site, date)
	if st.UniqueUsers != want.users || !reflect.DeepEqual(st.TopPaths, want.paths) {
		t.Fatalf("/stats = %s, want %d users and paths %v", raw, want.users, want.paths)
	}
	var events []any
	total := 0.0
	for name, n := range want.events {
		events = append(events, map[string]any{"name": name, "events": n})
		total += n
	}
	sort.Slice(events, func(i, j int) bool {
		a, b := events[i].(map[string]any), events[j].(map[string]any)
		if a["events"] != b["events"] {
			return a["events"].(float64) > b["events"].(float64)
		}
		return a["name"].(string) < b["name"].(string)
	})
	api := p.reporter + "/api/v1/stats/"
	q := "?site_id=" + site + "&period=day&date=" + date
	checks := map[string]any{
		"aggregate" + q + "&metrics=visitors,pageviews,events": map[string]any{
			"pageviews": map[string]any{"value": float64(want.views)}, "visitors": map[string]any{"value": float64(want.users)},
			"events": map[string]any{"value": total}},
		"breakdown" + q + "&property=event:name&metrics=events": events,
		"breakdown" + q + "&property=visit:utm_source":          []any{map[string]any{"utm_source": want.utmSource, "visitors": 1.0}},
		"breakdown" + q + "&property=visit:browser": []any{map[string]any{"browser": want.browser, "visitors": 2.0},
			map[string]any{"browser": "(not set)", "visitors": 1.0}},
	}
	for path, w := range checks {
		got := getJSON(t, api+path)["results"]
		if !reflect.DeepEqual(got, w) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(w)
			t.Errorf("%s:\n got %s\nwant %s", path, gb, wb)
		}
	}
}

// TestSegmentNodeLibrary runs Segment's own Node library
// (@segment/analytics-node, bundled in testdata/segmentjs) against the real
// pipeline: page, track, identify, group, alias and a resent messageId.
func TestSegmentNodeLibrary(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("this test runs Segment's Node library: it needs node (./test.sh installs it on Debian; apt-get install nodejs, or brew install node on macOS)")
	}
	p := startPipeline(t)
	const site = "segment-node"
	date := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "testdata/segmentjs/analytics-node.bundle.cjs", p.collector, site, date).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var report struct {
		Responses []struct{ Status, Messages int } `json:"responses"`
		Errors    []string                         `json:"errors"`
	}
	if err := json.Unmarshal(out, &report); err != nil || len(report.Errors) != 0 {
		t.Fatalf("analytics-node reported %s (%v)", out, err)
	}
	sent := 0
	for _, r := range report.Responses {
		if r.Status != 200 {
			t.Fatalf("analytics-node was answered %s", out)
		}
		sent += r.Messages
	}
	if sent != 8 {
		t.Fatalf("analytics-node sent %d messages, want 8: %s", sent, out)
	}
	checkSegmentCounts(t, p, site, date, segmentCounts{
		views: 3, users: 3, paths: []analytics.PathViews{{Path: "/pricing", Views: 2}, {Path: "/start", Views: 1}},
		events:    map[string]float64{"pageview": 3, "Plan Upgraded": 1, "identify": 1},
		utmSource: "node-guide", browser: "Chrome",
	})
}

// TestSegmentAnalyticsJSInChromium loads Segment's analytics.js 2.0
// (@segment/analytics-next, bundled in testdata/segmentjs) in headless
// Chromium with its settings given inline, so it fetches nothing from
// Segment's CDN, and points it at the collector: its page, track and
// identify calls (text/plain POSTs to /v1/p, /v1/t, /v1/i with the write key
// in the body) are counted exactly.
func TestSegmentAnalyticsJSInChromium(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	ctx := browser(t)
	const site = "segment-browser"
	bundle, err := os.ReadFile("testdata/segmentjs/analytics-next.bundle.js")
	if err != nil {
		t.Fatal(err)
	}
	settings := fmt.Sprintf(`{integrations: {"Segment.io": {apiKey: %q, apiHost: %q, protocol: "http"}}}`,
		site, strings.TrimPrefix(p.collector, "http://")+"/v1")
	page := `<!doctype html><title>Shop</title><script src="/analytics-next.js"></script>
<script>
window.result = (async () => {
  const [analytics] = await AnalyticsBrowser.load({writeKey: ` + fmt.Sprintf("%q", site) + `, cdnSettings: ` + settings + `})
  const sent = []
  for (const ctx of [await analytics.page(), await analytics.track("Order Completed", {revenue: 42, product: {sku: "a"}}),
      await analytics.identify("u-browser", {email: "u@example.com"})]) {
    sent.push(ctx.event.type + ":" + (ctx.failedDelivery() ? "failed" : "ok"))
  }
  return sent.join(",")
})().catch(e => "error: " + e)
</script><body>shop</body>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/analytics-next.js" {
			w.Header().Set("Content-Type", "application/javascript")
			w.Write(bundle)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(srv.Close)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/shop.html?utm_source=newsletter")); err != nil {
		t.Fatal(err)
	}
	sent, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.result`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if sent != "page:ok,track:ok,identify:ok" {
		t.Fatalf("analytics.js reported %q", sent)
	}
	today := time.Now().UTC().Format("2006-01-02")
	testenv.Eventually(t, 30*time.Second, func() error {
		st, raw := getStats(t, p.reporter, site, today)
		// The page and the track are the anonymous visitor's; the identify
		// is u-browser's.
		if st.TotalViews != 1 || st.UniqueUsers != 2 || len(st.TopPaths) != 1 || st.TopPaths[0].Path != "/shop.html" {
			return fmt.Errorf("/stats = %s", raw)
		}
		return nil
	})
	got := getJSON(t, p.reporter+"/api/v1/stats/breakdown?site_id="+site+"&period=day&date="+today+"&property=event:name&metrics=events")["results"]
	want := []any{map[string]any{"name": "Order Completed", "events": 1.0}, map[string]any{"name": "identify", "events": 1.0},
		map[string]any{"name": "pageview", "events": 1.0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events by name %v, want %v", got, want)
	}
	got = getJSON(t, p.reporter+"/api/v1/stats/breakdown?site_id="+site+"&period=day&date="+today+"&property=visit:utm_source")["results"]
	// analytics.js sends the landing URL's campaign in every message's
	// context: both visitors (the anonymous one, u-browser) came by it.
	if want := []any{map[string]any{"utm_source": "newsletter", "visitors": 2.0}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("utm_source %v, want %v", got, want)
	}
}

// TestSegmentInvalidMessagesCountAsRejected sends a batch with invalid
// messages through the real pipeline: it is answered 200, its valid events
// are stored, and the fleet's rejected counter (what `analytics-cli queue`
// shows) counts the others.
func TestSegmentInvalidMessagesCountAsRejected(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	body := `{"batch":[{"type":"track","userId":"u","event":"Signed Up","messageId":"ok-1"},` +
		`{"type":"track","event":"no user"},{"type":"page","userId":"u","properties":{"path":"pricing"}},{"type":"nope"}]}`
	req, _ := http.NewRequest("POST", p.collector+"/v1/batch", strings.NewReader(body))
	req.SetBasicAuth("segment-rejected", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"success":true}` {
		t.Fatalf("%s %s", resp.Status, b)
	}
	ctx := context.Background()
	opt, err := redis.ParseURL(p.env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys := redisqueue.Keys{Prefix: p.env["QUEUE_PREFIX"], Partitions: redisqueue.DefaultPartitions}
	testenv.Eventually(t, 30*time.Second, func() error {
		st, err := redisqueue.ReadStatus(ctx, rdb, keys)
		if err != nil {
			return err
		}
		if st.Counters[redisqueue.CounterRejected] != 3 || st.Counters[redisqueue.CounterAccepted] != 1 || st.Counters[redisqueue.CounterStored] != 1 {
			return fmt.Errorf("counters %v, want 3 rejected, 1 accepted and stored", st.Counters)
		}
		return nil
	})
	if !strings.Contains(p.out.String(), `"reason":"userId or anonymousId: one is required"`) {
		t.Fatalf("no log line names the reason:\n%s", p.out.String())
	}
}
