package redisqueue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// TestJobOneHolderAndItsInterval checks the periodic job's lease: one
// holder at a time, renewals only by the holder, a release after a
// completed run keeping everyone off for the interval, and a release after
// a failed run letting the next one start at once.
func TestJobOneHolderAndItsInterval(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	keys := Keys{Prefix: prefix}
	a := NewJob(rdb, keys, "retention", "a", time.Minute)
	b := NewJob(rdb, keys, "retention", "b", time.Minute)
	step := func(what string, got bool, err error, want bool) {
		t.Helper()
		if err != nil || got != want {
			t.Fatalf("%s = %v, %v; want %v", what, got, err, want)
		}
	}
	ok, err := a.Acquire(ctx)
	step("a acquires", ok, err, true)
	ok, err = b.Acquire(ctx)
	step("b acquires while a holds", ok, err, false)
	ok, err = b.Renew(ctx)
	step("b renews a's lease", ok, err, false)
	ok, err = a.Renew(ctx)
	step("a renews", ok, err, true)
	// A failed run gives the lease back without marking the job done.
	if err := a.Release(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ok, err = b.Acquire(ctx)
	step("b acquires after a failed run", ok, err, true)
	if err := a.Release(ctx, time.Hour); err != nil { // not a's to release
		t.Fatal(err)
	}
	ok, err = a.Acquire(ctx)
	step("a acquires while b holds", ok, err, false)
	if err := b.Release(ctx, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ok, err = a.Acquire(ctx)
	step("a acquires within the interval of b's run", ok, err, false)
	testenv.Eventually(t, 5*time.Second, func() error {
		ok, err := a.Acquire(ctx)
		if err != nil || !ok {
			return errNotYet
		}
		return nil
	})
}

var errNotYet = errors.New("the job's interval has not passed yet")
