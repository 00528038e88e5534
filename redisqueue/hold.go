package redisqueue

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// HoldPartition takes the lease of siteID's partition for a maintenance job
// (such as a rebuild), waiting until the owning processor's lease is free,
// and keeps renewing it until release is called. While it is held no
// processor applies entries of that partition; they wait in the stream.
// waiting, if not nil, is called once when the lease is busy.
func HoldPartition(ctx context.Context, rdb redis.UniversalClient, k Keys, siteID, name string, ttl time.Duration, waiting func(partition int)) (release func(), err error) {
	if err := CheckMeta(ctx, rdb, k); err != nil {
		return nil, err
	}
	p := k.Partition(siteID)
	// Ask the owner to give the partition up; the hold key lives as long as
	// the job renews it, so a crashed job frees the partition by itself.
	if err := rdb.Set(ctx, k.Hold(p), name, ttl).Err(); err != nil {
		return nil, unavailable("redis: request partition hold", err)
	}
	told := false
	for {
		if err := rdb.Set(ctx, k.Hold(p), name, ttl).Err(); err != nil {
			return nil, unavailable("redis: request partition hold", err)
		}
		ok, err := rdb.SetNX(ctx, k.Lease(p), name, ttl).Result()
		if err != nil {
			return nil, unavailable("redis: take partition lease", err)
		}
		if ok {
			break
		}
		if !told && waiting != nil {
			waiting(p)
			told = true
		}
		select {
		case <-ctx.Done():
			rdb.Del(context.Background(), k.Hold(p))
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	hctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				_ = renewScript.Run(hctx, rdb, []string{k.Lease(p)}, name, ttl.Milliseconds()).Err()
				_ = rdb.Set(hctx, k.Hold(p), name, ttl).Err()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		_ = releaseScript.Run(context.Background(), rdb, []string{k.Lease(p)}, name).Err()
		_ = rdb.Del(context.Background(), k.Hold(p)).Err()
	}, nil
}
