// Package visits annotates events with their place in their visitor's
// visit before the collector queues them, so the processor can count
// visits, bounces, durations, entry and exit pages with increments alone,
// exactly once with everything else (see analytics.Visit and package
// rollup).
//
// A visit is a run of one visitor's events on one site with no gap longer
// than the timeout (30 minutes by default), cut at UTC midnight. Redis
// keeps, per (site, visitor), the visit's last event (id and time), when it
// began, its page views, duration, entry and exit page and attributes, and
// the annotation given to that last event. The collector reads the states
// of a round trip's visitors with one MGET, applies the rules below in Go
// and writes the states that changed with one compare-and-set script call
// (a state is replaced only if it is still the one read); a visitor whose
// state another collector changed in between is read and annotated again.
// So concurrent collectors annotating one visitor's events see them one
// after the other, as if each event had been annotated alone, and Redis
// does little per event: a read, a comparison and a write, no decoding.
//
// The rules, by the event's own timestamp (validated by the collector):
//
//   - no state, or more than the timeout since the visitor's last event:
//     the event starts a visit, with its own attributes;
//   - within the timeout, on the same UTC day: it continues the visit, Gap
//     seconds (rounded) after the last event;
//   - within the timeout, on a later UTC day: it starts the visit's part of
//     that day (Start, keeping the visit's attributes);
//   - older than the visitor's last event (out of order): Late, which
//     changes no visit counter and leaves the state as it was;
//   - the same event id as the visitor's last event (a client resending a
//     batch): the same annotation as the first copy, state unchanged, so
//     whichever copy the processor stores, it counts the same;
//   - the id of another event at the visitor's last instant (up to 16 are
//     remembered): Late, so a resent copy never counts in the state twice
//     (an older resent event is Late anyway). The processor drops such a
//     copy as a duplicate before anything of it counts.
package visits

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/redisqueue"
)

// DefaultTimeout is the longest gap between two events of one visit, as
// Plausible, Umami and Google Analytics count it.
const DefaultTimeout = 30 * time.Minute

// maxEvents bounds the events of one pipelined round trip.
const maxEvents = 2000

// Annotator sets Event.Visit. Concurrent Annotate calls are merged: each of
// its flushers takes every request waiting at that moment and reads and
// commits all their visitors' states together (as the queue's publisher
// does with its XADDs), so many small requests cost Redis one MGET and one
// script call per group. Safe for concurrent use; Close stops it.
type Annotator struct {
	rdb     redis.UniversalClient
	cluster bool // one MGET and one script call per site, not per round trip
	prefix  string
	timeout time.Duration
	reqs    chan *annotateReq
	// known is the state this collector last read or wrote for each
	// visitor, touched by the flusher alone (there is one). A round
	// annotates from it without reading Redis first, and its commit checks
	// every state it relied on, changed or not: a state another collector
	// changed in between (or that expired) fails the check and that visitor
	// is read and annotated again, so the cache saves a round trip without
	// ever being trusted. A visitor it does not hold is taken to have none.
	known map[string]knownState

	mu        sync.RWMutex // held for reading while handing a request over
	closed    bool
	closeOnce sync.Once
	quit      chan struct{}
	wg        sync.WaitGroup
}

// annotateReq is one Annotate call: the events with a visitor key and,
// once done is answered, their annotations (the flusher never touches the
// caller's events, which may have given up waiting).
type annotateReq struct {
	ctx    context.Context
	all    []analytics.Event // the caller's events, read only
	order  []int             // the indexes in all of those with a visitor, in time order
	visits []*analytics.Visit
	// queue, when set, is the publisher to append all to with the
	// annotations, in the script call that commits them (see Queue).
	queue *redisqueue.Publisher
	done  chan error
}

// event is the i-th event of r in time order.
func (r *annotateReq) event(i int) *analytics.Event { return &r.all[r.order[i]] }

// flushers is the number of groups in flight at once. Their commits are
// compare-and-set, so more are safe, but 4 made Redis and the collector
// busier (concurrent groups touching one visitor commit again) for no more
// events per second.
const flushers = 1

// New returns an Annotator keeping its state in rdb under
// prefix+"visit:{<site>}:<visitor>", each key living twice the timeout
// after its visitor's last event (a key can only be needed for one
// timeout after it; the second leaves room for beacons that arrive late).
// It starts the flushers; Close stops them.
func New(rdb redis.UniversalClient, prefix string, timeout time.Duration) *Annotator {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	_, cluster := rdb.(*redis.ClusterClient)
	a := &Annotator{rdb: rdb, cluster: cluster, prefix: prefix, timeout: timeout, reqs: make(chan *annotateReq, 1024), quit: make(chan struct{}),
		known: make(map[string]knownState)}
	for i := 0; i < flushers; i++ {
		a.wg.Add(1)
		go a.flusher()
	}
	return a
}

// Close stops the flushers once the requests handed over are answered.
// Later Annotate calls return an Unavailable error. Safe twice.
func (a *Annotator) Close() {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		close(a.quit)
		a.wg.Wait()
	})
}

// Key is the Redis key of a visitor's state. The site is its hash tag
// (site ids never hold braces), so a site's keys share one Redis Cluster
// slot and one script can take all of them.
func (a *Annotator) Key(site, visitor string) string {
	return a.prefix + "visit:{" + site + "}:" + visitor
}

// maxSameTime bounds the ids remembered for the visitor's last instant: a
// resent event with one of them (not the last event itself, which gets its
// first annotation again) is answered Late, so it cannot count in the
// visit's state twice.
const maxSameTime = 16

// commit replaces each visitor's state (KEYS[i]) with its new one
// (ARGV[2i+1]) only if it still is the one read (ARGV[2i], its version:
// the first 16 bytes, its token; "" for none),
// each key then living ARGV[1] ms; an empty new state only checks (the
// events were annotated from that state and changed nothing). It answers
// the indexes of the keys that were not as expected: another collector
// changed them since, or they expired.
var commit = redis.NewScript(`
local ttl, stale = ARGV[1], {}
for i = 1, #KEYS do
  if redis.call('GETRANGE', KEYS[i], 0, 15) ~= ARGV[2 * i] then
    stale[#stale + 1] = i
  elseif ARGV[2 * i + 1] ~= '' then
    redis.call('SET', KEYS[i], ARGV[2 * i + 1], 'PX', ttl)
  end
end
return stale
`)

// maxKnown bounds the states a collector remembers (about 300 bytes each).
const maxKnown = 100000

// Annotate sets the Visit of every event that has a visitor key, taking
// them in time order (a stable sort: a client's batch may list them in
// another order; events at the same instant keep theirs), read and
// committed with those of concurrent calls (two pipelined round trips for
// all of them). Events without a visitor key keep a nil
// Visit. An error (Redis unreachable, ctx done first, or the Annotator
// closed) is of kind analytics.Unavailable and leaves events as they were;
// then none may be queued (the collector answers 503 and the client
// resends with the same ids, which are annotated as the first time).
func (a *Annotator) Annotate(ctx context.Context, events []analytics.Event) error {
	r := newRequest(ctx, events)
	if len(r.order) == 0 {
		return nil
	}
	if err := a.send(r); err != nil {
		return err
	}
	for i, j := range r.order {
		events[j].Visit = r.visits[i]
	}
	return nil
}

func newRequest(ctx context.Context, events []analytics.Event) *annotateReq {
	r := &annotateReq{ctx: ctx, all: events, done: make(chan error, 1)}
	for i := range events {
		if events[i].Visitor() != "" {
			r.order = append(r.order, i)
		}
	}
	sort.SliceStable(r.order, func(i, j int) bool { return events[r.order[i]].Timestamp.Before(events[r.order[j]].Timestamp) })
	return r
}

// send hands r to the flusher and waits for its answer.
func (a *Annotator) send(r *annotateReq) error {
	ctx := r.ctx
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return analytics.Errorf(analytics.Unavailable, "visits: shutting down")
	}
	select {
	case a.reqs <- r:
		a.mu.RUnlock()
	case <-ctx.Done():
		a.mu.RUnlock()
		return analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", ctx.Err())
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The scripts may still run: the client resends with the same ids.
		return analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", ctx.Err())
	}
}

func (a *Annotator) flusher() {
	defer a.wg.Done()
	batch := make([]*annotateReq, 0, 64)
	for {
		var first *annotateReq
		select {
		case first = <-a.reqs:
		case <-a.quit:
			for { // answer whatever is still queued so no caller waits forever
				select {
				case r := <-a.reqs:
					a.flush(append(batch[:0], r))
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		n := len(first.all)
	gather:
		for n < maxEvents {
			select {
			case r := <-a.reqs:
				batch = append(batch, r)
				n += len(r.all)
			default:
				break gather
			}
		}
		a.flush(batch)
	}
}

// flush runs the scripts of every request in one pipeline and answers each
// request with its own outcome. The pipeline has its own context, whose
// deadline is the latest of the requests' (a request whose client went
// away must not cancel the others' scripts).
func (a *Annotator) flush(batch []*annotateReq) {
	live := batch[:0:0]
	var deadline time.Time
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", err)
			continue
		}
		if d, ok := r.ctx.Deadline(); ok && d.After(deadline) {
			deadline = d
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	failed := make([]error, len(live))
	fail := func(v *visitor, err error) {
		for _, sl := range v.slots {
			if failed[sl.req] == nil {
				failed[sl.req] = err
			}
		}
	}
	groups := a.group(live)
	for assume := true; len(groups) > 0; assume = false {
		var err error
		// On an error, groups are the visitors left without an annotation.
		// The first round annotates from the states this collector knows;
		// the visitors whose state turned out otherwise are read.
		if groups, err = a.round(ctx, live, groups, assume, fail); err != nil {
			for _, g := range groups {
				for _, v := range g {
					fail(v, err)
				}
			}
			break
		}
	}
	for i, r := range live {
		r.done <- failed[i]
	}
}

// slot is one event of a round trip: its request and its place there.
type slot struct{ req, i int }

// visitor is one visitor's events of a round trip, in the order they are
// annotated, and once read, their state.
type visitor struct {
	key   string
	slots []slot
	read  string // the state as read, "" for none
	write string // the state to commit
	// readState and writeState are read and write decoded, when known
	// (readState nil with a read: decode it).
	readState, writeState *state
}

// knownState is a state as Redis holds it and, decoded, as next uses it:
// the cache keeps both, so a state is decoded once, not at every event.
type knownState struct {
	enc string
	st  *state
}

// group gathers the requests' events by visitor, keeping their order
// (request by request, each in time order), and the visitors in groups
// whose keys share a Redis Cluster slot (a site's, on a Cluster; all of
// them on a single Redis), each group read with one MGET and committed
// with one script call. It sets each request's visits to a slice to fill.
func (a *Annotator) group(live []*annotateReq) [][]*visitor {
	var groups [][]*visitor
	groupOf := map[string]int{}
	byKey := map[string]*visitor{}
	for ri, r := range live {
		r.visits = make([]*analytics.Visit, len(r.order))
		var v *visitor // the previous event's: a browser's batch is one visitor's
		var site, who string
		for i := range r.order {
			e := r.event(i)
			if v != nil && e.SiteID == site && e.Visitor() == who {
				v.slots = append(v.slots, slot{ri, i})
				continue
			}
			site, who = e.SiteID, e.Visitor()
			key := a.Key(site, who)
			v = byKey[key]
			if v == nil {
				v = &visitor{key: key}
				byKey[key] = v
				g := ""
				if a.cluster {
					g = e.SiteID
				}
				gi, ok := groupOf[g]
				if !ok {
					gi = len(groups)
					groupOf[g] = gi
					groups = append(groups, nil)
				}
				groups[gi] = append(groups[gi], v)
			}
			v.slots = append(v.slots, slot{ri, i})
		}
	}
	return groups
}

// round reads the groups' states, annotates their events and commits the
// states that changed, in two pipelined round trips. It answers the
// visitors to annotate again (their state changed since it was read, by
// another collector), in groups; with an error, those left unannotated.
//
// When requests of the round are to be queued too (Queue), there is one
// group (a single Redis), every visitor's state is checked, changed or not,
// and the script appends the requests' stream entries only if every check
// passed: then nothing at all is written, and the whole group is
// annotated again.
func (a *Annotator) round(ctx context.Context, live []*annotateReq, groups [][]*visitor, assume bool, fail func(*visitor, error)) ([][]*visitor, error) {
	queue := false
	for _, r := range live {
		queue = queue || r.queue != nil
	}
	reads := make([]*redis.SliceCmd, len(groups))
	if !assume {
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, g := range groups {
				keys := make([]string, len(g))
				for j, v := range g {
					keys[j] = v.key
				}
				reads[i] = p.MGet(ctx, keys...)
			}
			return nil
		})
	}
	var commits [][]*visitor
	for i, g := range groups {
		var vals []any
		if !assume {
			var err error
			vals, err = reads[i].Result()
			if err == nil && len(vals) != len(g) {
				err = fmt.Errorf("MGET answered %d values for %d keys", len(vals), len(g))
			}
			if err != nil {
				return groups, analytics.Wrap(analytics.Unavailable, "visits: reading visitors' state in Redis", err)
			}
		}
		var changed []*visitor
		for j, v := range g {
			if assume {
				k := a.known[v.key]
				v.read, v.readState = k.enc, k.st
			} else {
				v.read, _ = vals[j].(string)
				v.readState = nil
			}
			if a.annotate(live, v) || assume || queue {
				// An annotation from an assumed state is committed even when
				// it changes nothing: the commit checks the assumption.
				changed = append(changed, v)
			}
		}
		if len(changed) > 0 {
			commits = append(commits, changed)
		}
	}
	if len(commits) == 0 {
		return nil, nil
	}
	var entries []redisqueue.Entry
	if queue {
		if len(commits) != 1 {
			return groups, analytics.Errorf(analytics.Internal, "visits: queuing events of %d hash slots in one script", len(commits))
		}
		var err error
		if entries, err = queueEntries(live); err != nil {
			return groups, err
		}
	}
	ttl := strconv.FormatInt(2*a.timeout.Milliseconds(), 10)
	cmds := make([]*redis.Cmd, len(commits))
	run := func(todo []int) {
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range todo {
				cmds[i] = a.commitCmd(ctx, p, ttl, commits[i], entries)
			}
			return nil
		})
	}
	all := make([]int, len(commits))
	for i := range all {
		all[i] = i
	}
	run(all)
	// A script unknown to the server (first use, or after a restart or
	// SCRIPT FLUSH) is loaded and sent again; only those calls: the
	// others ran.
	var again []int
	for i, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		script := commit
		if queue {
			script = commitQueue
		}
		if err := script.Load(ctx, a.rdb).Err(); err != nil {
			err = analytics.Wrap(analytics.Unavailable, "visits: loading the annotation script into Redis", err)
			for _, i := range again {
				for _, v := range commits[i] {
					fail(v, err)
				}
			}
		} else {
			run(again)
		}
	}
	var retry [][]*visitor
	for i, c := range cmds {
		stale, err := c.Int64Slice()
		if err != nil {
			err = analytics.Wrap(analytics.Unavailable, "visits: saving visitors' state in Redis", err)
			for _, v := range commits[i] {
				fail(v, err)
				delete(a.known, v.key)
			}
			continue
		}
		var g []*visitor
		isStale := make([]bool, len(commits[i]))
		for _, j := range stale {
			if j < 1 || int(j) > len(commits[i]) {
				err := analytics.Errorf(analytics.Internal, "visits: the commit script answered key %d of %d", j, len(commits[i]))
				for _, v := range commits[i] {
					fail(v, err)
				}
				g = nil
				break
			}
			isStale[j-1] = true
			g = append(g, commits[i][j-1])
		}
		if queue && len(g) > 0 {
			// Nothing was written: the states this collector knows still
			// hold but for the stale ones, and every visitor is annotated
			// again, since the entries to append carry them all.
			for j, v := range commits[i] {
				if isStale[j] {
					delete(a.known, v.key)
				}
			}
			retry = append(retry, commits[i])
			continue
		}
		for j, v := range commits[i] {
			switch {
			case isStale[j]:
				delete(a.known, v.key)
			case v.write != "":
				a.remember(v.key, v.write, v.writeState)
			default:
				a.remember(v.key, v.read, v.readState)
			}
		}
		if len(g) > 0 {
			retry = append(retry, g)
		}
	}
	if len(retry) > 0 && ctx.Err() != nil {
		return retry, analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", ctx.Err())
	}
	return retry, nil
}

// commitCmd queues the script call that commits the visitors' states and,
// with entries, appends them.
func (a *Annotator) commitCmd(ctx context.Context, p redis.Pipeliner, ttl string, vs []*visitor, entries []redisqueue.Entry) *redis.Cmd {
	keys := make([]string, len(vs), len(vs)+2*len(entries))
	args := make([]any, 1, 2+2*len(vs)+2*len(entries))
	args[0] = ttl
	if entries != nil {
		args = append(args, len(vs))
	}
	for j, v := range vs {
		keys[j] = v.key
		args = append(args, version(v.read), v.write)
	}
	if entries == nil {
		return commit.EvalSha(ctx, p, keys, args...)
	}
	for _, e := range entries {
		keys = append(keys, e.Stream, e.Surplus)
		args = append(args, e.Count, e.Value)
	}
	return commitQueue.EvalSha(ctx, p, keys, args...)
}

// annotate annotates v's events from its state as read, setting the
// requests' visits, and the state to write. It reports whether the state
// changed. A state it cannot read (written by something else) is taken as
// none: the visit starts again.
func (a *Annotator) annotate(live []*annotateReq, v *visitor) bool {
	v.write, v.writeState = "", nil
	st := v.readState
	if st == nil && v.read != "" {
		st, _ = decode(v.read) // unreadable: nil, none
		v.readState = st
	}
	first := st
	for _, sl := range v.slots {
		r := live[sl.req]
		r.visits[sl.i], st = next(st, r.event(sl.i), a.timeout)
	}
	if st == first {
		return false
	}
	v.write, v.writeState = st.encode(), st
	return true
}

// remember notes a visitor's state as Redis now holds it, making room by
// forgetting arbitrary others when the cache is full (a forgotten visitor
// costs one extra round trip when it comes back, nothing else).
func (a *Annotator) remember(key, state string, st *state) {
	if state == "" || st == nil {
		delete(a.known, key)
		return
	}
	if _, ok := a.known[key]; !ok && len(a.known) >= maxKnown {
		n := 0
		for k := range a.known {
			delete(a.known, k)
			if n++; n >= maxKnown/10 {
				break
			}
		}
	}
	a.known[key] = knownState{enc: state, st: st}
}
