// Package query is the Stats API v1 of the reporter (Plausible-compatible
// shapes: aggregate, timeseries, breakdown), answered from rollups alone:
// it parses the query parameters and reads the (site, period) snapshots of
// package rollup through a rollup.Reader. It knows no HTTP and no database.
//
// # Ranges and the rollups that answer them
//
// A range of UTC days is split into whole calendar months, read from month
// snapshots ("YYYY-MM"), and the leftover days, read from day snapshots
// ("YYYY-MM-DD"): 12mo reads 12 month documents, 30d at most 31 (usually a
// handful of days and a month). The month of today also counts as whole
// when the range runs from its first day to today or later: there is no
// data after today, so its snapshot is exactly that month so far. The
// period "all" reads the all-time snapshot.
//
// # Exact and approximate numbers
//
//   - Page views and events are sums of snapshots: always exact.
//   - Visitors are exact when one snapshot covers the range (a day, a
//     calendar month, all time), and when at most one of the snapshots read
//     has any visitor. Otherwise they are estimated by merging the
//     snapshots' HyperLogLog sketches (package sketch, about 0.8% standard
//     error), clamped to what is certain (at least the largest snapshot's
//     visitors, at most their sum), and marked "approximate".
//   - Breakdown visitors per value over several snapshots: the sum over the
//     snapshots of the value's visitors counts a visitor who came back on
//     several days (or months) once per snapshot. It is scaled by the ratio
//     of the range's visitors (the estimate above) to the sum of the
//     snapshots' visitors, clamped to [largest snapshot's value, sum], and
//     marked approximate.
//   - Breakdown counts per value are sums, exact unless the value is missing
//     from the leaders (at most rollup.TopKeys) of a snapshot whose list is
//     full or truncated: then the sum is a lower bound, and the answer is
//     marked approximate.
//   - Timeseries: interval "date" reads one day snapshot per row (exact),
//     "month" one month snapshot per whole month (exact; a month cut by the
//     range is split like any range), "hour" the hours of one day (exact).
//
// A breakdown lists the leaders each snapshot keeps (rollup.TopKeys per
// dimension and period); "truncated": true says values may be missing
// from the list: a snapshot's leaders list is full, or values beyond the
// rollups' capacity were counted under "(other)", which is then the last
// row.
//
// Visit properties (visit:source, ..., visit:entry_page) count visitors,
// each attributed to the first event of the period (day or month) in the
// snapshot, and visits (visits, bounce_rate, visit_duration,
// views_per_visit), each visit under its own values; visit:exit_page counts
// visits only. Visit metrics are sums of the snapshots' visit counters:
// visits are cut at UTC midnight, so they are exact for any range.
// Whatever rollups cannot answer (filters, comparisons, goals) is an error
// of kind analytics.Invalid naming the parameter.
package query

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/rollup"
)

// Kind is the endpoint a query is for.
type Kind int

// The endpoints.
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
	default:
		return "aggregate"
	}
}

// Metrics.
const (
	Visitors  = "visitors"
	Pageviews = "pageviews"
	Events    = "events"
	// Visit metrics, as Plausible names them: the number of visits, the
	// percentage of them with exactly one page view (rounded), their mean
	// duration in whole seconds (rounded), and their mean page views (two
	// decimals).
	Visits        = "visits"
	BounceRate    = "bounce_rate"
	VisitDuration = "visit_duration"
	ViewsPerVisit = "views_per_visit"
)

// visitMetrics are the metrics read from the visit counters.
var visitMetrics = []string{Visits, BounceRate, VisitDuration, ViewsPerVisit}

// Intervals of a timeseries.
const (
	Hour  = "hour"
	Date  = "date"
	Month = "month"
)

// Periods.
const (
	PeriodDay    = "day"
	Period7d     = "7d"
	Period30d    = "30d"
	PeriodMonth  = "month"
	Period6mo    = "6mo"
	Period12mo   = "12mo"
	PeriodCustom = "custom"
	PeriodAll    = "all"
)

// Limits of a breakdown page, and of a range.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	MaxPage      = 100000
	MaxYears     = 5
)

// DefaultPeriod is the period when none is given, as in Plausible.
const DefaultPeriod = Period30d

var periods = []string{PeriodDay, Period7d, Period30d, PeriodMonth, Period6mo, Period12mo, PeriodCustom, PeriodAll}

// properties maps API property names to rollup dimensions.
var properties = map[string]string{
	"event:page":         rollup.Path,
	"event:name":         rollup.Type,
	"visit:source":       rollup.Source,
	"visit:referrer":     rollup.Referrer,
	"visit:utm_source":   rollup.UTMSource,
	"visit:utm_medium":   rollup.UTMMedium,
	"visit:utm_campaign": rollup.UTMCampaign,
	"visit:browser":      rollup.Browser,
	"visit:os":           rollup.OS,
	"visit:device":       rollup.Device,
	"visit:country":      rollup.Country,
	"visit:entry_page":   rollup.EntryPage,
	"visit:exit_page":    rollup.ExitPage,
}

// Properties lists the properties a breakdown accepts, in a stable order.
var Properties = []string{
	"event:page", "event:name", "visit:source", "visit:referrer", "visit:utm_source",
	"visit:utm_medium", "visit:utm_campaign", "visit:browser", "visit:os", "visit:device",
	"visit:country", "visit:entry_page", "visit:exit_page",
}

// Plausible metrics the rollups do not keep.
var notYet = map[string]string{
	"conversion_rate": "goals are not kept by the rollups",
	"time_on_page":    "time on page is not kept by the rollups",
}

// Query is a parsed Stats API query.
type Query struct {
	Kind   Kind
	SiteID string
	// Period is one of the Period constants; From and To are the range's
	// first and last UTC days (midnight UTC), zero for PeriodAll.
	Period   string
	From, To time.Time
	// Today is the UTC day the query was made on.
	Today   time.Time
	Metrics []string
	// Interval is the bucket of a timeseries: Hour, Date or Month.
	Interval string
	// Property (e.g. "visit:source") and Dim (its rollup dimension) are a
	// breakdown's.
	Property, Dim string
	// Limit and Page (1-based) page a breakdown.
	Limit, Page int
}

// ParseAggregate parses the parameters of /api/v1/stats/aggregate.
func ParseAggregate(v url.Values, now time.Time) (Query, error) { return Parse(Aggregate, v, now) }

// ParseTimeseries parses the parameters of /api/v1/stats/timeseries.
func ParseTimeseries(v url.Values, now time.Time) (Query, error) { return Parse(Timeseries, v, now) }

// ParseBreakdown parses the parameters of /api/v1/stats/breakdown.
func ParseBreakdown(v url.Values, now time.Time) (Query, error) { return Parse(Breakdown, v, now) }

func invalid(format string, args ...any) error {
	return analytics.Errorf(analytics.Invalid, format, args...)
}

func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

// Parse validates the parameters of an endpoint of kind k; now decides
// today (UTC). Errors are of kind analytics.Invalid and name the parameter.
func Parse(k Kind, v url.Values, now time.Time) (Query, error) {
	q := Query{Kind: k, Today: day(now.UTC())}
	for _, name := range []string{"site_id", "period", "date", "metrics", "interval", "property", "limit", "page"} {
		if len(v[name]) > 1 {
			return q, invalid("%s: given %d times; give it once", name, len(v[name]))
		}
	}
	if f := v.Get("filters"); f != "" {
		return q, invalid("filters: not supported: the rollups keep totals per period and per value of one property, so they cannot filter (use /api/v1/stats/breakdown?property=... to split by one property)")
	}
	if c := v.Get("compare"); c != "" {
		return q, invalid("compare: not supported yet; ask for the previous period separately (period=custom&date=FROM,TO)")
	}
	q.SiteID = v.Get("site_id")
	if q.SiteID == "" {
		return q, invalid("site_id: required, e.g. ?site_id=site-abc-123")
	}
	if err := analytics.ValidateSiteID(q.SiteID); err != nil {
		return q, err
	}
	if err := q.parseRange(v.Get("period"), v.Get("date")); err != nil {
		return q, err
	}
	if k == Breakdown {
		p := v.Get("property")
		if p == "" {
			return q, invalid("property: required for a breakdown; one of %s", strings.Join(Properties, ", "))
		}
		dim, ok := properties[p]
		if !ok {
			return q, invalid("property: %s is not available; one of %s", clip(p), strings.Join(Properties, ", "))
		}
		q.Property, q.Dim = p, dim
	} else if p := v.Get("property"); p != "" {
		return q, invalid("property: only a breakdown (/api/v1/stats/breakdown) takes a property")
	}
	if err := q.parseMetrics(v.Get("metrics")); err != nil {
		return q, err
	}
	if k == Timeseries {
		if err := q.parseInterval(v.Get("interval")); err != nil {
			return q, err
		}
	} else if i := v.Get("interval"); i != "" {
		return q, invalid("interval: only a timeseries (/api/v1/stats/timeseries) takes an interval")
	}
	if k == Breakdown {
		q.Limit, q.Page = DefaultLimit, 1
		if s := v.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > MaxLimit {
				return q, invalid("limit: %s must be a whole number from 1 to %d", clip(s), MaxLimit)
			}
			q.Limit = n
		}
		if s := v.Get("page"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > MaxPage {
				return q, invalid("page: %s must be a whole number from 1 to %d (pages start at 1)", clip(s), MaxPage)
			}
			q.Page = n
		}
	}
	return q, nil
}

func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func firstOfMonth(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func lastOfMonth(t time.Time) time.Time { return firstOfMonth(t).AddDate(0, 1, -1) }

func parseDate(name, s string) (time.Time, error) {
	d, err := time.Parse(analytics.DateLayout, s)
	if err != nil || d.Format(analytics.DateLayout) != s {
		return d, invalid("%s: %s is not a date in YYYY-MM-DD format", name, clip(s))
	}
	return d, nil
}

// parseRange sets Period, From and To, following Plausible's rules: the
// period is relative to date (default today, UTC): day is that day; 7d the
// 7 days ending on it; 30d the days from date-30 to date (31 days, as
// Plausible counts them); month its calendar month; 6mo and 12mo the 6 or
// 12 calendar months ending with date's month; custom takes
// date=FROM,TO (inclusive); all is all time.
func (q *Query) parseRange(period, date string) error {
	if period == "" {
		period = DefaultPeriod
	}
	known := false
	for _, p := range periods {
		known = known || p == period
	}
	if !known {
		return invalid("period: %s is not a period; one of %s (custom with date=YYYY-MM-DD,YYYY-MM-DD)", clip(period), strings.Join(periods, ", "))
	}
	q.Period = period
	if period == PeriodAll {
		return nil
	}
	if period == PeriodCustom {
		a, b, ok := strings.Cut(date, ",")
		if !ok {
			return invalid("date: period=custom needs two dates, date=YYYY-MM-DD,YYYY-MM-DD (first and last day, inclusive)")
		}
		from, err := parseDate("date", strings.TrimSpace(a))
		if err != nil {
			return err
		}
		to, err := parseDate("date", strings.TrimSpace(b))
		if err != nil {
			return err
		}
		if to.Before(from) {
			return invalid("date: the range ends (%s) before it starts (%s)", to.Format(analytics.DateLayout), from.Format(analytics.DateLayout))
		}
		if !to.Before(from.AddDate(MaxYears, 0, 0)) {
			return invalid("date: the range spans %s to %s; at most %d years", from.Format(analytics.DateLayout), to.Format(analytics.DateLayout), MaxYears)
		}
		q.From, q.To = from, to
		return nil
	}
	d := q.Today
	if date != "" && date != "today" {
		if strings.Contains(date, ",") {
			return invalid("date: a range (%s) needs period=custom; with period=%s give one date, YYYY-MM-DD", clip(date), period)
		}
		var err error
		if d, err = parseDate("date", date); err != nil {
			return err
		}
	}
	switch period {
	case PeriodDay:
		q.From, q.To = d, d
	case Period7d:
		q.From, q.To = d.AddDate(0, 0, -6), d
	case Period30d:
		q.From, q.To = d.AddDate(0, 0, -30), d
	case PeriodMonth:
		q.From, q.To = firstOfMonth(d), lastOfMonth(d)
	case Period6mo:
		q.From, q.To = firstOfMonth(d).AddDate(0, -5, 0), lastOfMonth(d)
	case Period12mo:
		q.From, q.To = firstOfMonth(d).AddDate(0, -11, 0), lastOfMonth(d)
	}
	return nil
}

func (q *Query) parseMetrics(s string) error {
	allowed := append([]string{Visitors, Pageviews, Events}, visitMetrics...)
	if q.Kind == Breakdown {
		switch d, _ := rollup.DimByName(q.Dim); {
		case q.Dim == rollup.ExitPage:
			allowed = visitMetrics
		case d.Kind == rollup.VisitDim:
			allowed = append([]string{Visitors}, visitMetrics...)
		case q.Dim == rollup.Path:
			allowed = []string{Visitors, Pageviews}
		case q.Dim == rollup.Type:
			allowed = []string{Visitors, Pageviews, Events}
		}
	}
	if s == "" {
		q.Metrics = []string{allowed[0]}
		return nil
	}
	seen := map[string]bool{}
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		if seen[m] {
			return invalid("metrics: %s is listed twice", clip(m))
		}
		seen[m] = true
		ok := false
		for _, a := range allowed {
			ok = ok || a == m
		}
		if ok {
			q.Metrics = append(q.Metrics, m)
			continue
		}
		switch {
		case m == "":
			return invalid("metrics: an empty name in %s; a comma-separated list of %s", clip(s), strings.Join(allowed, ", "))
		case notYet[m] != "":
			return invalid("metrics: %s is not available yet (%s); available: %s", m, notYet[m], strings.Join(allowed, ", "))
		case q.Kind == Breakdown && m == Visitors && q.Dim == rollup.ExitPage:
			return invalid("metrics: visitors is not available for visit:exit_page: a visit's exit page changes as it goes on, so exit pages count visits only; use %s", strings.Join(allowed, ", "))
		case q.Kind == Breakdown && (m == Pageviews || m == Events) && q.Dim != rollup.Path && q.Dim != rollup.Type:
			return invalid("metrics: %s is not available for %s: visit properties count visitors (each attributed to their first event of the day or month) and visits; use %s", m, q.Property, strings.Join(allowed, ", "))
		case q.Kind == Breakdown && contains(visitMetrics, m):
			return invalid("metrics: %s is not available for %s: visits are counted per visit property (visit:source, visit:entry_page, visit:exit_page, ...); available here: %s", m, q.Property, strings.Join(allowed, ", "))
		case q.Kind == Breakdown && m == Events && q.Dim == rollup.Path:
			return invalid("metrics: events is not available for event:page: pages count page views only; use pageviews or visitors (or property=event:name for events)")
		default:
			return invalid("metrics: %s is not a metric; available: %s", clip(m), strings.Join(allowed, ", "))
		}
	}
	return nil
}

func (q *Query) parseInterval(s string) error {
	if q.Period == PeriodAll {
		return invalid("period: all has no first day in the rollups, so a timeseries cannot use it; use period=12mo or period=custom&date=FROM,TO")
	}
	single := q.From.Equal(q.To)
	switch s {
	case "":
		switch {
		case single:
			q.Interval = Hour
		case q.Period == Period6mo || q.Period == Period12mo:
			q.Interval = Month
		default:
			q.Interval = Date
		}
	case Date, "day":
		q.Interval = Date
	case Month:
		q.Interval = Month
	case Hour:
		if !single {
			return invalid("interval: hour needs a range of one day (period=day, or custom with the same date twice); this range spans %s to %s; use date or month",
				q.From.Format(analytics.DateLayout), q.To.Format(analytics.DateLayout))
		}
		q.Interval = Hour
	default:
		return invalid("interval: %s is not an interval; one of hour (one day only), date, month", clip(s))
	}
	return nil
}
