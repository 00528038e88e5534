package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// After a daemon stops without its last counter report (a SIGKILL), the
// fleet totals are short of what it did in its last second; `queue` says
// which figures are approximate and why, instead of leaving "accepted"
// below "stored" to look like loss. A daemon that stopped cleanly leaves
// no such note.
func TestQueueSaysWhichTotalsAreApproximate(t *testing.T) {
	_, prefix := testenv.Redis(t)
	env := map[string]string{"REDIS_URL": testenv.RedisURL(t), "QUEUE_PREFIX": prefix}
	keys := redisqueue.Keys{Prefix: prefix, Partitions: 8}
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	queue := func() string {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"analytics-cli", "queue"}, func(k string) string { return env[k] }, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	// report runs a daemon's counter reports until it stops: cleanly, or
	// killed (its connection gone before the last report).
	report := func(kill bool, accepted int64) {
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			redisqueue.ReportCounters(ctx, rdb, keys, 10*time.Millisecond, func() map[string]int64 {
				return map[string]int64{redisqueue.CounterAccepted: accepted}
			})
		}()
		testenv.Eventually(t, 10*time.Second, func() error {
			st, err := redisqueue.ReadStatus(context.Background(), rdb, keys)
			if err != nil || st.Counters[redisqueue.CounterAccepted] < accepted {
				return fmt.Errorf("counters %v, %v", st.Counters, err)
			}
			return nil
		})
		if kill {
			rdb.Close()
		}
		cancel()
		<-done
	}

	report(false, 3)
	if out := queue(); strings.Contains(out, "approximate") {
		t.Fatalf("a clean stop marked the totals approximate:\n%s", out)
	}
	report(true, 5)
	testenv.Eventually(t, 30*time.Second, func() error {
		out := queue()
		for _, want := range []string{"approximate", "accepted", "stored", "without its last report", "up to a second"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("queue output lacks %q:\n%s", want, out)
			}
		}
		return nil
	})
}
