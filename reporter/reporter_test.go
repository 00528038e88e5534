package reporter_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/reporter"
)

type fakeStats struct {
	got analytics.StatsQuery
	err error
}

func (f *fakeStats) Stats(_ context.Context, q analytics.StatsQuery) (analytics.Stats, error) {
	f.got = q
	st := analytics.Stats{SiteID: q.SiteID, TotalViews: 3, UniqueUsers: 2, TopPaths: []analytics.PathViews{{Path: "/pricing", Views: 2}}}
	if q.Date != "" {
		st.Date = &q.Date
	}
	return st, f.err
}

func (f *fakeStats) Ping(context.Context) error { return f.err }

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestStatsEndpoint(t *testing.T) {
	f := &fakeStats{}
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
	if f.got.Limit != 25 {
		t.Fatalf("limit passed as %d", f.got.Limit)
	}
	if status, _ := get(t, srv.URL+"/stats?site_id=s"); status != 200 || f.got.Limit != analytics.DefaultTopPaths {
		t.Fatalf("default limit %d", f.got.Limit)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/stats", nil)
	resp, _ := http.DefaultClient.Do(req)
	if resp.StatusCode != 405 {
		t.Fatalf("POST /stats: %d", resp.StatusCode)
	}
}

func TestStatsToken(t *testing.T) {
	f := &fakeStats{}
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
	f := &fakeStats{err: analytics.Wrap(analytics.Unavailable, "mongodb: read stats", errors.New("no reachable servers"))}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{}).Handler())
	defer srv.Close()
	if status, body := get(t, srv.URL+"/stats?site_id=s"); status != 503 || body != `{"error":"mongodb: read stats"}` {
		t.Fatalf("%d %s", status, body)
	}
	if status, _ := get(t, srv.URL+"/readyz"); status != 503 {
		t.Fatalf("readyz %d", status)
	}
}
