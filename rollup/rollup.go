// Package rollup is the rollup model of the domain: for each event, which
// counters of which (site, period) it adds to, and how those counters are
// bounded and read back. Stores persist it; they do not decide it. It uses
// only the standard library.
//
// A (site, period) rollup, period being a UTC day, a UTC calendar month or
// all time, counts:
//
//   - page views, events and visitors (distinct visitor keys);
//   - on day periods, page views, events and visitors per UTC hour;
//   - per value of each dimension (see Dims): for event dimensions (path,
//     event type) the page views or events with that value and the distinct
//     visitors who had one that day (on month and all-time periods: the sum
//     of those daily counts, see Snapshot.VisitorDays); for visit dimensions (source, referrer, UTM,
//     browser, OS, device, country, entry page) the visitors attributed to
//     the value, a visitor being attributed to the values of their first
//     event of the period.
//
// Which events are "first" (of a visitor in a period, in an hour, on a page,
// of a type) is decided by first-sight records the store creates once per
// (period, sight, visitor): the event whose entry created the record is the
// first. That keeps every count exact under redelivery: a replayed entry
// never creates a record twice.
package rollup

import (
	"context"
	"encoding/hex"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"github.com/siteanalytics/analytics"
)

// Bounds of the per-value counters. Counters per value live in the
// period's main document for the first ShardKeys distinct values, then in
// Shards overflow documents chosen by a hash of the value, each holding at
// most ShardKeys values; values beyond that capacity are counted under
// Other, and answers say so. The TopKeys leaders of each dimension are kept
// beside the totals, so a read is one small document however many distinct
// values a site has.
const (
	Shards    = 16
	ShardKeys = 256
	TopKeys   = analytics.MaxTopPaths
	Other     = "(other)"
)

// Dimension names, as stored and as the query API names them after its
// "event:" or "visit:" prefix.
const (
	Path        = "path" // event:page
	Type        = "type" // event:name
	Source      = "source"
	Referrer    = "referrer"
	UTMSource   = "utm_source"
	UTMMedium   = "utm_medium"
	UTMCampaign = "utm_campaign"
	Browser     = "browser"
	OS          = "os"
	Device      = "device"
	Country     = "country"
	EntryPage   = "entry_page"
)

// Direct is the source of a visitor whose first event had no outside
// referrer and no utm_source.
const Direct = "Direct / None"

// Kind says how a dimension counts.
type Kind int

const (
	// EventDim values are counted per event (Count: page views for path,
	// events for type) and per distinct visitor who had one (Visitors).
	EventDim Kind = iota
	// VisitDim values count only visitors, attributed at their first event
	// of the period.
	VisitDim
)

// Dim is one dimension of the per-value counters.
type Dim struct {
	Name string
	Kind Kind
	// value is the event's value of the dimension; "" counts nowhere.
	value func(e *analytics.Event) string
}

// Value returns the event's value of the dimension, "" when it has none.
func (d Dim) Value(e *analytics.Event) string { return d.value(e) }

// Dims are every dimension, event dimensions first.
var Dims = []Dim{
	{Path, EventDim, func(e *analytics.Event) string {
		if e.EventType == analytics.PageView {
			return e.Path
		}
		return ""
	}},
	{Type, EventDim, func(e *analytics.Event) string { return e.EventType }},
	{Source, VisitDim, func(e *analytics.Event) string {
		if e.Source == "" {
			return Direct
		}
		return e.Source
	}},
	{Referrer, VisitDim, func(e *analytics.Event) string { return e.ReferrerHost }},
	{UTMSource, VisitDim, func(e *analytics.Event) string { return e.UTMSource }},
	{UTMMedium, VisitDim, func(e *analytics.Event) string { return e.UTMMedium }},
	{UTMCampaign, VisitDim, func(e *analytics.Event) string { return e.UTMCampaign }},
	{Browser, VisitDim, func(e *analytics.Event) string { return e.Browser }},
	{OS, VisitDim, func(e *analytics.Event) string { return e.OS }},
	{Device, VisitDim, func(e *analytics.Event) string { return e.Device }},
	{Country, VisitDim, func(e *analytics.Event) string { return e.Country }},
	{EntryPage, VisitDim, func(e *analytics.Event) string { return e.Path }},
}

// DimByName returns the dimension called name.
func DimByName(name string) (Dim, bool) {
	for _, d := range Dims {
		if d.Name == name {
			return d, true
		}
	}
	return Dim{}, false
}

// Periods.

// All is the all-time period.
const All = "all"

// MonthLayout is the layout of month periods.
const MonthLayout = "2006-01"

// DayOf and MonthOf name the UTC day and month periods of t.
func DayOf(t time.Time) string   { return t.UTC().Format(analytics.DateLayout) }
func MonthOf(t time.Time) string { return t.UTC().Format(MonthLayout) }

// PeriodsOf returns the periods an event counts in: its UTC day, its UTC
// month and all time.
func PeriodsOf(e *analytics.Event) [3]string {
	return [3]string{DayOf(e.Timestamp), MonthOf(e.Timestamp), All}
}

// IsDay reports whether period is a day (YYYY-MM-DD).
func IsDay(period string) bool { return len(period) == len(analytics.DateLayout) }

// Key is one per-value counter: a dimension and a value of it.
type Key struct{ Dim, Value string }

// Hash names the key in stored documents: 16 hex digits of FNV-1a over the
// dimension and the value. A hash, not the value, becomes the field name, so
// no value a client sends ('.', '$', spaces, any length) can make a document
// unstorable.
func (k Key) Hash() string {
	var b [8]byte
	h := k.sum()
	for i := 7; i >= 0; i-- {
		b[i] = byte(h)
		h >>= 8
	}
	return hex.EncodeToString(b[:])
}

// Shard is the overflow document (0 to Shards-1) the key lives in once the
// home document is full.
func (k Key) Shard() int { return int(k.sum() % Shards) }

func (k Key) sum() uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(k.Dim))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(k.Value))
	return h.Sum64()
}

// Sight is a set of distinct visitors kept by first-sight records: the
// visitors of a period (Dim ""), of an hour of a day (Dim "hour", Value
// "00"-"23"), or of a value of an event dimension.
type Sight struct {
	Period string
	Dim    string
	Value  string
}

// HourDim is the Dim of hourly sights.
const HourDim = "hour"

// Sights returns the first-sight records an event needs in period: none
// when the event has no visitor key. Hours and event dimension values are
// sighted per day only: each costs a document per visitor, and days are
// where exact per-value visitors are promised; longer periods sum the days.
func Sights(e *analytics.Event, period string) []Sight {
	if e.Visitor() == "" {
		return nil
	}
	out := []Sight{{Period: period}}
	if !IsDay(period) {
		return out
	}
	out = append(out, Sight{period, HourDim, hourOf(e)})
	for _, d := range Dims {
		if d.Kind == EventDim {
			if v := d.value(e); v != "" {
				out = append(out, Sight{period, d.Name, v})
			}
		}
	}
	return out
}

func hourOf(e *analytics.Event) string {
	h := e.Timestamp.UTC().Hour()
	return strconv.Itoa(h/10) + strconv.Itoa(h%10)
}

// Counter is what a value (or a bucket) counts.
type Counter struct {
	Count    int64 // page views (path, hours), events (type); 0 for visit dimensions
	Visitors int64
}

// Add adds o to c.
func (c *Counter) Add(o Counter) { c.Count += o.Count; c.Visitors += o.Visitors }

// Bucket is one hour of a day.
type Bucket struct {
	Views, Events, Visitors int64
}

// KeyDelta is what an event adds to one per-value counter.
type KeyDelta struct {
	Key
	Counter
}

// Delta is what one event adds to the rollup of one period.
type Delta struct {
	Views, Events, Visitors int64
	// VisitorDays is 1 when the event is its visitor's first of its day.
	VisitorDays int64
	// Hour is the UTC hour (0-23) the event adds its Bucket to on a day
	// period, -1 on other periods.
	Hour   int
	Bucket Bucket
	Keys   []KeyDelta
	// NewVisitor is the visitor key when this is its first event of the
	// period (for the period's distinct-count sketch), else "".
	NewVisitor string
}

// Of returns what event e adds to the rollup of period. first reports
// whether e is the first event of its visitor in a sight (its entry created
// the sight's first-sight record); it is asked for the sights of e's periods
// (Sights of its day, month and all time).
func Of(e *analytics.Event, period string, first func(Sight) bool) Delta {
	d := Delta{Events: 1, Hour: -1}
	view := e.EventType == analytics.PageView
	if view {
		d.Views = 1
	}
	v := e.Visitor()
	firstOfPeriod := v != "" && first(Sight{Period: period})
	if firstOfPeriod {
		d.Visitors = 1
		d.NewVisitor = v
	}
	day := DayOf(e.Timestamp)
	if v != "" && (day == period && firstOfPeriod || day != period && first(Sight{Period: day})) {
		d.VisitorDays = 1
	}
	if IsDay(period) {
		d.Hour = e.Timestamp.UTC().Hour()
		d.Bucket = Bucket{Views: d.Views, Events: 1}
		if v != "" && first(Sight{period, HourDim, hourOf(e)}) {
			d.Bucket.Visitors = 1
		}
	}
	for _, dim := range Dims {
		val := dim.value(e)
		if val == "" {
			continue
		}
		k := Key{dim.Name, val}
		switch dim.Kind {
		case EventDim:
			c := Counter{Count: 1}
			if v != "" && first(Sight{day, dim.Name, val}) {
				c.Visitors = 1
			}
			d.Keys = append(d.Keys, KeyDelta{k, c})
		case VisitDim:
			if firstOfPeriod {
				d.Keys = append(d.Keys, KeyDelta{k, Counter{Visitors: 1}})
			}
		}
	}
	return d
}

// Sum is the merged Deltas of several events on one period.
type Sum struct {
	Views, Events, Visitors, VisitorDays int64
	Hours                                [24]Bucket
	Keys                                 map[Key]Counter
	NewVisitors                          []string
}

// Add merges d into s.
func (s *Sum) Add(d Delta) {
	s.Views += d.Views
	s.Events += d.Events
	s.Visitors += d.Visitors
	s.VisitorDays += d.VisitorDays
	if d.Hour >= 0 {
		b := &s.Hours[d.Hour]
		b.Views += d.Bucket.Views
		b.Events += d.Bucket.Events
		b.Visitors += d.Bucket.Visitors
	}
	if s.Keys == nil {
		s.Keys = map[Key]Counter{}
	}
	for _, kd := range d.Keys {
		c := s.Keys[kd.Key]
		c.Add(kd.Counter)
		s.Keys[kd.Key] = c
	}
	if d.NewVisitor != "" {
		s.NewVisitors = append(s.NewVisitors, d.NewVisitor)
	}
}

// Ranked is a value and its counters in a leaders list.
type Ranked struct {
	Value string
	Counter
}

// RankBy is the counter a dimension's leaders are ranked by: Count for
// event dimensions (page views, events), Visitors for visit dimensions.
func RankBy(dim string) func(Counter) int64 {
	if d, ok := DimByName(dim); ok && d.Kind == VisitDim {
		return func(c Counter) int64 { return c.Visitors }
	}
	return func(c Counter) int64 { return c.Count }
}

// Sort orders leaders: higher rank first, then value, so answers are the
// same every time.
func Sort(top []Ranked, rank func(Counter) int64) {
	sort.Slice(top, func(i, j int) bool {
		a, b := rank(top[i].Counter), rank(top[j].Counter)
		if a != b {
			return a > b
		}
		return top[i].Value < top[j].Value
	})
}

// MergeTop returns the k leaders of dimension dim after the values in
// changed reached the given counters. Counters only grow, so the leaders
// stay exact as long as every change is passed in: a value outside the
// leaders never ranks above the last leader, and it enters exactly when it
// overtakes it.
func MergeTop(dim string, top []Ranked, changed map[string]Counter, k int) []Ranked {
	out := make([]Ranked, 0, len(top)+len(changed))
	for _, r := range top {
		if _, ok := changed[r.Value]; !ok {
			out = append(out, r)
		}
	}
	for v, c := range changed {
		out = append(out, Ranked{v, c})
	}
	Sort(out, RankBy(dim))
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// Snapshot is one (site, period) rollup as read back.
type Snapshot struct {
	Period                  string
	Views, Events, Visitors int64
	// VisitorDays is the sum over the period's days of each day's distinct
	// visitors (a visitor seen on 3 days counts 3); Visitors on a day. The
	// Visitors of event dimension values on month and all-time periods are
	// such sums too: Visitors / VisitorDays is the factor that estimates
	// their distinct visitors.
	VisitorDays int64
	// Hours are the UTC hours of a day period.
	Hours [24]Bucket
	// Top are the leaders of each dimension (at most TopKeys), ranked as
	// RankBy says.
	Top map[string][]Ranked
	// Other are the counts of the values of each dimension beyond the
	// rollup's capacity; a dimension with any is truncated.
	Other map[string]Counter
	// Sketch is the period's distinct-visitor sketch (package sketch), for
	// approximate visitors over ranges that are not a day, a month or all
	// time; nil when the period has no visitors or keeps none.
	Sketch []byte
}

// Truncated reports whether dim had more distinct values than the rollup
// keeps.
func (s *Snapshot) Truncated(dim string) bool {
	o := s.Other[dim]
	return o.Count > 0 || o.Visitors > 0
}

// Reader reads rollups back; the query API answers from it alone.
type Reader interface {
	// Rollups returns the snapshot of each period of site (days
	// "YYYY-MM-DD", months "YYYY-MM", All), in the order asked, all from one
	// generation of the site's rollups; a period without data is a zero
	// Snapshot with its Period set.
	Rollups(ctx context.Context, site string, periods []string) ([]Snapshot, error)
}
