package redisqueue

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// ErrFenced ends the write context of a batch whose partition lease is no
// longer certainly held. The batch must be dropped, unacknowledged.
var ErrFenced = analytics.ErrFenced

// margin is the part of the TTL a writer never uses: it covers a renewal
// that is slow to come back and the flight time of the last write.
func margin(ttl time.Duration) time.Duration { return ttl / 4 }

// lease is a holder's lease on one partition: the processors' Consumer
// holds one per partition it owns, a maintenance job's Hold one for its
// partition. Holding it is what lets the holder write for the partition;
// the key expires unless renewed, and the local write deadline derived from
// the renewals (until) ends every write context in time to be sure the key
// still exists.
type lease struct {
	rdb  redis.UniversalClient
	keys Keys
	p    int
	name string
	ttl  time.Duration

	mu sync.Mutex
	// until is the local write deadline: the moment the last successful
	// renewal was sent plus the TTL minus a safety margin. Until then the
	// key cannot have expired, whatever the clocks of Redis and of this
	// process do (only elapsed time is compared, on this machine).
	until time.Time
	// lost ends every write context of the partition when the lease is
	// known lost (or given back).
	lost     context.Context
	loseThis context.CancelCauseFunc
}

// acquireLease takes partition p's lease for name if it is free. It
// returns nil (and no error) when someone holds it; else the lease, and how
// long its new holder must wait before it writes: a previous owner cut off
// mid-write may still have writes in flight until its fence key is gone
// (0 after a clean release, or for a partition never owned).
func acquireLease(ctx context.Context, rdb redis.UniversalClient, keys Keys, p int, name string, ttl time.Duration) (*lease, time.Duration, error) {
	sent := time.Now()
	wait, err := acquireScript.Run(ctx, rdb, []string{keys.Lease(p), keys.Fence(p)}, name, ttl.Milliseconds()).Int64()
	if err != nil || wait < 0 {
		return nil, 0, err
	}
	l := &lease{rdb: rdb, keys: keys, p: p, name: name, ttl: ttl, until: sent.Add(ttl - margin(ttl))}
	l.lost, l.loseThis = context.WithCancelCause(context.Background())
	return l, time.Duration(wait) * time.Millisecond, nil
}

// renew extends the lease. lost says another holder has it now: every
// write context of it has ended. An error (Redis did not answer) leaves the
// write deadline where it was: if renewals keep failing, writes stop before
// the key can expire.
func (l *lease) renew(ctx context.Context) (lost bool, err error) {
	sent := time.Now()
	n, err := renewScript.Run(ctx, l.rdb, []string{l.keys.Lease(l.p), l.keys.Fence(l.p)}, l.name, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, err
	}
	if n == 0 {
		l.lose()
		return true, nil
	}
	l.renewed(sent)
	return false, nil
}

// renewed moves the write deadline on after a renewal sent at sent (by
// renew, or by a script that renews as it reads).
func (l *lease) renewed(sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := sent.Add(l.ttl - margin(l.ttl)); u.After(l.until) {
		l.until = u
	}
}

// lose ends every write context of the lease, with cause ErrFenced.
func (l *lease) lose() { l.loseThis(ErrFenced) }

// release ends the write contexts and gives the lease back. clean says
// that no write of the holder can still be in flight, which spares the
// next owner its wait.
func (l *lease) release(ctx context.Context, clean bool) {
	l.lose()
	mark := "0"
	if clean {
		mark = "1"
	}
	_ = releaseScript.Run(ctx, l.rdb, []string{l.keys.Lease(l.p), l.keys.Fence(l.p)}, l.name, mark).Err()
}

// renewEvery calls renew every third of ttl, until ctx ends or renew
// returns false, and closes done when it stops: a lease renewed a third of
// the way through its TTL survives two renewals that fail.
func renewEvery(ctx context.Context, ttl time.Duration, done chan<- struct{}, renew func() bool) {
	defer close(done)
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !renew() {
				return
			}
		}
	}
}

// writeContext is the context a write under the lease runs in: see
// fencedContext.
func (l *lease) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	l.mu.Lock()
	until := l.until
	l.mu.Unlock()
	return fencedContext(ctx, until, l.lost, l.ttl)
}

// fencedContext is the write context of a writer whose local deadline is
// until and whose lease is known lost when lost ends: it ends, with cause
// ErrFenced, at whichever comes first. A write that would have less than a
// tenth of the TTL is not started at all.
func fencedContext(ctx context.Context, until time.Time, lost context.Context, ttl time.Duration) (context.Context, context.CancelFunc) {
	if time.Until(until) < ttl/10 || lost.Err() != nil {
		return fencedOut(ctx)
	}
	cctx, cancelLost := context.WithCancelCause(ctx)
	wctx, cancelDeadline := context.WithDeadlineCause(cctx, until, ErrFenced)
	stop := context.AfterFunc(lost, func() { cancelLost(ErrFenced) })
	return wctx, func() { stop(); cancelDeadline(); cancelLost(nil) }
}

// fencedOut is a write context that has already ended with ErrFenced.
func fencedOut(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	cancel(ErrFenced)
	return wctx, func() {}
}
