// Package processor moves events from the queue into the store: it fetches
// a batch from a partition it owns, stores it, and acknowledges it only after
// everything the batch changes is stored. Database errors are retried with
// backoff; entries that can never be stored go to the dead-letter stream.
package processor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/retry"
)

// Config tunes the processor.
type Config struct {
	BatchSize int
	// MinBackoff and MaxBackoff bound the wait between retries of a failing
	// database or queue.
	MinBackoff, MaxBackoff time.Duration
	// DrainTimeout is how long, after Run's context ends, the batch in hand
	// may still take to be stored and acknowledged.
	DrainTimeout time.Duration
	// Workers is how many batches are stored at once, each from a different
	// partition (the queue hands a partition's next batch out only after
	// its last one is acknowledged or dropped, so each partition's order is
	// kept). More overlap the database's waits (FerretDB on SQLite: +25%
	// events/s at 4), but every batch in flight must finish within the
	// lease's write deadline while sharing the database: on a slow database
	// more workers mean more batches cut off and replayed. Default 1.
	Workers int
	// Realtime, when set, is told of each batch stored, after it is
	// acknowledged (package realtime: the dashboard's last 30 minutes).
	Realtime Recorder
}

// Recorder keeps a short-lived view of what was just stored. It is told
// only of batches whose every event was stored for the first time, so a
// batch redelivered after a crash is never counted twice; its failures
// are logged and never hold the pipeline up.
type Recorder interface {
	Record(ctx context.Context, events []analytics.Event) error
}

// DefaultConfig returns the settings used when none are given.
func DefaultConfig() Config {
	return Config{BatchSize: 1000, MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, DrainTimeout: 30 * time.Second, Workers: 1}
}

// Counters are the processor's running totals.
type Counters struct {
	Batches      atomic.Int64
	Stored       atomic.Int64 // events stored for the first time
	Duplicates   atomic.Int64 // events skipped because their id was stored before
	Expired      atomic.Int64 // events skipped because they are older than their site's retention
	DeadLettered atomic.Int64
	Retries      atomic.Int64 // failed attempts that were retried
	Fenced       atomic.Int64 // batches dropped because the lease was no longer certain
}

// Processor runs the fetch-store-ack loop.
type Processor struct {
	queue analytics.Consumer
	store analytics.Store
	log   zerolog.Logger
	cfg   Config
	// Counters is exported for reporting and tests.
	Counters Counters
}

// New returns a processor; Run starts it.
func New(queue analytics.Consumer, store analytics.Store, log zerolog.Logger, cfg Config) *Processor {
	def := DefaultConfig()
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = def.BatchSize
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = def.MinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(def.MaxBackoff, cfg.MinBackoff)
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = def.DrainTimeout
	}
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	return &Processor{queue: queue, store: store, log: log, cfg: cfg}
}

// Run processes batches until ctx ends. The batch in hand when it ends is
// still finished (within DrainTimeout) so shutdown leaves nothing half done;
// a batch that cannot be finished stays unacknowledged and is replayed by
// whichever processor owns its partition next. Run returns nil on shutdown.
func (p *Processor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(func() { p.work(ctx) })
	}
	wg.Wait()
	return nil
}

// work is one worker's fetch-store-ack loop.
func (p *Processor) work(ctx context.Context) {
	backoff := p.cfg.MinBackoff
	for {
		if ctx.Err() != nil {
			return
		}
		b, err := p.queue.Fetch(ctx, p.cfg.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := retry.Jitter(backoff)
			p.log.Warn().Err(err).Dur("retry_in", wait).Msg("fetch failed")
			if !sleep(ctx, wait) {
				return
			}
			backoff = retry.Next(backoff, p.cfg.MaxBackoff)
			continue
		}
		backoff = p.cfg.MinBackoff
		// The batch gets a context that outlives ctx by DrainTimeout.
		bctx, cancel := drainContext(ctx, p.cfg.DrainTimeout)
		err = p.handle(bctx, b)
		cancel()
		if err != nil {
			p.queue.Drop(b)
			ev := p.log.Warn().Err(err).Int("partition", b.Partition).Int("entries", len(b.Entries))
			if fenced(err) {
				p.Counters.Fenced.Add(1)
				ev.Msg("batch cut off by its lease's write deadline and left unacknowledged; it will be replayed " +
					"(if this repeats, the database is slower than LEASE_TTL allows: raise LEASE_TTL or lower BATCH_SIZE)")
			} else {
				ev.Msg("batch left unacknowledged; it will be replayed")
			}
		}
	}
}

// drainContext returns a context that ends DrainTimeout after parent ends.
func drainContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { stop(); cancel() }
}

// handle stores one batch and acknowledges it.
func (p *Processor) handle(ctx context.Context, b analytics.Batch) error {
	start := time.Now()
	good := analytics.Batch{Partition: b.Partition, Entries: make([]analytics.Entry, 0, len(b.Entries))}
	for _, e := range b.Entries {
		if e.Err != nil {
			if err := p.deadLetter(ctx, b, e, e.Err); err != nil {
				return err
			}
			continue
		}
		good.Entries = append(good.Entries, e)
	}
	res, err := p.apply(ctx, good)
	if err != nil {
		return err
	}
	for _, f := range res.Failed {
		if err := p.deadLetter(ctx, b, good.Entries[f.Index], f.Err); err != nil {
			return err
		}
	}
	if err := p.retry(ctx, "acknowledge", func() error { return p.queue.Ack(ctx, b) }); err != nil {
		return err
	}
	if p.cfg.Realtime != nil && res.Stored > 0 && res.Stored == len(good.Entries) {
		evs := make([]analytics.Event, len(good.Entries))
		for i, e := range good.Entries {
			evs[i] = e.Event
		}
		if err := p.cfg.Realtime.Record(ctx, evs); err != nil {
			p.log.Warn().Err(err).Int("partition", b.Partition).Msg("realtime counters not updated (the stored events are safe)")
		}
	}
	p.Counters.Batches.Add(1)
	p.Counters.Stored.Add(int64(res.Stored))
	p.Counters.Duplicates.Add(int64(res.Duplicates))
	p.Counters.Expired.Add(int64(res.Expired))
	p.log.Debug().Int("partition", b.Partition).Int("entries", len(b.Entries)).Int("stored", res.Stored).
		Int("duplicates", res.Duplicates).Dur("took", time.Since(start)).Msg("batch stored")
	return nil
}

// apply stores the batch, retrying transient failures. When the store
// refuses the batch for a permanent reason, it applies the entries one at a
// time so only the entries that cause it are dead-lettered.
func (p *Processor) apply(ctx context.Context, b analytics.Batch) (analytics.ApplyResult, error) {
	if len(b.Entries) == 0 {
		return analytics.ApplyResult{}, nil
	}
	var res analytics.ApplyResult
	var permanent error
	fence := batchFence{p.queue, b}
	err := p.retry(ctx, "store batch", func() error {
		// Each database operation of the store gets the lease's write
		// deadline current when it starts; once the lease is no longer
		// certain, the batch is dropped.
		if analytics.Fenced(ctx, fence) {
			return analytics.ErrFenced
		}
		var err error
		res, err = p.store.Apply(analytics.WithFence(ctx, fence), b)
		if err != nil && analytics.Fenced(ctx, fence) {
			err = errors.Join(analytics.ErrFenced, err)
		}
		// Only input the store calls invalid is permanent: an error of any
		// other kind (a bug, an unexpected reply) may pass, and
		// dead-lettering on it would throw events away.
		if err != nil && analytics.KindOf(err) == analytics.Invalid {
			permanent = err
			return nil
		}
		return err
	})
	if err != nil || permanent == nil {
		return res, err
	}
	if len(b.Entries) == 1 {
		return analytics.ApplyResult{Failed: []analytics.EntryFailed{{Index: 0, Err: permanent}}}, nil
	}
	p.log.Warn().Err(permanent).Int("entries", len(b.Entries)).Msg("batch refused; storing its entries one at a time")
	var total analytics.ApplyResult
	for i, e := range b.Entries {
		r, err := p.apply(ctx, analytics.Batch{Partition: b.Partition, Entries: []analytics.Entry{e}})
		if err != nil {
			return total, err
		}
		total.Stored += r.Stored
		total.Duplicates += r.Duplicates
		total.Expired += r.Expired
		for _, f := range r.Failed {
			total.Failed = append(total.Failed, analytics.EntryFailed{Index: i, Err: f.Err})
		}
	}
	return total, nil
}

func (p *Processor) deadLetter(ctx context.Context, b analytics.Batch, e analytics.Entry, reason error) error {
	p.log.Error().Err(reason).Int("partition", b.Partition).Str("entry", e.ID).Msg("entry dead-lettered")
	err := p.retry(ctx, "dead-letter", func() error {
		wctx, cancel := p.queue.WriteContext(ctx, b)
		defer cancel()
		if err := context.Cause(wctx); err != nil {
			return err
		}
		return p.queue.DeadLetter(wctx, b.Partition, e, reason)
	})
	if err == nil {
		p.Counters.DeadLettered.Add(1)
	}
	return err
}

// fenced reports whether err says the lease was no longer certainly held.
func fenced(err error) bool { return errors.Is(err, analytics.ErrFenced) }

// retry calls f until it succeeds or ctx ends, backing off (jittered)
// between tries. A
// fenced failure is never retried: the batch must be dropped.
func (p *Processor) retry(ctx context.Context, what string, f func() error) error {
	backoff := p.cfg.MinBackoff
	for {
		err := f()
		if err == nil {
			return nil
		}
		if fenced(err) || ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		p.Counters.Retries.Add(1)
		wait := retry.Jitter(backoff)
		p.log.Warn().Err(err).Dur("retry_in", wait).Msgf("%s failed", what)
		if !sleep(ctx, wait) {
			return errors.Join(err, ctx.Err())
		}
		backoff = retry.Next(backoff, p.cfg.MaxBackoff)
	}
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// batchFence is the fence of one batch: its consumer's lease on the batch's
// partition.
type batchFence struct {
	q analytics.Consumer
	b analytics.Batch
}

func (f batchFence) WriteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return f.q.WriteContext(ctx, f.b)
}
