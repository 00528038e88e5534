package redisqueue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
)

// ConsumerConfig tunes partition ownership.
type ConsumerConfig struct {
	// Name identifies this processor in leases; unique per process.
	Name string
	// LeaseTTL is how long a lease lives without renewal: the longest a dead
	// processor's partitions wait before another takes them over.
	LeaseTTL time.Duration
	// IdlePoll is the longest wait between polls of an idle queue.
	IdlePoll time.Duration
}

// DefaultConsumerConfig returns the settings used when none are given.
func DefaultConsumerConfig() ConsumerConfig {
	host, _ := os.Hostname()
	return ConsumerConfig{
		Name:     fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16)),
		LeaseTTL: 10 * time.Second,
		IdlePoll: 100 * time.Millisecond,
	}
}

// Consumer hands out batches from the partitions it owns. A background loop
// keeps a heartbeat, renews its leases, takes free partitions up to its fair
// share (partitions / live processors) and gives back the ones above it, so
// processors started side by side share the work.
type Consumer struct {
	rdb  redis.UniversalClient
	keys Keys
	cfg  ConsumerConfig
	log  zerolog.Logger

	mu    sync.Mutex
	owned []int              // partitions held, in the order Fetch visits them
	parts map[int]*partition // state of each owned partition
	next  int                // round-robin position in owned

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	takeovers atomic.Int64
}

var _ analytics.Consumer = (*Consumer)(nil)

// partition is what a consumer knows about one partition it owns: its
// lease, and where its reading stands.
type partition struct {
	*lease
	// readyAt is when the partition may first be read: a partition taken
	// over from an expired lease waits until the previous owner's fence key
	// is gone (more than a TTL past its write deadline), so whatever it had
	// in flight has landed before this one writes.
	readyAt time.Time
	// busy: a batch is handed out (or being read) and not acknowledged.
	busy bool
	// unclean: a batch was handed out and never acknowledged, so writes of
	// it may still be in flight; such a partition is given back without the
	// clean mark and its next owner waits a full TTL.
	unclean bool

	// A stream entry may hold more events than a batch takes: its events
	// are handed out over several batches, and the entry is acknowledged
	// with the batch that holds its last one. cursor is the last stream
	// entry read ("0" before the first: a new owner starts with the
	// pending entries); rest are the events read and not handed out yet;
	// ends maps the id of the last event of each entry of several events
	// read and not acknowledged to how many the entry holds.
	cursor string
	rest   []analytics.Entry
	ends   map[string]int
}

// idle reports whether l can be given back without a replay: no batch in
// hand and no entry partly handed out (its next owner would hand out its
// first events again; the store would count them once, but why redo them).
func (l *partition) idle() bool { return !l.busy && len(l.rest) == 0 }

// NewConsumer checks the queue settings, joins the processors and starts the
// ownership loop. Close stops it and gives the partitions back.
func NewConsumer(ctx context.Context, rdb redis.UniversalClient, keys Keys, cfg ConsumerConfig, log zerolog.Logger) (*Consumer, error) {
	def := DefaultConsumerConfig()
	if cfg.Name == "" {
		cfg.Name = def.Name
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = def.LeaseTTL
	}
	if cfg.IdlePoll <= 0 {
		cfg.IdlePoll = def.IdlePoll
	}
	if err := CheckMeta(ctx, rdb, keys); err != nil {
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	c := &Consumer{rdb: rdb, keys: keys, cfg: cfg, log: log, parts: map[int]*partition{}, stop: stop, done: make(chan struct{})}
	c.maintain(ctx) // own partitions before the first Fetch
	go c.loop(loopCtx)
	return c, nil
}

// Takeovers is how many partitions this consumer took over from an owner
// that vanished without giving them back (its lease expired).
func (c *Consumer) Takeovers() int64 { return c.takeovers.Load() }

// Owned returns the partitions this consumer holds now.
func (c *Consumer) Owned() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.owned...)
}

// WriteContext implements analytics.Consumer. The context ends with cause
// ErrFenced at the partition's local write deadline, or at once when the
// lease is known lost. A deadline cannot move, so callers ask again for
// each write attempt; renewals in between give the next one more time.
func (c *Consumer) WriteContext(ctx context.Context, b analytics.Batch) (context.Context, context.CancelFunc) {
	c.mu.Lock()
	l := c.parts[b.Partition]
	c.mu.Unlock()
	if l == nil {
		return fencedOut(ctx)
	}
	return l.writeContext(ctx)
}

// Close stops the ownership loop, gives every partition back so another
// processor can take it at once (at once only when no batch of it was left
// unacknowledged), and leaves the processors set. Safe twice.
func (c *Consumer) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.stop()
		<-c.done
		c.mu.Lock()
		parts := c.parts
		c.parts, c.owned = map[int]*partition{}, nil
		c.mu.Unlock()
		// A hung Redis must not hold the shutdown: the leases expire anyway.
		ctx, cancel := context.WithTimeout(ctx, c.cfg.LeaseTTL)
		defer cancel()
		for _, l := range parts {
			l.release(ctx, !l.unclean)
		}
		_ = c.rdb.ZRem(ctx, c.keys.Processors(), c.cfg.Name).Err()
	})
	return nil
}
