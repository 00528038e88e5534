package processor_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/processor"
	"github.com/siteanalytics/analytics/redisqueue"
)

// partitionHook cuts a client off from Redis while cut is set: every command
// waits until its context ends, as over a network partition.
type partitionHook struct{ cut atomic.Bool }

func (h *partitionHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *partitionHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h.wait(ctx); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (h *partitionHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := h.wait(ctx); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}
func (h *partitionHook) wait(ctx context.Context) error {
	for h.cut.Load() {
		select {
		case <-ctx.Done():
			return &net.OpError{Op: "read", Err: ctx.Err()}
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// meet holds every rollup write of two stores until both have reached
// their rollups, so a stale owner and a new owner write the same rollup
// documents at the same moment.
type meet struct {
	both chan struct{}
	seen [2]atomic.Bool
	n    atomic.Int32
}

func newMeet() *meet { return &meet{both: make(chan struct{})} }

func (m *meet) hook(i int) func(string) error {
	return func(stage string) error {
		if stage != "blocks" {
			return nil
		}
		if m.seen[i].CompareAndSwap(false, true) && m.n.Add(1) == 2 {
			close(m.both)
		}
		select {
		case <-m.both:
		case <-time.After(30 * time.Second): // the other never came
		}
		return nil
	}
}

// TestStaleAndNewOwnerWriteConcurrently runs the race the fencing exists
// for, for real and concurrently, against the store under test (FerretDB,
// whose compare-and-set is not atomic): processor A is cut off from Redis
// in the middle of a batch, its lease expires, processor B takes the
// partition over and replays the batch, and both then write it at the same
// moment. Counts must be exact in every round.
func TestStaleAndNewOwnerWriteConcurrently(t *testing.T) {
	const rounds = 6
	ttl := 300 * time.Millisecond
	for round := 0; round < rounds; round++ {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			r := newRig(t, 1)
			ctx := context.Background()
			site := fmt.Sprint("s", round)
			evs := pageViews(400, site)
			opt, err := redis.ParseURL(testenv.RedisURL(t))
			if err != nil {
				t.Fatal(err)
			}
			hook := &partitionHook{}
			rdbA := redis.NewClient(opt)
			rdbA.AddHook(hook)
			t.Cleanup(func() { rdbA.Close() })
			cfg := redisqueue.DefaultConsumerConfig()
			cfg.LeaseTTL, cfg.IdlePoll, cfg.Name = ttl, 10*time.Millisecond, "A"
			a, err := redisqueue.NewConsumer(ctx, rdbA, r.keys, cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hook.cut.Store(false); a.Close(context.Background()) })

			// Two processes: each its own store client.
			storeA, storeB := r.openStore(t), r.openStore(t)
			m := newMeet()
			entered := make(chan struct{})
			var armed atomic.Bool
			var once sync.Once
			storeA.SetStageHook(func(stage string) error {
				if !armed.Load() {
					return nil
				}
				once.Do(func() {
					// A is about to write its first event blocks: cut it off from
					// Redis now, mid-batch.
					hook.cut.Store(true)
					close(entered)
				})
				return m.hook(0)(stage)
			})
			storeB.SetStageHook(m.hook(1))
			recA := &recordingStore{Store: storeA, armed: &armed}
			pa, _ := run(t, a, recA, processor.Config{BatchSize: 100, MinBackoff: 5 * time.Millisecond})
			// First A alone creates the site's block documents, so that the race
			// below is between compare-and-set updates, not inserts.
			if err := r.pub.Publish(ctx, evs[:100]); err != nil {
				t.Fatal(err)
			}
			waitViews(t, r.store, site, 100, 10)
			armed.Store(true)
			if err := r.pub.Publish(ctx, evs[100:]); err != nil {
				t.Fatal(err)
			}
			<-entered
			// B takes over once A's lease has expired (and waits a TTL
			// more), replays the batch and meets A at the event blocks.
			// B sorts before A, so the fair share keeps the partition with
			// B once A is back.
			cfgB := cfg
			cfgB.Name = "0-B"
			b, err := redisqueue.NewConsumer(ctx, r.rdb, r.keys, cfgB, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close(context.Background()) })
			// B cuts the replay into other batches than A did, so the two
			// write different increments over the same watermark: on a
			// non-atomic compare-and-set the later write would undo the
			// other's, losing counts and moving the watermark back.
			pb, _ := run(t, b, storeB, processor.Config{BatchSize: 170, MinBackoff: 5 * time.Millisecond})
			// A reconnects once B is at work, as a partition heals.
			testenv.Eventually(t, 60*time.Second, func() error {
				if pb.Counters.Batches.Load() == 0 {
					return errors.New("B has not stored a batch yet")
				}
				return nil
			})
			hook.cut.Store(false)
			waitViews(t, r.store, site, 400, 10)
			testenv.Eventually(t, 20*time.Second, func() error {
				if n, _ := redisqueue.Backlog(ctx, r.rdb, r.keys); n != 0 {
					return fmt.Errorf("backlog %d", n)
				}
				return nil
			})
			st, err := r.store.Stats(ctx, analytics.StatsQuery{SiteID: site, Date: "2025-11-12", Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			want := []analytics.PathViews{{Path: "/p0", Views: 134}, {Path: "/p1", Views: 133}, {Path: "/p2", Views: 133}}
			if fmt.Sprint(st.TopPaths) != fmt.Sprint(want) {
				t.Fatalf("top paths %v, want %v", st.TopPaths, want)
			}
			if got := pb.Counters.Stored.Load(); got != 300 {
				t.Fatalf("B stored %d events, want the 300 A did not finish", got)
			}
			// A's stale write was refused by its own write deadline, not
			// left to the database to sort out.
			for _, err := range recA.errors() {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, analytics.ErrFenced) {
					t.Fatalf("A's stale Apply returned %v, want it cut off at its write deadline", err)
				}
			}
			testenv.Eventually(t, 10*time.Second, func() error {
				if pa.Counters.Fenced.Load() == 0 {
					return fmt.Errorf("A's stale batch was not cut off (A stored %d)", pa.Counters.Stored.Load())
				}
				return nil
			})
		})
	}
}

// recordingStore remembers what each Apply returned once armed.
type recordingStore struct {
	analytics.Store
	armed *atomic.Bool
	mu    sync.Mutex
	errs  []error
}

func (r *recordingStore) Apply(ctx context.Context, b analytics.Batch) (analytics.ApplyResult, error) {
	armed := r.armed.Load()
	res, err := r.Store.Apply(ctx, b)
	if err != nil && analytics.Fenced(ctx, analytics.FenceFrom(ctx)) {
		err = errors.Join(analytics.ErrFenced, err)
	}
	if armed {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}
	return res, err
}

func (r *recordingStore) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// A database operation that outlasts the write deadline is cut at it, not
// let run past it; the batch is retried (the lease is still held) and
// counted once the database is fast again.
func TestSlowWriteIsCutAtTheDeadline(t *testing.T) {
	r := newRig(t, 1)
	ctx := context.Background()
	if err := r.pub.Publish(ctx, pageViews(50, "slow")); err != nil {
		t.Fatal(err)
	}
	slow := &slowStore{Store: r.store}
	slow.delay.Store(int64(2 * time.Second))
	c := r.consumer(t, 400*time.Millisecond)
	p, _ := run(t, c, slow, processor.Config{BatchSize: 50, MinBackoff: 5 * time.Millisecond})
	testenv.Eventually(t, 20*time.Second, func() error {
		if slow.cut.Load() == 0 || p.Counters.Retries.Load() == 0 {
			return errors.New("no write cut off and retried yet")
		}
		return nil
	})
	if d := time.Duration(slow.longest.Load()); d > time.Second {
		t.Fatalf("a write ran %v, past its deadline (TTL 400ms)", d)
	}
	slow.delay.Store(0)
	waitViews(t, r.store, "slow", 50, 10)
}

type slowStore struct {
	analytics.Store
	delay   atomic.Int64 // nanoseconds
	cut     atomic.Int64 // operations cut at their deadline
	longest atomic.Int64 // longest operation, nanoseconds
}

func (s *slowStore) Apply(ctx context.Context, b analytics.Batch) (analytics.ApplyResult, error) {
	if d := time.Duration(s.delay.Load()); d > 0 {
		// One database operation that takes d, under the write deadline
		// the store gives each operation.
		octx, cancel := analytics.FenceFrom(ctx).WriteContext(ctx)
		defer cancel()
		start := time.Now()
		select {
		case <-octx.Done():
			if took := int64(time.Since(start)); took > s.longest.Load() {
				s.longest.Store(took)
			}
			s.cut.Add(1)
			return analytics.ApplyResult{}, analytics.Wrap(analytics.Unavailable, "slow store", octx.Err())
		case <-time.After(d):
		}
	}
	return s.Store.Apply(ctx, b)
}
