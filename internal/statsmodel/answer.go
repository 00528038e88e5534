package statsmodel

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

func invalid(format string, args ...any) error {
	return analytics.Errorf(analytics.Invalid, "statsmodel: "+format, args...)
}

var knownMetrics = map[string]bool{
	engine.Visitors: true, engine.Visits: true, engine.Pageviews: true, engine.Events: true,
	engine.ViewsPerVisit: true, engine.BounceRate: true, engine.VisitDuration: true,
	engine.Percentage: true, engine.ConversionRate: true, engine.GroupConversionRate: true,
}

// checkFilter reports what in f is not a filter the engine knows.
func checkFilter(f *engine.Filter) error {
	if f == nil {
		return nil
	}
	switch f.Op {
	case engine.OpAnd, engine.OpOr:
		if len(f.Children) == 0 {
			return invalid("filter %q needs children", f.Op)
		}
	case engine.OpNot, engine.OpHasDone, engine.OpHasNotDone:
		if len(f.Children) != 1 {
			return invalid("filter %q needs exactly one child", f.Op)
		}
	case engine.OpIs, engine.OpIsNot, engine.OpContains, engine.OpContainsNot, engine.OpMatches, engine.OpMatchesNot:
		if !knownProperty(f.Dim) {
			return invalid("filter on unknown property %q", f.Dim)
		}
		if len(f.Values) == 0 {
			return invalid("filter %s %s needs values", f.Dim, f.Op)
		}
		if f.Op == engine.OpMatches || f.Op == engine.OpMatchesNot {
			for _, v := range f.Values {
				if _, err := regexp.Compile(v); err != nil {
					return invalid("filter %s %s: %v", f.Dim, f.Op, err)
				}
			}
		}
		return nil
	default:
		return invalid("unknown filter operator %q", f.Op)
	}
	for _, c := range f.Children {
		if err := checkFilter(c); err != nil {
			return err
		}
	}
	return nil
}

// holds reports whether value satisfies the positive form of op.
func holds(op string, value string, f *engine.Filter) bool {
	for _, want := range f.Values {
		switch op {
		case engine.OpIs:
			if value == want || f.CaseInsensitive && strings.EqualFold(value, want) {
				return true
			}
		case engine.OpContains:
			if strings.Contains(value, want) || f.CaseInsensitive && strings.Contains(strings.ToLower(value), strings.ToLower(want)) {
				return true
			}
		case engine.OpMatches:
			if f.CaseInsensitive {
				want = "(?i)" + want
			}
			if compiled(want).MatchString(value) {
				return true
			}
		}
	}
	return false
}

var positive = map[string]string{
	engine.OpIs: engine.OpIs, engine.OpIsNot: engine.OpIs,
	engine.OpContains: engine.OpContains, engine.OpContainsNot: engine.OpContains,
	engine.OpMatches: engine.OpMatches, engine.OpMatchesNot: engine.OpMatches,
}

// selects reports whether the filter f holds for e.
func selects(f *engine.Filter, e *event, gs []engine.Goal) bool {
	if f == nil {
		return true
	}
	switch f.Op {
	case engine.OpAnd:
		for _, c := range f.Children {
			if !selects(c, e, gs) {
				return false
			}
		}
		return true
	case engine.OpOr:
		for _, c := range f.Children {
			if selects(c, e, gs) {
				return true
			}
		}
		return false
	case engine.OpNot:
		return !selects(f.Children[0], e, gs)
	case engine.OpHasDone, engine.OpHasNotDone:
		done := false
		for _, x := range e.visit.events {
			if selects(f.Children[0], x, gs) {
				done = true
			}
		}
		return done == (f.Op == engine.OpHasDone)
	}
	vals := values(f.Dim, e, gs)
	if isPropDim(f.Dim) && f.Op != engine.OpIs && f.Op != engine.OpIsNot && vals[0] == engine.None {
		// contains, matches and their negations need the property.
		return false
	}
	any := false
	for _, v := range vals {
		if holds(positive[f.Op], v, f) {
			any = true
		}
	}
	return any == (positive[f.Op] == f.Op)
}

// withoutGoal is f without its event:goal conditions (nil: none left), and
// whether f had one where it cannot be taken out.
func withoutGoal(f *engine.Filter) (*engine.Filter, bool) {
	if f == nil {
		return nil, true
	}
	if f.Op == engine.OpAnd {
		out := &engine.Filter{Op: engine.OpAnd}
		for _, c := range f.Children {
			s, ok := withoutGoal(c)
			if !ok {
				return nil, false
			}
			if s != nil {
				out.Children = append(out.Children, s)
			}
		}
		if len(out.Children) == 0 {
			return nil, true
		}
		return out, true
	}
	if f.Dim == engine.EventGoal {
		return nil, true
	}
	return f, !mentionsGoal(f)
}

// entryPageCondition is the condition the bounce rate reads under a page
// filter: the first event:page condition of f's top level (f, or what a
// top-level and joins), nil without one. The bounce rate then counts only
// the visits whose entry page satisfies it (Plausible: a page's bounce
// rate is over the visits that entered on it).
func entryPageCondition(f *engine.Filter) *engine.Filter {
	if f == nil {
		return nil
	}
	if f.Dim == engine.EventPage {
		return f
	}
	if f.Op == engine.OpAnd {
		for _, c := range f.Children {
			if p := entryPageCondition(c); p != nil {
				return p
			}
		}
	}
	return nil
}

// selectsVisit reports whether the visit's entry page satisfies the page
// condition f.
func selectsVisit(f *engine.Filter, v *visit) bool {
	any := false
	if holds(positive[f.Op], v.entry, f) {
		any = true
	}
	return any == (positive[f.Op] == f.Op)
}

// withoutTopProps is f without the event:props:* conditions of its top
// level (f itself, or what a top-level and joins): the denominator of a
// conversion rate ignores them, as it ignores the goal conditions.
func withoutTopProps(f *engine.Filter) *engine.Filter {
	if f == nil || strings.HasPrefix(f.Dim, engine.PropPrefix) {
		return nil
	}
	if f.Op != engine.OpAnd {
		return f
	}
	out := &engine.Filter{Op: engine.OpAnd}
	for _, c := range f.Children {
		if s := withoutTopProps(c); s != nil {
			out.Children = append(out.Children, s)
		}
	}
	if len(out.Children) == 0 {
		return nil
	}
	return out
}

func mentionsGoal(f *engine.Filter) bool {
	if f.Dim == engine.EventGoal {
		return true
	}
	for _, c := range f.Children {
		if mentionsGoal(c) {
			return true
		}
	}
	return false
}

// hasTopGoal reports whether f has an event:goal condition withoutGoal
// takes out.
func hasTopGoal(f *engine.Filter) bool {
	if f == nil {
		return false
	}
	if f.Op == engine.OpAnd {
		for _, c := range f.Children {
			if hasTopGoal(c) {
				return true
			}
		}
		return false
	}
	return f.Dim == engine.EventGoal
}

// cell is what one row counts.
type cell struct {
	visitors  map[string]bool
	events    int64
	pageviews int64
	visits    map[*visit]bool
}

func newCell() *cell { return &cell{visitors: map[string]bool{}, visits: map[*visit]bool{}} }

// keys are the value tuples of e for dims (time dimensions at instant t),
// each joined by "\x00".
func keys(dims []string, e *event, t time.Time, loc *time.Location, gs []engine.Goal) [][]string {
	tuples := [][]string{nil}
	for _, d := range dims {
		var vs []string
		if isTimeDim(d) {
			vs = []string{timeLabel(d, t, loc)}
		} else {
			vs = values(d, e, gs)
		}
		var next [][]string
		for _, tu := range tuples {
			for _, v := range vs {
				next = append(next, append(append([]string(nil), tu...), v))
			}
		}
		tuples = next
	}
	return tuples
}

// group counts the events f selects by their values of dims (resolved
// time dimensions).
func group(evs []*event, f *engine.Filter, dims []string, loc *time.Location, gs []engine.Goal) (map[string]*cell, map[string][]string) {
	cells := map[string]*cell{}
	tuples := map[string][]string{}
	get := func(tu []string) *cell {
		k := strings.Join(tu, "\x00")
		c := cells[k]
		if c == nil {
			c = newCell()
			cells[k] = c
			tuples[k] = tu
		}
		return c
	}
	for _, e := range evs {
		if !selects(f, e, gs) {
			continue
		}
		for _, tu := range keys(dims, e, e.Timestamp, loc, gs) {
			c := get(tu)
			c.events++
			if isPageView(e.EventType) {
				c.pageviews++
			}
			if e.UserID != "" {
				c.visitors[e.UserID] = true
			}
		}
		if e.visit.counted {
			for _, tu := range keys(dims, e, e.visit.first().Timestamp, loc, gs) {
				get(tu).visits[e.visit] = true
			}
		}
	}
	return cells, tuples
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Answer answers q from events the way the engine must. Errors are of kind
// analytics.Invalid and name what in q cannot be answered.
func Answer(events []analytics.Event, q engine.Query) (engine.Result, error) {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	if len(q.Metrics) == 0 {
		return engine.Result{}, invalid("no metrics")
	}
	conversion := false
	for _, m := range q.Metrics {
		if !knownMetrics[m] {
			return engine.Result{}, invalid("unknown metric %q", m)
		}
		if m == engine.ConversionRate || m == engine.GroupConversionRate {
			conversion = true
		}
	}
	dims := make([]string, len(q.Dimensions))
	goalDim := false
	for i, d := range q.Dimensions {
		switch {
		case d == engine.Time:
			dims[i] = resolveTime(q, loc)
		case isTimeDim(d) || knownProperty(d):
			dims[i] = d
		default:
			return engine.Result{}, invalid("unknown dimension %q", d)
		}
		if d == engine.EventGoal {
			goalDim = true
		}
	}
	if err := checkFilter(q.Filter); err != nil {
		return engine.Result{}, err
	}
	noGoal, ok := withoutGoal(q.Filter)
	noGoal = withoutTopProps(noGoal)
	if conversion {
		if !ok {
			return engine.Result{}, invalid("conversion rates need event:goal filters outside or, not and has_done")
		}
		if !goalDim && !hasTopGoal(q.Filter) {
			return engine.Result{}, invalid("conversion rates need an event:goal filter or dimension")
		}
	}
	for _, o := range q.OrderBy {
		if !knownMetrics[o.By] && !inList(o.By, q.Dimensions) {
			return engine.Result{}, invalid("order_by %q is neither a metric nor a dimension of the query", o.By)
		}
	}

	evs := prepare(events, q)
	cells, tuples := group(evs, q.Filter, dims, loc, q.Goals)
	// A row only a visit made (its first event in another time bucket)
	// is answered only when a visit metric is asked.
	if !slices.ContainsFunc(q.Metrics, func(m string) bool {
		return m == engine.Visits || m == engine.ViewsPerVisit || m == engine.BounceRate || m == engine.VisitDuration
	}) {
		for k, c := range cells {
			if c.events == 0 {
				delete(cells, k)
				delete(tuples, k)
			}
		}
	}
	if q.TimeLabels && len(dims) == 1 && isTimeDim(dims[0]) && q.From.Before(q.To) {
		for _, t := range samples(q.From, q.To) {
			l := timeLabel(dims[0], t, loc)
			if cells[l] == nil {
				cells[l] = newCell()
				tuples[l] = []string{l}
			}
		}
	}
	total, _ := group(evs, q.Filter, nil, loc, q.Goals)
	var all, groupAll map[string]*cell
	var restDims []string
	var restIdx []int
	if conversion {
		all, _ = group(evs, noGoal, nil, loc, q.Goals)
		for i, d := range dims {
			if d != engine.EventGoal {
				restDims = append(restDims, d)
				restIdx = append(restIdx, i)
			}
		}
		groupAll, _ = group(evs, noGoal, restDims, loc, q.Goals)
	}
	visitorsOf := func(m map[string]*cell, k string) int64 {
		if c := m[k]; c != nil {
			return int64(len(c.visitors))
		}
		return 0
	}

	pageBounce := entryPageCondition(q.Filter)
	// With an event:page dimension, a row's bounce rate and duration are
	// those of the visits that entered on its page: each visit of a row
	// goes, for those two, to the row whose page is its entry page.
	entered := map[string]map[*visit]bool{}
	if pi := slices.Index(dims, engine.EventPage); pi >= 0 {
		for k, c := range cells {
			for v := range c.visits {
				tu := append([]string(nil), tuples[k]...)
				tu[pi] = v.entry
				ek := strings.Join(tu, "\x00")
				if entered[ek] == nil {
					entered[ek] = map[*visit]bool{}
				}
				entered[ek][v] = true
			}
		}
	}
	var rows []engine.Row
	for k, c := range cells {
		row := engine.Row{Dimensions: tuples[k]}
		var bounces, bounceVisits, millis, durationVisits, views int64
		bounceSet := c.visits
		if slices.Contains(dims, engine.EventPage) {
			bounceSet = entered[k]
		}
		for v := range bounceSet {
			if pageBounce == nil || selectsVisit(pageBounce, v) {
				bounceVisits++
				if len(v.events) == 1 {
					bounces++
				}
			}
			millis += v.millis()
			durationVisits++
		}
		for v := range c.visits {
			views += v.pageviews
		}
		visits := int64(len(c.visits))
		visitors := int64(len(c.visitors))
		for _, m := range q.Metrics {
			var val any
			switch m {
			case engine.Visitors:
				val = float64(visitors)
			case engine.Visits:
				val = float64(visits)
			case engine.Pageviews:
				val = float64(c.pageviews)
			case engine.Events:
				val = float64(c.events)
			case engine.ViewsPerVisit:
				val = ratio(views, visits)
			case engine.BounceRate:
				val = ratio(100*bounces, bounceVisits)
			case engine.VisitDuration:
				if visits > 0 {
					val = ratio(millis, 1000*durationVisits)
				}
			case engine.Percentage:
				val = ratio(100*visitors, visitorsOf(total, ""))
			case engine.ConversionRate:
				val = ratio(100*visitors, visitorsOf(all, ""))
			case engine.GroupConversionRate:
				var rest []string
				for _, i := range restIdx {
					rest = append(rest, row.Dimensions[i])
				}
				val = ratio(100*visitors, visitorsOf(groupAll, strings.Join(rest, "\x00")))
			}
			row.Metrics = append(row.Metrics, val)
		}
		rows = append(rows, row)
	}
	if len(dims) == 0 && len(rows) == 0 {
		rows = append(rows, emptyRow(q.Metrics))
	}

	metricIdx := map[string]int{}
	for i, m := range q.Metrics {
		metricIdx[m] = i
	}
	dimIdx := map[string]int{}
	for i, d := range q.Dimensions {
		dimIdx[d] = i
	}
	var order []engine.Order
	order = append(order, q.OrderBy...)
	for _, d := range q.Dimensions {
		if isTimeDim(d) {
			order = append(order, engine.Order{By: d})
		}
	}
	// Rows equal in the first metric rank by the next ones (the seed's
	// pages by visitors: /pricing with 2 views above a page with 1).
	for _, m := range q.Metrics {
		order = append(order, engine.Order{By: m, Desc: true})
	}
	for _, d := range q.Dimensions {
		order = append(order, engine.Order{By: d})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, o := range order {
			var c int
			if d, ok := dimIdx[o.By]; ok && !knownMetrics[o.By] {
				c = strings.Compare(rows[i].Dimensions[d], rows[j].Dimensions[d])
			} else {
				c = compareMetric(rows[i].Metrics[metricIdx[o.By]], rows[j].Metrics[metricIdx[o.By]])
			}
			if o.Desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
	res := engine.Result{TotalRows: len(rows)}
	if q.Offset < len(rows) {
		rows = rows[q.Offset:]
	} else {
		rows = nil
	}
	if q.Limit > 0 && q.Limit < len(rows) {
		rows = rows[:q.Limit]
	}
	res.Rows = rows
	return res, nil
}

func emptyRow(metrics []string) engine.Row {
	var row engine.Row
	for _, m := range metrics {
		if m == engine.VisitDuration {
			row.Metrics = append(row.Metrics, nil)
		} else {
			row.Metrics = append(row.Metrics, float64(0))
		}
	}
	return row
}

func inList(s string, list []string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func compareMetric(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	x, y := a.(float64), b.(float64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
