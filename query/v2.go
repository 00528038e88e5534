package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/siteanalytics/analytics/engine"
)

// V2 is a parsed Stats API v2 query (POST /api/v2/query).
type V2 struct {
	Site    Site
	Range   Range
	Metrics []string
	// Dimensions as asked ("time" kept, as the answer echoes it); dims
	// has "time" resolved to the range's granularity for the engine.
	Dimensions []string
	dims       []string
	// Filters are the top level's conditions (and); rawFilters is what
	// was sent, echoed in the answer.
	Filters    []*engine.Filter
	rawFilters any
	// OrderBy as asked (nil: the default), and as the engine takes it.
	OrderBy       [][2]string
	order         []engine.Order
	Limit, Offset int
	TotalRows     bool
	TimeLabels    bool
	Imports       bool
	Comparison    *Comparison
	rawCompare    any
	today         date
}

// Comparison is v2's include.comparisons.
type Comparison struct {
	Mode      string // previous_period, year_over_year, custom
	DateRange []string
	MatchDOW  bool
}

// v2 pagination, as Plausible's defaults and schema.
const (
	V2DefaultLimit = 10000
	V2MaxLimit     = 10000
)

// V2SiteID reads the site_id of a v2 query body, so that the caller can
// check access and look the site's settings up before parsing the rest.
func V2SiteID(body []byte) (string, error) {
	var b struct {
		SiteID any `json:"site_id"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return "", invalid("Invalid request body: %s. Send a JSON object, e.g. {\"site_id\": \"example.com\", \"metrics\": [\"visitors\"], \"date_range\": \"7d\"}.", jsonProblem(err))
	}
	s, ok := b.SiteID.(string)
	if !ok || s == "" {
		return "", invalid("#/site_id: Required property site_id was not present.")
	}
	return s, nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	if ok := asSyntax(err, &se); ok {
		return fmt.Sprintf("not JSON (%s at byte %d)", se.Error(), se.Offset)
	}
	return err.Error()
}

func asSyntax(err error, target **json.SyntaxError) bool {
	se, ok := err.(*json.SyntaxError)
	if ok {
		*target = se
	}
	return ok
}

var v2Metrics = map[string]bool{
	engine.Visitors: true, engine.Visits: true, engine.Pageviews: true, engine.Events: true,
	engine.ViewsPerVisit: true, engine.BounceRate: true, engine.VisitDuration: true,
	engine.Percentage: true, engine.ConversionRate: true, engine.GroupConversionRate: true,
}

var v2Keys = map[string]bool{
	"site_id": true, "metrics": true, "date_range": true, "date": true, "filters": true,
	"dimensions": true, "order_by": true, "include": true, "pagination": true,
}

// ParseV2 validates a v2 query body for site, following Plausible's query
// parser and its validations (wording included where practical); now
// decides the site's today. Errors are of kind analytics.Invalid.
func ParseV2(body []byte, site Site, now time.Time) (*V2, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var raw map[string]any
	if err := d.Decode(&raw); err != nil {
		return nil, invalid("Invalid request body: %s.", jsonProblem(err))
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !v2Keys[k] {
			return nil, invalid("#/%s: Schema does not allow additional properties.", k)
		}
	}
	q := &V2{Site: site, Limit: V2DefaultLimit, today: dateOf(now, site.Loc())}
	if s, ok := raw["date"].(string); ok {
		d, ok := parseDate(s)
		if !ok {
			return nil, invalid("Invalid date '%s'.", s)
		}
		q.today = d
	}
	ms, ok := raw["metrics"].([]any)
	if !ok || len(ms) == 0 {
		return nil, invalid("#/metrics: Required property metrics was not present or empty.")
	}
	seen := map[string]bool{}
	for i, m := range ms {
		s, _ := m.(string)
		if !v2Metrics[s] {
			return nil, invalid("#/metrics/%d: Invalid metric %s", i, inspect(m))
		}
		if seen[s] {
			return nil, invalid("#/metrics: Expected items to be unique but they were not.")
		}
		seen[s] = true
		q.Metrics = append(q.Metrics, s)
	}
	dr, ok := raw["date_range"]
	if !ok {
		return nil, invalid("#/date_range: Required property date_range was not present.")
	}
	var err error
	if q.Range, err = v2Range(dr, q.today, site.Loc()); err != nil {
		return nil, err
	}
	q.rawFilters = raw["filters"]
	if q.rawFilters == nil {
		q.rawFilters = []any{}
	}
	fs, ok := q.rawFilters.([]any)
	if !ok {
		return nil, invalid("Invalid filters passed.")
	}
	for _, f := range fs {
		c, err := parseV2Filter(f)
		if err != nil {
			return nil, err
		}
		q.Filters = append(q.Filters, c)
	}
	if dims, ok := raw["dimensions"]; ok {
		list, ok := dims.([]any)
		if !ok {
			return nil, invalid("Invalid dimensions '%s'", inspect(dims))
		}
		for i, x := range list {
			s, _ := x.(string)
			bad := invalid("#/dimensions/%d: Invalid dimension %s", i, inspect(x))
			if isTimeDim(s) {
				switch s {
				case engine.Time, engine.TimeHour, engine.TimeDay, engine.TimeWeek, engine.TimeMonth:
				default:
					return nil, bad
				}
			} else if err := checkProperty(s, func(string) error { return bad }); err != nil {
				return nil, err
			}
			q.Dimensions = append(q.Dimensions, s)
		}
	}
	if err := q.parseOrderBy(raw["order_by"]); err != nil {
		return nil, err
	}
	if err := q.parseInclude(raw["include"]); err != nil {
		return nil, err
	}
	if err := q.parsePagination(raw["pagination"]); err != nil {
		return nil, err
	}
	return q, q.validate()
}

func (q *V2) parseOrderBy(raw any) error {
	if raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		return invalid("Invalid order_by '%s'.", inspect(raw))
	}
	q.OrderBy = [][2]string{}
	for _, e := range list {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return invalid("Invalid order_by entry '%s'.", inspect(e))
		}
		by, _ := pair[0].(string)
		dir, _ := pair[1].(string)
		known := v2Metrics[by] || isTimeDim(by) || checkProperty(by, func(string) error { return invalid("") }) == nil
		if !known || (dir != "asc" && dir != "desc") {
			return invalid("Invalid order_by entry '%s'.", inspect(e))
		}
		q.OrderBy = append(q.OrderBy, [2]string{by, dir})
	}
	return nil
}

func (q *V2) parseInclude(raw any) error {
	if raw == nil {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return invalid("Invalid include '%s'.", inspect(raw))
	}
	for k, v := range m {
		switch k {
		case "total_rows", "time_labels", "imports":
			b, ok := v.(bool)
			if !ok {
				return invalid("#/include/%s: Type mismatch. Expected Boolean but got %s.", k, inspect(v))
			}
			switch k {
			case "total_rows":
				q.TotalRows = b
			case "time_labels":
				q.TimeLabels = b
			default:
				q.Imports = b
			}
		case "comparisons":
			if v == nil {
				continue
			}
			c, ok := v.(map[string]any)
			if !ok {
				return invalid("Invalid include '%s'.", inspect(raw))
			}
			cmp := &Comparison{}
			cmp.Mode, _ = c["mode"].(string)
			cmp.MatchDOW, _ = c["match_day_of_week"].(bool)
			if dr, ok := c["date_range"].([]any); ok {
				for _, x := range dr {
					s, _ := x.(string)
					cmp.DateRange = append(cmp.DateRange, s)
				}
			}
			q.Comparison, q.rawCompare = cmp, v
		case "compare": // the dashboard's older spelling: "compare": "previous_period"
			s, _ := v.(string)
			if s == "" {
				continue
			}
			q.Comparison, q.rawCompare = &Comparison{Mode: s}, map[string]any{"mode": s}
		default:
			return invalid("Invalid include '%s'.", inspect(raw))
		}
	}
	return nil
}

func (q *V2) parsePagination(raw any) error {
	if raw == nil {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return invalid("Invalid pagination '%s'.", inspect(raw))
	}
	for k, v := range m {
		n, ok := v.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil {
			return invalid("#/pagination/%s: Type mismatch. Expected Integer but got %s.", k, inspect(v))
		}
		switch k {
		case "limit":
			if i < 1 || i > V2MaxLimit {
				return invalid("#/pagination/limit: Expected the value to be between 1 and %d.", V2MaxLimit)
			}
			q.Limit = int(i)
		case "offset":
			if i < 0 {
				return invalid("#/pagination/offset: Expected the value to be >= 0.")
			}
			q.Offset = int(i)
		default:
			return invalid("#/pagination/%s: Schema does not allow additional properties.", k)
		}
	}
	return nil
}

// ParseV2Filters parses a JSON list of v2 filters (the value of a v2
// query's "filters"), joined by and. Errors are of kind
// analytics.Invalid.
func ParseV2Filters(raw []byte) ([]*engine.Filter, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var list []any
	if err := d.Decode(&list); err != nil {
		return nil, invalid("Invalid filters: %s. Send a JSON list of v2 filters, e.g. [[\"is\", \"visit:source\", [\"Google\"]]].", jsonProblem(err))
	}
	var out []*engine.Filter
	for _, f := range list {
		c, err := parseV2Filter(f)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// parseV2Filter parses one v2 filter: [op, dimension, clauses(,
// modifiers)], or a logical ["and"|"or", [filters]], ["not", filter],
// ["has_done"|"has_not_done", filter].
func parseV2Filter(raw any) (*engine.Filter, error) {
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, invalid("Invalid filter '%s'.", inspect(raw))
	}
	op, _ := list[0].(string)
	switch op {
	case "and", "or":
		if len(list) != 2 {
			return nil, invalid("Invalid filter '%s'.", inspect(raw))
		}
		children, ok := list[1].([]any)
		if !ok || len(children) == 0 {
			return nil, invalid("Invalid filter '%s'.", inspect(raw))
		}
		f := &engine.Filter{Op: op}
		for _, c := range children {
			cf, err := parseV2Filter(c)
			if err != nil {
				return nil, err
			}
			f.Children = append(f.Children, cf)
		}
		return f, nil
	case "not", "has_done", "has_not_done":
		if len(list) != 2 {
			return nil, invalid("Invalid filter '%s'.", inspect(raw))
		}
		c, err := parseV2Filter(list[1])
		if err != nil {
			return nil, err
		}
		if op != "not" {
			var visit string
			filterDims([]*engine.Filter{c}, 0, func(d string, _ int) {
				if strings.HasPrefix(d, "visit:") && visit == "" {
					visit = d
				}
			})
			if visit != "" {
				return nil, invalid("Invalid filters. Behavioral filters (has_done, has_not_done) can only be used with event dimension filters.")
			}
		}
		return &engine.Filter{Op: op, Children: []*engine.Filter{c}}, nil
	case "is", "is_not", "contains", "contains_not", "matches", "matches_not", "matches_wildcard", "matches_wildcard_not":
	default:
		return nil, invalid("Unknown operator for filter '%s'.", inspect(raw))
	}
	if len(list) < 3 || len(list) > 4 {
		return nil, invalid("Invalid filter '%s'.", inspect(raw))
	}
	dim, _ := list[1].(string)
	if err := checkProperty(dim, func(string) error { return invalid("Invalid filter '%s'", inspect(raw)) }); err != nil {
		return nil, err
	}
	clauses, ok := list[2].([]any)
	if !ok || len(clauses) == 0 {
		return nil, invalid("Invalid filter '%s'.", inspect(raw))
	}
	f := &engine.Filter{Op: op, Dim: dim}
	for _, c := range clauses {
		s, ok := c.(string)
		if !ok {
			return nil, invalid("Invalid filter '%s'.", inspect(raw))
		}
		f.Values = append(f.Values, s)
	}
	if dim == engine.Country && (op == "is" || op == "is_not") {
		if err := checkCountries(f.Values); err != nil {
			return nil, err
		}
	}
	if len(list) == 4 {
		mods, ok := list[3].(map[string]any)
		if !ok {
			return nil, invalid("Invalid filter '%s'.", inspect(raw))
		}
		for k, v := range mods {
			b, ok := v.(bool)
			if k != "case_sensitive" || !ok {
				return nil, invalid("Invalid filter '%s'.", inspect(raw))
			}
			f.CaseInsensitive = !b
		}
	}
	switch op {
	case "matches_wildcard", "matches_wildcard_not":
		// Plausible's own wildcard operators: turned into RE2 here, so the
		// engine knows regular expressions only.
		for i, v := range f.Values {
			f.Values[i] = wildcardAlts(pageValues(dim, splitUnescaped(v)))
		}
		f.Op = engine.OpMatches
		if op == "matches_wildcard_not" {
			f.Op = engine.OpMatchesNot
		}
	case "is", "is_not", "contains", "contains_not":
		f.Values = pageValues(dim, f.Values)
	case "matches", "matches_not":
		for _, v := range f.Values {
			if _, err := regexp.Compile(v); err != nil {
				return nil, invalid("Invalid filter '%s': %s is not a valid regular expression (RE2 syntax): %v.", inspect(raw), inspect(v), err)
			}
		}
	}
	return f, nil
}

// sessionMetrics are the metrics of whole visits that Plausible refuses
// to split by event dimensions (but event:page).
var sessionMetrics = []string{engine.BounceRate, engine.VisitDuration, engine.ViewsPerVisit}

func (q *V2) validate() error {
	var deep string
	filterDims(q.Filters, 0, func(d string, depth int) {
		if depth > 0 && deep == "" && d == engine.EventGoal {
			deep = d
		}
	})
	if deep != "" {
		return invalid("Invalid filters. Dimension `%s` can only be filtered at the top level.", deep)
	}
	if err := resolveGoalFilters(q.Filters, q.Site); err != nil {
		return err
	}
	has := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	for _, m := range q.Metrics {
		switch m {
		case engine.ConversionRate, engine.GroupConversionRate:
			if !has(q.Dimensions, engine.EventGoal) && !filtersOn(q.Filters, engine.EventGoal) {
				return invalid("Metric `%s` can only be queried with event:goal filters or dimensions.", m)
			}
			var deepProp bool
			filterDims(q.Filters, 0, func(d string, depth int) {
				deepProp = deepProp || (depth > 0 && strings.HasPrefix(d, engine.PropPrefix))
			})
			if deepProp {
				return invalid("Invalid filters. When `conversion_rate` or `group_conversion_rate` metrics are used, custom property filters can only be used on top level.")
			}
		case engine.ViewsPerVisit:
			if filtersOn(q.Filters, engine.EventPage) {
				return invalid("Metric `views_per_visit` cannot be queried with a filter on `event:page`.")
			}
			if len(q.Dimensions) > 0 {
				return invalid("Metric `views_per_visit` cannot be queried with `dimensions`.")
			}
		}
	}
	var eventDims []string
	for _, d := range q.Dimensions {
		if strings.HasPrefix(d, "event:") && d != engine.EventPage {
			eventDims = append(eventDims, d)
		}
	}
	if len(eventDims) > 0 {
		var bad []string
		for _, m := range q.Metrics {
			if has(sessionMetrics, m) {
				bad = append(bad, m)
			}
		}
		if len(bad) > 0 {
			return invalid("Session metric(s) `%s` cannot be queried along with event dimension(s) `%s`", strings.Join(bad, "`, `"), strings.Join(eventDims, "`, `"))
		}
	}
	var timeDim string
	for _, d := range q.Dimensions {
		if isTimeDim(d) && timeDim == "" {
			timeDim = d
		}
	}
	if q.TimeLabels && timeDim == "" {
		return invalid("Invalid include.time_labels: requires a time dimension.")
	}
	for _, o := range q.OrderBy {
		if !has(q.Metrics, o[0]) && !has(q.Dimensions, o[0]) {
			entry := fmt.Sprintf("{%q, :%s}", o[0], o[1])
			if v2Metrics[o[0]] {
				entry = fmt.Sprintf("{:%s, :%s}", o[0], o[1])
			}
			return invalid("Invalid order_by entry '%s'. Entry is not a queried metric or dimension.", entry)
		}
	}
	if q.Comparison != nil {
		if _, err := compareRange(q.Range, q.Comparison.Mode, q.Comparison.DateRange, false, q.today); err != nil {
			return err
		}
	}
	return nil
}

// resolve fixes what depends on the final range: "time" becomes the
// range's granularity, and the order goes to the engine with it.
func (q *V2) resolve() {
	g := v2Granularity(q.Range)
	q.dims = make([]string, len(q.Dimensions))
	for i, d := range q.Dimensions {
		if d == engine.Time {
			d = g
		}
		q.dims[i] = d
	}
	q.order = nil
	for _, o := range q.OrderBy {
		by := o[0]
		if by == engine.Time {
			by = g
		}
		q.order = append(q.order, engine.Order{By: by, Desc: o[1] == "desc"})
	}
}

// orderEcho is the order_by the answer echoes: the one asked, else
// Plausible's default (the time dimension ascending, then the first
// metric descending).
func (q *V2) orderEcho() [][]string {
	out := [][]string{}
	if q.OrderBy != nil {
		for _, o := range q.OrderBy {
			out = append(out, []string{o[0], o[1]})
		}
		return out
	}
	for _, d := range q.Dimensions {
		if isTimeDim(d) {
			out = append(out, []string{d, "asc"})
			break
		}
	}
	return append(out, []string{q.Metrics[0], "desc"})
}

func (q *V2) timeDim() (int, string) {
	for i, d := range q.dims {
		if isTimeDim(d) {
			return i, d
		}
	}
	return -1, ""
}

func (q *V2) run(ctx context.Context, a engine.Answerer, r Range, paged, fill bool) (engine.Result, error) {
	eq := q.Site.engineQuery(r, q.Metrics, q.dims, q.Filters)
	eq.OrderBy, eq.TimeLabels = q.order, fill
	if paged {
		eq.Limit, eq.Offset = q.Limit, q.Offset
	}
	res, err := a.Query(ctx, eq)
	if err != nil {
		return res, err
	}
	for i := range res.Rows {
		shownDims(q.dims, res.Rows[i].Dimensions)
	}
	if ti, dim := q.timeDim(); ti >= 0 {
		for i := range res.Rows {
			if ti < len(res.Rows[i].Dimensions) {
				res.Rows[i].Dimensions[ti] = normalizeLabel(dim, res.Rows[i].Dimensions[ti], r)
			}
		}
	}
	return res, nil
}

func metricsOf(metrics []string, row engine.Row) []any {
	out := make([]any, len(metrics))
	for i, m := range metrics {
		if i < len(row.Metrics) {
			out[i] = present(m, row.Metrics[i])
		}
	}
	return out
}

func dimsOf(row engine.Row) []string {
	if row.Dimensions == nil {
		return []string{}
	}
	return row.Dimensions
}

// Run answers q through a in the shape of Plausible's v2 answer:
// {"results": [{"dimensions": [...], "metrics": [...], "comparison"?:
// {...}}], "meta": {...}, "query": {...}}.
func (q *V2) Run(ctx context.Context, a engine.Answerer) (Object, error) {
	var err error
	if q.Range, err = resolveAll(ctx, a, q.Site, q.Range); err != nil {
		return nil, err
	}
	a, imp := withImports(a, q.Imports)
	if q.Range, err = imp.widen(ctx, q.Site.ID, q.Range); err != nil {
		return nil, err
	}
	q.resolve()
	ti, tdim := q.timeDim()
	// With comparisons, Plausible answers every time bucket, so that rows
	// pair up by position.
	fill := q.Comparison != nil && ti >= 0
	res, err := q.run(ctx, a, q.Range, true, fill)
	if err != nil {
		return nil, err
	}
	results := make([]Object, 0, len(res.Rows))
	var cmpRange Range
	var cmpRows map[string]engine.Row
	var mainLabels, cmpLabels []string
	key := func(row engine.Row, index int) string {
		parts := make([]string, 0, len(row.Dimensions)+1)
		for i, d := range row.Dimensions {
			if i != ti {
				parts = append(parts, d)
			}
		}
		return fmt.Sprint(index, "\x00", strings.Join(parts, "\x00"))
	}
	if q.Comparison != nil {
		c := q.Comparison
		if cmpRange, err = compareRange(q.Range, c.Mode, c.DateRange, c.MatchDOW, q.today); err != nil {
			return nil, err
		}
		cres, err := q.run(ctx, a, cmpRange, false, fill)
		if err != nil {
			return nil, err
		}
		if ti >= 0 {
			mainLabels, cmpLabels = timeLabels(tdim, q.Range), timeLabels(tdim, cmpRange)
		}
		index := func(labels []string, row engine.Row) int {
			if ti < 0 || ti >= len(row.Dimensions) {
				return -1
			}
			for i, l := range labels {
				if l == row.Dimensions[ti] {
					return i
				}
			}
			return -2
		}
		cmpRows = map[string]engine.Row{}
		for _, row := range cres.Rows {
			cmpRows[key(row, index(cmpLabels, row))] = row
		}
		for _, row := range res.Rows {
			i := index(mainLabels, row)
			crow, ok := cmpRows[key(row, i)]
			cm := metricsOf(q.Metrics, crow)
			if !ok {
				for j, m := range q.Metrics {
					cm[j] = zero(m)
				}
				crow.Dimensions = append([]string(nil), row.Dimensions...)
				if ti >= 0 {
					crow.Dimensions[ti] = ""
					if i >= 0 && i < len(cmpLabels) {
						crow.Dimensions[ti] = cmpLabels[i]
					}
				}
			}
			mm := metricsOf(q.Metrics, row)
			ch := make([]any, len(q.Metrics))
			for j, m := range q.Metrics {
				ch[j] = change(m, cm[j], mm[j])
			}
			results = append(results, Object{
				{"dimensions", dimsOf(row)}, {"metrics", mm},
				{"comparison", Object{{"dimensions", dimsOf(crow)}, {"metrics", cm}, {"change", ch}}},
			})
		}
	} else {
		for _, row := range res.Rows {
			results = append(results, Object{{"dimensions", dimsOf(row)}, {"metrics", metricsOf(q.Metrics, row)}})
		}
	}
	// meta's keys are sorted, as Plausible's.
	meta := Object{}
	if imp != nil {
		meta = append(meta, imp.meta()...)
	}
	if q.TimeLabels {
		meta = append(meta, Field{"time_labels", timeLabels(tdim, q.Range)})
	}
	if q.TotalRows {
		meta = append(meta, Field{"total_rows", res.TotalRows})
	}
	include := Object{}
	if q.Comparison != nil {
		include = append(include, Field{"comparisons", q.rawCompare})
	}
	for _, f := range []Field{{"imports", q.Imports}, {"time_labels", q.TimeLabels}, {"total_rows", q.TotalRows}} {
		if f.Value.(bool) {
			include = append(include, f)
		}
	}
	dims := q.Dimensions
	if dims == nil {
		dims = []string{}
	}
	echo := Object{
		{"site_id", q.Site.ID}, {"metrics", q.Metrics}, {"date_range", q.Range.echo()},
		{"filters", q.rawFilters}, {"dimensions", dims}, {"order_by", q.orderEcho()},
		{"include", include}, {"pagination", Object{{"limit", q.Limit}, {"offset", q.Offset}}},
	}
	return Object{{"results", results}, {"meta", meta}, {"query", echo}}, nil
}
