package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/internal/metrics"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// scrape serves m's /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, m *metrics.Metrics) testenv.Metrics {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	got, err := testenv.Scrape(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Any name a snapshot holds is exported, the ones no code here knows
// (rate_limited, added by another part) included; the snapshots of one
// process add up.
func TestCountersComeFromTheSnapshots(t *testing.T) {
	m := metrics.New()
	m.AddCounters(func() map[string]int64 {
		return map[string]int64{"accepted": 7, "rate_limited": 3, "brand-new": 1}
	}, map[string]string{"accepted": "Events queued."})
	m.AddCounters(func() map[string]int64 { return map[string]int64{"stored": 5, "rate_limited": 2} }, nil)
	got := scrape(t, m)
	for name, want := range map[string]float64{
		"analytics_accepted_total": 7, "analytics_rate_limited_total": 5, "analytics_stored_total": 5, "analytics_brand_new_total": 1,
	} {
		if got[name] == nil || got[name].GetType().String() != "COUNTER" {
			t.Errorf("%s missing or not a counter: %v", name, got[name])
			continue
		}
		if v := got.Sum(name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if h := got["analytics_accepted_total"].GetHelp(); h != "Events queued." {
		t.Errorf("accepted help %q, want the one AddCounters was given", h)
	}
	if h := got["analytics_brand_new_total"].GetHelp(); !strings.Contains(h, "Running total") {
		t.Errorf("brand-new help %q, want the generic one", h)
	}
	for _, runtime := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		if got[runtime] == nil {
			t.Errorf("no %s: the Go runtime and process collectors are missing", runtime)
		}
	}
}

// Requests are labelled by the pattern that answered, never the raw path.
func TestRequestsByRoutePatternAndStatus(t *testing.T) {
	m := metrics.New()
	r := httprouter.New()
	httpx.GetAndHead(r, "/sites/:site_id", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/bad") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("ok")) // status 200 without WriteHeader
	}))
	httpx.Handle(r, http.MethodPost, "/event", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	r.HandleOPTIONS = true
	h := m.Instrument("collector", m.WithEndpoint(r))
	for _, req := range []struct{ method, path string }{
		{"GET", "/sites/a"}, {"GET", "/sites/b"}, {"HEAD", "/sites/c"}, {"GET", "/sites/bad"},
		{"POST", "/event"}, {"GET", "/nosuch/1"}, {"GET", "/nosuch/2"}, {"DELETE", "/event"}, {"OPTIONS", "/event"},
		{"GET", "/metrics"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	got := scrape(t, m)
	const name = "analytics_http_request_duration_seconds"
	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"/sites/:site_id", "200", 3}, {"/sites/:site_id", "400", 1}, {"/event", "202", 1},
		{metrics.RouteUnmatched, "404", 2}, {metrics.RouteUnmatched, "405", 1}, {metrics.RoutePreflight, "200", 1},
		{metrics.RouteMetrics, "200", 1},
	} {
		if v := got.Sum(name, "server", "collector", "route", c.route, "code", c.code); v != c.want {
			t.Errorf("%s{route=%q,code=%q} count = %v, want %v", name, c.route, c.code, v, c.want)
		}
	}
	if total := got.Sum(name); total != 10 {
		t.Errorf("%v requests counted, want 10", total)
	}
	for _, s := range got[name].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "route" && (strings.Contains(l.GetValue(), "nosuch") || strings.HasSuffix(l.GetValue(), "/a")) {
				t.Errorf("a raw path became a label: %v", s.GetLabel())
			}
		}
	}
}

type publisher struct{ err error }

func (p publisher) Publish(context.Context, []analytics.Event) error { return p.err }

func TestPublishLatencyByResult(t *testing.T) {
	m := metrics.New()
	ok, failing := m.Publisher(publisher{}), m.Publisher(publisher{errors.New("down")})
	for range 3 {
		if err := ok.Publish(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := failing.Publish(context.Background(), nil); err == nil {
		t.Fatal("the error was lost")
	}
	got := scrape(t, m)
	if n := got.Sum("analytics_queue_publish_duration_seconds", "result", "ok"); n != 3 {
		t.Errorf("%v ok publishes, want 3", n)
	}
	if n := got.Sum("analytics_queue_publish_duration_seconds", "result", "error"); n != 1 {
		t.Errorf("%v failed publishes, want 1", n)
	}
}

// The queue's state is read when scraped, cached briefly, and a failed read
// says so in analytics_queue_status_up instead of failing the scrape.
func TestQueueStateAtScrapeTime(t *testing.T) {
	m := metrics.New()
	reads := 0
	m.AddQueue(func(context.Context) (metrics.QueueStatus, error) {
		reads++
		return metrics.QueueStatus{
			Partitions: []metrics.PartitionStatus{
				{Partition: 0, Length: 4, Pending: 1, Owned: true, OldestAge: 1500 * time.Millisecond},
				{Partition: 1},
			},
			DeadLetters: 2, Processors: 1,
		}, nil
	})
	got := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"analytics_queue_status_up", nil, 1},
		{"analytics_queue_backlog_events", []string{"partition", "0"}, 4},
		{"analytics_queue_backlog_events", []string{"partition", "1"}, 0},
		{"analytics_queue_pending_entries", []string{"partition", "0"}, 1},
		{"analytics_queue_oldest_age_seconds", []string{"partition", "0"}, 1.5},
		{"analytics_queue_partition_owned", []string{"partition", "0"}, 1},
		{"analytics_queue_partition_owned", []string{"partition", "1"}, 0},
		{"analytics_queue_dead_letters", nil, 2},
		{"analytics_queue_processors", nil, 1},
	} {
		if v := got.Sum(c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	scrape(t, m)
	if reads != 1 {
		t.Errorf("two scrapes at once read Redis %d times, want 1 (cached for %v)", reads, metrics.QueueCacheFor)
	}
	m.AddQueue(func(context.Context) (metrics.QueueStatus, error) {
		return metrics.QueueStatus{}, errors.New("redis down")
	})
	got = scrape(t, m)
	if v := got.Sum("analytics_queue_status_up"); v != 0 || got["analytics_queue_backlog_events"] != nil {
		t.Errorf("with Redis down: status_up %v, backlog %v", v, got["analytics_queue_backlog_events"])
	}
}

type consumer struct{ analytics.Consumer }

func (consumer) Ack(context.Context, analytics.Batch) error { return nil }

// Each acknowledged event is observed with its time in the queue, which
// its entry id tells.
func TestProcessorLag(t *testing.T) {
	m := metrics.New()
	queued := time.Now().Add(-2 * time.Second)
	id := func(i int) string { return fmt.Sprintf("%d-0-%d", queued.UnixMilli(), i) }
	// The queue's ids start with the milliseconds they were queued at.
	queuedAt := func(id string) (time.Time, bool) {
		ms, _, _ := strings.Cut(id, "-")
		n, err := strconv.ParseInt(ms, 10, 64)
		return time.UnixMilli(n), err == nil
	}
	c := m.Consumer(consumer{}, queuedAt)
	if err := c.Ack(context.Background(), analytics.Batch{Entries: []analytics.Entry{{ID: id(0)}, {ID: id(1)}, {ID: "not-an-id"}}}); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, m)["analytics_processor_lag_seconds"]
	h := f.GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() < 4 || h.GetSampleSum() > 6 {
		t.Errorf("lag: %d observations summing to %vs, want 2 of about 2s", h.GetSampleCount(), h.GetSampleSum())
	}
}

// The reporter's block cache is shown: bytes and bound as gauges, lookups
// as counters, read when scraped.
func TestBlockCacheIsShown(t *testing.T) {
	m := metrics.New()
	var bytes int64 = 1 << 20
	m.AddBlockCache(func() (int64, int64, int64, int64) { return bytes, 512 << 20, 40, 2 })
	bytes = 3 << 20 // read at scrape time, not at registration
	got := scrape(t, m)
	for name, want := range map[string]float64{
		"analytics_block_cache_bytes": 3 << 20, "analytics_block_cache_limit_bytes": 512 << 20,
		"analytics_block_cache_hits_total": 40, "analytics_block_cache_misses_total": 2,
	} {
		if v := got.Sum(name); got[name] == nil || v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}

// The reporter's answer cache is shown, read when scraped.
func TestAnswerCacheIsShown(t *testing.T) {
	m := metrics.New()
	var hits int64 = 1
	m.AddAnswerCache(func() (int64, int64, int64) { return 12, hits, 5 })
	hits = 30
	got := scrape(t, m)
	for name, want := range map[string]float64{
		"analytics_answer_cache_entries": 12, "analytics_answer_cache_hits_total": 30, "analytics_answer_cache_misses_total": 5,
	} {
		if v := got.Sum(name); got[name] == nil || v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}
