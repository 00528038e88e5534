package faults

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/mongostore"
)

// preStored is how many events the recovery test stores before its load:
// a takeover must not slow down with the size of the store (the write-time
// rollups did: one lookup per first sight, each a scan on FerretDB).
const preStored = 100_000

// TestRecoveryAfterSIGKILLWithAHundredThousandStored kills the processor
// under load on a store already holding 100,000 events of the load's sites
// and day, lets a backlog build up with no processor, then starts a new
// one and measures the time from its start (its takeover: the dead
// owner's leases lapse within LEASE_TTL, 1 s here) to an empty queue. The
// counts must still be exact: nothing lost, nothing twice, the pre-stored
// events counted once.
func TestRecoveryAfterSIGKILLWithAHundredThousandStored(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	preload(t, e, preStored)

	col := e.start(t, "collector")
	p1 := e.start(t, "processor")
	l := startLoad(col.URL, 4)
	l.waitAccepted(t, 3000)
	p1.Kill() // SIGKILL: no chance to finish or give partitions back
	l.waitAccepted(t, l.count()+4000)
	accepted := l.finish()
	queued := backlog(t, e)

	takeover := time.Now()
	e.start(t, "processor")
	err := testenv.Poll(120*time.Second, e.drained)
	recovered := time.Since(takeover)
	if err != nil {
		t.Errorf("the new processor did not empty the queue: %v", err)
	}
	for id := range preloadIDs(preStored) {
		accepted[id] = true // stored before the load: must still be there, once
	}
	r := verify(t, e, accepted, 60*time.Second)
	if r.stored != len(accepted) {
		t.Errorf("%d events stored, want the %d pre-stored and accepted ones", r.stored, len(accepted))
	}
	report(t, "SIGKILL, 100k stored", r, recovered,
		fmt.Sprintf("(takeover to empty queue: %d entries queued when the new processor started, %.0f events/s)",
			queued, float64(queued)/recovered.Seconds()))
}

// preloadIDs are the ids preload stores.
func preloadIDs(n int) map[string]bool {
	ids := make(map[string]bool, n)
	for i := range n {
		ids["pre-"+strconv.Itoa(i)] = true
	}
	return ids
}

// preload stores n page views of the load's sites and day straight
// through the store (the path the processor takes), as entries of a
// partition the queue does not have, so they never meet the load's.
func preload(t *testing.T, e *env, n int) {
	t.Helper()
	ctx := context.Background()
	store, err := mongostore.Open(ctx, e.mongoURI, mongostore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(ctx)
	day := time.Date(2025, 11, 12, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	const batch = 2000
	for i := 0; i < n; i += batch {
		b := analytics.Batch{Partition: 1000}
		for j := i; j < min(i+batch, n); j++ {
			b.Entries = append(b.Entries, analytics.Entry{
				ID: fmt.Sprintf("1-%d", j),
				Event: analytics.Event{
					ID: "pre-" + strconv.Itoa(j), SiteID: fmt.Sprintf("site-%d", j%sites), EventType: "page_view",
					Path: fmt.Sprintf("/p%d", j%5), UserID: fmt.Sprintf("u%d", j%5000),
					Timestamp: day.Add(time.Duration(j) * 86400 * time.Second / time.Duration(n)),
				},
			})
		}
		if _, err := store.Apply(ctx, b); err != nil {
			t.Fatalf("pre-storing events %d-%d: %v", i, i+len(b.Entries), err)
		}
	}
	t.Logf("pre-stored %d events in %v", n, time.Since(start).Round(time.Millisecond))
}
