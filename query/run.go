package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/rollup"
	"github.com/siteanalytics/analytics/sketch"
)

// Value is one aggregate metric. Every metric is a whole number but
// views_per_visit (two decimals).
type Value struct {
	Value       float64 `json:"value"`
	Approximate bool    `json:"approximate,omitempty"`
}

// Row is one timeseries bucket or breakdown value: Key is the bucket
// ("2026-11-01", "2026-11-27 13:00:00") or the property's value; Values
// follow the query's metrics.
type Row struct {
	Key    string
	Values []float64
}

// Answer is what Run returns; it marshals to the endpoint's JSON.
type Answer struct {
	Kind    Kind
	Metrics []string
	// KeyName names Row.Key in JSON: "date", or the property's name
	// ("page", "name", "source", ...).
	KeyName   string
	Aggregate map[string]Value
	Rows      []Row
	// Approximate: some number is an estimate. Truncated (breakdown): values
	// may be missing from the list (see the package doc).
	Approximate bool
	Truncated   bool
}

// MarshalJSON writes {"results": ..., "approximate": ...[, "truncated":
// true]}, rows with their key first and metrics in the order asked.
func (a Answer) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"results":`)
	if a.Kind == Aggregate {
		r, err := json.Marshal(a.Aggregate)
		if err != nil {
			return nil, err
		}
		b.Write(r)
	} else {
		b.WriteByte('[')
		for i, row := range a.Rows {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(a.KeyName)
			v, _ := json.Marshal(row.Key)
			b.WriteByte('{')
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
			for j, m := range a.Metrics {
				v, _ := json.Marshal(row.Values[j]) // finite: counts and their ratios
				fmt.Fprintf(&b, `,%q:%s`, m, v)
			}
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	fmt.Fprintf(&b, `,"approximate":%t`, a.Approximate)
	if a.Truncated {
		b.WriteString(`,"truncated":true`)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Plan returns the periods whose snapshots cover the days from..to exactly:
// whole calendar months (and the month of today from its first day when to
// is today or later) as months, the rest as days. today is the UTC day of
// the query.
func Plan(from, to, today time.Time) []string {
	var out []string
	for d := from; !d.After(to); {
		if d.Day() == 1 {
			end := lastOfMonth(d)
			if !to.Before(end) || !to.Before(today) {
				out = append(out, rollup.MonthOf(d))
				d = end.AddDate(0, 0, 1)
				continue
			}
		}
		out = append(out, rollup.DayOf(d))
		d = d.AddDate(0, 0, 1)
	}
	return out
}

// Run answers q from the rollups r reads. It reads once: every snapshot
// the answer needs in one Rollups call.
func Run(ctx context.Context, r rollup.Reader, q Query) (Answer, error) {
	a := Answer{Kind: q.Kind, Metrics: q.Metrics}
	// The buckets: each a list of periods; one bucket but for timeseries.
	var buckets [][]string
	var keys []string
	switch {
	case q.Period == PeriodAll:
		buckets = [][]string{{rollup.All}}
	case q.Kind != Timeseries:
		buckets = [][]string{Plan(q.From, q.To, q.Today)}
	case q.Interval == Hour:
		buckets = [][]string{{rollup.DayOf(q.From)}}
	case q.Interval == Date:
		for d := q.From; !d.After(q.To); d = d.AddDate(0, 0, 1) {
			buckets = append(buckets, []string{rollup.DayOf(d)})
			keys = append(keys, rollup.DayOf(d))
		}
	default: // Month
		for m := firstOfMonth(q.From); !m.After(q.To); m = m.AddDate(0, 1, 0) {
			from, to := m, lastOfMonth(m)
			if from.Before(q.From) {
				from = q.From
			}
			if to.After(q.To) {
				to = q.To
			}
			buckets = append(buckets, Plan(from, to, q.Today))
			keys = append(keys, m.Format(analytics.DateLayout))
		}
	}
	var periods []string
	index := map[string]int{}
	for _, b := range buckets {
		for _, p := range b {
			if _, ok := index[p]; !ok {
				index[p] = len(periods)
				periods = append(periods, p)
			}
		}
	}
	snaps, err := r.Rollups(ctx, q.SiteID, periods)
	if err != nil {
		return a, err
	}
	if len(snaps) != len(periods) {
		return a, fmt.Errorf("query: the store returned %d rollups for %d periods", len(snaps), len(periods))
	}
	pick := func(b []string) []*rollup.Snapshot {
		out := make([]*rollup.Snapshot, len(b))
		for i, p := range b {
			out[i] = &snaps[index[p]]
		}
		return out
	}

	switch {
	case q.Kind == Aggregate:
		t, err := totals(pick(buckets[0]), contains(q.Metrics, Visitors))
		if err != nil {
			return a, err
		}
		a.Aggregate = map[string]Value{}
		for _, m := range q.Metrics {
			v := Value{Value: t.get(m)}
			if m == Visitors && t.approx {
				v.Approximate, a.Approximate = true, true
			}
			a.Aggregate[m] = v
		}
	case q.Kind == Timeseries && q.Interval == Hour:
		a.KeyName = "date"
		s := pick(buckets[0])[0]
		prefix := rollup.DayOf(q.From) + " "
		for h, b := range s.Hours {
			row := Row{Key: fmt.Sprintf("%s%02d:00:00", prefix, h)}
			t := total{views: b.Views, events: b.Events, visitors: b.Visitors, VisitCounts: b.VisitCounts}
			for _, m := range q.Metrics {
				row.Values = append(row.Values, t.get(m))
			}
			a.Rows = append(a.Rows, row)
		}
	case q.Kind == Timeseries:
		a.KeyName = "date"
		for i, b := range buckets {
			t, err := totals(pick(b), contains(q.Metrics, Visitors))
			if err != nil {
				return a, err
			}
			row := Row{Key: keys[i]}
			for _, m := range q.Metrics {
				row.Values = append(row.Values, t.get(m))
			}
			a.Approximate = a.Approximate || t.approx
			a.Rows = append(a.Rows, row)
		}
	default:
		if err := breakdown(&a, q, pick(buckets[0])); err != nil {
			return a, err
		}
	}
	return a, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// total is the totals of a range.
type total struct {
	views, events, visitors int64
	// visitorSum is the sum of the snapshots' visitors (≥ visitors).
	visitorSum int64
	approx     bool
	// VisitCounts are sums: visits are cut at UTC midnight, so a range's
	// visits are its snapshots' visits added up, exactly.
	rollup.VisitCounts
}

func (t total) get(m string) float64 {
	switch m {
	case Pageviews:
		return float64(t.views)
	case Events:
		return float64(t.events)
	case Visitors:
		return float64(t.visitors)
	}
	return visitMetric(t.VisitCounts, m)
}

// visitMetric computes a visit metric from visit counters; 0 without
// visits. Bounce rate is a whole percentage and visit duration whole
// seconds, as Plausible's v1 API answers them; views per visit has two
// decimals.
func visitMetric(v rollup.VisitCounts, m string) float64 {
	if m == Visits {
		return float64(v.Visits)
	}
	if v.Visits <= 0 {
		return 0
	}
	n := float64(v.Visits)
	switch m {
	case BounceRate:
		return math.Round(100 * float64(v.Bounces) / n)
	case VisitDuration:
		return math.Round(float64(v.Duration) / n)
	case ViewsPerVisit:
		return math.Round(100*float64(v.VisitViews)/n) / 100
	}
	return 0
}

// totals sums snaps; visitors are exact when at most one snapshot has any,
// else estimated from the union of the sketches, clamped to what is
// certain.
// Without visitors (need false) no sketch is read.
func totals(snaps []*rollup.Snapshot, need bool) (total, error) {
	var t total
	var most int64
	var sketches [][]byte
	for _, s := range snaps {
		t.views += s.Views
		t.events += s.Events
		t.visitorSum += s.Visitors
		t.VisitCounts.Add(s.VisitCounts)
		most = max(most, s.Visitors)
		if s.Visitors > 0 {
			sketches = append(sketches, s.Sketch)
		}
	}
	if t.visitorSum == most || !need {
		t.visitors = most
		return t, nil
	}
	est, err := sketch.Union(sketches...)
	if err != nil {
		return t, analytics.Wrap(analytics.Internal, "query: visitor sketches", err)
	}
	t.visitors = min(max(est, most), t.visitorSum)
	t.approx = true
	return t, nil
}

// breakdown fills a with the values of q.Dim over snaps.
func breakdown(a *Answer, q Query, snaps []*rollup.Snapshot) error {
	a.KeyName = strings.TrimPrefix(strings.TrimPrefix(q.Property, "event:"), "visit:")
	t, err := totals(snaps, contains(q.Metrics, Visitors))
	if err != nil {
		return err
	}
	type acc struct {
		rollup.Counter
		mostVisitors int64
		lowerBound   bool
	}
	vals := map[string]*acc{}
	var other acc
	// Event dimension values count each day's distinct visitors; month and
	// all-time snapshots hold the sum of those daily counts (see
	// rollup.Snapshot.VisitorDays), so such visitors are estimates and the
	// range's denominator is its visitor-days.
	d, _ := rollup.DimByName(q.Dim)
	perDay := d.Kind == rollup.EventDim
	approx := t.approx
	denom := t.visitorSum
	if perDay {
		denom = 0
		for _, s := range snaps {
			vd := s.VisitorDays
			if rollup.IsDay(s.Period) || vd == 0 {
				vd = s.Visitors
			}
			denom += vd
			if vd != s.Visitors {
				approx = true
			}
		}
	}
	for _, s := range snaps {
		top := s.Top[q.Dim]
		// A value's visitors in one snapshot are a lower bound of its
		// distinct visitors over the range, except sums of days.
		certain := !perDay || rollup.IsDay(s.Period)
		for _, r := range top {
			v := vals[r.Value]
			if v == nil {
				v = &acc{}
				vals[r.Value] = v
			}
			v.Add(r.Counter)
			if certain {
				v.mostVisitors = max(v.mostVisitors, r.Visitors)
			} else if r.Visitors > 0 {
				v.mostVisitors = max(v.mostVisitors, 1)
			}
		}
		if o := s.Other[q.Dim]; o != (rollup.Counter{}) {
			other.Add(o)
			if certain {
				other.mostVisitors = max(other.mostVisitors, o.Visitors)
			}
			a.Truncated = true
		}
		if len(top) >= rollup.TopKeys {
			a.Truncated = true
		}
	}
	// A value missing from a full or truncated leaders list may have
	// counted there: its sum is a lower bound.
	if len(snaps) > 1 {
		for _, s := range snaps {
			top := s.Top[q.Dim]
			if len(top) < rollup.TopKeys && !s.Truncated(q.Dim) {
				continue
			}
			in := make(map[string]bool, len(top))
			for _, r := range top {
				in[r.Value] = true
			}
			for val, v := range vals {
				if !in[val] {
					v.lowerBound = true
				}
			}
		}
	}
	// Visitors per value over several snapshots: scaled by the range's
	// overlap ratio.
	scale := func(v *acc) int64 {
		if !approx || denom == 0 {
			return v.Visitors
		}
		est := int64(math.Round(float64(v.Visitors) * float64(t.visitors) / float64(denom)))
		return min(max(est, v.mostVisitors), v.Visitors, max(t.visitors, v.mostVisitors))
	}
	metric := func(val string, v *acc, m string) float64 {
		switch m {
		case Visitors:
			return float64(scale(v))
		case Pageviews:
			if q.Dim == rollup.Type && val != analytics.PageView {
				return 0
			}
			return float64(v.Count)
		case Events:
			return float64(v.Count)
		default:
			return visitMetric(v.VisitCounts, m)
		}
	}
	rows := make([]Row, 0, len(vals)+1)
	for val, v := range vals {
		row := Row{Key: val}
		zero := true
		for _, m := range q.Metrics {
			row.Values = append(row.Values, metric(val, v, m))
			zero = zero && row.Values[len(row.Values)-1] == 0
		}
		if zero {
			// A value with nothing to show in these metrics: a source
			// with visits but no visitor attributed to it (visitors go by
			// their first event of the period, visits by their own first
			// event), an exit page no visit ends on any more.
			continue
		}
		if v.lowerBound || (approx && contains(q.Metrics, Visitors)) {
			a.Approximate = true
		}
		rows = append(rows, row)
	}
	// By the first metric, ties by the next ones (the dashboard's top pages,
	// visitors then views, rank as /stats does), then by value.
	sort.Slice(rows, func(i, j int) bool {
		for m := range rows[i].Values {
			if rows[i].Values[m] != rows[j].Values[m] {
				return rows[i].Values[m] > rows[j].Values[m]
			}
		}
		return rows[i].Key < rows[j].Key
	})
	if other.Counter != (rollup.Counter{}) {
		row := Row{Key: rollup.Other}
		for _, m := range q.Metrics {
			row.Values = append(row.Values, metric(rollup.Other, &other, m))
		}
		rows = append(rows, row)
		a.Approximate = a.Approximate || (approx && contains(q.Metrics, Visitors))
	}
	start := (q.Page - 1) * q.Limit
	if start > len(rows) {
		start = len(rows)
	}
	end := min(start+q.Limit, len(rows))
	a.Rows = rows[start:end]
	return nil
}
