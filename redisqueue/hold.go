package redisqueue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// Hold is a maintenance job's ownership of one partition (see
// HoldPartition). It fences the job's writes exactly as a processor's are
// fenced: WriteContext ends at the local write deadline derived from the
// last renewal sent.
type Hold struct {
	Partition int

	lease *lease
	stop  context.CancelFunc
	done  chan struct{}
	once  sync.Once
}

var _ analytics.Fence = (*Hold)(nil)

// HoldPartition takes the lease of siteID's partition for a maintenance job
// (such as a rebuild) and keeps renewing it until Release. It first sets the
// partition's hold key, which makes the owning processor give the partition
// up as soon as it has no batch in hand and stops every processor from
// reading it (the read script refuses a held partition), then takes the
// lease. When the previous owner did not leave cleanly it waits until that
// owner's fence key is gone, so nothing it had in flight can land among the
// job's writes.
// waiting, if not nil, is called once when it has to wait.
func HoldPartition(ctx context.Context, rdb redis.UniversalClient, k Keys, siteID, name string, ttl time.Duration, waiting func(partition int, why string)) (*Hold, error) {
	if err := CheckMeta(ctx, rdb, k); err != nil {
		return nil, err
	}
	p := k.Partition(siteID)
	// The lease names its holder: two jobs on one partition must never both
	// take a renewal of the other's lease for their own.
	name = fmt.Sprintf("%s-%08x", name, rand.Uint32())
	told := false
	var l *lease
	var wait time.Duration
	for {
		// The hold key lives as long as the job renews it, so a crashed job
		// frees the partition by itself.
		if err := rdb.Set(ctx, k.Hold(p), name, ttl).Err(); err != nil {
			return nil, unavailable("redis: request partition hold", err)
		}
		var err error
		if l, wait, err = acquireLease(ctx, rdb, k, p, name, ttl); err != nil {
			return nil, unavailable("redis: take partition lease", err)
		}
		if l != nil {
			break
		}
		if !told && waiting != nil {
			waiting(p, "a processor holds it")
			told = true
		}
		select {
		case <-ctx.Done():
			rdb.Del(context.Background(), k.Hold(p))
			return nil, ctx.Err()
		case <-time.After(ttl / 10):
		}
	}
	h := &Hold{Partition: p, lease: l, done: make(chan struct{})}
	hctx, stop := context.WithCancel(context.Background())
	h.stop = stop
	go h.renew(hctx)
	if wait > 0 {
		if waiting != nil {
			waiting(p, "its last owner did not give it back cleanly")
		}
		select {
		case <-ctx.Done():
			h.Release(false)
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	return h, nil
}

// renew renews the lease, and the hold key with it, every third of the
// TTL until stopped or the lease is lost.
func (h *Hold) renew(ctx context.Context) {
	l := h.lease
	renewEvery(ctx, l.ttl, h.done, func() bool {
		rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		defer cancel()
		lost, err := l.renew(rctx)
		if err == nil && !lost {
			// A hold key that lapses lets no processor in while the lease
			// is held; the next round sets it again.
			_ = l.rdb.Set(rctx, l.keys.Hold(h.Partition), l.name, l.ttl).Err()
		}
		return !lost
	})
}

// WriteContext implements analytics.Fence.
func (h *Hold) WriteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return h.lease.writeContext(ctx)
}

// Release stops renewing and gives the partition back. clean says that no
// write of the job can still be in flight (it finished, rather than being
// cut off), which spares the next owner its wait. Safe twice.
func (h *Hold) Release(clean bool) {
	h.once.Do(func() {
		h.stop()
		<-h.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.lease.release(ctx, clean)
		_ = h.lease.rdb.Del(ctx, h.lease.keys.Hold(h.Partition)).Err()
	})
}
