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

// Key is the Redis key of a visitor's state. The site is its hash tag
// (site ids never hold braces), so a site's keys share one Redis Cluster
// slot and one script can take all of them.
func (a *Annotator) Key(site, visitor string) string {
	return a.prefix + "visit:{" + site + "}:" + visitor
}

// Separators of the state and annotation strings: ASCII control
// characters, which no stored path or attribute can hold.
const (
	unit   = "\x1f" // between fields
	record = "\x1e" // between the state and the last annotation
	group  = "\x1d" // between the attributes, one field for the script
	// between separates the annotations of the script's answer.
	between = "\x1c"
)

// maxSameTime bounds the ids remembered for the visitor's last instant: a
// resent event with one of them (not the last event itself, which gets its
// first annotation again) is answered Late, so it cannot count in the
// visit's state twice.
const maxSameTime = 16

// script annotates one site's events of a round trip, in the order given,
// as if each had its own script: it reads a visitor's state once (the
// first time one of their events comes), keeps it in a Lua table while it
// goes, and writes back, once each, the states that changed. KEYS: the
// site's visitors' states (they share the site's hash slot). ARGV: timeout
// (ms), key lifetime (ms), maxSameTime, the number A of distinct attribute
// strings, those A strings (each an event's attributes joined by group);
// then six per event: the index of its key in KEYS, its id, timestamp
// (Unix ms), "1" for a page view, its page, and the index of its
// attributes among the A. It answers the events' annotations joined by
// between.
//
// State: id, ts, began, views, duration, entry, exit, the number and the
// ids (comma-separated) of the events at ts, attrs; then record and the
// annotation of the last event. Annotation: kind (S, C or L), began, gap,
// views, duration, entry, exit, attrs. Fields held in the table: 1 id,
// 2 ts (a number), 3 began, 4 views, 5 duration, 6 entry, 7 exit, 8 nsame,
// 9 same, 10 attrs, 11 annotation, 12 ts as sent.
var script = redis.NewScript(`
local timeout, ttl, maxsame, na = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local states, dirty, out = {}, {}, {}
for j = 5 + na, #ARGV, 6 do
  local k, id, tss = tonumber(ARGV[j]), ARGV[j + 1], ARGV[j + 2]
  local ts = tonumber(tss)
  local s = states[k]
  if s == nil then
    s = false
    local cur = redis.call('GET', KEYS[k])
    if cur then
      local lid, lts, lbegan, lviews, ldur, lentry, lexit, lnsame, lsame, lattrs, lann =
        string.match(cur, '^(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.-)\30(.*)$')
      if lid then
        s = {lid, tonumber(lts), lbegan, tonumber(lviews), tonumber(ldur), lentry, lexit, tonumber(lnsame), lsame, lattrs, lann, lts}
      end
    end
    states[k] = s
  end
  local ann
  if s and s[1] == id then
    ann = s[11]
  elseif s and (ts < s[2] or (ts == s[2] and string.find(',' .. s[9] .. ',', ',' .. id .. ',', 1, true))) then
    ann = 'L'
  else
    local kind, began, gap, views, dur, entry, exit, attrs, nsame, same = 'S', tss, 0, 0, 0, '', '', ARGV[4 + tonumber(ARGV[j + 5])], 1, id
    if s then
      local last = s[2]
      if ts == last then
        nsame, same = s[8], s[9]
        if nsame < maxsame then nsame, same = nsame + 1, same .. ',' .. id end
      end
      if ts - last <= timeout then
        attrs = s[10]
        if math.floor(ts / 86400000) == math.floor(last / 86400000) then
          kind, began, gap = 'C', s[3], math.floor((ts - last + 500) / 1000)
          views, dur, entry, exit = s[4], s[5], s[6], s[7]
        end
      end
    end
    ann = kind .. '\31' .. began .. '\31' .. gap .. '\31' .. views .. '\31' .. dur .. '\31' .. entry .. '\31' .. exit .. '\31' .. attrs
    if ARGV[j + 3] == '1' then
      views = views + 1
      local page = ARGV[j + 4]
      if page ~= '' then
        if entry == '' then entry = page end
        exit = page
      end
    end
    states[k] = {id, ts, began, views, dur + gap, entry, exit, nsame, same, attrs, ann, tss}
    dirty[k] = true
  end
  out[#out + 1] = ann
end
for k in pairs(dirty) do
  local s = states[k]
  redis.call('SET', KEYS[k], s[1] .. '\31' .. s[12] .. '\31' .. s[3] .. '\31' .. s[4] .. '\31' .. s[5] .. '\31' ..
    s[6] .. '\31' .. s[7] .. '\31' .. s[8] .. '\31' .. s[9] .. '\31' .. s[10] .. '\30' .. s[11], 'PX', ttl)
end
return table.concat(out, '\28')
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
	calls := a.siteCalls(live)
	failed := make([]error, len(live))
	fail := func(c *siteCall, err error) {
		for _, s := range c.slots {
			if failed[s.req] == nil {
				failed[s.req] = err
			}
		}
	}
	for attempt := 0; len(calls) > 0; attempt++ {
		cmds := make([]*redis.Cmd, len(calls))
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range calls {
				cmds[i] = script.EvalSha(ctx, p, c.keys, c.args...)
			}
			return nil
		})
		// Scripts unknown to the server (first use, or after a restart or
		// SCRIPT FLUSH) are loaded and sent again; only those: the others
		// ran.
		var again []*siteCall
		for i, c := range calls {
			err := cmds[i].Err()
			switch {
			case err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0:
				again = append(again, c)
			case err != nil:
				fail(c, analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", err))
			default:
				if err := c.answer(live, cmds[i].Val()); err != nil {
					fail(c, analytics.Wrap(analytics.Internal, "visits", err))
				}
			}
		}
		if len(again) > 0 {
			if err := script.Load(ctx, a.rdb).Err(); err != nil {
				for _, c := range again {
					fail(c, analytics.Wrap(analytics.Unavailable, "visits: loading the annotation script into Redis", err))
				}
				again = nil
			}
		}
		calls = again
	}
	for i, r := range live {
		r.done <- failed[i]
	}
}

// slot is one event of a round trip: its request and its place there.
type slot struct{ req, i int }

// siteCall is one script call: a site's events of a round trip, in the
// order the script takes them.
type siteCall struct {
	keys  []string
	args  []any
	slots []slot
}

// siteCalls groups the requests' events by site, keeping their order
// (request by request, each in time order), so each site's events take
// one script call. It sets each request's visits to a slice to fill.
func (a *Annotator) siteCalls(live []*annotateReq) []*siteCall {
	ttl := strconv.FormatInt(2*a.timeout.Milliseconds(), 10)
	timeout := strconv.FormatInt(a.timeout.Milliseconds(), 10)
	type building struct {
		call    *siteCall
		keyOf   map[string]int // visitor -> index in KEYS (from 1)
		attrsOf map[string]int // attribute string -> index among them (from 1)
		attrs   []any
		events  []any
	}
	var order []*building
	bySite := map[string]*building{}
	for ri, r := range live {
		r.visits = make([]*analytics.Visit, len(r.events))
		for i, e := range r.events {
			b := bySite[e.SiteID]
			if b == nil {
				b = &building{call: &siteCall{}, keyOf: map[string]int{}, attrsOf: map[string]int{}}
				bySite[e.SiteID] = b
				order = append(order, b)
			}
			k, ok := b.keyOf[e.Visitor()]
			if !ok {
				b.call.keys = append(b.call.keys, a.Key(e.SiteID, e.Visitor()))
				k = len(b.call.keys)
				b.keyOf[e.Visitor()] = k
			}
			attrs := joinAttrs(e.VisitAttrs())
			at, ok := b.attrsOf[attrs]
			if !ok {
				b.attrs = append(b.attrs, attrs)
				at = len(b.attrs)
				b.attrsOf[attrs] = at
			}
			pv := "0"
			if e.EventType == analytics.PageView {
				pv = "1"
			}
			b.events = append(b.events, k, e.ID, e.Timestamp.UnixMilli(), pv, e.Path, at)
			b.call.slots = append(b.call.slots, slot{ri, i})
		}
	}
	calls := make([]*siteCall, len(order))
	for i, b := range order {
		args := make([]any, 0, 4+len(b.attrs)+len(b.events))
		args = append(args, timeout, ttl, maxSameTime, len(b.attrs))
		args = append(append(args, b.attrs...), b.events...)
		b.call.args = args
		calls[i] = b.call
	}
	return calls
}

// answer reads the script's reply into the requests' visits.
func (c *siteCall) answer(live []*annotateReq, reply any) error {
	s, ok := reply.(string)
	if !ok {
		return fmt.Errorf("annotation script answered %T, not a string", reply)
	}
	anns := strings.Split(s, between)
	if len(anns) != len(c.slots) {
		return fmt.Errorf("annotation script answered %d annotations for %d events", len(anns), len(c.slots))
	}
	for j, sl := range c.slots {
		r := live[sl.req]
		v, err := parse(anns[j], r.events[sl.i].Timestamp)
		if err != nil {
			return err
		}
		r.visits[sl.i] = v
	}
	return nil
}

// joinAttrs is the attributes as the script keeps them: one field.
func joinAttrs(v analytics.VisitAttrs) string {
	return strings.Join([]string{v.Source, v.ReferrerHost, v.UTMSource, v.UTMMedium, v.UTMCampaign, v.Browser, v.OS, v.Device, v.Country}, group)
}

// parse reads one annotation of the script's answer.
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
