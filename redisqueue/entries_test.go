package redisqueue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Publish call is one stream entry per partition; its events are handed
// out over as many batches as the batch size needs, the entry is
// acknowledged with its last event, and the backlog counts events.
func TestEntriesOfSeveralEvents(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 4
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	sites := []string{"a", "b", "c", "d", "e", "f"}
	if err := pub.Publish(ctx, events(60, sites...)); err != nil {
		t.Fatal(err)
	}
	parts := map[int]int{} // partition -> events sent to it
	for i := range 60 {
		parts[k.Partition(sites[i%len(sites)])]++
	}
	for p := range k.Partitions {
		n, _ := rdb.XLen(ctx, k.Stream(p)).Result()
		if want := min(int64(parts[p]), 1); n != want {
			t.Fatalf("partition %d: %d stream entries for %d events, want %d", p, n, parts[p], want)
		}
	}
	if n, _ := Backlog(ctx, rdb, k); n != 60 {
		t.Fatalf("backlog %d, want 60 events", n)
	}

	// One partition, one entry of 250 events, batches of 100.
	k.Prefix += "one:"
	k.Partitions = 1
	pub2 := NewPublisher(rdb, k, PublisherConfig{})
	defer pub2.Close()
	if err := pub2.Publish(ctx, events(250, "s")); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.XLen(ctx, k.Stream(0)).Result(); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	c := newConsumer(t, rdb, k, 5*time.Second)
	b, err := c.Fetch(ctx, 100)
	if err != nil || len(b.Entries) != 100 {
		t.Fatalf("fetch %d, %v", len(b.Entries), err)
	}
	sid := entryOf(b.Entries[0].ID)
	for i, e := range b.Entries {
		if e.Err != nil || e.ID != fmt.Sprintf("%s-%d", sid, i) || e.Event.ID != fmt.Sprintf("ev-%d", i) {
			t.Fatalf("entry %d: id %s, event %s, %v", i, e.ID, e.Event.ID, e.Err)
		}
	}
	// Dropped: the same events again.
	c.Drop(b)
	again, err := c.Fetch(ctx, 100)
	if err != nil || len(again.Entries) != 100 || again.Entries[0].ID != b.Entries[0].ID || again.Entries[99].ID != b.Entries[99].ID {
		t.Fatalf("after a drop: %d entries from %s, %v", len(again.Entries), again.Entries[0].ID, err)
	}
	if err := c.Ack(ctx, again); err != nil {
		t.Fatal(err)
	}
	// The entry stays until its last event is acknowledged.
	if n, _ := Backlog(ctx, rdb, k); n != 250 {
		t.Fatalf("backlog %d after the first 100 events, want 250 (the entry is not done)", n)
	}
	ids := drainIDs(t, c, 150)
	if len(ids) != 150 || ids[0] != "ev-100" || ids[149] != "ev-249" {
		t.Fatalf("then %d events, %s..%s", len(ids), ids[0], ids[len(ids)-1])
	}
	if n, _ := Backlog(ctx, rdb, k); n != 0 {
		t.Fatalf("backlog %d once all is acknowledged", n)
	}
	if s, _ := rdb.Get(ctx, k.Surplus(0)).Int(); s != 0 {
		t.Fatalf("surplus %d once all is acknowledged", s)
	}
}

// An event of an entry of several that cannot be decoded is refused alone:
// the entry's other events flow, and the dead letter holds that event.
func TestPoisonEventInsideAnEntry(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 1
	ctx := context.Background()
	good := `{"id":"g%d","site_id":"s","event_type":"x","timestamp":"2025-11-12T00:00:00Z"}`
	v := "[" + fmt.Sprintf(good, 1) + `,{"id":"bad","site_id":5},` + fmt.Sprintf(good, 2) + "]"
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k.Stream(0), Values: []any{count, 3, field, v}}).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.IncrBy(ctx, k.Surplus(0), 2)
	c := newConsumer(t, rdb, k, 5*time.Second)
	b, err := c.Fetch(ctx, 10)
	if err != nil || len(b.Entries) != 3 || b.Entries[0].Err != nil || b.Entries[1].Err == nil || b.Entries[2].Err != nil ||
		b.Entries[2].Event.ID != "g2" {
		t.Fatalf("fetch %+v, %v", b.Entries, err)
	}
	if err := c.DeadLetter(ctx, 0, b.Entries[1], b.Entries[1].Err); err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(ctx, b); err != nil {
		t.Fatal(err)
	}
	dl, err := ReadDeadLetters(ctx, rdb, k, 10)
	if err != nil || len(dl) != 1 || dl[0].Event != `{"id":"bad","site_id":5}` || dl[0].Entry != b.Entries[1].ID {
		t.Fatalf("dead letters %+v, %v", dl, err)
	}
	if n, _ := Backlog(ctx, rdb, k); n != 0 {
		t.Fatalf("backlog %d", n)
	}
}

// A new owner replays an entry of several from the first event not yet
// acknowledged, and its first batch is the one that was in flight.
func TestTakeoverResumesInsideAnEntry(t *testing.T) {
	rdb, k := setup(t)
	k.Partitions = 1
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	if err := pub.Publish(ctx, events(250, "s")); err != nil {
		t.Fatal(err)
	}
	a := newConsumer(t, rdb, k, time.Second)
	first, err := a.Fetch(ctx, 100)
	if err != nil || len(first.Entries) != 100 {
		t.Fatalf("fetch %d, %v", len(first.Entries), err)
	}
	if err := a.Ack(ctx, first); err != nil {
		t.Fatal(err)
	}
	inFlight, err := a.Fetch(ctx, 80)
	if err != nil || len(inFlight.Entries) != 80 {
		t.Fatalf("fetch %d, %v", len(inFlight.Entries), err)
	}
	a.Close(ctx) // gives the partition back with the batch unacknowledged
	b := newConsumer(t, rdb, k, time.Second)
	got, err := b.Fetch(ctx, 500)
	if err != nil || len(got.Entries) != 80 || got.Entries[0].Event.ID != "ev-100" || got.Entries[79].Event.ID != "ev-179" {
		t.Fatalf("the new owner's first batch: %d events from %v, %v; want ev-100..ev-179", len(got.Entries), got.Entries[0].Event.ID, err)
	}
	if err := b.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	ids := drainIDs(t, b, 70)
	if len(ids) != 70 || ids[0] != "ev-180" || ids[69] != "ev-249" {
		t.Fatalf("then %d events %s..%s", len(ids), ids[0], ids[len(ids)-1])
	}
	if n, _ := Backlog(ctx, rdb, k); n != 0 {
		t.Fatalf("backlog %d", n)
	}
}
