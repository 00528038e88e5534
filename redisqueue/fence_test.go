package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// A consumer that stops renewing (a paused or partitioned process) stops
// writing before its lease key can expire: the write context ends with
// ErrFenced while the key still exists.
func TestWriteContextEndsBeforeTheLeaseExpires(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 1
	ctx := context.Background()
	ttl := 400 * time.Millisecond
	a := newConsumer(t, rdb, k, ttl)
	b := analytics.Batch{Partition: 0}
	wctx, cancel := a.WriteContext(ctx, b)
	defer cancel()
	if context.Cause(wctx) != nil {
		t.Fatalf("fresh lease: write context already done: %v", context.Cause(wctx))
	}
	a.crash() // no more renewals
	<-wctx.Done()
	if !errors.Is(context.Cause(wctx), analytics.ErrFenced) {
		t.Fatalf("cause %v, want ErrFenced", context.Cause(wctx))
	}
	pttl, err := rdb.PTTL(ctx, k.Lease(0)).Result()
	if err != nil || pttl <= 0 {
		t.Fatalf("the write context ended only after the lease key expired (PTTL %v, %v)", pttl, err)
	}
	// And later attempts are refused at once.
	w2, c2 := a.WriteContext(ctx, b)
	defer c2()
	if !errors.Is(context.Cause(w2), analytics.ErrFenced) {
		t.Fatalf("after the deadline: cause %v", context.Cause(w2))
	}
}

// A lease known lost ends the write contexts at once, not at the deadline.
func TestWriteContextEndsWhenTheLeaseIsLost(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 1
	ctx := context.Background()
	a := newConsumer(t, rdb, k, 3*time.Second)
	wctx, cancel := a.WriteContext(ctx, analytics.Batch{Partition: 0})
	defer cancel()
	if err := rdb.Set(ctx, k.Lease(0), "thief", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.maintain(ctx) // the renewal finds another owner
	select {
	case <-wctx.Done():
	case <-time.After(time.Second):
		t.Fatal("write context still open after the lease was found lost")
	}
	if !errors.Is(context.Cause(wctx), analytics.ErrFenced) || time.Since(start) > time.Second {
		t.Fatalf("cause %v after %v", context.Cause(wctx), time.Since(start))
	}
}

// A partition taken over from an expired lease is not read for a full TTL;
// one given back cleanly is read at once.
func TestTakeoverWaitsOutTheTTLUnlessHandedOverCleanly(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 1
	ctx := context.Background()
	ttl := 500 * time.Millisecond
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	if err := pub.Publish(ctx, events(10, "s")); err != nil {
		t.Fatal(err)
	}
	a := newConsumer(t, rdb, k, ttl)
	if _, err := a.Fetch(ctx, 5); err != nil {
		t.Fatal(err)
	}
	a.crash() // no renewal from now on: a's write deadline is final
	var aDeadline time.Time
	if wctx, cancel := a.WriteContext(ctx, analytics.Batch{Partition: 0}); context.Cause(wctx) == nil {
		aDeadline, _ = wctx.Deadline()
		cancel()
	} else {
		aDeadline = time.Now()
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n, _ := rdb.Exists(ctx, k.Lease(0)).Result(); n != 0 {
			return fmt.Errorf("a's lease has not expired yet")
		}
		return nil
	})
	b := newConsumer(t, rdb, k, ttl) // takes the partition as it starts
	if len(b.Owned()) != 1 {
		t.Fatalf("b owns %v", b.Owned())
	}
	if a.Takeovers() != 0 || b.Takeovers() != 1 {
		t.Fatalf("takeovers: a %d, b %d; want 0 and 1 (b took the partition of a vanished owner)", a.Takeovers(), b.Takeovers())
	}
	got, err := b.Fetch(ctx, 100)
	if err != nil || len(got.Entries) != 5 {
		t.Fatalf("fetch %d entries, %v", len(got.Entries), err)
	}
	// Whatever a had in flight when its deadline passed had a full TTL more
	// to land before b read anything.
	if read := time.Now(); read.Before(aDeadline.Add(ttl)) {
		t.Fatalf("the new owner read %v after the old owner's write deadline; it must wait at least the TTL (%v)", read.Sub(aDeadline), ttl)
	}
	if err := b.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	// b leaves cleanly; c must not wait.
	b.Close(ctx)
	c := newConsumer(t, rdb, k, 10*time.Second)
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err = c.Fetch(fctx, 100)
	if err != nil || len(got.Entries) != 5 {
		t.Fatalf("after a clean hand-over: %d entries, %v", len(got.Entries), err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a clean hand-over waited %v", d)
	}
	if c.Takeovers() != 0 {
		t.Fatalf("a clean hand-over counted as %d takeovers", c.Takeovers())
	}
}

// A processor that lost its lease cannot acknowledge: the entries stay
// pending for the new owner.
func TestAckNeedsTheLease(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 1
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	if err := pub.Publish(ctx, events(3, "s")); err != nil {
		t.Fatal(err)
	}
	a := newConsumer(t, rdb, k, 3*time.Second)
	b, err := a.Fetch(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, k.Lease(0), "thief", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Ack(ctx, b); !errors.Is(err, analytics.ErrFenced) {
		t.Fatalf("ack without the lease: %v, want ErrFenced", err)
	}
	// The three events are one entry (one Publish call): still there.
	if n, _ := rdb.XLen(ctx, k.Stream(0)).Result(); n != 1 {
		t.Fatalf("stream length %d after a refused ack, want 1", n)
	}
	if n, _ := Backlog(ctx, rdb, k); n != 3 {
		t.Fatalf("backlog %d after a refused ack, want 3", n)
	}
}

// The read script refuses a held partition, whoever owns the lease, and the
// consumer gives it up.
func TestReadRefusesAHeldPartition(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 1
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	if err := pub.Publish(ctx, events(3, "s")); err != nil {
		t.Fatal(err)
	}
	a := newConsumer(t, rdb, k, 3*time.Second)
	if err := rdb.Set(ctx, k.Hold(0), "rebuild", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := a.fetchOnce(ctx, 10)
	if err != nil || len(b.Entries) != 0 {
		t.Fatalf("read a held partition: %d entries, %v", len(b.Entries), err)
	}
	if len(a.Owned()) != 0 {
		t.Fatalf("still owns %v under a hold", a.Owned())
	}
}

// A maintenance job's Hold is fenced by the same lease as a processor: its
// renewals keep the write context open well past one TTL, the hold key is
// renewed with it, and a lease taken by another ends the context at the
// next renewal, with ErrFenced.
func TestHoldRenewsAndIsFencedLikeAConsumer(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 1
	ctx := context.Background()
	ttl := time.Second
	h, err := HoldPartition(ctx, rdb, k, "site-x", "rebuild", ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(true)
	// Three TTLs later the lease, the hold key and the write context live on.
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		wctx, cancel := h.WriteContext(ctx)
		cause := context.Cause(wctx)
		cancel()
		if cause != nil {
			t.Fatalf("write context ended while the hold renews: %v", cause)
		}
		time.Sleep(ttl / 10)
	}
	if n, err := rdb.Exists(ctx, k.Lease(0), k.Hold(0)).Result(); err != nil || n != 2 {
		t.Fatalf("lease and hold keys after three TTLs: %d of 2 exist (%v)", n, err)
	}
	wctx, cancel := h.WriteContext(ctx)
	defer cancel()
	if err := rdb.Set(ctx, k.Lease(0), "thief", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wctx.Done():
	case <-time.After(ttl):
		t.Fatal("write context still open a TTL after the lease was taken")
	}
	if !errors.Is(context.Cause(wctx), analytics.ErrFenced) {
		t.Fatalf("cause %v, want ErrFenced", context.Cause(wctx))
	}
	h.Release(true)
	if owner, _ := rdb.Get(ctx, k.Lease(0)).Result(); owner != "thief" {
		t.Fatalf("release of a lost lease deleted another's: owner %q", owner)
	}
}
