package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// PublisherConfig tunes the group commit.
type PublisherConfig struct {
	// Flushers is how many pipelines may be in flight at once. While one is
	// on the wire the next requests gather for the following one.
	Flushers int
	// MaxEvents caps the events in one pipeline.
	MaxEvents int
	// MaxBacklog, when positive, is the backlog (entries not yet stored)
	// above which Publish refuses events with an Unavailable error, so the
	// collector answers 503 with Retry-After instead of letting Redis run out
	// of memory. The backlog is sampled every BacklogEvery.
	MaxBacklog   int64
	BacklogEvery time.Duration
	// Timeout is the deadline of every Redis call the publisher makes: a
	// Publish that has no answer from Redis within it returns an Unavailable
	// error, even when Redis is stalled (stopped, hung, partitioned) and the
	// round trip carrying its events is still on the wire. Those events may
	// then still be stored: the caller cannot know, which is why events
	// carry ids.
	Timeout time.Duration
}

// DefaultPublishTimeout is the Timeout used when none is given.
const DefaultPublishTimeout = 500 * time.Millisecond

// DefaultPublisherConfig returns the settings used when none are given.
func DefaultPublisherConfig() PublisherConfig {
	return PublisherConfig{Flushers: 4, MaxEvents: 2000, BacklogEvery: 200 * time.Millisecond, Timeout: DefaultPublishTimeout}
}

// Publisher appends events to the partition streams. The events of one
// Publish call for one partition go into one stream entry, so a batch of
// 100 events costs Redis a few XADDs, not 100. Concurrent Publish calls are
// merged: each flusher takes every request waiting at that moment and sends
// all their XADDs in one pipelined round trip, so many small requests cost
// Redis one round trip per group instead of one each.
type Publisher struct {
	rdb  redis.UniversalClient
	keys Keys
	cfg  PublisherConfig
	reqs chan *publishReq

	backlog   atomic.Int64 // last sampled backlog, when MaxBacklog is set
	mu        sync.RWMutex // held for reading while handing a request over
	closed    bool
	closeOnce sync.Once
	quit      chan struct{}
	wg        sync.WaitGroup
}

// addScript is the Cluster's way to append an entry of several events and
// count them in the Surplus in one step.
var addScript = redis.NewScript(`
redis.call('XADD', KEYS[1], '*', 'n', ARGV[1], 'e', ARGV[2])
redis.call('INCRBY', KEYS[2], tonumber(ARGV[1]) - 1)
return 1
`)

type publishReq struct {
	ctx    context.Context
	values [][]byte // one stream entry each
	parts  []int    // the partition of each entry
	counts []int    // the events each entry holds
	events int
	done   chan error
}

var _ analytics.Publisher = (*Publisher)(nil)

// NewPublisher starts the flushers; Close stops them.
func NewPublisher(rdb redis.UniversalClient, keys Keys, cfg PublisherConfig) *Publisher {
	def := DefaultPublisherConfig()
	if cfg.Flushers <= 0 {
		cfg.Flushers = def.Flushers
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = def.MaxEvents
	}
	if cfg.BacklogEvery <= 0 {
		cfg.BacklogEvery = def.BacklogEvery
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	p := &Publisher{rdb: rdb, keys: keys, cfg: cfg, reqs: make(chan *publishReq, 1024), quit: make(chan struct{})}
	for i := 0; i < cfg.Flushers; i++ {
		p.wg.Add(1)
		go p.flusher()
	}
	if cfg.MaxBacklog > 0 {
		p.sampleBacklog()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t := time.NewTicker(cfg.BacklogEvery)
			defer t.Stop()
			for {
				select {
				case <-p.quit:
					return
				case <-t.C:
					select {
					case <-p.quit: // a tick and Close at once: Close wins
						return
					default:
					}
					p.sampleBacklog()
				}
			}
		}()
	}
	return p
}

// sampleBacklog reads the backlog under the queue deadline; when Redis does
// not answer the last sample stands (Publish then fails on its own deadline).
func (p *Publisher) sampleBacklog() {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	if n, err := Backlog(ctx, p.rdb, p.keys); err == nil {
		p.backlog.Store(n)
	}
}

// Backlog returns the last sampled backlog (0 when MaxBacklog is off).
func (p *Publisher) Backlog() int64 { return p.backlog.Load() }

// Publish implements analytics.Publisher. It returns once the events are in
// Redis (or it failed); a nil error is the promise the collector's 2xx makes.
// It never blocks longer than the configured Timeout (or ctx's deadline, when
// sooner): past it the error is of kind Unavailable, and the events may or
// may not have been stored.
func (p *Publisher) Publish(ctx context.Context, events []analytics.Event) error {
	if len(events) == 0 {
		return nil
	}
	ctx, cancel := p.Bound(ctx)
	defer cancel()
	if err := p.overBacklog(); err != nil {
		return err
	}
	r, err := p.encode(ctx, events, nil)
	if err != nil {
		return err
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return analytics.Errorf(analytics.Unavailable, "queue is shutting down")
	}
	select {
	case p.reqs <- r:
		p.mu.RUnlock()
	case <-ctx.Done():
		p.mu.RUnlock()
		return p.timedOut(ctx)
	}
	// The flusher owns the request now and answers on r.done (buffered, so
	// it never waits for us); when the deadline comes first the round trip
	// may still land, so the answer is "unknown": Unavailable, retry with the
	// same ids.
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return p.timedOut(ctx)
	}
}

// encode makes the request that publishes events: one stream entry per
// partition, the event itself when it is alone, else a JSON array of the
// partition's events in the order given; visits[i], when visits is given,
// is the Visit of events[i].
func (p *Publisher) encode(ctx context.Context, events []analytics.Event, visits []*analytics.Visit) (*publishReq, error) {
	visit := func(i int) *analytics.Visit {
		if visits == nil {
			return events[i].Visit
		}
		return visits[i]
	}
	r := &publishReq{ctx: ctx, events: len(events), done: make(chan error, 1)}
	if len(events) == 1 {
		b, err := appendEventVisit(make([]byte, 0, 256), &events[0], visit(0))
		if err != nil {
			return nil, analytics.Wrap(analytics.Internal, "encode event", err)
		}
		r.values, r.parts, r.counts = [][]byte{b}, []int{p.keys.Partition(events[0].SiteID)}, []int{1}
		return r, nil
	}
	part := make([]int, len(events))
	entry := map[int]int{} // partition -> index of its entry in r
	for i := range events {
		part[i] = p.keys.Partition(events[i].SiteID)
		if _, ok := entry[part[i]]; !ok {
			entry[part[i]] = len(r.parts)
			r.parts, r.counts = append(r.parts, part[i]), append(r.counts, 0)
		}
		r.counts[entry[part[i]]]++
	}
	r.values = make([][]byte, len(r.parts))
	for i := range events {
		j := entry[part[i]]
		b := r.values[j]
		if b == nil && r.counts[j] > 1 {
			b = append(make([]byte, 0, 256*r.counts[j]), '[')
		} else if r.counts[j] > 1 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendEventVisit(b, &events[i], visit(i)); err != nil {
			return nil, analytics.Wrap(analytics.Internal, "encode event", err)
		}
		r.values[j] = b
	}
	for j, n := range r.counts {
		if n > 1 {
			r.values[j] = append(r.values[j], ']')
		}
	}
	return r, nil
}

func (p *Publisher) timedOut(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return analytics.Wrap(analytics.Unavailable,
			fmt.Sprintf("queue: Redis did not answer within %v", p.cfg.Timeout), ctx.Err())
	}
	return analytics.Wrap(analytics.Unavailable, "queue: publish", ctx.Err())
}

// Close stops accepting events, finishes every request already handed to a
// flusher, and returns. Safe to call twice.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		// Taking the write lock waits out every hand-over in progress, so no
		// request enters the channel after the flushers drained it.
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.quit)
	})
	p.wg.Wait()
	return nil
}

func (p *Publisher) flusher() {
	defer p.wg.Done()
	group := make([]*publishReq, 0, 64)
	for {
		var first *publishReq
		select {
		case first = <-p.reqs:
		case <-p.quit:
			// Serve whatever is still queued so no caller waits forever.
			for {
				select {
				case r := <-p.reqs:
					p.flush(append(group[:0], r))
				default:
					return
				}
			}
		}
		group = append(group[:0], first)
		n := first.events
	gather:
		for n < p.cfg.MaxEvents {
			select {
			case r := <-p.reqs:
				group = append(group, r)
				n += r.events
			default:
				break gather
			}
		}
		p.flush(group)
	}
}

// flush sends the XADDs of every request in one pipeline and answers each
// request with its own outcome.
func (p *Publisher) flush(group []*publishReq) {
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- analytics.Wrap(analytics.Unavailable, "queue: publish", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The pipeline gets its own context: a request whose client went away
	// must not cancel the writes of the others sharing the round trip. Its
	// deadline is the latest of theirs (past it nobody waits for the
	// answer), so a stalled Redis holds a flusher no longer than the queue
	// timeout.
	var deadline time.Time
	for _, r := range live {
		if d, ok := r.ctx.Deadline(); ok && d.After(deadline) {
			deadline = d
		}
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(p.cfg.Timeout)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// An entry of several events also counts the ones beyond the first in
	// its partition's Surplus, in the same step, so the backlog in events is
	// always the streams' length plus the surpluses: MULTI/EXEC around the
	// pipeline, or on a Cluster (where a transaction cannot span hash
	// slots) a script per entry, ten times the cost of an XADD in Redis.
	_, cluster := p.rdb.(*redis.ClusterClient)
	pipe := p.rdb.Pipeline()
	for _, r := range live {
		if len(r.values) < r.events && !cluster {
			pipe = p.rdb.TxPipeline()
			break
		}
	}
	cmds := make([][]interface{ Err() error }, len(live))
	for i, r := range live {
		cmds[i] = make([]interface{ Err() error }, len(r.values))
		for j, v := range r.values {
			n := r.counts[j]
			switch {
			case n == 1:
				cmds[i][j] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: p.keys.Stream(r.parts[j]), Values: []any{field, v}})
			case cluster:
				// EVAL, not EVALSHA: a restarted Redis has no script
				// cache, and this pipeline has no second chance.
				keys := []string{p.keys.Stream(r.parts[j]), p.keys.Surplus(r.parts[j])}
				cmds[i][j] = addScript.Eval(ctx, pipe, keys, n, v)
			default:
				pipe.IncrBy(ctx, p.keys.Surplus(r.parts[j]), int64(n-1))
				cmds[i][j] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: p.keys.Stream(r.parts[j]), Values: []any{count, n, field, v}})
			}
		}
	}
	_, _ = pipe.Exec(ctx)
	for i, r := range live {
		var err error
		for _, c := range cmds[i] {
			if c.Err() != nil {
				err = unavailable("redis: queue events", c.Err())
				break
			}
		}
		r.done <- err
	}
}

// Entry is one stream entry as Publish appends it, for a caller that
// appends entries in a script of its own (package visits does, in the same
// script call that commits the events' visit annotations): XADD Stream *
// e Value for one event; XADD Stream * n Count e Value and INCRBY Surplus
// Count-1 in the same step for several.
type Entry struct {
	Stream, Surplus string
	Count           int
	Value           []byte
}

// Entries encodes events into stream entries exactly as Publish would,
// with visits[i] as the Visit of events[i] (events are not changed).
func (p *Publisher) Entries(events []analytics.Event, visits []*analytics.Visit) ([]Entry, error) {
	if len(visits) != len(events) {
		return nil, analytics.Errorf(analytics.Internal, "queue: %d visits for %d events", len(visits), len(events))
	}
	r, err := p.encode(context.Background(), events, visits)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(r.values))
	for i, v := range r.values {
		out[i] = Entry{Stream: p.keys.Stream(r.parts[i]), Surplus: p.keys.Surplus(r.parts[i]), Count: r.counts[i], Value: v}
	}
	return out, nil
}

// Admit answers the Unavailable error Publish would give before sending
// anything: the backlog is full, or the publisher is closed. nil means a
// caller appending entries itself may go ahead.
func (p *Publisher) Admit() error {
	if err := p.overBacklog(); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return analytics.Errorf(analytics.Unavailable, "queue is shutting down")
	}
	return nil
}

// Bound gives ctx the publisher's Timeout as its deadline, unless it has a
// sooner one: no Publish (nor a caller appending entries itself) waits on
// Redis longer.
func (p *Publisher) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= p.cfg.Timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.cfg.Timeout)
}

// overBacklog is the Unavailable error for a backlog at MaxBacklog or
// above (as last sampled), else nil.
func (p *Publisher) overBacklog() error {
	if max := p.cfg.MaxBacklog; max > 0 && p.backlog.Load() >= max {
		return analytics.Errorf(analytics.Unavailable,
			"queue backlog is full (%d events waiting, limit %d): processors are behind", p.backlog.Load(), max)
	}
	return nil
}
