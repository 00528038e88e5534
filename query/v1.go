package query

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siteanalytics/analytics/engine"
)

// Kind is the Stats API v1 endpoint a query is for.
type Kind int

// The v1 endpoints.
const (
	Aggregate Kind = iota
	Timeseries
	Breakdown
)

func (k Kind) String() string {
	switch k {
	case Timeseries:
		return "timeseries"
	case Breakdown:
		return "breakdown"
	}
	return "aggregate"
}

// Limits of a v1 breakdown page, as Plausible's.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// V1 is a parsed Stats API v1 request (/api/v1/stats/aggregate,
// timeseries or breakdown).
type V1 struct {
	Kind    Kind
	Site    Site
	Period  string
	Range   Range
	Metrics []string
	// Filters are the top level's conditions (and).
	Filters []*engine.Filter
	// Interval is a timeseries' bucket: an engine time dimension, or ""
	// until Run picks the period's default.
	Interval string
	// Property, Limit and Page (from 1) are a breakdown's.
	Property    string
	Limit, Page int
	// Compare: an aggregate's compare=previous_period.
	Compare bool
	// WithImported: with_imported=true, imported data asked for (see
	// imports.go); the answer then says whether it is in it.
	WithImported bool
	today        date
}

// ParseV1 validates the parameters of a v1 endpoint for site, in the order
// and with the messages of Plausible's ExternalStatsController; now decides
// the site's today. Errors are of kind analytics.Invalid.
func ParseV1(kind Kind, v url.Values, site Site, now time.Time) (*V1, error) {
	q := &V1{Kind: kind, Site: site, Period: v.Get("period"), today: dateOf(now, site.Loc())}
	if q.Period == "" {
		q.Period = "30d"
	}
	var err error
	if q.Range, err = v1Range(q.Period, v.Get("date"), site.Loc(), now); err != nil {
		return nil, err
	}
	if kind == Breakdown {
		p, ok := v["property"]
		if !ok || p[0] == "" {
			return nil, invalid("The `property` parameter is required. Please provide at least one property to show a breakdown by.")
		}
		q.Property = strings.TrimSpace(p[0])
		if q.Property == "event:hostname" {
			return nil, invalid("Property 'event:hostname' is currently not supported for breakdowns. This server does not collect it.")
		}
		err := checkProperty(q.Property, func(p string) error {
			return invalid("Invalid property '%s'. Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties", p)
		})
		if err != nil {
			return nil, err
		}
	}
	if kind == Timeseries {
		switch i := v.Get("interval"); i {
		case "":
		case "date", "day":
			q.Interval = engine.TimeDay
		case "month":
			q.Interval = engine.TimeMonth
		case "hour", "week": // beyond Plausible's v1, which the dashboard uses
			q.Interval = engine.Time + ":" + i
		default:
			return nil, invalid("Error parsing `interval` parameter: invalid interval `%s`. Valid intervals are `day`, `month`", i)
		}
	}
	if q.Filters, err = ParseV1Filters(v.Get("filters"), site); err != nil {
		return nil, err
	}
	if err := q.parseMetrics(v.Get("metrics")); err != nil {
		return nil, err
	}
	if kind == Breakdown {
		q.Limit, q.Page = DefaultLimit, 1
		if s, ok := v["limit"]; ok {
			n, err := strconv.Atoi(s[0])
			if err != nil || n < 1 || n > MaxLimit {
				return nil, invalid("Please provide limit as a number between 1 and %d.", MaxLimit)
			}
			q.Limit = n
		}
		if s, ok := v["page"]; ok {
			n, err := strconv.Atoi(s[0])
			if err != nil || n < 1 {
				return nil, invalid("Please provide page as a number of 1 or more.")
			}
			q.Page = n
		}
	}
	switch w := v.Get("with_imported"); w {
	case "", "false":
	case "true":
		q.WithImported = true
	default:
		return nil, invalid("Invalid value for `with_imported` parameter: `%s`. Use true or false.", w)
	}
	if kind == Aggregate {
		switch c := v.Get("compare"); c {
		case "":
		case "previous_period":
			q.Compare = true
		default:
			return nil, invalid("Invalid `compare` parameter `%s`: the only comparison is `previous_period`.", c)
		}
	}
	return q, nil
}

// parseMetrics applies Plausible's v1 rules: visit (session) metrics
// cannot be split or filtered by event-only properties, views per visit
// is not for breakdowns nor page filters, conversion rate needs a goal.
func (q *V1) parseMetrics(s string) error {
	if s == "" {
		s = engine.Visitors
	}
	list := strings.Split(s, ",")
	seen := map[string]bool{}
	for i, m := range list {
		m = strings.TrimSpace(m)
		list[i] = m
		if seen[m] {
			return invalid("Metrics cannot be queried multiple times.")
		}
		seen[m] = true
	}
	var eventFilter string
	filterDims(q.Filters, 0, func(d string, depth int) {
		if depth == 0 && eventFilter == "" && eventOnly(d) {
			eventFilter = d
		}
	})
	session := func(m string) error {
		switch {
		case q.Kind == Breakdown && eventOnly(q.Property):
			return invalid("Session metric `%s` cannot be queried for breakdown by `%s`.", m, q.Property)
		case eventFilter != "":
			return invalid("Session metric `%s` cannot be queried when using a filter on `%s`.", m, eventFilter)
		}
		return nil
	}
	for _, m := range list {
		var err error
		switch m {
		case engine.Visitors, engine.Pageviews, engine.Events:
		case engine.ConversionRate:
			if !(q.Kind == Breakdown && q.Property == engine.EventGoal) && !filtersOn(q.Filters, engine.EventGoal) {
				err = invalid("Metric `conversion_rate` can only be queried in a goal breakdown or with a goal filter")
			}
		case engine.ViewsPerVisit:
			switch {
			case filtersOn(q.Filters, engine.EventPage):
				err = invalid("Metric `views_per_visit` cannot be queried with a filter on `event:page`.")
			case q.Kind == Breakdown:
				err = invalid("Metric `views_per_visit` is not supported in breakdown queries.")
			default:
				err = session(m)
			}
		case engine.Visits, engine.BounceRate, engine.VisitDuration:
			err = session(m)
		case "time_on_page", "total_revenue", "average_revenue":
			err = invalid("Metric `%s` is not supported by this server. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics", m)
		default:
			err = invalid("The metric `%s` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics", m)
		}
		if err != nil {
			return err
		}
	}
	q.Metrics = list
	return nil
}

// engineQuery is the engine's question for q over r.
func (s Site) engineQuery(r Range, metrics, dims []string, conds []*engine.Filter) engine.Query {
	return engine.Query{
		Site: s.ID, From: r.From, To: r.To, Location: r.Loc,
		Metrics: metrics, Dimensions: dims, Filter: storedFilter(and(conds)), Goals: s.Goals,
	}
}

// defaultInterval is Plausible's Interval.default_for_period.
func defaultInterval(period string, r Range) string {
	switch period {
	case "day":
		return engine.TimeHour
	case "7d", "30d", "month":
		return engine.TimeDay
	case "6mo", "12mo", "year":
		return engine.TimeMonth
	}
	return granularity(r)
}

// propertyKey is the key a v1 breakdown row names its value by: the
// property without its "event:"/"visit:" prefix ("page", "source"), or a
// custom property's own name.
func propertyKey(p string) string {
	if k, ok := strings.CutPrefix(p, engine.PropPrefix); ok {
		return k
	}
	return strings.TrimPrefix(strings.TrimPrefix(p, "event:"), "visit:")
}

// Run answers q through a, in the shape of Plausible's v1 answers:
// {"results": {...}} for an aggregate (each metric {"value": v}, plus
// "change" and "comparison_value" when compared), {"results": [{"date":
// ..., metrics}]} for a timeseries (every bucket of the range, in order),
// {"results": [{"<property>": ..., metrics}]} for a breakdown.
func (q *V1) Run(ctx context.Context, a engine.Answerer) (Object, error) {
	var err error
	if q.Range, err = resolveAll(ctx, a, q.Site, q.Range); err != nil {
		return nil, err
	}
	a, imp := withImports(a, q.WithImported)
	if q.Range, err = imp.widen(ctx, q.Site.ID, q.Range); err != nil {
		return nil, err
	}
	var out Object
	switch q.Kind {
	case Timeseries:
		out, err = q.timeseries(ctx, a)
	case Breakdown:
		out, err = q.breakdown(ctx, a)
	default:
		out, err = q.aggregate(ctx, a)
	}
	if err != nil || imp == nil {
		return out, err
	}
	// v1 answers have no meta in Plausible; one asked with with_imported
	// gets v2's, so that it says whether imported data is in it.
	return append(out, Field{"meta", imp.meta()}), nil
}

func (q *V1) totals(ctx context.Context, a engine.Answerer, r Range) ([]any, error) {
	res, err := a.Query(ctx, q.Site.engineQuery(r, q.Metrics, nil, q.Filters))
	if err != nil {
		return nil, err
	}
	out := make([]any, len(q.Metrics))
	for i, m := range q.Metrics {
		var v any
		if len(res.Rows) > 0 && i < len(res.Rows[0].Metrics) {
			v = present(m, res.Rows[0].Metrics[i])
		}
		if v == nil { // v1 aggregates answer 0 where nothing was counted
			v = zero(m)
			if v == nil {
				v = int64(0)
			}
		}
		out[i] = v
	}
	return out, nil
}

func (q *V1) aggregate(ctx context.Context, a engine.Answerer) (Object, error) {
	cur, err := q.totals(ctx, a, q.Range)
	if err != nil {
		return nil, err
	}
	var prev []any
	if q.Compare {
		r, err := compareRange(q.Range, "previous_period", nil, false, q.today)
		if err != nil {
			return nil, err
		}
		if prev, err = q.totals(ctx, a, r); err != nil {
			return nil, err
		}
	}
	results := make(Object, len(q.Metrics))
	for i, m := range q.Metrics {
		v := Object{{"value", cur[i]}}
		if prev != nil {
			v = append(v, Field{"change", change(m, prev[i], cur[i])}, Field{"comparison_value", prev[i]})
		}
		results[i] = Field{m, v}
	}
	return Object{{"results", results}}, nil
}

func (q *V1) timeseries(ctx context.Context, a engine.Answerer) (Object, error) {
	dim := q.Interval
	if dim == "" {
		dim = defaultInterval(q.Period, q.Range)
	}
	// A bucket's conversion rate is in percent of the bucket's own
	// visitors (Plausible's timeseries asks for the group conversion
	// rate), not of the whole range's.
	metrics := slices.Clone(q.Metrics)
	for i, m := range metrics {
		if m == engine.ConversionRate {
			metrics[i] = engine.GroupConversionRate
		}
	}
	eq := q.Site.engineQuery(q.Range, metrics, []string{dim}, q.Filters)
	eq.TimeLabels = true
	res, err := a.Query(ctx, eq)
	if err != nil {
		return nil, err
	}
	byLabel := map[string]engine.Row{}
	for _, row := range res.Rows {
		if len(row.Dimensions) > 0 {
			byLabel[normalizeLabel(dim, row.Dimensions[0], q.Range)] = row
		}
	}
	labels := timeLabels(dim, q.Range)
	out := make([]Object, 0, len(labels))
	for _, l := range labels {
		row := byLabel[l]
		o := Object{{"date", l}}
		for i, m := range q.Metrics {
			var v any
			if i < len(row.Metrics) {
				v = present(m, row.Metrics[i])
			}
			if v == nil && m != engine.VisitDuration {
				// An empty bucket has 0 of everything but a visit
				// duration, which is null (Plausible's timeseries).
				v = zero(m)
			}
			o = append(o, Field{m, v})
		}
		out = append(out, o)
	}
	return Object{{"results", out}}, nil
}

func (q *V1) breakdown(ctx context.Context, a engine.Answerer) (Object, error) {
	conds := q.Filters
	if v1Dropped[q.Property] {
		conds = append(slices.Clip(conds), &engine.Filter{Op: engine.OpIsNot, Dim: q.Property, Values: []string{""}})
	}
	eq := q.Site.engineQuery(q.Range, q.Metrics, []string{q.Property}, conds)
	eq.Limit, eq.Offset = q.Limit, (q.Page-1)*q.Limit
	res, err := a.Query(ctx, eq)
	if err != nil {
		return nil, err
	}
	key := propertyKey(q.Property)
	out := make([]Object, 0, len(res.Rows))
	for _, row := range res.Rows {
		o := Object{{key, shownValue(q.Property, first(row.Dimensions))}}
		for i, m := range q.Metrics {
			var v any
			if i < len(row.Metrics) {
				v = present(m, row.Metrics[i])
			}
			o = append(o, Field{m, v})
		}
		out = append(out, o)
	}
	return Object{{"results", out}}, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
