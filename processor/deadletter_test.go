package processor_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/processor"
	"github.com/siteanalytics/analytics/redisqueue"
)

// switchableStore refuses the event "bad" for good while refuse is set, as
// a database refusing its raw document would (nothing of it is stored).
type switchableStore struct {
	analytics.Store
	refuse atomic.Bool
}

func (s *switchableStore) Apply(ctx context.Context, b analytics.Batch) (analytics.ApplyResult, error) {
	if s.refuse.Load() {
		for _, e := range b.Entries {
			if e.Event.ID == "bad" {
				return analytics.ApplyResult{}, analytics.Errorf(analytics.Invalid, "document refused")
			}
		}
	}
	return s.Store.Apply(ctx, b)
}

// A dead-lettered event, replayed once its cause is fixed, is counted
// exactly once: the replay keeps its id, and its raw document was never
// stored, so it is not mistaken for a duplicate of itself.
func TestReplayedDeadLetterIsCountedOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, 1)
	ctx := context.Background()
	evs := pageViews(30, "s1")
	evs[7].ID = "bad"
	evs[7].UserID = "only-in-bad"
	if err := r.pub.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	st := &switchableStore{Store: r.store}
	st.refuse.Store(true)
	p, _ := run(t, r.consumer(t, time.Second), st, processor.Config{})
	waitViews(t, r.store, "s1", 29, 10)
	testenv.Eventually(t, 10*time.Second, func() error {
		if p.Counters.DeadLettered.Load() != 1 {
			return fmt.Errorf("dead-lettered %d", p.Counters.DeadLettered.Load())
		}
		return nil
	})
	st.refuse.Store(false) // the cause is fixed
	res, err := redisqueue.ReplayDeadLetters(ctx, r.rdb, r.keys, r.pub, 100)
	if err != nil || res.Replayed != 1 {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	waitViews(t, r.store, "s1", 30, 11)
	// Replaying again finds nothing, and a resend of the event is a duplicate.
	if res, err := redisqueue.ReplayDeadLetters(ctx, r.rdb, r.keys, r.pub, 100); err != nil || res.Replayed != 0 {
		t.Fatalf("second replay: %+v, %v", res, err)
	}
	if err := r.pub.Publish(ctx, evs[7:8]); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if p.Counters.Duplicates.Load() != 1 {
			return fmt.Errorf("duplicates %d", p.Counters.Duplicates.Load())
		}
		return nil
	})
	waitViews(t, r.store, "s1", 30, 11)
}

// Once its raw document is stored, an event is never dead-lettered: a
// failure of a later step, however permanent it looks, is retried.
func TestNoDeadLetterAfterTheRawInsert(t *testing.T) {
	t.Parallel()
	r := newRig(t, 1)
	ctx := context.Background()
	var failures atomic.Int32
	failures.Store(5)
	r.store.SetStageHook(func(stage string) error {
		if stage == "blocks" && failures.Add(-1) >= 0 {
			return analytics.Errorf(analytics.Invalid, "refused (simulated)")
		}
		return nil
	})
	if err := r.pub.Publish(ctx, pageViews(40, "s1")); err != nil {
		t.Fatal(err)
	}
	p, _ := run(t, r.consumer(t, time.Second), r.store, processor.Config{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	waitViews(t, r.store, "s1", 40, 10)
	if n := p.Counters.DeadLettered.Load(); n != 0 {
		t.Fatalf("%d entries dead-lettered after their raw documents were stored", n)
	}
	if n := p.Counters.Retries.Load(); n < 5 {
		t.Fatalf("%d retries, want at least the 5 simulated failures", n)
	}
}

// erringStore fails its first Apply calls with an error of the given kind,
// as a store hitting a bug or an unexpected reply would, then stores.
type erringStore struct {
	analytics.Store
	err      error
	failures atomic.Int32
}

func (s *erringStore) Apply(ctx context.Context, b analytics.Batch) (analytics.ApplyResult, error) {
	if s.failures.Add(-1) >= 0 {
		return analytics.ApplyResult{}, s.err
	}
	return s.Store.Apply(ctx, b)
}

// Only an error classified Invalid is permanent: an Internal error, or one
// with no kind at all, is retried until the store takes the batch, and
// nothing is dead-lettered.
func TestOnlyInvalidIsDeadLettered(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"internal kind", analytics.Errorf(analytics.Internal, "unexpected reply (simulated)")},
		{"no kind", errors.New("connection reset (simulated)")},
		{"not found kind", analytics.Errorf(analytics.NotFound, "collection vanished (simulated)")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1)
			ctx := context.Background()
			if err := r.pub.Publish(ctx, pageViews(20, "s1")); err != nil {
				t.Fatal(err)
			}
			st := &erringStore{Store: r.store, err: tc.err}
			st.failures.Store(4)
			p, _ := run(t, r.consumer(t, time.Second), st, processor.Config{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
			waitViews(t, r.store, "s1", 20, 10)
			if n := p.Counters.DeadLettered.Load(); n != 0 {
				t.Fatalf("%d entries dead-lettered for a transient %s error", n, tc.name)
			}
			if n := p.Counters.Retries.Load(); n < 4 {
				t.Fatalf("%d retries, want at least the 4 simulated failures", n)
			}
		})
	}
}
