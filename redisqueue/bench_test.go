package redisqueue

import (
	"context"
	"fmt"
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

// BenchmarkPublish100Concurrent publishes 100 events of 50 sites per call
// (a POST /events of 100) from 50 goroutines: each call is one stream entry
// per partition its sites fall in.
func BenchmarkPublish100Concurrent(b *testing.B) {
	rdb, k := setup(b)
	pub := NewPublisher(rdb, k, PublisherConfig{})
	defer pub.Close()
	var sites []string
	for i := range 50 {
		sites = append(sites, fmt.Sprint("site-", i))
	}
	ev := events(100, sites...)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := pub.Publish(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
