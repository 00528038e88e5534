package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
)

// benchBlocks are 30 days of one site's events (n of them), merged by hour
// as a reader holds them: 40 paths, 8 sources, 20% custom events, visitors
// returning across days.
func benchBlocks(b *testing.B, n int) ([]*block.Block, time.Time, time.Time) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]analytics.Event, n)
	sources := []string{"", "", "Google", "Bing", "news.example", "Twitter", "GitHub", "newsletter"}
	for i := range evs {
		u := rng.IntN(n / 6)
		ts := from.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
		evs[i] = analytics.Event{ID: fmt.Sprint(i), SiteID: "s", EventType: analytics.PageView, Path: fmt.Sprintf("/page/%d", rng.IntN(40)),
			UserID: fmt.Sprint("u", u), Timestamp: ts, Source: sources[u%len(sources)], Browser: "Chrome", Country: "DE", Device: "Desktop"}
		if rng.IntN(5) == 0 {
			evs[i].EventType = "signup"
			evs[i].Props = map[string]any{"plan": "pro"}
		}
	}
	return block.FromEvents(evs), from, from.AddDate(0, 0, 30)
}

var (
	benchOnce sync.Once
	benchData struct {
		blocks   []*block.Block
		from, to time.Time
	}
)

type sliceSource []*block.Block

func (s sliceSource) Blocks(context.Context, string, time.Time, time.Time) ([]*block.Block, error) {
	return s, nil
}

// BenchmarkScanFilteredBreakdown: page views and visitors by page, of the
// visits from Google, over 30 days of decoded blocks. rows/s counts every
// event row scanned; the goal is 20M rows/s per core.
func BenchmarkScanFilteredBreakdown(b *testing.B) {
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"page_by_source_filter", Query{Metrics: []string{Visitors, Pageviews}, Dimensions: []string{EventPage},
			Filter: &Filter{Op: OpIs, Dim: Source, Values: []string{"Google"}}}},
		{"page_by_event_filter", Query{Metrics: []string{Visitors, Pageviews}, Dimensions: []string{EventPage},
			Filter: &Filter{Op: OpIs, Dim: EventName, Values: []string{"pageview"}}}},
		{"aggregate_visits", Query{Metrics: []string{Visitors, Visits, Pageviews, BounceRate, VisitDuration}}},
		// Visits rebuilt, and each visit's bounce and duration moved to
		// its entry page's row.
		{"page_visits", Query{Metrics: []string{Visitors, Visits, BounceRate, VisitDuration}, Dimensions: []string{EventPage}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchOnce.Do(func() { benchData.blocks, benchData.from, benchData.to = benchBlocks(b, 1_000_000) })
			blocks, from, to := benchData.blocks, benchData.from, benchData.to
			rows := 0
			for _, bl := range blocks {
				rows += bl.Len()
			}
			e := New(sliceSource(blocks))
			q := c.q
			q.Site, q.From, q.To = "s", from, to
			b.ResetTimer()
			for range b.N {
				if _, err := e.Query(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrows/s")
		})
	}
}

// rangeSource hands out the blocks of the hours asked.
type rangeSource []*block.Block

func (s rangeSource) Blocks(_ context.Context, _ string, from, to time.Time) ([]*block.Block, error) {
	var out []*block.Block
	for _, b := range s {
		if b.Hour.Add(time.Hour).After(from) && b.Hour.Before(to) {
			out = append(out, b)
		}
	}
	return out, nil
}

// BenchmarkDayAfterMonth: GET /stats's two questions of one day (totals;
// page views and visitors by page) by an engine that has answered for the
// whole month before, so that its visitor dictionary holds the month's.
func BenchmarkDayAfterMonth(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_EVENTS")); err == nil {
		n = v
	}
	blocks, from, to := benchBlocks(b, n)
	benchData.from, benchData.to = from, to
	e := New(rangeSource(blocks))
	month := Query{Site: "s", From: benchData.from, To: benchData.to, Metrics: []string{Visitors}}
	if _, err := e.Query(context.Background(), month); err != nil {
		b.Fatal(err)
	}
	day := benchData.from.AddDate(0, 0, 14)
	totals := Query{Site: "s", From: day, To: day.AddDate(0, 0, 1), Metrics: []string{Pageviews, Visitors}}
	pages := totals
	pages.Dimensions = []string{EventPage}
	b.ResetTimer()
	for range b.N {
		for _, q := range []Query{totals, pages} {
			if _, err := e.Query(context.Background(), q); err != nil {
				b.Fatal(err)
			}
		}
	}
}
