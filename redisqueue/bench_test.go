package redisqueue

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// BenchmarkPublishConcurrent publishes one event per call from 50
// goroutines, the collector's shape under load; group commit is what makes
// it fast. BenchmarkXAddOneByOne is the baseline without it.
func BenchmarkPublishConcurrent(b *testing.B) {
	rdb, k := setup(b)
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	ev := events(1, "bench")
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(25) // 2 cores x 25 = 50 goroutines
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := pub.Publish(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkXAddOneByOne(b *testing.B) {
	rdb, k := setup(b)
	ctx := context.Background()
	ev := events(1, "bench")
	p := NewPublisher(rdb, k, PublisherConfig{Flushers: 1, MaxEvents: 1})
	defer p.Close()
	var mu sync.Mutex
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// One round trip per event, serialized: what the collector
			// would cost without group commit.
			mu.Lock()
			err := rdb.XAdd(ctx, xaddArgs(k, ev[0])).Err()
			mu.Unlock()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func xaddArgs(k Keys, ev analytics.Event) *redisXAddArgs {
	return &redisXAddArgs{Stream: k.Stream(k.Partition(ev.SiteID)), Values: []any{field, `{"id":"x"}`}}
}

type redisXAddArgs = redis.XAddArgs
