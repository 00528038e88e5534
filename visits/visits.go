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
//   - the id of another event at the visitor's last instant (up to 64 are
//     remembered): Late, so a resent copy never counts in the state twice
//     (an older resent event is Late anyway). The processor drops such a
//     copy as a duplicate before anything of it counts.
package visits

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// DefaultTimeout is the longest gap between two events of one visit, as
// Plausible, Umami and Google Analytics count it.
const DefaultTimeout = 30 * time.Minute

// Annotator sets Event.Visit. Safe for concurrent use.
type Annotator struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
}

// New returns an Annotator keeping its state in rdb under
// prefix+"visit:<site>|<visitor>", each key living twice the timeout
// after its visitor's last event (a key can only be needed for one
// timeout after it; the second leaves room for beacons that arrive late).
func New(rdb redis.UniversalClient, prefix string, timeout time.Duration) *Annotator {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Annotator{rdb: rdb, prefix: prefix, timeout: timeout}
}

// Key is the Redis key of a visitor's state. Site ids never hold '|'.
func (a *Annotator) Key(site, visitor string) string {
	return a.prefix + "visit:" + site + "|" + visitor
}

// Separators of the state and annotation strings: ASCII unit and record
// separators, control characters no stored path or attribute can hold.
const (
	unit   = "\x1f"
	record = "\x1e"
)

// maxSameTime bounds the ids remembered for the visitor's last instant: a
// resent event with one of them (not the last event itself, which gets its
// first annotation again) is answered Late, so it cannot count in the
// visit's state twice.
const maxSameTime = 64

// script reads the visitor's state (KEYS[1]) and answers the event's
// annotation, replacing the state. ARGV: event id, timestamp (Unix ms),
// timeout (ms), key lifetime (ms), "1" for a page view, the page, the
// event's own attributes joined by unit, maxSameTime.
//
// State: id, ts, began, views, duration, entry, exit, the ids of the
// events at ts (comma-separated; at most maxSameTime), attrs... then record
// and the annotation of the last event. Annotation: kind (S, C or L),
// began, gap, views, duration, entry, exit, attrs...
var script = redis.NewScript(`
local id, ts, timeout, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local pv, page, attrs = ARGV[5] == '1', ARGV[6], ARGV[7]
local kind, began, gap, views, dur, entry, exit, same = 'S', ARGV[2], 0, 0, 0, '', '', ARGV[1]
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '\30', 1, true)
  local f = {}
  for x in string.gmatch(string.sub(cur, 1, sep - 1) .. '\31', '(.-)\31') do f[#f + 1] = x end
  if f[1] == id then return string.sub(cur, sep + 1) end
  local last = tonumber(f[2])
  if ts < last then return 'L' end
  if ts == last and string.find(',' .. f[8] .. ',', ',' .. id .. ',', 1, true) then return 'L' end
  if ts == last then
    local n = 0
    for _ in string.gmatch(f[8], ',') do n = n + 1 end
    same = f[8]
    if n < tonumber(ARGV[8]) then same = f[8] .. ',' .. id end
  end
  if ts - last <= timeout then
    attrs = table.concat(f, '\31', 9)
    if math.floor(ts / 86400000) == math.floor(last / 86400000) then
      kind, began, gap = 'C', f[3], math.floor((ts - last + 500) / 1000)
      views, dur, entry, exit = tonumber(f[4]), tonumber(f[5]), f[6], f[7]
    end
  end
end
local ann = table.concat({kind, began, gap, views, dur, entry, exit, attrs}, '\31')
local nviews, nentry, nexit = views, entry, exit
if pv then
  nviews = views + 1
  if page ~= '' then
    if nentry == '' then nentry = page end
    nexit = page
  end
end
local st = table.concat({id, ARGV[2], began, nviews, dur + gap, nentry, nexit, same, attrs}, '\31')
redis.call('SET', KEYS[1], st .. '\30' .. ann, 'PX', ttl)
return ann
`)

// Annotate sets the Visit of every event that has a visitor key, in the
// order given (a request's events are one visitor's history in that
// order), with one script per event in one pipelined round trip. Events
// without a visitor key keep a nil Visit. An error (Redis unreachable, or
// ctx done) is of kind analytics.Unavailable; then no event may be queued
// (the collector answers 503 and the client resends with the same ids,
// which the script answers as the first time).
func (a *Annotator) Annotate(ctx context.Context, events []analytics.Event) error {
	idx := make([]int, 0, len(events))
	for i := range events {
		if events[i].Visitor() != "" {
			idx = append(idx, i)
		}
	}
	ttl := strconv.FormatInt(2*a.timeout.Milliseconds(), 10)
	timeout := strconv.FormatInt(a.timeout.Milliseconds(), 10)
	for attempt := 0; len(idx) > 0; attempt++ {
		cmds := make([]*redis.Cmd, len(idx))
		_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, i := range idx {
				e := &events[i]
				pv := "0"
				if e.EventType == analytics.PageView {
					pv = "1"
				}
				cmds[j] = script.EvalSha(ctx, p, []string{a.Key(e.SiteID, e.Visitor())},
					e.ID, e.Timestamp.UnixMilli(), timeout, ttl, pv, e.Path, joinAttrs(e.VisitAttrs()), maxSameTime)
			}
			return nil
		})
		// Scripts unknown to the server (first use, or after a restart) are
		// loaded and sent again; only those: the others ran.
		var again []int
		for j, i := range idx {
			cerr := cmds[j].Err()
			if cerr != nil && redis.HasErrorPrefix(cerr, "NOSCRIPT") && attempt == 0 {
				again = append(again, i)
				continue
			}
			if cerr != nil {
				return analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", cerr)
			}
			v, err := parse(cmds[j].Val(), events[i].Timestamp)
			if err != nil {
				return analytics.Wrap(analytics.Internal, "visits", err)
			}
			events[i].Visit = v
		}
		if err != nil && len(again) == 0 {
			return analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", err)
		}
		if len(again) > 0 {
			if err := script.Load(ctx, a.rdb).Err(); err != nil {
				return analytics.Wrap(analytics.Unavailable, "visits: loading the annotation script into Redis", err)
			}
		}
		idx = again
	}
	return nil
}

// joinAttrs is the attributes as the script keeps them.
func joinAttrs(v analytics.VisitAttrs) string {
	return strings.Join([]string{v.Source, v.ReferrerHost, v.UTMSource, v.UTMMedium, v.UTMCampaign, v.Browser, v.OS, v.Device, v.Country}, unit)
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
	if len(f) != 16 || (f[0] != "S" && f[0] != "C") {
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
		Attrs: analytics.VisitAttrs{Source: f[7], ReferrerHost: f[8], UTMSource: f[9], UTMMedium: f[10], UTMCampaign: f[11],
			Browser: f[12], OS: f[13], Device: f[14], Country: f[15]},
	}, nil
}
