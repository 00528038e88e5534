// Package statsmodel answers engine queries the slow, obvious way, for
// tests: straight from a list of raw events, with loops, maps and sorting.
// It shares no code with package engine (only its types), so a test
// comparing the two can fail. Answer and Funnel follow the package doc of
// engine; where that doc is silent, the choices below are the contract the
// engine is held to.
//
// # Events
//
//   - The events are those of q.Site with q.From <= timestamp < q.To. An id
//     seen twice for one site is a resend: the first in slice order is kept
//     (as the store keeps the first), later ones are ignored whatever they
//     hold. Events with an empty id are all distinct.
//   - Events are ordered by timestamp; events at the same instant keep their
//     order in the slice (the order the store received them). Workload
//     gives no visitor two events at the same instant, so a test on its
//     output does not depend on this tie break.
//   - An event is a page view when its name is "page_view" or "pageview".
//     event:name reports both as "pageview", and a filter on event:name sees
//     "pageview".
//
// # Visits
//
//   - A visitor is the event's UserID. A visit is a maximal run of one
//     visitor's events in the range (in time order) whose consecutive events
//     are at most engine.VisitTimeout apart (a gap of exactly 30 minutes
//     continues the visit). Visits are cut at From and To only: a visit
//     crossing local midnight inside the range is one visit, in the time
//     bucket of its first event.
//   - A visit's source, referrer host, utm_source, utm_medium, utm_campaign,
//     browser, os, device and country are its first event's Visit.Attrs when
//     that event has a Visit note, else the first event's own fields.
//     utm_content and utm_term are not in analytics.VisitAttrs: they are the
//     first event's own fields, note or not.
//   - Its entry page is the path of its first page view, its exit page that
//     of its last; both are "" in a visit without page views.
//   - A bounce is a visit of exactly one event (of any name). Its duration
//     is its last event's time minus its first's.
//   - An event without a visitor is in no visit: it counts in pageviews and
//     events, never in visitors or any visit metric. For its visit:*
//     properties (in dimensions and filters) it stands alone, as a visit of
//     its own would: its own attributes (its Visit.Attrs when it has a note),
//     entry and exit page its path when it is a page view, else "".
//
// # Property values
//
//   - visit:source and visit:referrer (the referrer host) are engine.Direct
//     when empty. Every other property reports its value as stored, "" too:
//     rows with an empty value are kept (the API decides whether to show
//     them as "(not set)" or drop them).
//   - event:props:<key> is the value's string form: a string as is, a bool
//     "true" or "false", a number strconv.FormatFloat(f, 'f', -1, 64) (ints
//     and json.Number alike: 3 is "3", 2.5 is "2.5", 1e21 is
//     "1000000000000000000000"). An event without the key has "(none)"
//     (Plausible's name), so breakdowns have a "(none)" row and filters can
//     ask for it.
//   - event:goal: an event matches a goal with Event set when its name
//     equals Goal.Event exactly (so a goal on "page_view" is not a page
//     goal); a goal with only Page set is matched by a page view whose path
//     matches the whole pattern, where "**" matches any run of characters and
//     "*" any run without "/"; every other character is literal. An event
//     has one event:goal value per goal it matches (0, 1 or more): in an
//     event:goal breakdown it counts in each such row and in no other.
//   - Time labels are in q.Location (nil: UTC): time:hour "2006-01-02
//     15:00:00", time:day "2006-01-02", time:week the date of the week's
//     Monday (even when the range starts mid-week), time:month
//     "2006-01-01". Labels are wall-clock: the hour repeated when clocks go
//     back (01:00 twice on America/Los_Angeles 2026-11-01) is one bucket of
//     two real hours; the hour skipped in spring has no bucket. "time" is
//     time:hour when the range covers one local date, time:day when it
//     covers at most 40, else time:month.
//
// # Rows and metrics
//
//   - Each event in the filter's selection has one value per dimension
//     (event:goal: zero or more); it counts its visitor, itself (events) and,
//     if a page view, a page view in the row of those values. Time
//     dimensions take the event's own time here.
//   - A visit counts in a row when it holds a selected event with that row's
//     values, taking its visit:* values from the visit and its time values
//     from the visit's first event (not the selected event's). So a visit
//     counts once in each page it viewed, and in the day it began only.
//   - Visit metrics read whole visits (all their events in the range, not
//     only the selected ones): bounce_rate = 100*bounces/visits (under a
//     top-level event:page condition, the first one: of the visits whose
//     entry page satisfies it only),
//     visit_duration = total seconds/visits, views_per_visit = page views of
//     the visits/visits. With an event:page dimension, bounce_rate and
//     visit_duration are over the visits of the row's values that entered
//     on the row's page (Plausible's sessions grouped by entry page): a
//     visit counted in rows /a and /b that entered on /a counts in /a's
//     bounce rate and duration only, and a page no visit entered on has
//     0 for both.
//   - percentage = 100*visitors of the row/visitors of the query's whole
//     selection (no dimensions). conversion_rate = 100*visitors of the
//     row/visitors of the whole range with the query's filter but without
//     its event:goal conditions and its top-level event:props:* conditions
//     (no dimensions). group_conversion_rate =
//     100*visitors of the row/visitors of the row's values other than
//     event:goal, with the filter without event:goal conditions.
//   - Every metric is a float64. Each ratio is one division of exact
//     integers, unrounded: float64(100*a)/float64(b), visit_duration
//     float64(milliseconds)/float64(1000*visits). With a zero denominator a
//     ratio is 0, except visit_duration, which is nil whenever the row has no
//     visit.
//   - conversion_rate and group_conversion_rate need an event:goal
//     dimension or an event:goal condition that is the filter or a child of
//     its top-level "and" (and-nested), else the query is Invalid; an
//     event:goal condition anywhere else (under or, not, has_done) with these
//     metrics is Invalid too, as "without the goal" has no meaning there.
//
// # Filters
//
// A filter is evaluated on each event: event:* conditions on the event
// itself, visit:* conditions on its visit. is: the value equals one of
// Values; contains: contains one of them; matches: an RE2 match (unanchored)
// of one of them; the _not forms: none of them. CaseInsensitive compares
// with strings.EqualFold / lower-cased contains / a "(?i)" prefix. On
// event:props:<key>, an event without the key has the value "(none)" for
// is and is_not, and satisfies neither contains, matches nor their _not
// forms (Plausible's has_key). On
// event:goal, a positive operator holds when one of the event's goals'
// names satisfies it, a negative one when none does (an event of no goal
// satisfies is_not); a name that is none of q.Goals' is no error, it
// matches no event. has_done holds for an event whose visit holds an event
// (in the range) satisfying the child, has_not_done when it holds none. An
// unknown property, an operator that needs Values without any, a time
// dimension in a filter or a bad regexp is Invalid.
//
// # Order, pages, time labels
//
// A query without dimensions has exactly one row (zeros, nil
// visit_duration, when nothing is selected); its percentage is 100 (0
// without visitors). A query without metrics, or ordered by a name that is
// neither one of its metrics nor one of its dimensions, is Invalid.
//
// Without OrderBy: time dimensions ascending, then the first metric
// descending, then every dimension ascending (byte order of the values).
// With OrderBy: its keys in turn, then the default order as the tie break.
// A nil metric sorts below every number. Limit and Offset page the ordered
// rows; TotalRows counts them before. TimeLabels adds the empty buckets of
// the range when the only dimension is a time dimension (ignored
// otherwise): zeros, and nil visit_duration.
//
// # Funnels
//
// Funnel counts, per step, the visitors with a visit (among those q's filter
// selects: holding a selected event) whose events, in time order, hold
// distinct events matching step 1, then step 2, ..., up to that step. Every
// event of such a visit counts, not only the selected ones. Step 1:
// dropoff 0, conversion_rate and conversion_rate_step 100 (0 without
// visitors); step k: dropoff visitors(k-1)-visitors(k), conversion_rate
// 100*visitors(k)/visitors(1), conversion_rate_step
// 100*visitors(k)/visitors(k-1) (0 when the denominator is 0). Goal is the
// step's name (Goal.Name, else the event name or "Visit "+page). A funnel
// needs 2 to 8 steps.
package statsmodel
