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
//     event of the period;
//   - visits, bounces, visit seconds and visit page views (VisitCounts), in
//     total, per hour a visit began in, and per value of the visit
//     dimensions the visit has (its source, ..., entry and exit page). They
//     follow the collector's annotation of each event (analytics.Visit): an
//     event moves its visit's counters from what they were before it to
//     what they are after it, so each is an increment, and a visit's exit
//     page counters move from page to page as the visit goes on. Visits are
//     cut at UTC midnight, so a month or all time counts the sum of its
//     days' visits.
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
	ExitPage    = "exit_page"
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
	// visit, for visit dimensions, is the value the event's visit had
	// before the event and has after it; "" counts nowhere. nil: the
	// visit's attribute, the same before and after.
	visit func(e *analytics.Event, pv bool) (before, after string)
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
	}, nil},
	{Type, EventDim, func(e *analytics.Event) string { return e.EventType }, nil},
	{Source, VisitDim, func(e *analytics.Event) string {
		if e.Source == "" {
			return Direct
		}
		return e.Source
	}, nil},
	{Referrer, VisitDim, func(e *analytics.Event) string { return e.ReferrerHost }, nil},
	{UTMSource, VisitDim, func(e *analytics.Event) string { return e.UTMSource }, nil},
	{UTMMedium, VisitDim, func(e *analytics.Event) string { return e.UTMMedium }, nil},
	{UTMCampaign, VisitDim, func(e *analytics.Event) string { return e.UTMCampaign }, nil},
	{Browser, VisitDim, func(e *analytics.Event) string { return e.Browser }, nil},
	{OS, VisitDim, func(e *analytics.Event) string { return e.OS }, nil},
	{Device, VisitDim, func(e *analytics.Event) string { return e.Device }, nil},
	{Country, VisitDim, func(e *analytics.Event) string { return e.Country }, nil},
	{EntryPage, VisitDim, func(e *analytics.Event) string { return e.Path }, func(e *analytics.Event, pv bool) (string, string) {
		if a := e.Visit; a.Entry != "" || !pv {
			return a.Entry, a.Entry
		}
		return "", e.Path
	}},
	// Exit pages count visits only: a visit's exit page changes with each
	// page it views, so its counters move from page to page.
	{ExitPage, VisitDim, func(*analytics.Event) string { return "" }, func(e *analytics.Event, pv bool) (string, string) {
		if pv && e.Path != "" {
			return e.Visit.Exit, e.Path
		}
		return e.Visit.Exit, e.Visit.Exit
	}},
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

// VisitCounts are the visit counters of a period, an hour or a value:
// visits, the visits with exactly one page view (bounces), the sum of the
// visits' durations in seconds and of their page views.
type VisitCounts struct {
	Visits, Bounces, Duration, VisitViews int64
}

// Add adds o to v.
func (v *VisitCounts) Add(o VisitCounts) {
	v.Visits += o.Visits
	v.Bounces += o.Bounces
	v.Duration += o.Duration
	v.VisitViews += o.VisitViews
}

// Minus returns v - o.
func (v VisitCounts) Minus(o VisitCounts) VisitCounts {
	return VisitCounts{v.Visits - o.Visits, v.Bounces - o.Bounces, v.Duration - o.Duration, v.VisitViews - o.VisitViews}
}

// Counter is what a value (or a bucket) counts.
type Counter struct {
	Count    int64 // page views (path, hours), events (type); 0 for visit dimensions
	Visitors int64
	VisitCounts
}

// Add adds o to c.
func (c *Counter) Add(o Counter) {
	c.Count += o.Count
	c.Visitors += o.Visitors
	c.VisitCounts.Add(o.VisitCounts)
}

// Bucket is one hour of a day.
type Bucket struct {
	Views, Events, Visitors int64
	VisitCounts
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
	// VisitCounts is what the event changes in its visit's counters;
	// VisitHour (0-23, -1 on other periods) the hour its visit began, where
	// they count on a day period.
	VisitCounts
	VisitHour int
	Keys      []KeyDelta
	// NewVisitor is the visitor key when this is its first event of the
	// period (for the period's distinct-count sketch), else "".
	NewVisitor string
}

// Of returns what event e adds to the rollup of period. first reports
// whether e is the first event of its visitor in a sight (its entry created
// the sight's first-sight record); it is asked for the sights of e's periods
// (Sights of its day, month and all time).
func Of(e *analytics.Event, period string, first func(Sight) bool) Delta {
	d := Delta{Events: 1, Hour: -1, VisitHour: -1}
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
	if a := e.Visit; a != nil && !a.Late && v != "" {
		d.addVisit(e, period)
	}
	return d
}

// VisitBefore and VisitAfter are the counters of e's visit before and after
// e; both zero for an event that counts in no visit (no visitor key, no
// annotation, or late).
func VisitBefore(e *analytics.Event) VisitCounts {
	a := e.Visit
	if a == nil || a.Late || a.Start || e.Visitor() == "" {
		return VisitCounts{}
	}
	return VisitCounts{Visits: 1, Bounces: one(a.Views == 1), Duration: a.Duration, VisitViews: a.Views}
}

// VisitAfter: see VisitBefore.
func VisitAfter(e *analytics.Event) VisitCounts {
	a := e.Visit
	if a == nil || a.Late || e.Visitor() == "" {
		return VisitCounts{}
	}
	views := a.Views + one(e.EventType == analytics.PageView)
	return VisitCounts{Visits: 1, Bounces: one(views == 1), Duration: a.Duration + a.Gap, VisitViews: views}
}

func one(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// addVisit adds what e changes in its visit: the totals and the hour the
// visit began get after - before; each visit dimension takes before off
// the value the visit had and adds after to the value it has now (the same
// value but for entry and exit pages).
func (d *Delta) addVisit(e *analytics.Event, period string) {
	before, after := VisitBefore(e), VisitAfter(e)
	change := after.Minus(before)
	d.VisitCounts = change
	if IsDay(period) {
		d.VisitHour = e.Visit.Began.UTC().Hour()
		if DayOf(e.Visit.Began) != period {
			d.VisitHour = e.Timestamp.UTC().Hour() // never: parts of visits do not cross midnight
		}
	}
	attrs := &analytics.Event{Source: e.Visit.Attrs.Source, ReferrerHost: e.Visit.Attrs.ReferrerHost, UTMSource: e.Visit.Attrs.UTMSource,
		UTMMedium: e.Visit.Attrs.UTMMedium, UTMCampaign: e.Visit.Attrs.UTMCampaign, Browser: e.Visit.Attrs.Browser, OS: e.Visit.Attrs.OS,
		Device: e.Visit.Attrs.Device, Country: e.Visit.Attrs.Country}
	pv := e.EventType == analytics.PageView
	for _, dim := range Dims {
		if dim.Kind != VisitDim {
			continue
		}
		var was, is string
		if dim.visit != nil {
			was, is = dim.visit(e, pv)
		} else {
			was = dim.value(attrs)
			is = was
		}
		switch {
		case was == is && is != "":
			if change != (VisitCounts{}) {
				d.Keys = append(d.Keys, KeyDelta{Key{dim.Name, is}, Counter{VisitCounts: change}})
			}
		case was != is:
			if was != "" && before != (VisitCounts{}) {
				d.Keys = append(d.Keys, KeyDelta{Key{dim.Name, was}, Counter{VisitCounts: VisitCounts{}.Minus(before)}})
			}
			if is != "" {
				d.Keys = append(d.Keys, KeyDelta{Key{dim.Name, is}, Counter{VisitCounts: after}})
			}
		}
	}
}

// Sum is the merged Deltas of several events on one period.
type Sum struct {
	Views, Events, Visitors, VisitorDays int64
	VisitCounts
	Hours       [24]Bucket
	Keys        map[Key]Counter
	NewVisitors []string
}

// Add merges d into s.
func (s *Sum) Add(d Delta) {
	s.Views += d.Views
	s.Events += d.Events
	s.Visitors += d.Visitors
	s.VisitorDays += d.VisitorDays
	s.VisitCounts.Add(d.VisitCounts)
	if d.VisitHour >= 0 {
		s.Hours[d.VisitHour].VisitCounts.Add(d.VisitCounts)
	}
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
// event dimensions (page views, events), Visitors for visit dimensions,
// Visits for exit pages (which count no visitors).
func RankBy(dim string) func(Counter) int64 {
	if dim == ExitPage {
		return func(c Counter) int64 { return c.Visits }
	}
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
// changed reached the given counters. The counters leaders are ranked by
// only grow (but exit pages' visits, which move from page to page), so the
// leaders stay exact as long as every change is passed in: a value outside
// the leaders never ranks above the last leader, and it enters exactly
// when it overtakes it. Exit pages' leaders are exact while a period has at
// most k of them; past that, a listed page that lost visits can rank above
// an unlisted one until that one changes again.
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
	VisitCounts
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
	return s.Other[dim] != (Counter{})
}

// Reader reads rollups back; the query API answers from it alone.
type Reader interface {
	// Rollups returns the snapshot of each period of site (days
	// "YYYY-MM-DD", months "YYYY-MM", All), in the order asked, all from one
	// generation of the site's rollups; a period without data is a zero
	// Snapshot with its Period set.
	Rollups(ctx context.Context, site string, periods []string) ([]Snapshot, error)
}
