// Package engine answers stats questions from a site's events at read time:
// exact counts for any filter, any range and the site's own time zone. It
// reads decoded event blocks (package block) through a Source and knows no
// HTTP and no database; the Plausible-compatible APIs (package query) are
// parsers and printers around it.
//
// # What is counted
//
//   - An event is a page view when its name is "page_view" or "pageview";
//     the event:name dimension reports page views as "pageview".
//   - A visitor is an event's user id (sent, or the collector's cookieless
//     id); events without one count in pageviews and events only.
//   - A visit is a maximal run of one visitor's events, within the queried
//     range, whose consecutive events are at most VisitTimeout apart. A visit
//     is cut at the edges of the range: a day in the site's time zone counts
//     the visits of that day. A visit belongs to the time bucket of its first
//     event. Its source, referrer, UTM, browser, OS, device and country are
//     those of its first event (the collector's note of the visit's
//     attributes when the event has one); its entry page is its first page
//     view's path and its exit page its last page view's path (by time; ""
//     for a page view without a path). A visitor's events are ordered by
//     their time alone: two at the same millisecond have no defined order.
//   - bounce: a visit of exactly one event. visit_duration: the time from
//     its first to its last event, in seconds (from millisecond timestamps,
//     unrounded). Under a top-level event:page condition (the first one),
//     bounce_rate counts only the visits whose entry page satisfies it
//     (Plausible's page bounce rate); the other visit metrics every visit.
//   - conversion_rate and group_conversion_rate are in percent of the
//     visitors the filter selects without its event:goal conditions and
//     without its top-level event:props:* conditions.
//
// # Filters
//
// Event filters (event:*) select events; a visit metric under an event
// filter counts the visits holding at least one selected event. Visit
// filters (visit:*) select whole visits (and their events). has_done and
// has_not_done select the visits that did or did not hold an event matching
// their inner (event) filter.
package engine

import (
	"time"
)

// VisitTimeout is the longest gap between two events of one visit.
const VisitTimeout = 30 * time.Minute

// Metric names, as Plausible's Stats API names them.
const (
	Visitors            = "visitors"
	Visits              = "visits"
	Pageviews           = "pageviews"
	Events              = "events"
	ViewsPerVisit       = "views_per_visit"
	BounceRate          = "bounce_rate"
	VisitDuration       = "visit_duration"
	Percentage          = "percentage"
	ConversionRate      = "conversion_rate"
	GroupConversionRate = "group_conversion_rate"
)

// Property (dimension and filter) names, as Plausible's Stats API names them.
// Custom properties are PropPrefix + key.
const (
	EventName   = "event:name"
	EventPage   = "event:page"
	EventGoal   = "event:goal"
	PropPrefix  = "event:props:"
	Source      = "visit:source"
	Referrer    = "visit:referrer"
	UTMSource   = "visit:utm_source"
	UTMMedium   = "visit:utm_medium"
	UTMCampaign = "visit:utm_campaign"
	UTMContent  = "visit:utm_content"
	UTMTerm     = "visit:utm_term"
	Browser     = "visit:browser"
	OS          = "visit:os"
	Device      = "visit:device"
	Country     = "visit:country"
	EntryPage   = "visit:entry_page"
	ExitPage    = "visit:exit_page"
)

// Time dimensions. "time" picks hour, day or month from the range's length
// (hour up to a day, day up to 40 days... see Query.Granularity).
const (
	Time      = "time"
	TimeHour  = "time:hour"
	TimeDay   = "time:day"
	TimeWeek  = "time:week"
	TimeMonth = "time:month"
)

// Direct is the visit:source of a visit with no outside referrer and no
// utm_source.
const Direct = "Direct / None"

// Query is one question about one site.
type Query struct {
	Site string
	// From and To bound the events asked about: From <= timestamp < To.
	From, To time.Time
	// Location is the site's time zone: days, weeks, months and hours of
	// time dimensions are its own. nil is UTC.
	Location *time.Location
	// Metrics in the order the answer lists them.
	Metrics []string
	// Dimensions group the answer; none gives one row of totals.
	Dimensions []string
	// Filter selects events and visits; nil selects all.
	Filter *Filter
	// OrderBy sorts the rows, then the default breaks ties: time
	// dimensions ascending, every metric descending in the order asked,
	// then the dimensions ascending.
	OrderBy []Order
	// Limit and Offset page the rows after ordering; Limit 0 is no limit.
	Limit, Offset int
	// Goals are the site's goals, for event:goal and conversion rates.
	Goals []Goal
	// TimeLabels asks for every bucket of the range's time dimension, also
	// those without events (their metrics are zero, or null where a metric
	// has no value without visits).
	TimeLabels bool
}

// Order is one key of Query.OrderBy: a metric or a dimension name.
type Order struct {
	By   string
	Desc bool
}

// Filter is a node of a filter tree: a combinator (And, Or, Not) over
// Children, or a condition on the property Dim.
type Filter struct {
	Op       string // one of the Op* constants
	Dim      string // the property a condition reads
	Values   []string
	Children []*Filter // And, Or, Not (one child), HasDone, HasNotDone (one child)
	// CaseInsensitive matches Values ignoring case (v2's
	// "modifiers": {"case_sensitive": false}).
	CaseInsensitive bool
}

// Filter operators (Plausible's Stats API v2 names).
const (
	OpAnd         = "and"
	OpOr          = "or"
	OpNot         = "not"
	OpIs          = "is"       // value equals one of Values
	OpIsNot       = "is_not"   // equals none of Values
	OpContains    = "contains" // contains one of Values
	OpContainsNot = "contains_not"
	OpMatches     = "matches"     // RE2 match of one of Values
	OpMatchesNot  = "matches_not" // RE2 match of none of Values
	OpHasDone     = "has_done"    // the visit holds an event matching Children[0]
	OpHasNotDone  = "has_not_done"
)

// Goal is a conversion a site counts: a custom event by name, or a page
// view of a path pattern ("*" matches within a path segment, "**" across
// segments).
type Goal struct {
	// Name is how answers show it: the event name, or "Visit " + Page.
	Name  string
	Event string
	Page  string
}

// Funnel is an ordered list of 2 to 8 goals.
type Funnel struct {
	Name  string
	Steps []Goal
}

// Result is the answer to a Query.
type Result struct {
	// Rows hold Dimensions' values (strings) then Metrics' values in the
	// query's order. A metric value is a float64, or nil where it has no
	// value (visit_duration of a bucket without visits).
	Rows []Row
	// TotalRows is the number of rows before Limit and Offset.
	TotalRows int
	// TimeLabels are every bucket label of the query's time dimension over
	// the range, in order (nil without a time dimension).
	TimeLabels []string
}

// Row is one row of a Result.
type Row struct {
	Dimensions []string
	Metrics    []any
}

// FunnelStep is one step of a funnel's answer.
type FunnelStep struct {
	Goal     string `json:"goal"`
	Visitors int64  `json:"visitors"`
	DropOff  int64  `json:"dropoff"`
	// ConversionRate is the share, in percent, of the first step's
	// visitors who reached this step; ConversionRateStep of the previous
	// step's.
	ConversionRate     float64 `json:"conversion_rate"`
	ConversionRateStep float64 `json:"conversion_rate_step"`
}
