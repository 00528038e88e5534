package collector_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/internal/ratelimit"
	"github.com/siteanalytics/analytics/sites"
)

// peersServer is a collector in registered mode with the sites "shop"
// (pages on shop.example and its subdomains) and "blog" (pages on
// blog.example; Umami website id 0b1c2d3e-... listed among its domains).
func peersServer(t *testing.T, q *memQueue, opts ...func(*collector.Config)) (*httptest.Server, *collector.Collector) {
	t.Helper()
	reg := sites.NewRegistry(benchSites{
		{ID: "shop", Domains: []string{"shop.example", "*.shop.example"}},
		{ID: "blog", Domains: []string{"blog.example", "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"}},
	}, sites.RegistryConfig{})
	if err := reg.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := collector.DefaultConfig()
	cfg.Sites, cfg.SiteForKey, cfg.SiteForDomain = reg, reg.SiteForKey, reg.SiteForDomain
	for _, o := range opts {
		o(&cfg)
	}
	c := collector.New(q, q, zerolog.Nop(), cfg)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv, c
}

// sitesOf are the sites of the queued events, in order.
func (q *memQueue) sitesOf() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var s []string
	for _, ev := range q.events {
		s = append(s, ev.SiteID+" "+ev.EventType+" "+ev.Path)
	}
	return s
}

// TestPeersInRegisteredMode: each tracker's site is found by its domain,
// website id or host; an event for a site that is not registered, or from
// a page on another site's domain, is dropped and counted without failing
// the others of its request, and the answer says why.
func TestPeersInRegisteredMode(t *testing.T) {
	q := &memQueue{}
	srv, c := peersServer(t, q)
	shop := []string{"Origin", "https://shop.example"}

	resp, b := do(t, "POST", srv.URL+"/api/event", "text/plain", "",
		[]byte(`{"n":"pageview","u":"https://shop.example/a","d":"www.shop.example,unknown.example"}`), shop...)
	if resp.StatusCode != 202 || b != "ok" || resp.Header.Get("X-Plausible-Dropped") != "1" ||
		!strings.Contains(resp.Header.Get("X-Analytics-Dropped"), "domain unknown.example is not a registered site's") {
		t.Fatalf("domain list: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	// blog's events may not come from a page on shop.example.
	resp, _ = do(t, "POST", srv.URL+"/api/event", "text/plain", "",
		[]byte(`{"n":"Signup","u":"https://shop.example/b","d":"shop.example,blog.example"}`), shop...)
	if resp.StatusCode != 202 || !strings.Contains(resp.Header.Get("X-Analytics-Dropped"), `events for site "blog" are accepted only from its domains`) {
		t.Fatalf("blog from shop's page: %d %v", resp.StatusCode, resp.Header)
	}
	resp, b = do(t, "POST", srv.URL+"/api/send", "application/json", "",
		[]byte(`{"type":"event","payload":{"website":"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","hostname":"blog.example","url":"/post"}}`),
		"Origin", "https://blog.example")
	if resp.StatusCode != 200 || b != "{}\n" || resp.Header.Get("X-Analytics-Dropped") != "" {
		t.Fatalf("umami: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	resp, _ = do(t, "POST", srv.URL+"/api/send", "application/json", "",
		[]byte(`{"type":"event","payload":{"website":"ffffffff-0000-4000-8000-000000000000","url":"/x"}}`), "Origin", "https://blog.example")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("X-Analytics-Dropped"), "is not a registered site") {
		t.Fatalf("unknown website: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/count?p=/c", nil)
	req.Host = "stats.shop.example:3000"
	req.Header.Set("Referer", "https://shop.example/c")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/gif" || res.Header.Get("X-Analytics-Dropped") != "" {
		t.Fatalf("goatcounter: %d %v", res.StatusCode, res.Header)
	}
	want := []string{"shop page_view /a", "shop Signup /b", "blog page_view /post", "shop page_view /c"}
	if got := q.sitesOf(); !slices.Equal(got, want) {
		t.Fatalf("queued %q, want %q", got, want)
	}
	if f := c.Counters.Forbidden.Load(); f != 3 {
		t.Fatalf("forbidden counter %d, want 3 (unknown domain, blog from shop's page, unknown website)", f)
	}
}

// TestPeersDropOneSiteOverItsLimit: a site over its rate limit loses its
// own event of a domain list, not the others'.
func TestPeersDropOneSiteOverItsLimit(t *testing.T) {
	q := &memQueue{}
	srv := limitedServer(t, q, ratelimit.Config{}, ratelimit.Config{Rate: 0.01, Burst: 1})
	body := func(d string) []byte { return []byte(`{"n":"pageview","u":"https://a.test/","d":"` + d + `"}`) }
	if resp, b := do(t, "POST", srv.URL+"/api/event", "text/plain", "", body("a.test")); resp.StatusCode != 202 || resp.Header.Get("X-Analytics-Dropped") != "" {
		t.Fatalf("first: %d %s %v", resp.StatusCode, b, resp.Header)
	}
	resp, _ := do(t, "POST", srv.URL+"/api/event", "text/plain", "", body("a.test,b.test"))
	if resp.StatusCode != 202 || !strings.Contains(resp.Header.Get("X-Analytics-Dropped"), `too many events for site "a.test"`) {
		t.Fatalf("second: %d %v", resp.StatusCode, resp.Header)
	}
	if got, want := q.sitesOf(), []string{"a.test page_view /", "b.test page_view /"}; !slices.Equal(got, want) {
		t.Fatalf("queued %q, want %q", got, want)
	}
}

// TestPeersAnswer503WhenTheQueueFails: a 2xx still means queued.
func TestPeersAnswer503WhenTheQueueFails(t *testing.T) {
	q := &memQueue{err: analytics.Errorf(analytics.Unavailable, "redis down")}
	srv := httptest.NewServer(collector.New(q, q, zerolog.Nop(), collector.DefaultConfig()).Handler())
	t.Cleanup(srv.Close)
	for path, body := range map[string]string{
		"/api/event": `{"n":"pageview","u":"https://a.test/","d":"a.test"}`,
		"/api/send":  `{"type":"event","payload":{"website":"w","url":"https://a.test/"}}`,
	} {
		if resp, b := do(t, "POST", srv.URL+path, "text/plain", "", []byte(body)); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	if resp, _ := do(t, "GET", srv.URL+"/count?p=/x", "", "", nil); resp.StatusCode != 503 {
		t.Fatalf("/count: %d", resp.StatusCode)
	}
}

// TestPlausibleScriptNames: the script is served under Plausible's names,
// and only those.
func TestPlausibleScriptNames(t *testing.T) {
	srv := httptest.NewServer(collector.New(&memQueue{}, &memQueue{}, zerolog.Nop(), collector.DefaultConfig()).Handler())
	t.Cleanup(srv.Close)
	for path, want := range map[string]int{
		"/js/script.js": 200, "/js/script.outbound-links.file-downloads.js": 200, "/js/script.local.js": 200,
		"/js/other.js": 404, "/js/script..js": 404, "/js/script.JS": 404, "/js/script.a_b.js": 404,
	} {
		resp, b := do(t, "GET", srv.URL+path, "", "", nil)
		if resp.StatusCode != want || want == 200 && (!strings.Contains(b, "data-domain") || resp.Header.Get("Content-Type") != "application/javascript; charset=utf-8") {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
	}
}
