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
// the annotation given to that last event. One Lua script per event reads
// and replaces that state atomically, so concurrent collectors annotating
// one visitor's events see them one after the other; a request's scripts
// go to Redis in one pipelined round trip.
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
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// DefaultTimeout is the longest gap between two events of one visit, as
// Plausible, Umami and Google Analytics count it.
const DefaultTimeout = 30 * time.Minute

// maxEvents bounds the events of one pipelined round trip.
const maxEvents = 2000

// Annotator sets Event.Visit. Concurrent Annotate calls are merged: each of
// its flushers takes every request waiting at that moment and sends all
// their scripts in one pipelined round trip (as the queue's publisher does
// with its XADDs), so many small requests cost Redis one round trip per
// group. Safe for concurrent use; Close stops it.
type Annotator struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
	reqs    chan *annotateReq

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
	events []*analytics.Event
	visits []*analytics.Visit
	done   chan error
}

// flushers is the number of concurrent round trips.
const flushers = 1

// New returns an Annotator keeping its state in rdb under
// prefix+"visit:<site>|<visitor>", each key living twice the timeout
// after its visitor's last event (a key can only be needed for one
// timeout after it; the second leaves room for beacons that arrive late).
// It starts the flushers; Close stops them.
func New(rdb redis.UniversalClient, prefix string, timeout time.Duration) *Annotator {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	a := &Annotator{rdb: rdb, prefix: prefix, timeout: timeout, reqs: make(chan *annotateReq, 1024), quit: make(chan struct{})}
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

// Key is the Redis key of a visitor's state. Site ids never hold '|'.
func (a *Annotator) Key(site, visitor string) string {
	return a.prefix + "visit:" + site + "|" + visitor
}

// Separators of the state and annotation strings: ASCII control
// characters, which no stored path or attribute can hold.
const (
	unit   = "\x1f" // between fields
	record = "\x1e" // between the state and the last annotation
	group  = "\x1d" // between the attributes, one field for the script
)

// maxSameTime bounds the ids remembered for the visitor's last instant: a
// resent event with one of them (not the last event itself, which gets its
// first annotation again) is answered Late, so it cannot count in the
// visit's state twice.
const maxSameTime = 16

// script reads the visitor's state (KEYS[1]) and answers the event's
// annotation, replacing the state. ARGV: event id, timestamp (Unix ms),
// timeout (ms), key lifetime (ms), "1" for a page view, the page, the
// event's own attributes (joined by group), maxSameTime.
//
// State: id, ts, began, views, duration, entry, exit, the number and the
// ids (comma-separated) of the events at ts, attrs; then record and the
// annotation of the last event. Annotation: kind (S, C or L), began, gap,
// views, duration, entry, exit, attrs.
var script = redis.NewScript(`
local id, ts, timeout = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local kind, began, gap, views, dur, entry, exit, attrs, nsame, same = 'S', ARGV[2], 0, 0, 0, '', '', ARGV[7], 1, ARGV[1]
local cur = redis.call('GET', KEYS[1])
if cur then
  local lid, lts, lbegan, lviews, ldur, lentry, lexit, lnsame, lsame, lattrs, lann =
    string.match(cur, '^(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\30(.*)$')
  if lid == id then return lann end
  local last = tonumber(lts)
  if ts < last then return 'L' end
  if ts == last then
    if string.find(',' .. lsame .. ',', ',' .. id .. ',', 1, true) then return 'L' end
    nsame, same = tonumber(lnsame), lsame
    if nsame < tonumber(ARGV[8]) then nsame, same = nsame + 1, lsame .. ',' .. id end
  end
  if ts - last <= timeout then
    attrs = lattrs
    if math.floor(ts / 86400000) == math.floor(last / 86400000) then
      kind, began, gap = 'C', lbegan, math.floor((ts - last + 500) / 1000)
      views, dur, entry, exit = tonumber(lviews), tonumber(ldur), lentry, lexit
    end
  end
end
local ann = kind .. '\31' .. began .. '\31' .. gap .. '\31' .. views .. '\31' .. dur .. '\31' .. entry .. '\31' .. exit .. '\31' .. attrs
local page = ARGV[6]
if ARGV[5] == '1' then
  views = views + 1
  if page ~= '' then
    if entry == '' then entry = page end
    exit = page
  end
end
redis.call('SET', KEYS[1], id .. '\31' .. ARGV[2] .. '\31' .. began .. '\31' .. views .. '\31' .. (dur + gap) .. '\31' ..
  entry .. '\31' .. exit .. '\31' .. nsame .. '\31' .. same .. '\31' .. attrs .. '\30' .. ann, 'PX', ARGV[4])
return ann
`)

// Annotate sets the Visit of every event that has a visitor key, taking
// them in time order (a stable sort: a client's batch may list them in
// another order; events at the same instant keep theirs), with one script
// per event, sent with those of concurrent calls in one pipelined round
// trip. Events without a visitor key keep a nil
// Visit. An error (Redis unreachable, ctx done first, or the Annotator
// closed) is of kind analytics.Unavailable and leaves events as they were;
// then none may be queued (the collector answers 503 and the client
// resends with the same ids, which the script answers as the first time).
func (a *Annotator) Annotate(ctx context.Context, events []analytics.Event) error {
	r := &annotateReq{ctx: ctx, done: make(chan error, 1)}
	for i := range events {
		if events[i].Visitor() != "" {
			r.events = append(r.events, &events[i])
		}
	}
	if len(r.events) == 0 {
		return nil
	}
	sort.SliceStable(r.events, func(i, j int) bool { return r.events[i].Timestamp.Before(r.events[j].Timestamp) })
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
		if err != nil {
			return err
		}
		for i, e := range r.events {
			e.Visit = r.visits[i]
		}
		return nil
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
		n := len(first.events)
	gather:
		for n < maxEvents {
			select {
			case r := <-a.reqs:
				batch = append(batch, r)
				n += len(r.events)
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
	ttl := strconv.FormatInt(2*a.timeout.Milliseconds(), 10)
	timeout := strconv.FormatInt(a.timeout.Milliseconds(), 10)
	type slot struct{ req, i int }
	var todo []slot
	for ri, r := range live {
		r.visits = make([]*analytics.Visit, len(r.events))
		for i := range r.events {
			todo = append(todo, slot{ri, i})
		}
	}
	failed := make([]error, len(live))
	for attempt := 0; len(todo) > 0; attempt++ {
		cmds := make([]*redis.Cmd, len(todo))
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, s := range todo {
				e := live[s.req].events[s.i]
				pv := "0"
				if e.EventType == analytics.PageView {
					pv = "1"
				}
				cmds[j] = script.EvalSha(ctx, p, []string{a.Key(e.SiteID, e.Visitor())},
					e.ID, e.Timestamp.UnixMilli(), timeout, ttl, pv, e.Path, joinAttrs(e.VisitAttrs()), maxSameTime)
			}
			return nil
		})
		// Scripts unknown to the server (first use, or after a restart or
		// SCRIPT FLUSH) are loaded and sent again; only those: the others
		// ran.
		var again []slot
		for j, s := range todo {
			err := cmds[j].Err()
			if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0 {
				again = append(again, s)
				continue
			}
			if err == nil {
				var v *analytics.Visit
				if v, err = parse(cmds[j].Val(), live[s.req].events[s.i].Timestamp); err != nil {
					err = analytics.Wrap(analytics.Internal, "visits", err)
				}
				live[s.req].visits[s.i] = v
			} else {
				err = analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", err)
			}
			if err != nil && failed[s.req] == nil {
				failed[s.req] = err
			}
		}
		if len(again) > 0 {
			if err := script.Load(ctx, a.rdb).Err(); err != nil {
				for _, s := range again {
					if failed[s.req] == nil {
						failed[s.req] = analytics.Wrap(analytics.Unavailable, "visits: loading the annotation script into Redis", err)
					}
				}
				again = nil
			}
		}
		todo = again
	}
	for i, r := range live {
		r.done <- failed[i]
	}
}

// joinAttrs is the attributes as the script keeps them: one field.
func joinAttrs(v analytics.VisitAttrs) string {
	return strings.Join([]string{v.Source, v.ReferrerHost, v.UTMSource, v.UTMMedium, v.UTMCampaign, v.Browser, v.OS, v.Device, v.Country}, group)
}

// parse reads the script's answer.
func parse(reply any, ts time.Time) (*analytics.Visit, error) {
	s, ok := reply.(string)
	if !ok {
		return nil, fmt.Errorf("annotation script answered %T, not a string", reply)
	}
	if s == "L" {
		return &analytics.Visit{Late: true, Began: ts}, nil
	}
	f := strings.Split(s, unit)
	var at []string
	if len(f) == 8 {
		at = strings.Split(f[7], group)
	}
	if len(at) != 9 || (f[0] != "S" && f[0] != "C") {
		return nil, fmt.Errorf("annotation script answered %q", s)
	}
	var n [4]int64
	for i, x := range f[1:5] {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("annotation script answered %q: field %d: %v", s, i+1, err)
		}
		n[i] = v
	}
	return &analytics.Visit{
		Start: f[0] == "S", Began: time.UnixMilli(n[0]).UTC(), Gap: n[1], Views: n[2], Duration: n[3], Entry: f[5], Exit: f[6],
		Attrs: analytics.VisitAttrs{Source: at[0], ReferrerHost: at[1], UTMSource: at[2], UTMMedium: at[3], UTMCampaign: at[4],
			Browser: at[5], OS: at[6], Device: at[7], Country: at[8]},
	}, nil
}
