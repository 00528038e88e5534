package redisqueue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// TestOnRedisCluster runs the queue on a real Redis Cluster: every
// partition's stream and lease share a hash slot, so the scripts that touch
// both run on one node, and the partitions spread over the masters.
func TestOnRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := testenv.RedisCluster(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, IsClusterMode: true})
	defer rdb.Close()
	k := Keys{Prefix: "cluster:", Partitions: 8}
	ctx := context.Background()
	slots := map[int64]bool{}
	for p := 0; p < k.Partitions; p++ {
		s1, _ := rdb.(*redis.ClusterClient).ClusterKeySlot(ctx, k.Stream(p)).Result()
		s2, _ := rdb.(*redis.ClusterClient).ClusterKeySlot(ctx, k.Lease(p)).Result()
		if s1 != s2 {
			t.Fatalf("partition %d: stream in slot %d, lease in slot %d", p, s1, s2)
		}
		slots[s1] = true
	}
	if len(slots) < 2 {
		t.Fatalf("all partitions in one slot: %v", slots)
	}
	pub := NewPublisher(rdb, k, PublisherConfig{MaxBacklog: 100000})
	defer pub.Close()
	if err := pub.Publish(ctx, events(200, "a", "b", "c", "d", "e", "f", "g")); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConsumerConfig()
	cfg.LeaseTTL = 500 * time.Millisecond
	cfg.IdlePoll = 10 * time.Millisecond
	a, err := NewConsumer(ctx, rdb, k, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Fetch(ctx, 10)
	if err != nil || len(first.Entries) == 0 {
		t.Fatalf("fetch: %v", err)
	}
	a.crash()
	cfg.Name = "b"
	b, err := NewConsumer(ctx, rdb, k, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	testenv.Eventually(t, 10*time.Second, func() error {
		b.maintain(ctx)
		if len(b.Owned()) != 8 {
			return fmt.Errorf("b owns %v", b.Owned())
		}
		return nil
	})
	ids := drainIDs(t, b, 200)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s delivered twice after acks", id)
		}
		seen[id] = true
	}
	st, err := ReadStatus(ctx, rdb, k)
	if err != nil || st.Backlog != 0 || len(st.Processors) == 0 {
		t.Fatalf("status %+v %v", st, err)
	}
}
