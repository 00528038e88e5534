package redisqueue

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/embedded"
)

// TestWorksOnMiniredis covers the quick start on a machine without
// redis-server: the scripts (lease check + XREADGROUP) must run on miniredis.
func TestWorksOnMiniredis(t *testing.T) {
	t.Parallel()
	m, err := embedded.Miniredis()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	opt, _ := redis.ParseURL(m.URL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	k := Keys{Prefix: "mini:", Partitions: 2}
	ctx := context.Background()
	pub := NewPublisher(rdb, k, PublisherConfig{MaxBacklog: 1000})
	defer pub.Close()
	if err := pub.Publish(ctx, events(40, "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, rdb, k, time.Second)
	first, err := c.Fetch(ctx, 5)
	if err != nil || len(first.Entries) != 5 {
		t.Fatalf("fetch %d, %v", len(first.Entries), err)
	}
	// miniredis never expires keys by itself (it has no clock of its own),
	// so a lapsed lease is not tested here; it dies with the process that
	// embeds it anyway. A clean hand-over must work, pending entries first.
	c.Close(ctx)
	b := newConsumer(t, rdb, k, time.Second)
	if len(b.Owned()) != 2 {
		t.Fatalf("b owns %v after a clean hand-over", b.Owned())
	}
	ids := drainIDs(t, b, 40)
	if len(ids) != 40 {
		t.Fatalf("drained %d", len(ids))
	}
	if n, _ := Backlog(ctx, rdb, k); n != 0 {
		t.Fatalf("backlog %d", n)
	}
}
