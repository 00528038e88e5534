package reporter_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/dashboard"
	"github.com/siteanalytics/analytics/reporter"
)

type fakeSites struct {
	sites []string
	err   error
}

func (f fakeSites) Sites(context.Context) ([]string, error) { return f.sites, f.err }

// TimeZone makes fakeSites a reporter.SiteZones: b.example is in Berlin.
func (f fakeSites) TimeZone(site string) string {
	if site == "b.example" {
		return "Europe/Berlin"
	}
	return "UTC"
}

type fakeRealtime struct {
	minutes int
	err     error
}

func (f *fakeRealtime) Read(_ context.Context, site string, minutes int) (analytics.RealtimeSummary, error) {
	f.minutes = minutes
	return analytics.RealtimeSummary{Minutes: minutes, Visitors: 3, Pageviews: 7, Events: 9, Series: []analytics.RealtimeMinute{{Minute: time.Unix(60, 0).UTC(), Pageviews: 7, Events: 9}}}, f.err
}

func dashboardServer(t *testing.T, cfg reporter.Config) *httptest.Server {
	t.Helper()
	d, err := dashboard.New(dashboard.Config{CollectorURL: "http://collector.example:3000/"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dashboard = d
	f := &fakeEngine{}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestDashboardPageIsStrict(t *testing.T) {
	srv := dashboardServer(t, reporter.Config{Token: "tok"})
	for _, path := range []string{"/", "/sites/site-abc-123", "/sites/a.example?period=custom&from=2026-01-01&to=2026-01-31"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s (the page needs no token: it asks for one)", path, resp.StatusCode, h.Get("Content-Type"))
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("CSP allows inline code: %q", csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("no nosniff")
		}
		html := string(body)
		for _, bad := range []*regexp.Regexp{regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`), regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`), regexp.MustCompile(`https?://(?:[^"c]|c[^o])`)} {
			if m := bad.FindString(html); m != "" {
				t.Errorf("GET %s: the HTML has %q (inline code, inline style, or another origin)", path, m)
			}
		}
		if !strings.Contains(html, `<meta name="collector" content="http://collector.example:3000">`) {
			t.Errorf("the collector's address is not in the page")
		}
	}
}

func TestDashboardAssets(t *testing.T) {
	srv := dashboardServer(t, reporter.Config{})
	_, page := get(t, srv.URL+"/")
	js := regexp.MustCompile(`/assets/app\.js\?v=([0-9a-f]+)`).FindStringSubmatch(page)
	css := regexp.MustCompile(`/assets/app\.css\?v=([0-9a-f]+)`).FindStringSubmatch(page)
	if js == nil || css == nil {
		t.Fatalf("the page does not load its versioned assets:\n%s", page)
	}
	req, _ := http.NewRequest("GET", srv.URL+js[0], nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("app.js: encoding %q, cache %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Cache-Control"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Contains(plain, []byte("/api/v2/query")) {
		t.Error("app.js is not the dashboard's script")
	}
	// Revalidation and a stale version.
	req, _ = http.NewRequest("GET", srv.URL+js[0], nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %v %v", resp.StatusCode, err)
	}
	resp, err = http.Get(srv.URL + "/assets/app.css?v=old")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css?v=old: %d %q %q", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"))
	}
	if code, _ := get(t, srv.URL+"/assets/nope.js"); code != 404 {
		t.Errorf("unknown asset: %d", code)
	}
}

func TestSitesEndpoint(t *testing.T) {
	srv := dashboardServer(t, reporter.Config{Token: "tok", Sites: fakeSites{sites: []string{"a.example", "b.example"}}})
	if code, body := get(t, srv.URL+"/api/v1/sites"); code != 401 || !strings.Contains(body, "bearer token") {
		t.Errorf("without a token: %d %s", code, body)
	}
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		code, body := get(t, srv.URL+"/api/v1/sites", "Authorization", scheme+" tok")
		if code != 200 || body != `{"results":[{"site_id":"a.example","timezone":"UTC"},{"site_id":"b.example","timezone":"Europe/Berlin"}]}` {
			t.Errorf("%s tok: %d %s", scheme, code, body)
		}
	}
	if code, _ := get(t, srv.URL+"/api/v1/sites", "Authorization", "Bearer TOK"); code != 401 {
		t.Errorf("the token is case-sensitive; TOK got %d", code)
	}
	// A browser on another origin may send the token: its preflight (which
	// always names the method) allows the header.
	req, _ := http.NewRequest("OPTIONS", srv.URL+"/api/v1/sites", nil)
	req.Header.Set("Origin", "https://elsewhere.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("preflight: %d, allow headers %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Headers"))
	}

	down := dashboardServer(t, reporter.Config{Sites: fakeSites{err: errors.New("boom")}})
	if code, body := get(t, down.URL+"/api/v1/sites"); code != 500 || strings.Contains(body, "boom") {
		t.Errorf("a failing store: %d %s (500, cause only in the log)", code, body)
	}
}

func TestRealtimeEndpoint(t *testing.T) {
	none := dashboardServer(t, reporter.Config{})
	if code, body := get(t, none.URL+"/api/v1/stats/realtime?site_id=a"); code != 501 || !strings.Contains(body, "REDIS_URL") {
		t.Errorf("without Redis: %d %s", code, body)
	}
	rt := &fakeRealtime{}
	srv := dashboardServer(t, reporter.Config{Realtime: rt})
	for _, tt := range []struct {
		query   string
		status  int
		want    string
		minutes int
	}{
		{"?site_id=a", 200, `{"minutes":30,"visitors":3,"pageviews":7,"events":9,"series":[{"minute":"1970-01-01T00:01:00Z","pageviews":7,"events":9}]}`, 30},
		{"?site_id=a&minutes=5", 200, `"minutes":5`, 5},
		{"?site_id=a&minutes=31", 400, `must be a whole number from 1 to 30`, 0},
		{"?site_id=a&minutes=x", 400, `minutes: \"x\"`, 0},
		{"", 400, "site_id: required", 0},
		{"?site_id=a%20b", 400, "site_id", 0},
	} {
		rt.minutes = 0
		code, body := get(t, srv.URL+"/api/v1/stats/realtime"+tt.query)
		if code != tt.status || !strings.Contains(body, tt.want) || rt.minutes != tt.minutes {
			t.Errorf("%s: %d %s (read %d minutes); want %d %s", tt.query, code, body, rt.minutes, tt.status, tt.want)
		}
	}
	// Plausible's: the last 5 minutes' visitors, a bare number.
	if code, body := get(t, srv.URL+"/api/v1/stats/realtime/visitors?site_id=a"); code != 200 || body != "3" || rt.minutes != 5 {
		t.Errorf("realtime/visitors: %d %s (%d minutes)", code, body, rt.minutes)
	}
	rt.err = errors.New("redis down")
	if code, body := get(t, srv.URL+"/api/v1/stats/realtime?site_id=a"); code != 503 || !strings.Contains(body, "retry later") {
		t.Errorf("Redis down: %d %s", code, body)
	}
}
