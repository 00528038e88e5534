// Package retention deletes raw events older than their site's retention
// period, in the background of the processors: one processor of the fleet
// at a time (a lease in Redis), a pass per interval, a month of a site at a
// time with pauses between them so ingestion keeps its pace. Rollups are
// kept.
package retention

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
)

// Store is what retention needs of the store (mongostore.Store).
type Store interface {
	// RaiseHorizons moves each site's horizon (the time before which its
	// raw events are deleted and new ones refused) up to what its
	// retention gives at now; defaultDays applies to sites without one. It
	// reports whether any site has a horizon.
	RaiseHorizons(ctx context.Context, defaultDays int, now time.Time) (bool, error)
	// DeleteExpired deletes the raw events before their site's horizon, a
	// month of a site at a time (a collection dropped), calling progress
	// after each; legacy counts the events deleted from an earlier
	// version's collection.
	DeleteExpired(ctx context.Context, progress func(months int) error) (months int, legacy int64, err error)
}

// Lease is the fleet-wide lease of the job (redisqueue.Job).
type Lease interface {
	Acquire(ctx context.Context) (bool, error)
	Renew(ctx context.Context) (bool, error)
	Release(ctx context.Context, done time.Duration) error
}

// Config tunes the job.
type Config struct {
	// DefaultDays is RETENTION_DAYS: the retention of sites without one of
	// their own; 0 keeps raw events forever.
	DefaultDays int
	// Interval is the time between passes (fleet-wide).
	Interval time.Duration
	// Check is how often a processor asks for the lease.
	Check time.Duration
	// Wait is how long a pass waits between raising horizons and deleting
	// below them: long enough for every processor to see the new horizons
	// (mongostore.HorizonTTL) and finish a write begun before (twice the
	// LEASE_TTL), so no event is deleted that a processor could still
	// store again.
	Wait time.Duration
	// Duty is the share of the time a pass works; it pauses between steps
	// for the rest (0.25: three times as long as the step took).
	Duty float64
	// LeaseTTL is how long the lease lives unless renewed.
	LeaseTTL time.Duration
}

// DefaultConfig returns the settings used when none are given; the caller
// sets DefaultDays and Wait.
func DefaultConfig() Config {
	return Config{Interval: time.Hour, Check: time.Minute, Wait: 30 * time.Second, Duty: 0.25, LeaseTTL: time.Minute}
}

// Runner runs the job.
type Runner struct {
	store Store
	lease Lease
	log   zerolog.Logger
	cfg   Config
	now   func() time.Time
}

// New returns a runner; Run starts it.
func New(store Store, lease Lease, log zerolog.Logger, cfg Config) *Runner {
	def := DefaultConfig()
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.Check <= 0 {
		cfg.Check = min(def.Check, cfg.Interval)
	}
	if cfg.Duty <= 0 || cfg.Duty > 1 {
		cfg.Duty = def.Duty
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = def.LeaseTTL
	}
	return &Runner{store: store, lease: lease, log: log, cfg: cfg, now: time.Now}
}

// Run tries a pass every Check until ctx ends; it returns nil then.
// Failures are logged and tried again at the next check.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Check)
	defer t.Stop()
	for {
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn().Err(err).Msg("retention pass failed; it will be tried again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// errLeaseLost stops a pass whose lease another processor took.
var errLeaseLost = errors.New("retention: lease lost")

// Pass runs one pass if this processor gets the lease and no pass ran
// within the interval: raise the horizons, wait, delete. It returns how
// many months of a site it deleted.
func (r *Runner) Pass(ctx context.Context) (int, error) {
	ok, err := r.lease.Acquire(ctx)
	if err != nil || !ok {
		return 0, err
	}
	done := time.Duration(0)
	defer func() { _ = r.lease.Release(context.WithoutCancel(ctx), done) }()
	start := time.Now()
	some, err := r.store.RaiseHorizons(ctx, r.cfg.DefaultDays, r.now())
	if err != nil && analytics.KindOf(err) != analytics.Invalid {
		return 0, err
	}
	if err != nil {
		// Refused horizons: the others were raised. Loud, because it means
		// a clock is wrong; it repeats every pass until fixed.
		r.log.Error().Err(err).Msg("retention: horizons refused")
	}
	if !some {
		// No site has a retention: no done mark, so retention turned on
		// (RETENTION_DAYS on a restarted processor, a site's
		// retention_days) takes effect at the next check, within a
		// minute, not after the interval.
		return 0, nil
	}
	// A horizon raised now, or by an earlier pass cut short, is deleted
	// below only once every processor obeys it.
	if err := r.sleep(ctx, r.cfg.Wait); err != nil {
		return 0, err
	}
	renewed := time.Now()
	chunkStart := time.Now()
	n, legacy, err := r.store.DeleteExpired(ctx, func(int) error {
		if time.Since(renewed) > r.cfg.LeaseTTL/3 {
			ok, err := r.lease.Renew(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return errLeaseLost
			}
			renewed = time.Now()
		}
		// Pause so the pass takes only Duty of the time: ingestion shares
		// the database (and, embedded, the CPU).
		took := time.Since(chunkStart)
		if err := r.sleep(ctx, time.Duration(float64(took)*(1-r.cfg.Duty)/r.cfg.Duty)); err != nil {
			return err
		}
		chunkStart = time.Now()
		return nil
	})
	if err != nil {
		return n, err
	}
	done = r.cfg.Interval
	if n > 0 || legacy > 0 {
		r.log.Info().Int("months", n).Int64("legacy_events", legacy).Dur("took", time.Since(start)).Msg("retention: raw events past their retention deleted")
	}
	return n, nil
}

func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
