package processor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/processor"
	"github.com/siteanalytics/analytics/redisqueue"
)

type rig struct {
	rdb   redis.UniversalClient
	keys  redisqueue.Keys
	store *mongostore.Store
	pub   *redisqueue.Publisher
	uri   string
}

func newRig(t *testing.T, partitions int) *rig {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	uri := testenv.MongoDB(t)
	store, err := mongostore.Open(context.Background(), uri, mongostore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	k := redisqueue.Keys{Prefix: prefix, Partitions: partitions}
	pub := redisqueue.NewPublisher(rdb, k, redisqueue.PublisherConfig{})
	t.Cleanup(func() { pub.Close() })
	return &rig{rdb: rdb, keys: k, store: store, pub: pub, uri: uri}
}

// openStore opens a second client on the rig's database, as another
// process would.
func (r *rig) openStore(t *testing.T) *mongostore.Store {
	t.Helper()
	s, err := mongostore.Open(context.Background(), r.uri, mongostore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func (r *rig) consumer(t *testing.T, ttl time.Duration) *redisqueue.Consumer {
	t.Helper()
	cfg := redisqueue.DefaultConsumerConfig()
	cfg.LeaseTTL = ttl
	cfg.IdlePoll = 10 * time.Millisecond
	c, err := redisqueue.NewConsumer(context.Background(), r.rdb, r.keys, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// run starts a processor and returns a stop function that waits for it.
func run(t *testing.T, c analytics.Consumer, s analytics.Store, cfg processor.Config) (*processor.Processor, func()) {
	p := processor.New(c, s, zerolog.Nop(), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

func pageViews(n int, site string) []analytics.Event {
	out := make([]analytics.Event, n)
	for i := range out {
		out[i] = analytics.Event{ID: fmt.Sprintf("%s-%d", site, i), SiteID: site, EventType: analytics.PageView,
			Path: fmt.Sprintf("/p%d", i%3), UserID: fmt.Sprintf("u%d", i%10), Timestamp: time.Date(2025, 11, 12, 12, 0, 0, 0, time.UTC)}
	}
	return out
}

func waitViews(t *testing.T, s analytics.StatsReader, site string, views, users int64) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		st, err := s.Stats(context.Background(), analytics.StatsQuery{SiteID: site, Date: "2025-11-12", Limit: 10})
		if err != nil {
			return err
		}
		if st.TotalViews != views || st.UniqueUsers != users {
			return fmt.Errorf("views %d users %d, want %d %d", st.TotalViews, st.UniqueUsers, views, users)
		}
		return nil
	})
}

func TestLeaseLapseTakeoverStoresEachEntryOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, 1)
	ctx := context.Background()
	if err := r.pub.Publish(ctx, pageViews(300, "s1")); err != nil {
		t.Fatal(err)
	}
	// Processor A fetches a batch, then stalls past its lease (a GC pause,
	// a network partition) without acknowledging.
	a := r.consumer(t, 300*time.Millisecond)
	stalled, err := a.Fetch(ctx, 100)
	if err != nil || len(stalled.Entries) != 100 {
		t.Fatalf("fetch: %d, %v", len(stalled.Entries), err)
	}
	// A applies part of the batch before stalling.
	if _, err := r.store.Apply(ctx, analytics.Batch{Partition: 0, Entries: stalled.Entries[:40]}); err != nil {
		t.Fatal(err)
	}
	// A's lease ends. Close gives it back at once; expiry of an unrenewed
	// lease is covered by redisqueue's TestTakeoverReplaysPendingFirst.
	a.Close(ctx)

	// B takes over, replays the pending batch first and stores everything.
	b := r.consumer(t, 300*time.Millisecond)
	pb, _ := run(t, b, r.store, processor.Config{BatchSize: 70})
	waitViews(t, r.store, "s1", 300, 10)

	// A wakes up and finishes its stale batch: nothing may change, and it
	// may not acknowledge what is no longer its partition.
	if _, err := r.store.Apply(ctx, stalled); err != nil {
		t.Fatal(err)
	}
	if err := a.Ack(ctx, stalled); !errors.Is(err, analytics.ErrFenced) {
		t.Fatalf("stale ack: %v, want ErrFenced", err)
	}
	waitViews(t, r.store, "s1", 300, 10)
	// B stored what A had not: at least the 260 entries past A's 40.
	testenv.Eventually(t, 10*time.Second, func() error {
		if got := pb.Counters.Stored.Load(); got < 260 || got > 300 {
			return fmt.Errorf("B stored %d events", got)
		}
		if n, _ := redisqueue.Backlog(ctx, r.rdb, r.keys); n != 0 {
			return fmt.Errorf("backlog %d", n)
		}
		return nil
	})
}

func TestThreeProcessorsShareWork(t *testing.T) {
	t.Parallel()
	r := newRig(t, 6)
	ctx := context.Background()
	var procs []*processor.Processor
	for i := 0; i < 3; i++ {
		p, _ := run(t, r.consumer(t, 600*time.Millisecond), r.store, processor.Config{BatchSize: 50})
		procs = append(procs, p)
	}
	sites := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, s := range sites {
		if err := r.pub.Publish(ctx, pageViews(120, s)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sites {
		waitViews(t, r.store, s, 120, 10)
	}
	// Counters move after the ack, a moment after the stats show the events.
	testenv.Eventually(t, 10*time.Second, func() error {
		var total int64
		for _, p := range procs {
			total += p.Counters.Stored.Load()
		}
		if total != int64(120*len(sites)) {
			return fmt.Errorf("stored %d in total, want %d", total, 120*len(sites))
		}
		return nil
	})
}

// flakyStore fails with an Unavailable error while down is set, as a
// MongoDB that is unreachable does.
type flakyStore struct {
	analytics.Store
	mu    sync.Mutex
	down  bool
	fails int
}

func (f *flakyStore) Apply(ctx context.Context, b analytics.Batch) (analytics.ApplyResult, error) {
	f.mu.Lock()
	down := f.down
	if down {
		f.fails++
	}
	f.mu.Unlock()
	if down {
		return analytics.ApplyResult{}, analytics.Wrap(analytics.Unavailable, "mongodb: insert", errors.New("connection refused"))
	}
	return f.Store.Apply(ctx, b)
}

func TestDatabaseOutageBacksOffAndRecovers(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	ctx := context.Background()
	fs := &flakyStore{Store: r.store, down: true}
	p, _ := run(t, r.consumer(t, time.Second), fs, processor.Config{MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	if err := r.pub.Publish(ctx, pageViews(50, "s1")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if p.Counters.Retries.Load() < 3 {
			return fmt.Errorf("%d retries", p.Counters.Retries.Load())
		}
		return nil
	})
	// Nothing was acknowledged while the database was down.
	if n, _ := redisqueue.Backlog(ctx, r.rdb, r.keys); n != 50 {
		t.Fatalf("backlog during outage = %d, want 50", n)
	}
	fs.mu.Lock()
	fs.down = false
	fs.mu.Unlock()
	waitViews(t, r.store, "s1", 50, 10)
	testenv.Eventually(t, 10*time.Second, func() error {
		if n, _ := redisqueue.Backlog(ctx, r.rdb, r.keys); n != 0 {
			return fmt.Errorf("backlog %d", n)
		}
		return nil
	})
}

func TestPoisonEntriesAreDeadLetteredAndOthersFlow(t *testing.T) {
	t.Parallel()
	r := newRig(t, 1)
	ctx := context.Background()
	stream := r.keys.Stream(0)
	r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"e", `{"id":"x","site_id":"s1"`}})
	if err := r.pub.Publish(ctx, pageViews(20, "s1")); err != nil {
		t.Fatal(err)
	}
	p, _ := run(t, r.consumer(t, time.Second), r.store, processor.Config{})
	waitViews(t, r.store, "s1", 20, 10)
	testenv.Eventually(t, 10*time.Second, func() error {
		if p.Counters.DeadLettered.Load() != 1 {
			return fmt.Errorf("dead-lettered %d", p.Counters.DeadLettered.Load())
		}
		return nil
	})
	msgs, err := r.rdb.XRange(ctx, r.keys.DeadLetters(), "-", "+").Result()
	if err != nil || len(msgs) != 1 || msgs[0].Values["error"] == "" {
		t.Fatalf("dead letters: %+v %v", msgs, err)
	}
}

func TestPermanentStoreErrorIsolatesTheEntry(t *testing.T) {
	t.Parallel()
	r := newRig(t, 1)
	ctx := context.Background()
	evs := pageViews(30, "s1")
	evs[7].ID = "bad"
	if err := r.pub.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	refusing := &switchableStore{Store: r.store}
	refusing.refuse.Store(true)
	p, _ := run(t, r.consumer(t, time.Second), refusing, processor.Config{})
	waitViews(t, r.store, "s1", 29, 10)
	testenv.Eventually(t, 10*time.Second, func() error {
		if p.Counters.DeadLettered.Load() != 1 {
			return fmt.Errorf("dead-lettered %d", p.Counters.DeadLettered.Load())
		}
		return nil
	})
}
