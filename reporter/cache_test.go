package reporter_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/reporter"
)

// swapSource hands out a set of real blocks that a test replaces, as a
// store hands out new blocks after a batch.
type swapSource struct {
	mu     sync.Mutex
	blocks []*block.Block
}

func (s *swapSource) Blocks(context.Context, string, time.Time, time.Time) ([]*block.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocks, nil
}

func (s *swapSource) set(b ...*block.Block) {
	s.mu.Lock()
	s.blocks = b
	s.mu.Unlock()
}

func pageviews(hour time.Time, users ...string) *block.Block {
	b := block.NewBuilder(hour)
	for i, u := range users {
		b.AddEvent(&analytics.Event{SiteID: "s", EventType: analytics.PageView, Path: "/p", UserID: u, Timestamp: hour.Add(time.Duration(i) * time.Minute)})
	}
	return b.Block()
}

// TestAnswerCache: the same question over the same blocks is answered
// from memory, and equal to the engine's answer; new blocks (a batch, a
// compaction) are answered afresh at once; a kept answer is not changed by
// what the API does with it (relabelling times); without Blocks, or with
// AnswerCache < 0, nothing is kept.
func TestAnswerCache(t *testing.T) {
	hour := time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)
	src := &swapSource{}
	src.set(pageviews(hour, "a", "b"))
	rp := reporter.New(engine.New(src), nil, zerolog.Nop(), reporter.Config{Blocks: src})
	srv := httptest.NewServer(rp.Handler())
	defer srv.Close()
	ask := func(body string) string {
		t.Helper()
		code, ans := post(t, srv.URL+"/api/v2/query", body)
		if code != 200 {
			t.Fatalf("%s: %d %s", body, code, ans)
		}
		return ans
	}
	agg := `{"site_id":"s","metrics":["visitors","pageviews"],"date_range":["2026-11-12","2026-11-12"]}`
	hourly := `{"site_id":"s","metrics":["visitors"],"date_range":["2026-11-12","2026-11-12"],"dimensions":["time"]}`
	first, firstHourly := ask(agg), ask(hourly)
	if s := rp.AnswerCacheStats(); s.Hits != 0 || s.Misses != 2 || s.Entries != 2 {
		t.Errorf("after two questions: %+v", s)
	}
	if again, againHourly := ask(agg), ask(hourly); again != first || againHourly != firstHourly {
		t.Errorf("kept answers differ:\n%s\n%s\nfirst:\n%s\n%s", again, againHourly, first, firstHourly)
	}
	if s := rp.AnswerCacheStats(); s.Hits != 2 || s.Misses != 2 {
		t.Errorf("asked again: %+v; want 2 hits", s)
	}
	if !contains(first, `"metrics":[2,2]`) || !contains(firstHourly, `"dimensions":["2026-11-12 10:00:00"],"metrics":[2]`) {
		t.Errorf("answers: %s %s", first, firstHourly)
	}

	// A batch: a new part for the hour. The answer follows at once.
	src.set(pageviews(hour, "a", "b"), pageviews(hour.Add(time.Hour), "c"))
	if got := ask(agg); !contains(got, `"metrics":[3,3]`) {
		t.Errorf("after a new part: %s", got)
	}
	// A compaction: the same events in one new block: a miss, the same
	// answer.
	before := rp.AnswerCacheStats()
	src.set(pageviews(hour, "a", "b", "c"))
	if got := ask(agg); !contains(got, `"metrics":[3,3]`) || rp.AnswerCacheStats().Misses != before.Misses+1 {
		t.Errorf("after compaction: %s %+v", got, rp.AnswerCacheStats())
	}

	// Off.
	for _, cfg := range []reporter.Config{{}, {Blocks: src, AnswerCache: -1}} {
		off := reporter.New(engine.New(src), nil, zerolog.Nop(), cfg)
		s := httptest.NewServer(off.Handler())
		post(t, s.URL+"/api/v2/query", agg)
		post(t, s.URL+"/api/v2/query", agg)
		s.Close()
		if st := off.AnswerCacheStats(); st != (reporter.CacheStats{}) {
			t.Errorf("config %+v keeps answers: %+v", cfg, st)
		}
	}
}

// BenchmarkAnswerCacheHit is what a kept answer costs: the key, a look at
// the blocks, a copy.
func BenchmarkAnswerCacheHit(b *testing.B) {
	hour := time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)
	src := &swapSource{}
	var blocks []*block.Block
	for h := range 720 {
		blocks = append(blocks, pageviews(hour.Add(time.Duration(h)*time.Hour), "a", "b", "c"))
	}
	src.set(blocks...)
	rp := reporter.New(engine.New(src), nil, zerolog.Nop(), reporter.Config{Blocks: src})
	h := rp.Handler()
	body := `{"site_id":"s","metrics":["visitors","pageviews"],"date_range":["2026-11-12","2026-12-11"],"dimensions":["visit:source"]}`
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/api/v2/query", strings.NewReader(body)))
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	if s := rp.AnswerCacheStats(); s.Misses != 1 {
		b.Errorf("%+v: want one miss", s)
	}
}

// swapAfterFirst hands out one set of blocks once, then another: a batch
// stored while a request is being answered.
type swapAfterFirst struct {
	mu           sync.Mutex
	first, later []*block.Block
	reads        int
}

func (s *swapAfterFirst) Blocks(context.Context, string, time.Time, time.Time) ([]*block.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.reads == 1 {
		return s.first, nil
	}
	return s.later, nil
}

// A batch stored between the two questions of one GET /stats (its totals
// and top paths) leaves no answer kept under blocks newer than the ones
// it was computed from: the next request answers from the new blocks,
// top paths included.
func TestAnswerCacheKeepsNoAnswerUnderNewerBlocks(t *testing.T) {
	hour := time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)
	src := &swapAfterFirst{first: []*block.Block{}, later: []*block.Block{pageviews(hour, "a", "b", "c")}}
	rp := reporter.New(engine.New(src), nil, zerolog.Nop(), reporter.Config{Blocks: src})
	srv := httptest.NewServer(rp.Handler())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/stats?site_id=s&date=2026-11-12"); code != 200 || !strings.Contains(body, `"total_views":0`) {
		t.Fatalf("first /stats: %d %s", code, body)
	}
	code, body := get(t, srv.URL+"/stats?site_id=s&date=2026-11-12")
	if code != 200 || !strings.Contains(body, `"total_views":3`) || !strings.Contains(body, `"top_paths":[{"path":"/p","views":3}]`) {
		t.Fatalf("second /stats, after the batch: %d %s", code, body)
	}
}
