package mongostore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/reporter"
)

// "(other)" is never a top path: with thousands of distinct paths in a
// day, /stats lists the real paths in rank order, every count exact, and
// nothing is lumped together.
func TestOtherIsNeverATopPath(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	const site, day = "many-paths", "2025-11-12"
	distinct := 5860
	var evs []analytics.Event
	add := func(path string, n int) {
		for range n {
			evs = append(evs, pv(fmt.Sprintf("e%d", len(evs)), site, path, "", day+"T10:00:00Z"))
		}
	}
	add("/top", 40)
	add("/second", 30)
	for i := range distinct {
		add(fmt.Sprintf("/long-tail/%d", i), 1)
	}
	for start := 0; start < len(evs); start += 1000 {
		b := analytics.Batch{Partition: 0}
		for i, ev := range evs[start:min(start+1000, len(evs))] {
			b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-%d", 1000+start, i), Event: ev})
		}
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(reporter.New(engine.New(s), s, zerolog.Nop(), reporter.Config{}).Handler())
	t.Cleanup(srv.Close)
	for _, limit := range []int{3, 10, 100} {
		resp, err := http.Get(fmt.Sprintf("%s/stats?site_id=%s&date=%s&limit=%d", srv.URL, site, day, limit))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var st analytics.Stats
		if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /stats: %d %s", resp.StatusCode, body)
		}
		if st.TotalViews != int64(len(evs)) || st.Truncated {
			t.Fatalf("limit %d: %d views (want %d), truncated %v", limit, st.TotalViews, len(evs), st.Truncated)
		}
		if len(st.TopPaths) != limit {
			t.Fatalf("limit %d: %d top paths", limit, len(st.TopPaths))
		}
		if st.TopPaths[0] != (analytics.PathViews{Path: "/top", Views: 40}) || st.TopPaths[1] != (analytics.PathViews{Path: "/second", Views: 30}) {
			t.Fatalf("limit %d: top paths start %v, want /top 40, /second 30", limit, st.TopPaths[:2])
		}
		for i, p := range st.TopPaths {
			if i >= 2 && (p.Views != 1 || p.Path == "(other)") {
				t.Fatalf("limit %d: rank %d is %v, want a long-tail path with 1 view", limit, i+1, p)
			}
		}
	}
}
