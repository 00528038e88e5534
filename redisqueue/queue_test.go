package redisqueue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
)

func setup(t testing.TB) (redis.UniversalClient, Keys) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return rdb, Keys{Prefix: prefix, Partitions: 4}
}

func events(n int, sites ...string) []analytics.Event {
	out := make([]analytics.Event, n)
	for i := range out {
		out[i] = analytics.Event{ID: fmt.Sprintf("ev-%d", i), SiteID: sites[i%len(sites)], EventType: "page_view",
			Path: "/", Timestamp: time.Date(2025, 11, 12, 0, 0, 0, 0, time.UTC)}
	}
	return out
}

func newConsumer(t *testing.T, rdb redis.UniversalClient, k Keys, ttl time.Duration) *Consumer {
	t.Helper()
	cfg := DefaultConsumerConfig()
	cfg.LeaseTTL = ttl
	cfg.IdlePoll = 10 * time.Millisecond
	c, err := NewConsumer(context.Background(), rdb, k, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// crash stops a consumer's lease renewal without giving its partitions back,
// as a killed process would.
func (c *Consumer) crash() {
	c.closeOnce.Do(func() { c.stop(); <-c.done })
}

// drainIDs fetches and acks until n entries were seen, returning event ids.
func drainIDs(t *testing.T, c *Consumer, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []string
	for len(ids) < n {
		b, err := c.Fetch(ctx, 100)
		if err != nil {
			t.Fatalf("Fetch after %d of %d: %v", len(ids), n, err)
		}
		for _, e := range b.Entries {
			if e.Err != nil {
				t.Fatalf("entry %s: %v", e.ID, e.Err)
			}
			ids = append(ids, e.Event.ID)
		}
		if err := c.Ack(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func TestPublishFetchAck(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	evs := events(250, "a", "b", "c", "d", "e")
	if err := pub.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if n, err := Backlog(ctx, rdb, k); err != nil || n != 250 {
		t.Fatalf("backlog %d, %v", n, err)
	}
	c := newConsumer(t, rdb, k, 5*time.Second)
	ids := drainIDs(t, c, 250)
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("entry %s delivered twice", ids[i])
		}
	}
	if n, _ := Backlog(ctx, rdb, k); n != 0 {
		t.Fatalf("backlog after ack = %d", n)
	}
}

func TestSiteOrderWithinPartition(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	for i := 0; i < 50; i++ {
		if err := pub.Publish(ctx, []analytics.Event{{ID: fmt.Sprint(i), SiteID: "one-site", EventType: "x", Timestamp: time.Now()}}); err != nil {
			t.Fatal(err)
		}
	}
	c := newConsumer(t, rdb, k, 5*time.Second)
	ids := drainIDs(t, c, 50)
	for i, id := range ids {
		if id != fmt.Sprint(i) {
			t.Fatalf("position %d holds event %s: a site's events must stay in order", i, id)
		}
	}
}

func TestGroupCommitUnderConcurrency(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{Flushers: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 400; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			errs <- pub.Publish(ctx, []analytics.Event{{ID: fmt.Sprint(g), SiteID: fmt.Sprint("site", g%9), EventType: "x", Timestamp: time.Now()}})
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	pub.Close()
	if n, _ := Backlog(ctx, rdb, k); n != 400 {
		t.Fatalf("backlog = %d, want 400", n)
	}
	if err := pub.Publish(ctx, events(1, "a")); analytics.KindOf(err) != analytics.Unavailable {
		t.Fatalf("Publish after Close: %v", err)
	}
}

func TestPublishRedisDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	pub := NewPublisher(rdb, Keys{Prefix: "x:", Partitions: 2}, PublisherConfig{})
	defer pub.Close()
	err := pub.Publish(context.Background(), events(3, "a"))
	if err == nil || analytics.KindOf(err) != analytics.Unavailable {
		t.Fatalf("Publish to a dead Redis: %v (kind %v), want unavailable", err, analytics.KindOf(err))
	}
}

func TestTakeoverReplaysPendingFirst(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	k.Partitions = 1
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	if err := pub.Publish(ctx, events(30, "s")); err != nil {
		t.Fatal(err)
	}
	a := newConsumer(t, rdb, k, 300*time.Millisecond)
	first, err := a.Fetch(ctx, 10)
	if err != nil || len(first.Entries) != 10 {
		t.Fatalf("first fetch: %d entries, %v", len(first.Entries), err)
	}
	a.crash() // never acks; its lease lapses

	b := newConsumer(t, rdb, k, 300*time.Millisecond)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got analytics.Batch
	testenv.Eventually(t, 10*time.Second, func() error {
		if len(b.Owned()) == 0 {
			b.maintain(fctx)
			return fmt.Errorf("b owns nothing yet")
		}
		return nil
	})
	got, err = b.Fetch(fctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 10 {
		t.Fatalf("takeover fetched %d entries first, want the 10 pending ones", len(got.Entries))
	}
	for i := range got.Entries {
		if got.Entries[i].ID != first.Entries[i].ID {
			t.Fatalf("entry %d: %s, want pending %s", i, got.Entries[i].ID, first.Entries[i].ID)
		}
	}
	if err := b.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	rest := drainIDs(t, b, 20)
	if rest[0] != "ev-10" || rest[19] != "ev-29" {
		t.Fatalf("after the pending entries came %s..%s", rest[0], rest[19])
	}
	// The old owner can no longer read: its lease is gone.
	if entries, err := a.read(ctx, 0, 10, "0"); err != nil || len(entries) != 0 {
		t.Fatalf("zombie read %d entries, %v", len(entries), err)
	}
}

func TestProcessorsShareThePartitions(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 8
	a := newConsumer(t, rdb, k, 600*time.Millisecond)
	if len(a.Owned()) != 8 {
		t.Fatalf("a alone owns %v", a.Owned())
	}
	b := newConsumer(t, rdb, k, 600*time.Millisecond)
	testenv.Eventually(t, 10*time.Second, func() error {
		if len(a.Owned()) != 4 || len(b.Owned()) != 4 {
			return fmt.Errorf("a owns %v, b owns %v", a.Owned(), b.Owned())
		}
		return nil
	})
	for _, p := range a.Owned() {
		if contains(b.Owned(), p) {
			t.Fatalf("partition %d owned by both", p)
		}
	}
	// When b leaves cleanly, a takes everything back.
	b.Close(context.Background())
	testenv.Eventually(t, 10*time.Second, func() error {
		if len(a.Owned()) != 8 {
			return fmt.Errorf("a owns %v", a.Owned())
		}
		return nil
	})
}

func TestHoldPartition(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	a := newConsumer(t, rdb, k, 300*time.Millisecond)
	p := k.Partition("site-x")
	waited := false
	hold, err := HoldPartition(ctx, rdb, k, "site-x", "rebuild", 300*time.Millisecond, func(int, string) { waited = true })
	if err != nil {
		t.Fatal(err)
	}
	if !waited || contains(a.Owned(), p) {
		t.Fatalf("waited %v, a still owns %v", waited, a.Owned())
	}
	wctx, cancel := hold.WriteContext(ctx)
	if context.Cause(wctx) != nil {
		t.Fatalf("the hold's write context is already done: %v", context.Cause(wctx))
	}
	cancel()
	hold.Release(true)
	testenv.Eventually(t, 10*time.Second, func() error {
		if !contains(a.Owned(), p) {
			return fmt.Errorf("a owns %v, not yet %d", a.Owned(), p)
		}
		return nil
	})
}

func TestPoisonEntry(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	k.Partitions = 1
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: k.Stream(0), Values: []any{field, "{not json"}})
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: k.Stream(0), Values: []any{"other", "x"}})
	c := newConsumer(t, rdb, k, time.Second)
	b, err := c.Fetch(ctx, 10)
	if err != nil || len(b.Entries) != 2 || b.Entries[0].Err == nil || b.Entries[1].Err == nil {
		t.Fatalf("entries %+v, %v", b.Entries, err)
	}
	if err := c.DeadLetter(ctx, 0, b.Entries[0], b.Entries[0].Err); err != nil {
		t.Fatal(err)
	}
	msgs, err := rdb.XRange(ctx, k.DeadLetters(), "-", "+").Result()
	if err != nil || len(msgs) != 1 || msgs[0].Values[field] != "{not json" || msgs[0].Values["error"] == "" {
		t.Fatalf("dead letters %+v, %v", msgs, err)
	}
}

func TestCheckMetaRefusesOtherPartitionCount(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	if err := CheckMeta(ctx, rdb, k); err != nil {
		t.Fatal(err)
	}
	other := Keys{Prefix: k.Prefix, Partitions: k.Partitions + 1}
	err := CheckMeta(ctx, rdb, other)
	if err == nil || analytics.KindOf(err) != analytics.Invalid {
		t.Fatalf("CheckMeta with another count: %v", err)
	}
}

func TestBackpressureRefusesAboveMaxBacklog(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{MaxBacklog: 100, BacklogEvery: 5 * time.Millisecond})
	defer pub.Close()
	if err := pub.Publish(ctx, events(100, "a", "b")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		err := pub.Publish(ctx, events(1, "a"))
		if analytics.KindOf(err) != analytics.Unavailable || !strings.Contains(err.Error(), "backlog is full") {
			return fmt.Errorf("Publish over the limit: %v", err)
		}
		return nil
	})
	// Draining the queue lets events in again.
	c := newConsumer(t, rdb, k, 5*time.Second)
	drainIDs(t, c, 100)
	testenv.Eventually(t, 10*time.Second, func() error { return pub.Publish(ctx, events(1, "a")) })
}

func TestStatusCountersAndReplay(t *testing.T) {
	rdb, k := setup(t)
	ctx := context.Background()
	k.Partitions = 2
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	if err := pub.Publish(ctx, events(7, "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, rdb, k, 5*time.Second)
	b, err := c.Fetch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeadLetter(ctx, b.Partition, b.Entries[0], fmt.Errorf("refused")); err != nil {
		t.Fatal(err)
	}
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: k.DeadLetters(), Values: []any{field, "not an event", "error", "x"}})
	rctx, cancel := context.WithCancel(ctx)
	var total atomic.Int64
	total.Store(5)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ReportCounters(rctx, rdb, k, 10*time.Millisecond, func() map[string]int64 { return map[string]int64{CounterStored: total.Load()} })
	}()
	total.Store(9)
	cancel()
	<-done

	st, err := ReadStatus(ctx, rdb, k)
	if err != nil {
		t.Fatal(err)
	}
	if st.Backlog != 7 || st.DeadLetters != 2 || st.Counters[CounterStored] != 9 || len(st.Processors) != 1 || st.OldestAge <= 0 {
		t.Fatalf("status %+v", st)
	}
	var pending int64
	for _, p := range st.Partitions {
		pending += p.Pending
		if p.Owner == "" {
			t.Fatalf("partition %d has no owner", p.Partition)
		}
	}
	if pending != 1 {
		t.Fatalf("pending %d, want 1", pending)
	}
	res, err := ReplayDeadLetters(ctx, rdb, k, pub, 100)
	if err != nil || res.Replayed != 1 || res.Kept != 1 {
		t.Fatalf("replay %+v, %v", res, err)
	}
	if n, _ := Backlog(ctx, rdb, k); n != 8 {
		t.Fatalf("backlog after replay %d, want 8", n)
	}
}

func TestFairShare(t *testing.T) {
	live := []string{"c", "a", "b"}
	got := []int{fairShare(4, live, "a"), fairShare(4, live, "b"), fairShare(4, live, "c")}
	if fmt.Sprint(got) != "[2 1 1]" {
		t.Fatalf("4 partitions over 3 processors: %v", got)
	}
	if fairShare(8, nil, "x") != 8 || fairShare(8, []string{"x"}, "x") != 8 {
		t.Fatal("a lone processor takes everything")
	}
}
