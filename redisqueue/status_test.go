package redisqueue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// failOneIncrement is a go-redis hook that keeps the HINCRBY of one counter
// out of the next pipeline it sees and fails it, as a partly failed round
// trip would: the other commands of that pipeline are applied.
type failOneIncrement struct {
	counter string
	armed   atomic.Bool
	failed  atomic.Int32
}

func (h *failOneIncrement) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *failOneIncrement) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *failOneIncrement) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.armed.Load() {
			return next(ctx, cmds)
		}
		var keep []redis.Cmder
		var dropped redis.Cmder
		for _, c := range cmds {
			args := c.Args()
			if dropped == nil && c.Name() == "hincrby" && len(args) == 4 && fmt.Sprint(args[2]) == h.counter {
				dropped = c
				continue
			}
			keep = append(keep, c)
		}
		if dropped == nil || len(keep) == 0 {
			return next(ctx, cmds)
		}
		h.armed.Store(false)
		h.failed.Add(1)
		err := next(ctx, keep)
		dropped.SetErr(errors.New("injected failure"))
		if err == nil {
			err = dropped.Err()
		}
		return err
	}
}

// TestReportCountersNeverAddsTwice: when one HINCRBY of a report fails and
// the others succeed, the next report sends only what is still missing, so
// the fleet totals are exact.
func TestReportCountersNeverAddsTwice(t *testing.T) {
	_, prefix := testenv.Redis(t) // the prefix's keys are removed at the end
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	hook := &failOneIncrement{counter: redisqueue.CounterStored}
	rdb.AddHook(hook)
	keys := redisqueue.Keys{Prefix: prefix, Partitions: 1}

	var mu sync.Mutex
	totals := map[string]int64{}
	set := func(name string, v int64) { mu.Lock(); totals[name] = v; mu.Unlock() }
	snapshot := func() map[string]int64 {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]int64, len(totals))
		for k, v := range totals {
			out[k] = v
		}
		return out
	}
	read := func() map[string]string { return rdb.HGetAll(context.Background(), keys.Counters()).Val() }

	set(redisqueue.CounterAccepted, 5)
	set(redisqueue.CounterStored, 7)
	set(redisqueue.CounterDuplicates, 2)
	hook.armed.Store(true) // the first report loses its "stored" increment
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		redisqueue.ReportCounters(ctx, rdb, keys, 10*time.Millisecond, snapshot)
	}()
	testenv.Eventually(t, 10*time.Second, func() error {
		if got := read(); got[redisqueue.CounterStored] != "7" {
			return fmt.Errorf("counters %v; waiting for stored 7 (the failed increment, sent again)", got)
		}
		return nil
	})
	if hook.failed.Load() != 1 {
		t.Fatalf("the hook failed %d increments, want 1", hook.failed.Load())
	}
	set(redisqueue.CounterAccepted, 6)
	set(redisqueue.CounterStored, 9)
	cancel()
	<-done // the last report is made on the way out
	got := read()
	want := map[string]string{redisqueue.CounterAccepted: "6", redisqueue.CounterStored: "9", redisqueue.CounterDuplicates: "2"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("fleet counters %v, want %v: a partly failed report was added twice", got, want)
		}
	}
}

// TestReadDeadLetters lists what the processor wrote to the dead-letter
// stream, oldest first, and leaves the stream as it was.
func TestReadDeadLetters(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	keys := redisqueue.Keys{Prefix: prefix, Partitions: 2}
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		// The fields the consumer's DeadLetter writes.
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.DeadLetters(), Values: []any{
			"partition", i % 2, "entry", fmt.Sprintf("1700000000000-%d", i), "e", fmt.Sprintf(`{"id":"ev-%d"}`, i),
			"error", fmt.Sprintf("cause %d", i), "at", at.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano),
		}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	dl, err := redisqueue.ReadDeadLetters(ctx, rdb, keys, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 2 || dl[0].Partition != "0" || dl[0].Entry != "1700000000000-0" || dl[0].Event != `{"id":"ev-0"}` ||
		dl[0].Error != "cause 0" || !dl[0].At.Equal(at) || dl[1].Error != "cause 1" || dl[1].ID == "" {
		t.Fatalf("dead letters %+v", dl)
	}
	st, err := redisqueue.ReadStatus(ctx, rdb, keys)
	if err != nil || st.DeadLetters != 3 {
		t.Fatalf("status after reading: %d dead letters (%v), want all 3 kept", st.DeadLetters, err)
	}
}
