package mongostore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/internal/visitmodel"
	"github.com/siteanalytics/analytics/rollup"
	"github.com/siteanalytics/analytics/visits"
)

// visitPeriod reads the visit counters of a snapshot as the model counts
// them.
func visitPeriod(sn rollup.Snapshot) *visitmodel.Period {
	c := func(v rollup.VisitCounts) visitmodel.Counts {
		return visitmodel.Counts{Visits: v.Visits, Bounces: v.Bounces, Duration: v.Duration, Views: v.VisitViews}
	}
	p := &visitmodel.Period{Total: c(sn.VisitCounts), Values: map[string]visitmodel.Counts{}}
	for h, b := range sn.Hours {
		p.Hours[h] = c(b.VisitCounts)
	}
	for dim, top := range sn.Top {
		for _, r := range top {
			p.Values[dim+"="+r.Value] = c(r.VisitCounts)
		}
	}
	return p
}

// Visits, bounces, durations, entry and exit pages of every day, month and
// all time, per hour and per source, referrer and page, exactly as an
// independent model computes them from the events sent: annotated by the
// real annotator in Redis, applied with redelivered batches and resent ids,
// and again after a rebuild from the raw events.
func TestVisitsAreExact(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(5, seed))
	site := fmt.Sprintf("visits-%d", rng.IntN(1e9))
	const timeout = 30 * time.Minute
	events := visitmodel.Generate(rng, []string{site}, 40, 1500, time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC), 3, timeout)
	ann := visits.New(rdb, prefix, timeout)
	defer ann.Close()
	model := visitmodel.New(timeout)
	var batches []analytics.Batch
	b := analytics.Batch{}
	for i := 0; i < len(events); {
		// Requests of 1 to 5 events, as clients send them.
		req := events[i:min(len(events), i+1+rng.IntN(5))]
		i += len(req)
		evs := append([]analytics.Event(nil), req...)
		if err := ann.Annotate(ctx, evs); err != nil {
			t.Fatal(err)
		}
		model.AddRequest(req)
		for _, ev := range evs {
			b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-%d", 1000+len(batches), len(b.Entries)), Event: ev})
		}
		if len(b.Entries) >= 100 {
			batches = append(batches, b)
			b = analytics.Batch{}
		}
	}
	batches = append(batches, b)
	for i, b := range batches {
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if i%3 == 1 { // redelivered after a crash before the ack
			for _, again := range []analytics.Batch{batches[i-1], b} {
				if _, err := s.Apply(ctx, again); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want := model.Periods()
	var periods []string
	for k := range want {
		periods = append(periods, k[len(site)+1:])
	}
	sort.Strings(periods)
	if len(periods) < 6 {
		t.Fatalf("the events cover only %v", periods)
	}
	verify := func(when string) {
		sns, err := s.Rollups(ctx, site, periods)
		if err != nil {
			t.Fatal(err)
		}
		for _, sn := range sns {
			if d := visitmodel.Diff(want[site+"|"+sn.Period], visitPeriod(sn), rollup.IsDay(sn.Period)); d != "" {
				t.Errorf("%s %s (seed %d): %s", when, sn.Period, seed, d)
			}
		}
	}
	t.Logf("all time: %v", want[site+"|all"].Total)
	verify("applied")
	if _, err := s.Rebuild(ctx, site, noFence{}, 70, nil); err != nil {
		t.Fatal(err)
	}
	verify("rebuilt")
}
