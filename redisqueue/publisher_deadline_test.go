package redisqueue_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// stallableRedis starts a redis-server of the test's own, which the test
// may freeze with SIGSTOP as a hung server or a partition would look to a
// client: connections stay open, nothing answers. Cleanup resumes it.
type stallableRedis struct {
	srv *embedded.Server
	url string
}

func newStallableRedis(t *testing.T) *stallableRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv, err := embedded.RedisServer(context.Background(), t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	r := &stallableRedis{srv: srv, url: srv.URL}
	t.Cleanup(func() {
		r.resume(t)
		_ = srv.Stop()
	})
	return r
}

func (r *stallableRedis) stall(t *testing.T) {
	t.Helper()
	pid := r.srv.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil // no procfs: the signal is sent, which is all we can know
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return nil
		}
		return fmt.Errorf("redis-server %d not stopped yet", pid)
	})
}

func (r *stallableRedis) resume(t *testing.T) {
	t.Helper()
	if pid := r.srv.PID(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

func someEvents(n int) []analytics.Event {
	out := make([]analytics.Event, n)
	for i := range out {
		out[i] = analytics.Event{ID: fmt.Sprintf("ev-%d", i), SiteID: fmt.Sprintf("site-%d", i%5), EventType: "page_view",
			Path: "/", Timestamp: time.Date(2025, 11, 12, 0, 0, 0, 0, time.UTC)}
	}
	return out
}

// publishAll runs n concurrent Publish calls and returns their errors and
// the longest any of them took. It fails the test when they have not all
// returned within 20 seconds.
func publishAll(t *testing.T, pub *redisqueue.Publisher, n int) ([]error, time.Duration) {
	t.Helper()
	errs := make([]error, n)
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			errs[i] = pub.Publish(context.Background(), someEvents(1+i%20))
			took[i] = time.Since(start)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d concurrent publishes still waiting after 20s", n)
	}
	var longest time.Duration
	for _, d := range took {
		longest = max(longest, d)
	}
	return errs, longest
}

// TestPublishMeetsItsDeadlineWhenRedisStalls freezes Redis and shows that
// every Publish, among hundreds at once, returns Unavailable within the
// timeout plus a little, on a client configured as the daemons' is and on
// one that would wait forever (so the flushers themselves are stuck), that
// Close is not held up either, and that publishing works again once Redis
// resumes.
func TestPublishMeetsItsDeadlineWhenRedisStalls(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const slack = 500 * time.Millisecond // "well under a second" beyond the timeout
	for _, tt := range []struct {
		name string
		opt  func(o *redis.Options)
	}{
		// How internal/config builds every client: deadlines reach the socket.
		{"client honouring deadlines", func(o *redis.Options) { o.ContextTimeoutEnabled = true }},
		// A client that ignores deadlines and never times out: the round
		// trip stays stuck until Redis resumes, Publish must not.
		{"stuck flushers", func(o *redis.Options) { o.ContextTimeoutEnabled, o.ReadTimeout, o.WriteTimeout = false, -1, -1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newStallableRedis(t)
			opt, _ := redis.ParseURL(r.url)
			tt.opt(opt)
			rdb := redis.NewClient(opt)
			defer rdb.Close()
			keys := redisqueue.Keys{Prefix: "deadline:", Partitions: 4}
			pc := redisqueue.DefaultPublisherConfig()
			pc.Timeout = timeout
			pc.MaxBacklog = 1_000_000 // the backlog sampler runs too
			pub := redisqueue.NewPublisher(rdb, keys, pc)
			if err := pub.Publish(context.Background(), someEvents(3)); err != nil {
				t.Fatalf("publish before the stall: %v", err)
			}

			r.stall(t)
			for round := 0; round < 3; round++ {
				errs, longest := publishAll(t, pub, 300)
				for i, err := range errs {
					if err == nil || analytics.KindOf(err) != analytics.Unavailable {
						t.Fatalf("round %d, publish %d with Redis stalled: %v; want an Unavailable error", round, i, err)
					}
				}
				t.Logf("round %d: 300 concurrent publishes all Unavailable, the slowest after %v (timeout %v)", round, longest.Round(time.Millisecond), timeout)
				if longest > timeout+slack {
					t.Fatalf("round %d: a publish took %v with a %v timeout", round, longest, timeout)
				}
			}
			if tt.name == "client honouring deadlines" {
				// Nothing is stuck, so Close is quick even with Redis frozen.
				start := time.Now()
				pub.Close()
				if took := time.Since(start); took > timeout+slack {
					t.Fatalf("Close took %v with Redis stalled", took)
				}
				pub = redisqueue.NewPublisher(rdb, keys, pc)
			}

			r.resume(t)
			testenv.Eventually(t, 20*time.Second, func() error {
				return pub.Publish(context.Background(), someEvents(5))
			})
			pub.Close()
		})
	}
}

// TestPublishHonoursACallersEarlierDeadline: a caller's own, shorter
// deadline wins over the publisher's timeout.
func TestPublishHonoursACallersEarlierDeadline(t *testing.T) {
	r := newStallableRedis(t)
	opt, _ := redis.ParseURL(r.url)
	opt.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	pc := redisqueue.DefaultPublisherConfig()
	pc.Timeout = 5 * time.Second
	pub := redisqueue.NewPublisher(rdb, redisqueue.Keys{Prefix: "deadline:", Partitions: 2}, pc)
	defer pub.Close()
	r.stall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := pub.Publish(ctx, someEvents(1))
	if took := time.Since(start); err == nil || analytics.KindOf(err) != analytics.Unavailable || took > time.Second {
		t.Fatalf("publish with a 100ms deadline: %v after %v", err, took)
	}
	r.resume(t)
}
