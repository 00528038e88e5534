package processor_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/processor"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/retention"
)

// storedIDs returns the ids of the raw events stored for site, sorted.
func storedIDs(t *testing.T, s *mongostore.Store, site string) []string {
	t.Helper()
	var ids []string
	if err := s.EachEvent(context.Background(), site, time.Time{}, time.Time{}, func(ev analytics.Event) error {
		ids = append(ids, ev.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	return ids
}

// TestRetentionDeletesExactlyTheOldRawEvents stores events on both sides of
// each site's horizon (a site with its own retention, one whose document
// says 0, one with no document: both use RETENTION_DAYS), runs a pass while
// new events are ingested, and checks that exactly the raw events before
// each horizon are gone, that the stats of every day are unchanged, that
// the concurrent events are all counted, and that an old event sent again
// is not counted twice.
//
// It runs twice: with raw events in the events collection, where they stay
// until retention is first on (deleted with a filtered delete per site),
// and in the month collections (dropped whole).
func TestRetentionDeletesExactlyTheOldRawEvents(t *testing.T) {
	t.Parallel()
	for _, months := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "month collections"}[months], func(t *testing.T) {
			testRetention(t, months)
		})
	}
}

func testRetention(t *testing.T, months bool) {
	r := newRig(t, 2)
	ctx := context.Background()
	if months {
		if err := r.store.StartMonthCollections(ctx, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	const defaultDays = 3
	days := map[string]int{"ret-own": 40, "ret-zero": defaultDays, "ret-none": defaultDays}
	if _, err := r.store.Database().Collection("sites").InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "ret-own"}, {Key: "domains", Value: bson.A{"own.example"}}, {Key: "public", Value: false}, {Key: "retention_days", Value: 40}},
		bson.D{{Key: "_id", Value: "ret-zero"}, {Key: "retention_days", Value: 0}},
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var old []analytics.Event
	want := map[string][]string{} // site -> ids that must remain
	dates := map[string]bool{}
	for site, d := range days {
		horizon := mongostore.HorizonFor(d, now)
		stamps := []time.Time{
			horizon.Add(-time.Millisecond), horizon, horizon.Add(-49 * time.Hour), horizon.Add(30 * time.Hour),
			today.AddDate(0, 0, -20), today.AddDate(0, 0, -1).Add(time.Hour),
		}
		for i, ts := range stamps {
			for j := range 3 {
				id := fmt.Sprintf("%s-old-%d-%d", site, i, j)
				old = append(old, analytics.Event{ID: id, SiteID: site, EventType: analytics.PageView, Path: fmt.Sprintf("/p%d", j),
					UserID: fmt.Sprintf("u%d", i), Timestamp: ts.Add(time.Duration(j) * time.Second)})
				if !ts.Add(time.Duration(j) * time.Second).Before(horizon) {
					want[site] = append(want[site], id)
				}
				dates[ts.Format(analytics.DateLayout)] = true
			}
		}
		sort.Strings(want[site])
	}
	c := r.consumer(t, 2*time.Second)
	p, _ := run(t, c, r.store, processor.Config{BatchSize: 50})
	if err := r.pub.Publish(ctx, old); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() error {
		if n := p.Counters.Stored.Load(); n != int64(len(old)) {
			return fmt.Errorf("stored %d of %d", n, len(old))
		}
		return nil
	})
	statsOf := func() map[string]analytics.Stats {
		out := map[string]analytics.Stats{}
		for site := range days {
			for d := range dates {
				st, err := r.store.Stats(ctx, analytics.StatsQuery{SiteID: site, Date: d, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				out[site+" "+d] = st
			}
			st, err := r.store.Stats(ctx, analytics.StatsQuery{SiteID: site, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			out[site+" all"] = st
		}
		return out
	}
	before := statsOf()

	// Ingestion goes on during the pass: new events of every site.
	ingestCtx, stopIngest := context.WithCancel(ctx)
	var published atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ingestCtx.Err() == nil; i++ {
			var evs []analytics.Event
			for site := range days {
				evs = append(evs, analytics.Event{ID: fmt.Sprintf("%s-new-%d", site, i), SiteID: site, EventType: analytics.PageView,
					Path: "/new", UserID: "fresh", Timestamp: time.Now().UTC()})
			}
			if err := r.pub.Publish(ctx, evs); err != nil {
				t.Error(err)
				return
			}
			n := published.Add(int64(len(evs)))
			// Closed loop: the next events once these are stored, so the
			// ingestion goes on at the pipeline's pace for the whole pass.
			for ingestCtx.Err() == nil && p.Counters.Stored.Load() < int64(len(old))+n {
				time.Sleep(2 * time.Millisecond) // polling interval
			}
		}
	})
	rc := retention.Config{DefaultDays: defaultDays, Wait: mongostore.HorizonTTL + 4*time.Second, Duty: 0.5}
	job := redisqueue.NewJob(r.rdb, r.keys, "retention", "test-a", time.Minute)
	rn := retention.New(r.store, job, zerolog.Nop(), rc)
	// A second processor's job at the same moment finds the lease taken.
	other := retention.New(r.openStore(t), redisqueue.NewJob(r.rdb, r.keys, "retention", "test-b", time.Minute), zerolog.Nop(), rc)
	var otherDeleted int
	var otherErr error
	wg.Go(func() { otherDeleted, otherErr = other.Pass(ctx) })
	deleted, err := rn.Pass(ctx)
	stopIngest()
	wg.Wait()
	if err != nil || otherErr != nil {
		t.Fatalf("Pass: %v, %v", err, otherErr)
	}
	wantDeleted := len(old)
	for _, ids := range want {
		wantDeleted -= len(ids)
	}
	// Deleted a month of a site at a time.
	gone := map[string]bool{}
	for _, ev := range old {
		if ev.Timestamp.Before(mongostore.HorizonFor(days[ev.SiteID], now)) {
			gone[ev.SiteID+ev.Timestamp.Format(" 2006-01")] = true
		}
	}
	if !months {
		gone = nil // deleted from events, not by dropping site-months
	}
	if deleted+otherDeleted != len(gone) || min(deleted, otherDeleted) != 0 {
		t.Fatalf("passes deleted %d and %d site-months, want %d (%v) by one of them", deleted, otherDeleted, len(gone), gone)
	}
	// A pass right after does nothing: the job ran within its interval.
	if n, err := rn.Pass(ctx); n != 0 || err != nil {
		t.Fatalf("second pass: %d, %v", n, err)
	}
	testenv.Eventually(t, time.Minute, func() error {
		if n, want := p.Counters.Stored.Load(), int64(len(old))+published.Load(); n != want {
			return fmt.Errorf("stored %d, want %d", n, want)
		}
		return nil
	})
	for site := range days {
		got := storedIDs(t, r.store, site)
		var kept []string
		for _, id := range got {
			if len(id) > len(site)+4 && id[len(site)+1:len(site)+4] == "old" {
				kept = append(kept, id)
			}
		}
		if fmt.Sprint(kept) != fmt.Sprint(want[site]) {
			t.Errorf("%s keeps %v\nwant %v", site, kept, want[site])
		}
		if len(got)-len(kept) != int(published.Load())/len(days) {
			t.Errorf("%s: %d new raw events, want %d", site, len(got)-len(kept), published.Load()/int64(len(days)))
		}
	}
	after := statsOf()
	for k, st := range before {
		if k[len(k)-3:] == "all" {
			continue // all time includes the new events
		}
		if !reflect.DeepEqual(after[k], st) {
			t.Errorf("stats %s changed: %+v, was %+v", k, after[k], st)
		}
	}

	// The old events sent again (a client retrying, an import): refused,
	// whether their raw copy was deleted or is still there.
	if err := r.pub.Publish(ctx, old); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() error {
		if n := p.Counters.Expired.Load() + p.Counters.Duplicates.Load(); n != int64(len(old)) {
			return fmt.Errorf("expired %d + duplicates %d, want %d", p.Counters.Expired.Load(), p.Counters.Duplicates.Load(), len(old))
		}
		return nil
	})
	if got := p.Counters.Expired.Load(); got != int64(wantDeleted) {
		t.Errorf("expired %d, want %d (the deleted ones)", got, wantDeleted)
	}
	again := statsOf()
	for k, st := range before {
		if k[len(k)-3:] != "all" && !reflect.DeepEqual(again[k], st) {
			t.Errorf("stats %s changed after the resend: %+v, was %+v", k, again[k], st)
		}
	}
	for site := range days {
		if got, want := again[site+" all"].TotalViews, before[site+" all"].TotalViews+published.Load()/int64(len(days)); got != want {
			t.Errorf("%s all-time views %d, want %d", site, got, want)
		}
	}
}

// Turning retention on takes effect at the next check (a minute), not an
// hour later: a pass that found retention off leaves no done mark, whether
// retention is then turned on for one site (its retention_days) or for
// all (RETENTION_DAYS on a restarted processor).
func TestRetentionTurnedOnTakesEffectAtTheNextCheck(t *testing.T) {
	r := newRig(t, 1)
	ctx := context.Background()
	now := time.Now().UTC()
	evs := []analytics.Event{
		{ID: "a-1", SiteID: "on-a", EventType: analytics.PageView, Path: "/", Timestamp: now.Add(-time.Hour)},
		{ID: "b-1", SiteID: "on-b", EventType: analytics.PageView, Path: "/", Timestamp: now.Add(-time.Hour)},
	}
	if _, err := r.store.Apply(ctx, analytics.Batch{Entries: []analytics.Entry{{ID: "1-0", Event: evs[0]}, {ID: "1-1", Event: evs[1]}}}); err != nil {
		t.Fatal(err)
	}
	rc := retention.Config{Wait: time.Millisecond}
	off := retention.New(r.store, redisqueue.NewJob(r.rdb, r.keys, "retention", "test-off", time.Minute), zerolog.Nop(), rc)
	if _, err := off.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	horizon := func(site string) time.Time {
		h, err := r.store.Horizon(ctx, site)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// One site's retention_days, read by the same processor's next pass.
	if _, err := r.store.Database().Collection("sites").InsertOne(ctx, bson.D{{Key: "_id", Value: "on-a"}, {Key: "retention_days", Value: 30}}); err != nil {
		t.Fatal(err)
	}
	if _, err := off.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if h, want := horizon("on-a"), mongostore.HorizonFor(30, now); !h.Equal(want) {
		t.Fatalf("site retention turned on: horizon %v after the next pass, want %v", h, want)
	}
	if h := horizon("on-b"); !h.IsZero() {
		t.Fatalf("site without retention got horizon %v", h)
	}

	// RETENTION_DAYS on a processor restarted with it, after a pass of
	// the fleet with it off.
	r2 := newRig(t, 1)
	if _, err := r2.store.Apply(ctx, analytics.Batch{Entries: []analytics.Entry{{ID: "1-1", Event: evs[1]}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := retention.New(r2.store, redisqueue.NewJob(r2.rdb, r2.keys, "retention", "old", time.Minute), zerolog.Nop(), rc).Pass(ctx); err != nil {
		t.Fatal(err)
	}
	rc.DefaultDays = 10
	if _, err := retention.New(r2.store, redisqueue.NewJob(r2.rdb, r2.keys, "retention", "restarted", time.Minute), zerolog.Nop(), rc).Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := r2.store.Horizon(ctx, "on-b"); err != nil || !h.Equal(mongostore.HorizonFor(10, now)) {
		t.Fatalf("RETENTION_DAYS turned on: horizon %v, %v after the next pass, want %v", h, err, mongostore.HorizonFor(10, now))
	}
}
