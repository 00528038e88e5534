package reporter_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/testhttp"
	"github.com/siteanalytics/analytics/reporter"
)

// fakeEngine answers queries like the engine would for a small site, and
// records what it was asked: handler-level tests check parsing and
// printing, not counting.
type fakeEngine struct {
	err    error
	asked  []engine.Query
	answer func(q engine.Query) engine.Result
	steps  []engine.FunnelStep
}

func (f *fakeEngine) Query(_ context.Context, q engine.Query) (engine.Result, error) {
	f.asked = append(f.asked, q)
	if f.err != nil {
		return engine.Result{}, f.err
	}
	if f.answer != nil {
		return f.answer(q), nil
	}
	return defaultAnswer(q), nil
}

func (f *fakeEngine) Funnel(_ context.Context, q engine.Query, fn engine.Funnel) ([]engine.FunnelStep, error) {
	f.asked = append(f.asked, q)
	return f.steps, f.err
}

func (f *fakeEngine) Ping(context.Context) error { return f.err }

func (f *fakeEngine) last() engine.Query { return f.asked[len(f.asked)-1] }

// defaultAnswer: 3 page views by 2 visitors, all on /pricing.
func defaultAnswer(q engine.Query) engine.Result {
	vals := map[string]any{engine.Pageviews: 3.0, engine.Visitors: 2.0, engine.Events: 4.0, engine.Visits: 2.0}
	row := engine.Row{}
	for _, m := range q.Metrics {
		row.Metrics = append(row.Metrics, vals[m])
	}
	if len(q.Dimensions) == 1 && q.Dimensions[0] == engine.EventPage {
		row.Dimensions = []string{"/pricing"}
		row.Metrics = []any{2.0}
	}
	return engine.Result{Rows: []engine.Row{row}, TotalRows: 1}
}

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	resp, b := testhttp.Request(t, "GET", url, nil, hdr...)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestStatsEndpoint(t *testing.T) {
	f := &fakeEngine{}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{}).Handler())
	defer srv.Close()
	for _, tt := range []struct {
		name, query string
		status      int
		want        string
	}{
		{"date", "?site_id=site-abc-123&date=2025-11-12", 200, `{"site_id":"site-abc-123","date":"2025-11-12","total_views":3,"unique_users":2,"top_paths":[{"path":"/pricing","views":2}]}`},
		{"all time", "?site_id=site-abc-123", 200, `{"site_id":"site-abc-123","date":null,"total_views":3,"unique_users":2,"top_paths":[{"path":"/pricing","views":2}]}`},
		{"missing site_id", "", 400, `{"error":"site_id: required, e.g. /stats?site_id=site-abc-123"}`},
		{"bad date", "?site_id=s&date=2025-02-30", 400, `{"error":"date: \"2025-02-30\" is not a date in YYYY-MM-DD format"}`},
		{"bad limit", "?site_id=s&limit=500", 400, `{"error":"limit: \"500\" must be a whole number from 1 to 100"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, srv.URL+"/stats"+tt.query)
			if status != tt.status || body != tt.want {
				t.Fatalf("%d %s\nwant %d %s", status, body, tt.status, tt.want)
			}
		})
	}
	get(t, srv.URL+"/stats?site_id=s&limit=25")
	if f.last().Limit != 25 {
		t.Fatalf("limit passed as %d", f.last().Limit)
	}
	if status, _ := get(t, srv.URL+"/stats?site_id=s"); status != 200 || f.last().Limit != analytics.DefaultTopPaths {
		t.Fatalf("default limit %d", f.last().Limit)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/stats", nil)
	resp, _ := http.DefaultClient.Do(req)
	if resp.StatusCode != 405 {
		t.Fatalf("POST /stats: %d", resp.StatusCode)
	}
}

func TestStatsToken(t *testing.T) {
	f := &fakeEngine{}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{Token: "s3cret"}).Handler())
	defer srv.Close()
	if status, body := get(t, srv.URL+"/stats?site_id=s"); status != 401 || !strings.Contains(body, "bearer token") {
		t.Fatalf("no token: %d %s", status, body)
	}
	if status, _ := get(t, srv.URL+"/stats?site_id=s", "Authorization", "Bearer wrong"); status != 401 {
		t.Fatalf("wrong token: %d", status)
	}
	if status, _ := get(t, srv.URL+"/stats?site_id=s", "Authorization", "Bearer s3cret"); status != 200 {
		t.Fatalf("right token: %d", status)
	}
	if status, _ := get(t, srv.URL+"/healthz"); status != 200 {
		t.Fatalf("healthz needs no token: %d", status)
	}
}

func TestStoreDown(t *testing.T) {
	f := &fakeEngine{err: analytics.Wrap(analytics.Unavailable, "mongodb: read stats", errors.New("no reachable servers"))}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{}).Handler())
	defer srv.Close()
	if status, body := get(t, srv.URL+"/stats?site_id=s"); status != 503 || !strings.Contains(body, "retry later") {
		t.Fatalf("%d %s", status, body)
	}
	if status, _ := get(t, srv.URL+"/readyz"); status != 503 {
		t.Fatalf("readyz %d", status)
	}
}

// TestStorageErrorsAre5xxAndLogged: whatever the store fails with, the
// query was valid, so the answer is 5xx (never 400), the client gets a
// generic message, and the log has the cause and the site.
func TestStorageErrorsAre5xxAndLogged(t *testing.T) {
	for _, tt := range []struct {
		name      string
		err       error
		status    int
		body      string
		level     string
		retry     bool
		notInBody string
	}{
		{"plain error (kind internal)", errors.New("server selection error: secret-host:27017 replied garbage"), 500,
			`{"error":"internal error reading stats; the reporter's log has the cause"}`, `"level":"error"`, false, "secret-host"},
		{"database unavailable", analytics.Wrap(analytics.Unavailable, "mongodb: read stats", errors.New("no reachable servers at secret-host")), 503,
			`{"error":"stats are unavailable right now (the database does not answer); retry later"}`, `"level":"warn"`, true, "secret-host"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := &fakeEngine{err: tt.err}
			srv := httptest.NewServer(reporter.New(f, f, zerolog.New(&logs), reporter.Config{}).Handler())
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/stats?site_id=site-abc-123&date=2025-11-12")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := strings.TrimSpace(string(b))
			if resp.StatusCode != tt.status || body != tt.body || strings.Contains(body, tt.notInBody) {
				t.Fatalf("%d %s; want %d %s", resp.StatusCode, body, tt.status, tt.body)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tt.retry {
				t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
			line := logs.String()
			if !strings.Contains(line, tt.err.Error()) || !strings.Contains(line, `"site_id":"site-abc-123"`) || !strings.Contains(line, tt.level) {
				t.Fatalf("log %q lacks the cause %q, the site or level %s", line, tt.err, tt.level)
			}
		})
	}
}

func TestHeadWorksWhereGetDoes(t *testing.T) {
	f := &fakeEngine{}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{Token: "s3cret"}).Handler())
	defer srv.Close()
	down := &fakeEngine{err: analytics.Wrap(analytics.Unavailable, "mongodb: ping", errors.New("no reachable servers"))}
	srvDown := httptest.NewServer(reporter.New(down, down, zerolog.Nop(), reporter.Config{}).Handler())
	defer srvDown.Close()
	auth := []string{"Authorization", "Bearer s3cret"}
	for _, tt := range []struct {
		name, url string
		hdr       []string
		status    int
	}{
		{"stats", srv.URL + "/stats?site_id=site-abc-123&date=2025-11-12", auth, 200},
		{"stats without the token", srv.URL + "/stats?site_id=s", nil, 401},
		{"stats with a bad date", srv.URL + "/stats?site_id=s&date=x", auth, 400},
		{"stats with the database down", srvDown.URL + "/stats?site_id=s", nil, 503},
		{"healthz", srv.URL + "/healthz", nil, 200},
		{"readyz", srv.URL + "/readyz", nil, 200},
		{"readyz with the database down", srvDown.URL + "/readyz", nil, 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			getResp, getBody := send(t, "GET", tt.url, tt.hdr...)
			headResp, headBody := send(t, "HEAD", tt.url, tt.hdr...)
			if getResp.StatusCode != tt.status || headResp.StatusCode != tt.status {
				t.Fatalf("GET %d, HEAD %d; want %d", getResp.StatusCode, headResp.StatusCode, tt.status)
			}
			if headBody != "" || getBody == "" {
				t.Fatalf("HEAD body %q, GET body %q", headBody, getBody)
			}
			getResp.Header.Del("Date")
			headResp.Header.Del("Date")
			if len(getResp.Header) != len(headResp.Header) {
				t.Fatalf("HEAD headers %v\nGET headers %v", headResp.Header, getResp.Header)
			}
			for k := range getResp.Header {
				if getResp.Header.Get(k) != headResp.Header.Get(k) {
					t.Fatalf("%s: HEAD %q, GET %q", k, headResp.Header.Get(k), getResp.Header.Get(k))
				}
			}
		})
	}
}

func send(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
