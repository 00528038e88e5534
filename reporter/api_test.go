package reporter_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/reporter"
)

// fakeSettings gives every site the zone and goals it holds.
type fakeSettings struct {
	loc     *time.Location
	goals   []engine.Goal
	funnels []engine.Funnel
	err     error
}

func (f fakeSettings) SiteSettings(context.Context, string) (*time.Location, []engine.Goal, []engine.Funnel, error) {
	return f.loc, f.goals, f.funnels, f.err
}

func post(t *testing.T, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return resp.StatusCode, strings.TrimSpace(b.String())
}

func TestStatsAPIThroughTheEngine(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	f := &fakeEngine{}
	rp := reporter.New(f, f, zerolog.Nop(), reporter.Config{Settings: fakeSettings{loc: la, goals: []engine.Goal{{Name: "Signup", Event: "signup"}},
		funnels: []engine.Funnel{{Name: "checkout", Steps: []engine.Goal{{Name: "Visit /cart", Page: "/cart"}, {Name: "Signup", Event: "signup"}}}}}})
	srv := httptest.NewServer(rp.Handler())
	defer srv.Close()
	for _, tt := range []struct {
		name, path string
		status     int
		want       string
	}{
		{"aggregate", "/api/v1/stats/aggregate?site_id=s&period=day&date=2026-11-12&metrics=visitors,pageviews", 200,
			`{"results":{"visitors":{"value":2},"pageviews":{"value":3}}}`},
		{"aggregate compared", "/api/v1/stats/aggregate?site_id=s&period=day&date=2026-11-12&metrics=visitors&compare=previous_period", 200,
			`{"results":{"visitors":{"value":2,"change":0,"comparison_value":2}}}`},
		{"breakdown", "/api/v1/stats/breakdown?site_id=s&period=day&date=2026-11-12&property=event:page&metrics=pageviews", 200,
			`{"results":[{"page":"/pricing","pageviews":2}]}`},
		{"missing site_id", "/api/v1/stats/aggregate", 400, `{"error":"site_id: required, e.g. ?site_id=site-abc-123"}`},
		{"bad filter property", "/api/v1/stats/aggregate?site_id=s&filters=badproperty%3D%3Dbar", 400,
			`{"error":"Invalid filter property 'badproperty'. Please provide a valid filter property: https://plausible.io/docs/stats-api#properties"}`},
		{"goal not configured", "/api/v1/stats/aggregate?site_id=s&filters=event:goal%3D%3DVisit+/register**", 400,
			"The pageview goal for the pathname `/register**` is not configured for this site"},
		{"bad interval", "/api/v1/stats/timeseries?site_id=s&period=12mo&interval=alskd", 400,
			"Error parsing `interval` parameter: invalid interval `alskd`. Valid intervals are `day`, `month`"},
		{"funnel", "/api/v1/stats/funnel?site_id=s&funnel=checkout&period=day&date=2026-11-12", 200,
			`{"funnel":"checkout","date_range":["2026-11-12","2026-11-12"],"steps":[]}`},
		{"unknown funnel", "/api/v1/stats/funnel?site_id=s&funnel=nope", 400, "The funnel `nope` is not configured for this site (its funnels: checkout)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := send(t, "GET", srv.URL+tt.path)
			body = strings.TrimSpace(body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) || (tt.status == 200 && body != tt.want) {
				t.Fatalf("%d %s\nwant %d %s", resp.StatusCode, body, tt.status, tt.want)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
	// The site's day, not UTC's: 2026-11-12 in Los Angeles is 08:00Z to
	// 08:00Z the next day.
	send(t, "GET", srv.URL+"/api/v1/stats/aggregate?site_id=s&period=day&date=2026-11-12")
	q := f.last()
	if q.From.UTC().Format(time.RFC3339) != "2026-11-12T08:00:00Z" || q.To.UTC().Format(time.RFC3339) != "2026-11-13T08:00:00Z" || q.Location != la {
		t.Fatalf("range %v .. %v in %v", q.From.UTC(), q.To.UTC(), q.Location)
	}
	// /stats in the site's day too.
	send(t, "GET", srv.URL+"/stats?site_id=s&date=2026-11-12")
	if q := f.last(); q.From.UTC().Hour() != 8 {
		t.Fatalf("/stats range %v", q.From.UTC())
	}
}

func TestV2QueryEndpoint(t *testing.T) {
	f := &fakeEngine{}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{Token: "s3cret"}).Handler())
	defer srv.Close()
	auth := []string{"Authorization", "Bearer s3cret"}
	status, body := post(t, srv.URL+"/api/v2/query", `{"site_id":"dummy.site","metrics":["visitors","pageviews"],"date_range":["2024-08-11","2024-08-17"]}`, auth...)
	want := `{"results":[{"dimensions":[],"metrics":[2,3]}],"meta":{},"query":{"site_id":"dummy.site","metrics":["visitors","pageviews"],` +
		`"date_range":["2024-08-11T00:00:00+00:00","2024-08-17T23:59:59+00:00"],"filters":[],"dimensions":[],"order_by":[["visitors","desc"]],"include":{},"pagination":{"limit":10000,"offset":0}}}`
	if status != 200 || body != want {
		t.Fatalf("%d %s\nwant %s", status, body, want)
	}
	if status, body := post(t, srv.URL+"/api/v2/query", `{"site_id":"dummy.site","metrics":["visitors"],"date_range":"7d"}`); status != 401 {
		t.Fatalf("without a token: %d %s", status, body)
	}
	if status, body := post(t, srv.URL+"/api/v2/query", `{"site_id":"dummy.site","metrics":["nope"],"date_range":"7d"}`, auth...); status != 400 || body != `{"error":"#/metrics/0: Invalid metric \"nope\""}` {
		t.Fatalf("bad metric: %d %s", status, body)
	}
	if status, body := post(t, srv.URL+"/api/v2/query", `{"metrics":["visitors"]}`, auth...); status != 400 || !strings.Contains(body, "site_id") {
		t.Fatalf("no site: %d %s", status, body)
	}
	// The browser's preflight for a JSON POST with a token.
	req, _ := http.NewRequest("OPTIONS", srv.URL+"/api/v2/query", nil)
	req.Header.Set("Origin", "https://elsewhere.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
	}
}

func TestStatsAPIAuthErrorsAndHead(t *testing.T) {
	f := &fakeEngine{}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{Token: "s3cret"}).Handler())
	defer srv.Close()
	down := &fakeEngine{err: analytics.Wrap(analytics.Unavailable, "mongodb: read blocks", errors.New("no reachable servers"))}
	srvDown := httptest.NewServer(reporter.New(down, down, zerolog.Nop(), reporter.Config{}).Handler())
	defer srvDown.Close()
	settingsDown := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{Settings: fakeSettings{err: analytics.Wrap(analytics.Unavailable, "sites", errors.New("down"))}}).Handler())
	defer settingsDown.Close()
	auth := []string{"Authorization", "Bearer s3cret"}
	for _, tt := range []struct {
		name, url string
		hdr       []string
		status    int
		body      string
	}{
		{"aggregate", srv.URL + "/api/v1/stats/aggregate?site_id=s&period=day&date=2026-11-12", auth, 200, `"value":2`},
		{"timeseries hourly", srv.URL + "/api/v1/stats/timeseries?site_id=s&period=day&date=2026-11-12", auth, 200, `{"date":"2026-11-12 13:00:00","visitors":0}`},
		{"breakdown", srv.URL + "/api/v1/stats/breakdown?site_id=s&property=visit:source&period=all", auth, 200, `"results":[`},
		{"without the token", srv.URL + "/api/v1/stats/aggregate?site_id=s", nil, 401, "bearer token"},
		{"breakdown without the token", srv.URL + "/api/v1/stats/breakdown?site_id=s&property=event:page", nil, 401, "bearer token"},
		{"bad query", srv.URL + "/api/v1/stats/aggregate?site_id=s&period=week", auth, 400, "Error parsing `period` parameter: invalid period `week`"},
		{"database down", srvDown.URL + "/api/v1/stats/aggregate?site_id=s", nil, 503, "retry later"},
		{"settings down", settingsDown.URL + "/api/v1/stats/aggregate?site_id=s", nil, 503, "retry later"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			getResp, getBody := send(t, "GET", tt.url, tt.hdr...)
			headResp, headBody := send(t, "HEAD", tt.url, tt.hdr...)
			if getResp.StatusCode != tt.status || headResp.StatusCode != tt.status || !strings.Contains(getBody, tt.body) {
				t.Fatalf("GET %d %s, HEAD %d; want %d %s", getResp.StatusCode, getBody, headResp.StatusCode, tt.status, tt.body)
			}
			if headBody != "" {
				t.Fatalf("HEAD body %q", headBody)
			}
			if tt.status == 503 && getResp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/stats/aggregate", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}
