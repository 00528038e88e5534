package query

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/siteanalytics/analytics/engine"
)

// Site is what a query needs to know of its site: its id, time zone and
// goals and funnels (the per-site settings).
type Site struct {
	ID       string
	Location *time.Location // nil is UTC
	Goals    []engine.Goal
	Funnels  []engine.Funnel
}

// Loc returns the site's time zone, UTC when unset.
func (s Site) Loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// date is a civil date, held as midnight UTC so that date arithmetic never
// meets a DST transition; midnight(loc) turns it into an instant.
type date struct{ t time.Time }

func dateOf(t time.Time, loc *time.Location) date {
	y, m, d := t.In(loc).Date()
	return date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

func mkdate(y int, m time.Month, d int) date { return date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

func (d date) add(days int) date    { return date{d.t.AddDate(0, 0, days)} }
func (d date) before(e date) bool   { return d.t.Before(e.t) }
func (d date) String() string       { return d.t.Format(time.DateOnly) }
func (d date) startOfMonth() date   { return mkdate(d.t.Year(), d.t.Month(), 1) }
func (d date) endOfMonth() date     { return d.startOfMonth().addMonths(1).add(-1) }
func (d date) days(e date) int      { return int(e.t.Sub(d.t).Hours()/24 + 0.5) }
func (d date) startOfWeek() date    { return d.add(-((int(d.t.Weekday()) + 6) % 7)) } // Monday, as ISO and Plausible
func (d date) addMonths(n int) date { return mkdate(d.t.Year(), d.t.Month()+time.Month(n), 1) }

// midnight is the instant the day starts in loc: its first instant, also
// where clocks skip midnight (see engine.StartOfDay).
func (d date) midnight(loc *time.Location) time.Time {
	return engine.StartOfDay(d.t.Year(), d.t.Month(), d.t.Day(), loc)
}

func parseDate(s string) (date, bool) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return date{}, false
	}
	return date{t}, true
}

// Range is the span a query reads: the instants From <= t < To, in the
// site's time zone Loc, and the local days it runs from and to.
type Range struct {
	From, To    time.Time
	Loc         *time.Location
	First, Last date
	// All: the range is period "all", whose first day is the site's first
	// day with events (see resolveAll).
	All bool
}

func dayRange(first, last date, loc *time.Location) Range {
	return Range{From: first.midnight(loc), To: last.add(1).midnight(loc), Loc: loc, First: first, Last: last}
}

// echo is the range as Plausible's v2 answers it in query.date_range: its
// first and last second, ISO 8601 with the site's offset.
func (r Range) echo() []string {
	const layout = "2006-01-02T15:04:05-07:00"
	return []string{r.From.In(r.Loc).Format(layout), r.To.Add(-time.Second).In(r.Loc).Format(layout)}
}

// epoch is where period "all" looks for the first event: none is older.
var epoch = time.Unix(0, 0).UTC()

// resolveAll narrows period "all" to [first day with events, today], as
// Plausible starts "all" at the site's stats start date: one engine query
// for the first day that has events. A site without events starts today.
func resolveAll(ctx context.Context, a engine.Answerer, site Site, r Range) (Range, error) {
	if !r.All {
		return r, nil
	}
	today := r.Last
	res, err := a.Query(ctx, engine.Query{
		Site: site.ID, From: epoch, To: r.To, Location: r.Loc,
		Metrics: []string{engine.Events}, Dimensions: []string{engine.TimeDay},
		OrderBy: []engine.Order{{By: engine.TimeDay}}, Limit: 1,
	})
	if err != nil {
		return r, err
	}
	first := today
	if len(res.Rows) > 0 && len(res.Rows[0].Dimensions) > 0 {
		if t, ok := parseLabel(res.Rows[0].Dimensions[0], r.Loc); ok {
			if d := dateOf(t, r.Loc); d.before(today) {
				first = d
			}
		}
	}
	out := dayRange(first, today, r.Loc)
	out.All = true
	return out, nil
}

// v1Range turns the v1 period and date parameters into a range, following
// Plausible's Stats API v1 (its controller, query builder and tests):
// date (default: the site's today) anchors the period; day is that day;
// 7d and 30d are the 7 or 30 days before it (not including it); month its
// calendar month; 6mo and 12mo the 6 or 12 calendar months ending with its
// month; year its calendar year; custom takes date=FROM,TO (inclusive);
// all runs from the first day with events to today.
func v1Range(period, dateParam string, loc *time.Location, now time.Time) (Range, error) {
	today := dateOf(now, loc)
	if period == "" {
		period = "30d"
	}
	switch period {
	case "day", "7d", "30d", "month", "6mo", "12mo", "year", "custom", "all":
	default:
		return Range{}, invalid("Error parsing `period` parameter: invalid period `%s`. Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods", period)
	}
	if period == "custom" {
		if dateParam == "" {
			return Range{}, invalid("The `date` parameter is required when using a custom period. See https://plausible.io/docs/stats-api#time-periods")
		}
		a, b, ok := strings.Cut(dateParam, ",")
		from, ok1 := parseDate(strings.TrimSpace(a))
		to, ok2 := parseDate(strings.TrimSpace(b))
		if !ok || !ok1 || !ok2 {
			return Range{}, invalid("Invalid format for `date` parameter. When using a custom period, please include two ISO-8601 formatted dates joined by a comma. See https://plausible.io/docs/stats-api#time-periods")
		}
		if to.before(from) {
			return Range{}, invalid("Invalid format for `date` parameter: the range ends (%s) before it starts (%s). See https://plausible.io/docs/stats-api#time-periods", to, from)
		}
		return dayRange(from, to, loc), nil
	}
	d := today
	if dateParam != "" && dateParam != "today" {
		var ok bool
		if d, ok = parseDate(dateParam); !ok {
			why := "invalid_format"
			if len(dateParam) == 10 && dateParam[4] == '-' && dateParam[7] == '-' {
				why = "invalid_date"
			}
			return Range{}, invalid("Error parsing `date` parameter: %s. Please specify a valid date in ISO-8601 format.", why)
		}
	}
	switch period {
	case "day":
		return dayRange(d, d, loc), nil
	case "7d":
		return dayRange(d.add(-7), d.add(-1), loc), nil
	case "30d":
		return dayRange(d.add(-30), d.add(-1), loc), nil
	case "month":
		return dayRange(d.startOfMonth(), d.endOfMonth(), loc), nil
	case "6mo":
		return dayRange(d.startOfMonth().addMonths(-5), d.endOfMonth(), loc), nil
	case "12mo":
		return dayRange(d.startOfMonth().addMonths(-11), d.endOfMonth(), loc), nil
	case "year":
		return dayRange(mkdate(d.t.Year(), 1, 1), mkdate(d.t.Year(), 12, 31), loc), nil
	}
	r := dayRange(today, today, loc) // all: narrowed by resolveAll
	r.All = true
	return r, nil
}

// v2Range parses a v2 date_range, following Plausible's query parser: the
// shortcuts day, month, year, all, "<n>d" (the n days before today, not
// including it) and "<n>mo" (the n calendar months before this one), a
// pair of dates (inclusive, in the site's zone) or a pair of ISO 8601
// datetimes (the instants between them, inclusive).
func v2Range(raw any, today date, loc *time.Location) (Range, error) {
	switch v := raw.(type) {
	case string:
		switch v {
		case "day":
			return dayRange(today, today, loc), nil
		case "month":
			return dayRange(today.startOfMonth(), today.endOfMonth(), loc), nil
		case "year":
			return dayRange(mkdate(today.t.Year(), 1, 1), mkdate(today.t.Year(), 12, 31), loc), nil
		case "all":
			r := dayRange(today, today, loc)
			r.All = true
			return r, nil
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(v, "d")); err == nil && strings.HasSuffix(v, "d") && n > 0 && n <= 5000 {
			return dayRange(today.add(-n), today.add(-1), loc), nil
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(v, "mo")); err == nil && strings.HasSuffix(v, "mo") && n > 0 && n <= 100 {
			return dayRange(today.startOfMonth().addMonths(-n), today.startOfMonth().add(-1), loc), nil
		}
	case []any:
		if len(v) != 2 {
			break
		}
		a, ok1 := v[0].(string)
		b, ok2 := v[1].(string)
		if !ok1 || !ok2 {
			break
		}
		if from, ok := parseDate(a); ok {
			if to, ok := parseDate(b); ok && !to.before(from) {
				return dayRange(from, to, loc), nil
			}
			break
		}
		from, err1 := time.Parse(time.RFC3339, a)
		to, err2 := time.Parse(time.RFC3339, b)
		if err1 == nil && err2 == nil && !to.Before(from) {
			// The last datetime is inclusive, to the second.
			to = to.Truncate(time.Second).Add(time.Second)
			return Range{From: from, To: to, Loc: loc, First: dateOf(from, loc), Last: dateOf(to.Add(-time.Second), loc)}, nil
		}
	}
	return Range{}, invalid("#/date_range: Invalid date range %s", inspect(raw))
}

// compareRange is the range a comparison reads, as Plausible's
// Comparisons module computes it: previous_period shifts back by the
// range's length in days (a range reaching past today counts up to
// today); year_over_year shifts back 365 days; custom is a pair of dates.
// matchDOW moves the result to the nearest day with r's first weekday.
func compareRange(r Range, mode string, custom []string, matchDOW bool, today date) (Range, error) {
	last := r.Last
	if today.before(last) {
		last = today
	}
	var out Range
	switch mode {
	case "previous_period":
		diff := r.First.days(last) + 1
		out = dayRange(r.First.add(-diff), last.add(-diff), r.Loc)
	case "year_over_year":
		out = dayRange(r.First.add(-365), last.add(-365), r.Loc)
	case "custom":
		if len(custom) != 2 {
			return out, invalid("Invalid comparisons: mode custom needs date_range, two dates [\"YYYY-MM-DD\", \"YYYY-MM-DD\"].")
		}
		from, ok1 := parseDate(custom[0])
		to, ok2 := parseDate(custom[1])
		if !ok1 || !ok2 || to.before(from) {
			return out, invalid("Invalid date_range %s.", inspect([]any{custom[0], custom[1]}))
		}
		return dayRange(from, to, r.Loc), nil
	default:
		return out, invalid("Invalid comparisons mode %s: one of \"previous_period\", \"year_over_year\", \"custom\".", strconv.Quote(mode))
	}
	if matchDOW && out.First.t.Weekday() != r.First.t.Weekday() {
		fwd := (int(r.First.t.Weekday()) - int(out.First.t.Weekday()) + 7) % 7
		shift := fwd
		if back := fwd - 7; -back < fwd || out.First.add(fwd) == r.First {
			shift = back
		}
		out = dayRange(out.First.add(shift), out.Last.add(shift), r.Loc)
	}
	return out, nil
}

// hourLayout is how Plausible labels hours: "2021-01-01 13:00:00".
const hourLayout = "2006-01-02 15:04:05"

// granularity resolves the dimension "time" as Plausible's
// Interval.default_for_date_range does: month when the range spans a month
// or more, day when it spans more than a day, else hour.
func granularity(r Range) string {
	f, l := r.First.t, r.Last.t
	months := (l.Year()*12 + int(l.Month())) - (f.Year()*12 + int(f.Month()))
	if l.Day() < f.Day() {
		months--
	}
	switch {
	case months > 0:
		return engine.TimeMonth
	case r.First.before(r.Last):
		return engine.TimeDay
	}
	return engine.TimeHour
}

// v2Granularity resolves the v2 dimension "time" as Plausible's
// QueryOptimizer does, from the range's first instant to its last (the
// last day's 23:59:59) in whole hours and days: hours up to 48 hours (a
// range of one or two days), days up to 40 days (41 days), else months.
// (v1 timeseries keep granularity, Plausible's older rule.)
func v2Granularity(r Range) string {
	switch days := r.First.days(r.Last); {
	case days <= 1:
		return engine.TimeHour
	case days <= 40:
		return engine.TimeDay
	}
	return engine.TimeMonth
}

// bucket is the label of the bucket t falls in, as Plausible labels them
// in the site's zone: the hour, the day, the week's Monday (not before the
// range's first day), or the month's first day.
func bucket(dim string, t time.Time, r Range) string {
	t = t.In(r.Loc)
	d := dateOf(t, r.Loc)
	switch dim {
	case engine.TimeHour:
		return t.Format("2006-01-02 15") + ":00:00"
	case engine.TimeWeek:
		w := d.startOfWeek()
		if w.before(r.First) {
			w = r.First
		}
		return w.String()
	case engine.TimeMonth:
		return d.startOfMonth().String()
	}
	return d.String()
}

// timeLabels lists every bucket of r, in order. Hours step through the
// range's instants, so a 23-hour DST day has 23 labels and a 25-hour day
// 24 (its repeated hour has one label, so it is one bucket).
func timeLabels(dim string, r Range) []string {
	var out []string
	push := func(s string) {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	if dim == engine.TimeHour {
		for t := r.From; t.Before(r.To); t = t.Add(time.Hour) {
			push(bucket(dim, t, r))
		}
		return out
	}
	for d := r.First; !r.Last.before(d); d = d.add(1) {
		push(bucket(dim, d.midnight(r.Loc), r))
	}
	return out
}

// parseLabel reads a time label as the engine may write it: a date, an
// hour label, or RFC 3339.
func parseLabel(s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range []string{time.DateOnly, hourLayout, "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// normalizeLabel rewrites an engine's time label in Plausible's form, so
// the API's labels do not depend on how the engine spells them.
func normalizeLabel(dim, s string, r Range) string {
	if t, ok := parseLabel(s, r.Loc); ok {
		return bucket(dim, t, r)
	}
	return s
}

func isTimeDim(d string) bool { return d == engine.Time || strings.HasPrefix(d, engine.Time+":") }

// inspect writes a JSON value as Plausible's error messages show what
// they refuse (Elixir's inspect).
func inspect(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = inspect(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		b := new(strings.Builder)
		b.WriteString("%{")
		first := true
		for k, e := range x {
			if !first {
				b.WriteString(", ")
			}
			first = false
			fmt.Fprintf(b, "%q => %s", k, inspect(e))
		}
		b.WriteString("}")
		return b.String()
	case nil:
		return "nil"
	}
	return fmt.Sprint(v)
}
