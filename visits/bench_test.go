package visits_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/visits"
)

// BenchmarkAnnotate measures the annotation of requests of 1 and 100
// events against a real Redis: 5,000 visitors, each event a second after
// the visitor's previous one. BenchmarkXAdd is the baseline: queuing the
// same requests (one XADD per event, pipelined), the collector's other
// Redis work. Besides the time per event end to end, each reports the
// Redis time per event (redis-ns/event, from INFO commandstats: what the
// collector's throughput is bound by when Redis's one thread is busy; it
// counts calls of other clients of the same Redis too).
func BenchmarkAnnotate(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			rdb, prefix := testenv.Redis(b)
			a := visits.New(rdb, prefix, 30*time.Minute)
			defer a.Close()
			ctx := context.Background()
			evs := make([]analytics.Event, size)
			redisTime := redisUsec(b, rdb, "evalsha")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range evs {
					k := i*size + j
					evs[j] = analytics.Event{ID: fmt.Sprint("e", k), SiteID: "s", EventType: analytics.PageView, Path: fmt.Sprint("/p/", k%50),
						UserID: fmt.Sprint("u", k%5000), Timestamp: t0.Add(time.Duration(k) * time.Second), Source: "Google", Browser: "Chrome", Country: "DE"}
				}
				if err := a.Annotate(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
			b.ReportMetric(1000*(redisUsec(b, rdb, "evalsha")-redisTime)/float64(b.N*size), "redis-ns/event")
		})
	}
}

func BenchmarkXAdd(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			rdb, prefix := testenv.Redis(b)
			ctx := context.Background()
			body := []byte(`{"id":"0193a1b2-7c3d-7e8f-9a0b-1c2d3e4f5a6b","site_id":"s","event_type":"page_view","path":"/p/1","user_id":"u1","timestamp":"2026-11-27T10:00:00Z","source":"Google","browser":"Chrome","country":"DE"}`)
			redisTime := redisUsec(b, rdb, "xadd")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := rdb.Pipeline()
				for j := 0; j < size; j++ {
					p.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "stream", MaxLen: 10000, Approx: true, Values: []any{"e", body}})
				}
				if _, err := p.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
			b.ReportMetric(1000*(redisUsec(b, rdb, "xadd")-redisTime)/float64(b.N*size), "redis-ns/event")
		})
	}
}

// redisUsec is the microseconds Redis has spent in a command so far.
func redisUsec(b *testing.B, rdb redis.UniversalClient, cmd string) float64 {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":"); ok {
			for _, f := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(f, "usec="); ok {
					n, err := strconv.ParseFloat(v, 64)
					if err != nil {
						b.Fatalf("INFO commandstats: %q: %v", line, err)
					}
					return n
				}
			}
		}
	}
	return 0
}

// BenchmarkQueue measures what the collector's Redis path costs per event
// with requests of 1 and 100 events from 50 concurrent callers (as
// tools/loadtest sends them; 5,000 visitors on 50 sites): "publish" queues
// them with the publisher alone (the annotation off), "annotate+publish"
// annotates and then publishes (two round trips), "queue" annotates and
// queues in one script call (Annotator.Queue, what the collector does).
func BenchmarkQueue(b *testing.B) {
	for _, size := range []int{1, 100} {
		for _, mode := range []string{"publish", "annotate+publish", "queue"} {
			b.Run(fmt.Sprintf("%s/%d", mode, size), func(b *testing.B) {
				rdb, prefix := testenv.Redis(b)
				keys := redisqueue.Keys{Prefix: prefix, Partitions: 8}
				pub := redisqueue.NewPublisher(rdb, keys, redisqueue.PublisherConfig{Timeout: 10 * time.Second})
				defer pub.Close()
				a := visits.New(rdb, prefix, 30*time.Minute)
				defer a.Close()
				q := a.Queue(pub)
				ctx := context.Background()
				var next atomic.Int64
				b.SetParallelism(25) // 50 callers on 2 cores
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					evs := make([]analytics.Event, size)
					for pb.Next() {
						i := int(next.Add(1))
						for j := range evs {
							k := i*size + j
							evs[j] = analytics.Event{ID: fmt.Sprint("e", k), SiteID: fmt.Sprint("load-", k%50), EventType: analytics.PageView, Path: fmt.Sprint("/p/", k%97),
								UserID: fmt.Sprint("u", k%5000), Timestamp: t0.Add(time.Duration(k) * time.Millisecond), Source: "Google", Browser: "Chrome", Country: "DE"}
						}
						var err error
						switch mode {
						case "publish":
							err = pub.Publish(ctx, evs)
						case "annotate+publish":
							if err = a.Annotate(ctx, evs); err == nil {
								err = pub.Publish(ctx, evs)
							}
						case "queue":
							err = q.Publish(ctx, evs)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
			})
		}
	}
}
