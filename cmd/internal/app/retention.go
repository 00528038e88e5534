package app

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/retention"
)

// runRetention starts the retention job beside a processor (named owner
// in the job's lease); the returned function stops it and waits. Every
// processor runs it: the lease in Redis lets one pass run at a time, once
// an hour fleet-wide. With no retention configured a pass finds no horizon
// to raise and deletes nothing (per-site retentions in the sites
// collection are read at each pass).
func runRetention(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, store *mongostore.Store, owner string, log zerolog.Logger) func() {
	rc := retention.DefaultConfig()
	rc.DefaultDays = cfg.RetentionDays
	// Every processor obeys a raised horizon within HorizonTTL, and a write
	// begun before it ends within its lease's write deadline.
	rc.Wait = mongostore.HorizonTTL + 2*cfg.LeaseTTL
	job := redisqueue.NewJob(rdb, Keys(cfg), "retention", owner, rc.LeaseTTL)
	r := retention.New(store, job, log.With().Str("job", "retention").Logger(), rc)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
}
