package reporter_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/reporter"
	"github.com/siteanalytics/analytics/rollup"
)

// fakeRollups is a store that reads stats and rollups (an in-memory map of
// snapshots by period), like the real one.
type fakeRollups struct {
	fakeStats
	snaps map[string]rollup.Snapshot
	asked []string
}

func (f *fakeRollups) Rollups(_ context.Context, site string, periods []string) ([]rollup.Snapshot, error) {
	f.asked = periods
	if f.err != nil {
		return nil, f.err
	}
	out := make([]rollup.Snapshot, len(periods))
	for i, p := range periods {
		out[i] = f.snaps[p]
		out[i].Period = p
	}
	return out, nil
}

func newFakeRollups() *fakeRollups {
	day := rollup.Snapshot{Views: 30, Events: 40, Visitors: 12}
	day.Hours[13] = rollup.Bucket{Views: 30, Events: 40, Visitors: 12}
	day.Top = map[string][]rollup.Ranked{
		rollup.Source: {{Value: "Google", Counter: rollup.Counter{Visitors: 10}}, {Value: rollup.Direct, Counter: rollup.Counter{Visitors: 2}}},
	}
	return &fakeRollups{snaps: map[string]rollup.Snapshot{"2026-11-12": day, "2026-11": day}}
}

func TestStatsAPIAggregateTimeseriesBreakdown(t *testing.T) {
	f := newFakeRollups()
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{}).Handler())
	defer srv.Close()
	for _, tt := range []struct {
		name, path string
		status     int
		want       string
	}{
		{"aggregate", "/api/v1/stats/aggregate?site_id=s&period=day&date=2026-11-12&metrics=visitors,pageviews", 200,
			`{"results":{"pageviews":{"value":30},"visitors":{"value":12}},"approximate":false}`},
		{"aggregate month", "/api/v1/stats/aggregate?site_id=s&period=month&date=2026-11-12&metrics=events", 200,
			`{"results":{"events":{"value":40}},"approximate":false}`},
		{"timeseries", "/api/v1/stats/timeseries?site_id=s&period=custom&date=2026-11-11,2026-11-13&metrics=visitors,pageviews", 200,
			`{"results":[{"date":"2026-11-11","visitors":0,"pageviews":0},{"date":"2026-11-12","visitors":12,"pageviews":30},{"date":"2026-11-13","visitors":0,"pageviews":0}],"approximate":false}`},
		{"breakdown", "/api/v1/stats/breakdown?site_id=s&period=day&date=2026-11-12&property=visit:source&limit=1", 200,
			`{"results":[{"source":"Google","visitors":10}],"approximate":false}`},
		{"missing site_id", "/api/v1/stats/aggregate", 400, `{"error":"site_id: required, e.g. ?site_id=site-abc-123"}`},
		{"filters", "/api/v1/stats/aggregate?site_id=s&filters=visit:source%3D%3DGoogle", 400, "filters: not supported"},
		{"unknown metric", "/api/v1/stats/timeseries?site_id=s&metrics=time_on_page", 400, "metrics: time_on_page is not available yet"},
		{"hour over days", "/api/v1/stats/timeseries?site_id=s&period=7d&interval=hour", 400, "interval: hour needs a range of one day"},
		{"visit property metric", "/api/v1/stats/breakdown?site_id=s&property=visit:browser&metrics=pageviews", 400, "metrics: pageviews is not available for visit:browser"},
		{"limit", "/api/v1/stats/breakdown?site_id=s&property=event:page&limit=5000", 400, `limit: \"5000\" must be a whole number from 1 to 1000`},
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
}

func TestStatsAPIAuthErrorsAndHead(t *testing.T) {
	f := newFakeRollups()
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{Token: "s3cret"}).Handler())
	defer srv.Close()
	down := newFakeRollups()
	down.err = analytics.Wrap(analytics.Unavailable, "mongodb: read rollups", errors.New("no reachable servers"))
	srvDown := httptest.NewServer(reporter.New(down, down, zerolog.Nop(), reporter.Config{}).Handler())
	defer srvDown.Close()
	// A store that reads no rollups, given explicitly through Config.
	plain := &fakeStats{}
	srvExplicit := httptest.NewServer(reporter.New(plain, plain, zerolog.Nop(), reporter.Config{Rollups: f}).Handler())
	defer srvExplicit.Close()
	srvNone := httptest.NewServer(reporter.New(plain, plain, zerolog.Nop(), reporter.Config{}).Handler())
	defer srvNone.Close()
	auth := []string{"Authorization", "Bearer s3cret"}
	for _, tt := range []struct {
		name, url string
		hdr       []string
		status    int
		body      string
	}{
		{"aggregate", srv.URL + "/api/v1/stats/aggregate?site_id=s&period=day&date=2026-11-12", auth, 200, `"value":12`},
		{"timeseries hourly", srv.URL + "/api/v1/stats/timeseries?site_id=s&period=day&date=2026-11-12", auth, 200, `{"date":"2026-11-12 13:00:00","visitors":12}`},
		{"breakdown", srv.URL + "/api/v1/stats/breakdown?site_id=s&property=visit:source&period=all", auth, 200, `"results":[`},
		{"without the token", srv.URL + "/api/v1/stats/aggregate?site_id=s", nil, 401, "bearer token"},
		{"breakdown without the token", srv.URL + "/api/v1/stats/breakdown?site_id=s&property=event:page", nil, 401, "bearer token"},
		{"bad query", srv.URL + "/api/v1/stats/aggregate?site_id=s&period=week", auth, 400, "period:"},
		{"database down", srvDown.URL + "/api/v1/stats/aggregate?site_id=s", nil, 503, "retry later"},
		{"rollups through Config", srvExplicit.URL + "/api/v1/stats/aggregate?site_id=s&period=day&date=2026-11-12", nil, 200, `"value":12`},
		{"no rollups", srvNone.URL + "/api/v1/stats/aggregate?site_id=s", nil, 501, "does not read rollups"},
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
