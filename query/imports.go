package query

import (
	"context"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/imported"
)

// Imported data (package imported) joins an answer only when the query
// asks for it (v2 include.imports, v1 with_imported=true) and the query is
// one imported aggregates can answer, as Plausible decides it: the metrics
// visitors, visits, pageviews, events, bounce_rate, visit_duration and
// views_per_visit; at most one property dimension, plus time by day, week
// or month (imported data has no hours); filters only on properties of the
// same imported table as the dimension. Counts add up; rates are computed
// from the summed counts. Visitors are summed too (a visitor counted by
// both tools, or on two imported days, counts twice), as in Plausible.
//
// Every answer to a query that asked says whether imported data is in it
// (v2 meta.imports_included, and why not in meta.imports_skip_reason).

// Skip reasons, as Plausible's meta.imports_skip_reason names them.
const (
	SkipNoImportedData      = "no_imported_data"
	SkipOutOfRange          = "out_of_range"
	SkipUnsupportedQuery    = "unsupported_query"
	SkipUnsupportedInterval = "unsupported_interval"
)

// Warnings Plausible gives in meta.imports_warning with those reasons.
const (
	warnUnsupportedQuery    = "Imported stats are not included in the results because query parameters are not supported. For more information, see: https://plausible.io/docs/stats-api#filtering-imported-stats"
	warnUnsupportedInterval = "Imported stats are not included because the time dimension (i.e. the interval) is too short."
)

// ImportsAnswerer is an engine.Answerer that also has a site's imported
// data; WithImported makes one.
type ImportsAnswerer interface {
	engine.Answerer
	ImportedSource() imported.Source
}

// WithImported returns a whose queries may include src's imported data
// when they ask for it.
func WithImported(a engine.Answerer, src imported.Source) ImportsAnswerer {
	return withImported{a, src}
}

type withImported struct {
	engine.Answerer
	src imported.Source
}

func (w withImported) ImportedSource() imported.Source { return w.src }

// importsRun answers the queries of one API request with imported data
// added where it can be, and remembers whether any answer included it.
type importsRun struct {
	base     engine.Answerer
	src      imported.Source
	included bool
	reason   string // why not, when not included
}

// withImports returns the answerer for a request that asked for imported
// data (want), and the run to read the outcome from (nil when not asked).
func withImports(a engine.Answerer, want bool) (engine.Answerer, *importsRun) {
	if !want {
		return a, nil
	}
	run := &importsRun{base: a}
	if ia, ok := a.(ImportsAnswerer); ok {
		run.src = ia.ImportedSource()
	}
	return run, run
}

// meta is what an answer says about imported data: included, or the
// reason it is not (and Plausible's warning for the reasons that have one).
func (r *importsRun) meta() Object {
	if r.included {
		return Object{{"imports_included", true}}
	}
	reason := r.reason
	if reason == "" {
		reason = SkipNoImportedData
	}
	o := Object{{"imports_included", false}, {"imports_skip_reason", reason}}
	switch reason {
	case SkipUnsupportedQuery:
		o = append(o, Field{"imports_warning", warnUnsupportedQuery})
	case SkipUnsupportedInterval:
		o = append(o, Field{"imports_warning", warnUnsupportedInterval})
	}
	return o
}

func (r *importsRun) skip(reason string) {
	if r.reason == "" || reason != SkipNoImportedData {
		r.reason = reason
	}
}

func (r *importsRun) Funnel(ctx context.Context, q engine.Query, f engine.Funnel) ([]engine.FunnelStep, error) {
	r.skip(SkipUnsupportedQuery)
	return r.base.Funnel(ctx, q, f)
}

var importableMetrics = []string{engine.Visitors, engine.Visits, engine.Pageviews, engine.Events,
	engine.BounceRate, engine.VisitDuration, engine.ViewsPerVisit}

// plan returns the imported table that answers q, or why none does.
func importsPlan(q engine.Query) (table, prop string, timeDim string, reason string) {
	table = imported.Visitors
	for _, d := range q.Dimensions {
		switch {
		case d == engine.TimeHour:
			return "", "", "", SkipUnsupportedInterval
		case d == engine.TimeDay || d == engine.TimeWeek || d == engine.TimeMonth:
			if timeDim != "" {
				return "", "", "", SkipUnsupportedQuery
			}
			timeDim = d
		default:
			t, ok := imported.TableOf(d)
			if !ok || prop != "" {
				return "", "", "", SkipUnsupportedQuery
			}
			table, prop = t, d
		}
	}
	var props []string
	ok := filterProps(q.Filter, &props)
	if !ok {
		return "", "", "", SkipUnsupportedQuery
	}
	for _, p := range props {
		t, found := imported.TableOf(p)
		if !found || (table != imported.Visitors && t != table) {
			return "", "", "", SkipUnsupportedQuery
		}
		table = t
	}
	for _, m := range q.Metrics {
		if !slices.Contains(importableMetrics, m) {
			return "", "", "", SkipUnsupportedQuery
		}
		if !imported.VisitMetrics(table) && (m == engine.BounceRate || m == engine.VisitDuration || m == engine.ViewsPerVisit) {
			return "", "", "", SkipUnsupportedQuery
		}
	}
	return table, prop, timeDim, ""
}

// filterProps collects the properties f's conditions read; false when f
// has a kind of node imported rows cannot be matched by (has_done).
func filterProps(f *engine.Filter, out *[]string) bool {
	if f == nil {
		return true
	}
	switch f.Op {
	case engine.OpAnd, engine.OpOr, engine.OpNot:
		for _, c := range f.Children {
			if !filterProps(c, out) {
				return false
			}
		}
		return true
	case engine.OpIs, engine.OpIsNot, engine.OpContains, engine.OpContainsNot, engine.OpMatches, engine.OpMatchesNot:
		if !slices.Contains(*out, f.Dim) {
			*out = append(*out, f.Dim)
		}
		return true
	}
	return false
}

// matchRow reports whether an imported row's properties pass f.
// storedPages returns an imported row's dimensions with its pages in the
// percent-encoding ours are stored in (Plausible's exports hold them
// decoded: "/café"), so that an imported page and ours are one row, and
// filters, whose page values are in that encoding (pageValues), read both
// alike.
func storedPages(dims map[string]string) map[string]string {
	var out map[string]string
	for k, v := range dims {
		if !pagePaths[k] {
			continue
		}
		if c := analytics.CanonicalPathValue(v); c != v {
			if out == nil {
				out = maps.Clone(dims)
			}
			out[k] = c
		}
	}
	if out == nil {
		return dims
	}
	return out
}

func matchRow(f *engine.Filter, dims map[string]string) bool {
	if f == nil {
		return true
	}
	switch f.Op {
	case engine.OpAnd:
		for _, c := range f.Children {
			if !matchRow(c, dims) {
				return false
			}
		}
		return true
	case engine.OpOr:
		for _, c := range f.Children {
			if matchRow(c, dims) {
				return true
			}
		}
		return false
	case engine.OpNot:
		return len(f.Children) == 1 && !matchRow(f.Children[0], dims)
	}
	v := dims[f.Dim]
	fold := func(s string) string {
		if f.CaseInsensitive {
			return strings.ToLower(s)
		}
		return s
	}
	any := func(test func(string) bool) bool {
		for _, x := range f.Values {
			if test(x) {
				return true
			}
		}
		return false
	}
	switch f.Op {
	case engine.OpIs:
		return any(func(x string) bool { return fold(x) == fold(v) })
	case engine.OpIsNot:
		return !any(func(x string) bool { return fold(x) == fold(v) })
	case engine.OpContains:
		return any(func(x string) bool { return strings.Contains(fold(v), fold(x)) })
	case engine.OpContainsNot:
		return !any(func(x string) bool { return strings.Contains(fold(v), fold(x)) })
	case engine.OpMatches, engine.OpMatchesNot:
		m := any(func(x string) bool {
			if f.CaseInsensitive {
				x = "(?i)" + x
			}
			re, err := regexp.Compile(x)
			return err == nil && re.MatchString(v)
		})
		return m == (f.Op == engine.OpMatches)
	}
	return false
}

// sums are a group's counts, ours and imported added.
type sums struct {
	visitors, visits, pageviews, events, bounces float64
	duration, visitPageviews                     float64
}

func (s sums) metric(m string) any {
	ratio := func(x, y float64) float64 {
		if y == 0 {
			return 0
		}
		return x / y
	}
	switch m {
	case engine.Visitors:
		return s.visitors
	case engine.Visits:
		return s.visits
	case engine.Pageviews:
		return s.pageviews
	case engine.Events:
		return s.events
	case engine.BounceRate:
		return ratio(100*s.bounces, s.visits)
	case engine.VisitDuration:
		if s.visits == 0 {
			return nil
		}
		return s.duration / s.visits
	case engine.ViewsPerVisit:
		return ratio(s.visitPageviews, s.visits)
	}
	return nil
}

// Query answers q from our events and, when q is one imported data can
// answer and the site has some in q's range, adds it.
func (r *importsRun) Query(ctx context.Context, q engine.Query) (engine.Result, error) {
	if r.src == nil {
		r.skip(SkipNoImportedData)
		return r.base.Query(ctx, q)
	}
	table, prop, timeDim, reason := importsPlan(q)
	if reason != "" {
		r.skip(reason)
		return r.base.Query(ctx, q)
	}
	span, err := r.src.ImportedSpan(ctx, q.Site)
	if err != nil {
		return engine.Result{}, err
	}
	if span.Empty() {
		r.skip(SkipNoImportedData)
		return r.base.Query(ctx, q)
	}
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	first := q.From.In(loc).Format(time.DateOnly)
	last := q.To.Add(-time.Nanosecond).In(loc).Format(time.DateOnly)
	if last < span.First || first > span.Last {
		r.skip(SkipOutOfRange)
		return r.base.Query(ctx, q)
	}
	days, err := r.src.ImportedDays(ctx, q.Site, table, first, last)
	if err != nil {
		return engine.Result{}, err
	}
	// Ours, with the counts that rates are made of, every row (paging
	// comes after the imported rows are in).
	nq := q
	nq.Metrics = importableMetrics
	nq.Limit, nq.Offset, nq.OrderBy = 0, 0, nil
	res, err := r.base.Query(ctx, nq)
	if err != nil {
		return res, err
	}
	ti := slices.Index(q.Dimensions, timeDim)
	bucketOf := func(date string) string {
		t, err := time.ParseInLocation(time.DateOnly, date, time.UTC)
		if err != nil {
			return date
		}
		switch timeDim {
		case engine.TimeWeek:
			t = t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
		case engine.TimeMonth:
			t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		}
		return t.Format(time.DateOnly)
	}
	keyOf := func(dims []string) string {
		k := slices.Clone(dims)
		if ti >= 0 && ti < len(k) {
			if t, ok := parseLabel(k[ti], loc); ok {
				k[ti] = bucketOf(t.Format(time.DateOnly))
			}
		}
		return strings.Join(k, "\x00")
	}
	groups := map[string]*sums{}
	var order []string
	labels := map[string][]string{}
	group := func(dims []string) *sums {
		k := keyOf(dims)
		s, ok := groups[k]
		if !ok {
			s = &sums{}
			groups[k], labels[k] = s, dims
			order = append(order, k)
		}
		return s
	}
	f := func(v any) float64 { x, _ := v.(float64); return x }
	for _, row := range res.Rows {
		s := group(row.Dimensions)
		m := row.Metrics
		visits := f(m[1])
		s.visitors += f(m[0])
		s.visits += visits
		s.pageviews += f(m[2])
		s.events += f(m[3])
		s.bounces += math.Round(f(m[4]) * visits / 100)
		s.duration += f(m[5]) * visits
		s.visitPageviews += f(m[6]) * visits
	}
	added := false
	for _, d := range days {
		for _, row := range d.Rows {
			rowDims := storedPages(row.Dims)
			if !matchRow(q.Filter, rowDims) {
				continue
			}
			dims := make([]string, len(q.Dimensions))
			for i, dim := range q.Dimensions {
				if i == ti {
					dims[i] = bucketOf(d.Date)
				} else if dim == prop {
					dims[i] = rowDims[prop]
				}
			}
			s := group(dims)
			added = true
			s.visitors += float64(row.Visitors)
			s.visits += float64(row.Visits)
			s.pageviews += float64(row.Pageviews)
			s.bounces += float64(row.Bounces)
			s.duration += float64(row.VisitDuration)
			s.visitPageviews += float64(row.Pageviews)
			if table == imported.CustomEvents {
				s.events += float64(row.Events)
			} else {
				s.events += float64(row.Pageviews)
			}
		}
	}
	if !added {
		r.skip(SkipOutOfRange)
		return r.base.Query(ctx, q)
	}
	r.included = true
	out := engine.Result{TimeLabels: res.TimeLabels}
	for _, k := range order {
		s := groups[k]
		row := engine.Row{Dimensions: labels[k], Metrics: make([]any, len(q.Metrics))}
		for i, m := range q.Metrics {
			row.Metrics[i] = s.metric(m)
		}
		out.Rows = append(out.Rows, row)
	}
	if len(q.Dimensions) == 0 && len(out.Rows) > 1 {
		out.Rows = out.Rows[:1]
	}
	sortImported(out.Rows, q)
	out.TotalRows = len(out.Rows)
	if q.Offset > 0 {
		out.Rows = out.Rows[min(q.Offset, len(out.Rows)):]
	}
	if q.Limit > 0 && len(out.Rows) > q.Limit {
		out.Rows = out.Rows[:q.Limit]
	}
	return out, nil
}

// sortImported orders rows as the engine does: the query's order, then
// time dimensions ascending, every metric descending in the order asked,
// then the dimensions ascending.
func sortImported(rows []engine.Row, q engine.Query) {
	num := func(v any) float64 {
		if f, ok := v.(float64); ok {
			return f
		}
		return -1
	}
	type key struct {
		dim, met int
		desc     bool
	}
	var keys []key
	add := func(name string, desc bool) {
		keys = append(keys, key{slices.Index(q.Dimensions, name), slices.Index(q.Metrics, name), desc})
	}
	for _, o := range q.OrderBy {
		add(o.By, o.Desc)
	}
	for _, d := range q.Dimensions {
		if isTimeDim(d) {
			add(d, false)
		}
	}
	for _, m := range q.Metrics {
		add(m, true)
	}
	for _, d := range q.Dimensions {
		add(d, false)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range keys {
			var c int
			switch {
			case k.dim >= 0:
				c = strings.Compare(rows[i].Dimensions[k.dim], rows[j].Dimensions[k.dim])
			case k.met >= 0:
				a, b := num(rows[i].Metrics[k.met]), num(rows[j].Metrics[k.met])
				if a < b {
					c = -1
				} else if a > b {
					c = 1
				}
			default:
				continue
			}
			if c != 0 {
				return (c < 0) != k.desc
			}
		}
		return false
	})
}

// widen starts an "all" range at the site's first imported day when that
// is earlier than its first event, as Plausible's "all" does with imports.
func (r *importsRun) widen(ctx context.Context, site string, rg Range) (Range, error) {
	if r == nil || r.src == nil || !rg.All {
		return rg, nil
	}
	span, err := r.src.ImportedSpan(ctx, site)
	if err != nil || span.Empty() {
		return rg, err
	}
	t, err := time.Parse(time.DateOnly, span.First)
	if err != nil {
		return rg, nil
	}
	first := date{t}
	if !first.before(rg.First) {
		return rg, nil
	}
	out := dayRange(first, rg.Last, rg.Loc)
	out.All = true
	return out, nil
}
