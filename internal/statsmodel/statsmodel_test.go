package statsmodel

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

const site = "s.example"

var (
	day0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // a Monday
	la   = mustZone("America/Los_Angeles")
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is day0 plus "15:04:05".
func at(clock string) time.Time {
	t, err := time.Parse("15:04:05", clock)
	if err != nil {
		panic(err)
	}
	return day0.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second)
}

var nextID int

// ev builds an event: kind "pv" is a page view of path, else a custom event.
func ev(user string, ts time.Time, kind, path string, opts ...func(*analytics.Event)) analytics.Event {
	nextID++
	e := analytics.Event{ID: fmt.Sprintf("e%d", nextID), SiteID: site, EventType: kind, Path: path, UserID: user, Timestamp: ts}
	if kind == "pv" {
		e.EventType = "page_view"
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func source(s string) func(*analytics.Event)  { return func(e *analytics.Event) { e.Source = s } }
func country(c string) func(*analytics.Event) { return func(e *analytics.Event) { e.Country = c } }
func props(kv ...any) func(*analytics.Event) {
	return func(e *analytics.Event) {
		e.Props = map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			e.Props[kv[i].(string)] = kv[i+1]
		}
	}
}
func note(attrs analytics.VisitAttrs) func(*analytics.Event) {
	return func(e *analytics.Event) { e.Visit = &analytics.Visit{Attrs: attrs} }
}
func id(s string) func(*analytics.Event) { return func(e *analytics.Event) { e.ID = s } }

func is(dim string, vals ...string) *engine.Filter {
	return &engine.Filter{Op: engine.OpIs, Dim: dim, Values: vals}
}
func op(o, dim string, vals ...string) *engine.Filter {
	return &engine.Filter{Op: o, Dim: dim, Values: vals}
}
func and(fs ...*engine.Filter) *engine.Filter { return &engine.Filter{Op: engine.OpAnd, Children: fs} }

func row(dims []string, metrics ...any) engine.Row {
	for i, m := range metrics {
		if n, ok := m.(int); ok {
			metrics[i] = float64(n)
		}
	}
	return engine.Row{Dimensions: dims, Metrics: metrics}
}

func d(vals ...string) []string { return vals }

// basic: A views /a, /b and signs up within 10 minutes; B views /a once;
// an event without a visitor views /a.
func basic() []analytics.Event {
	return []analytics.Event{
		ev("A", at("10:00:00"), "pv", "/a", source("Google"), country("DE")),
		ev("A", at("10:05:00"), "pv", "/b", source("Bing")),
		ev("A", at("10:10:00"), "signup", "/b"),
		ev("B", at("11:00:00"), "pv", "/a", country("US")),
		ev("", at("12:00:00"), "pv", "/a", source("Google")),
	}
}

var testGoals = []engine.Goal{
	{Name: "signup", Event: "signup"},
	{Name: "Visit /b*", Page: "/b*"},
	{Name: "Visit /blog/**", Page: "/blog/**"},
}

func TestAnswer(t *testing.T) {
	all := []string{engine.Visitors, engine.Visits, engine.Pageviews, engine.Events,
		engine.BounceRate, engine.VisitDuration, engine.ViewsPerVisit}
	tests := []struct {
		name   string
		events []analytics.Event
		q      engine.Query
		want   []engine.Row
	}{
		{
			name:   "totals",
			events: basic(),
			q:      engine.Query{Metrics: all},
			// visits: A (3 events, 600 s, 2 views), B (bounce, 0 s, 1 view)
			want: []engine.Row{row(nil, 2, 2, 4, 5, 50.0, 300.0, 1.5)},
		},
		{
			name:   "no events: zeros and a nil duration",
			events: nil,
			q:      engine.Query{Metrics: all},
			want:   []engine.Row{row(nil, 0, 0, 0, 0, 0.0, nil, 0.0)},
		},
		{
			name: "a gap of exactly 30 minutes continues the visit, 30m1s starts one",
			events: []analytics.Event{
				ev("A", at("10:00:00"), "pv", "/"),
				ev("A", at("10:30:00"), "pv", "/"),
				ev("A", at("11:00:01"), "pv", "/"),
			},
			q:    engine.Query{Metrics: []string{engine.Visits, engine.VisitDuration, engine.BounceRate}},
			want: []engine.Row{row(nil, 2, 900.0, 50.0)},
		},
		{
			name: "a resent id counts once, as first stored",
			events: []analytics.Event{
				ev("A", at("10:00:00"), "pv", "/first", id("x")),
				ev("A", at("10:01:00"), "pv", "/second", id("x")),
				ev("A", at("10:00:00"), "pv", "/first", id("x")),
			},
			q:    engine.Query{Metrics: []string{engine.Pageviews}, Dimensions: []string{engine.EventPage}},
			want: []engine.Row{row(d("/first"), 1)},
		},
		{
			name: "a resent id out of the range hides its later copy in it",
			events: []analytics.Event{
				ev("A", day0.Add(-time.Minute), "pv", "/", id("x")),
				ev("A", at("10:00:00"), "pv", "/", id("x")),
			},
			q:    engine.Query{Metrics: []string{engine.Pageviews}},
			want: []engine.Row{row(nil, 0)},
		},
		{
			name: "ids are per site",
			events: []analytics.Event{
				ev("A", at("10:00:00"), "pv", "/", id("x"), func(e *analytics.Event) { e.SiteID = "other" }),
				ev("A", at("10:00:00"), "pv", "/", id("x")),
			},
			q:    engine.Query{Metrics: []string{engine.Pageviews}},
			want: []engine.Row{row(nil, 1)},
		},
		{
			name: "the range cuts a visit at its start",
			events: []analytics.Event{
				ev("A", day0.Add(-10*time.Minute), "pv", "/before"),
				ev("A", day0.Add(10*time.Minute), "pv", "/after"),
				ev("A", day0.Add(20*time.Minute), "pv", "/after2"),
			},
			q:    engine.Query{Metrics: []string{engine.Visits, engine.VisitDuration}, Dimensions: []string{engine.EntryPage}},
			want: []engine.Row{row(d("/after"), 1, 600.0)},
		},
		{
			name: "a visit across local midnight is in the day it began",
			events: []analytics.Event{
				// 23:50 and 00:10 in Los Angeles (UTC-7 in June)
				ev("A", time.Date(2026, 6, 1, 23, 50, 0, 0, la), "pv", "/"),
				ev("A", time.Date(2026, 6, 2, 0, 10, 0, 0, la), "pv", "/"),
			},
			q: engine.Query{Location: la, From: time.Date(2026, 6, 1, 0, 0, 0, 0, la), To: time.Date(2026, 6, 3, 0, 0, 0, 0, la),
				Metrics: []string{engine.Visits, engine.Pageviews, engine.VisitDuration}, Dimensions: []string{engine.TimeDay}},
			want: []engine.Row{row(d("2026-06-01"), 1, 1, 1200.0), row(d("2026-06-02"), 0, 1, nil)},
		},
		{
			name: "one local day is cut at its own midnights",
			events: []analytics.Event{
				ev("A", time.Date(2026, 6, 1, 23, 50, 0, 0, la), "pv", "/"),
				ev("A", time.Date(2026, 6, 2, 0, 10, 0, 0, la), "pv", "/"),
			},
			q: engine.Query{Location: la, From: time.Date(2026, 6, 2, 0, 0, 0, 0, la), To: time.Date(2026, 6, 3, 0, 0, 0, 0, la),
				Metrics: []string{engine.Visits, engine.BounceRate}},
			want: []engine.Row{row(nil, 1, 100.0)},
		},
		{
			name: "spring forward: a 23-hour day has 23 hour labels",
			events: []analytics.Event{
				ev("A", time.Date(2026, 3, 8, 1, 30, 0, 0, la), "pv", "/"),
				ev("B", time.Date(2026, 3, 8, 3, 30, 0, 0, la), "pv", "/"),
			},
			q: engine.Query{Location: la, From: time.Date(2026, 3, 8, 0, 0, 0, 0, la), To: time.Date(2026, 3, 9, 0, 0, 0, 0, la),
				Metrics: []string{engine.Visitors}, Dimensions: []string{engine.Time}, TimeLabels: true, Limit: 4},
			want: []engine.Row{row(d("2026-03-08 00:00:00"), 0), row(d("2026-03-08 01:00:00"), 1),
				row(d("2026-03-08 03:00:00"), 1), row(d("2026-03-08 04:00:00"), 0)},
		},
		{
			name: "fall back: the repeated 01:00 is one bucket",
			events: []analytics.Event{
				ev("A", time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC), "pv", "/"), // 01:30 PDT
				ev("B", time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC), "pv", "/"), // 01:30 PST
			},
			q: engine.Query{Location: la, From: time.Date(2026, 11, 1, 0, 0, 0, 0, la), To: time.Date(2026, 11, 2, 0, 0, 0, 0, la),
				Metrics: []string{engine.Visitors, engine.VisitDuration}, Dimensions: []string{engine.TimeHour}, TimeLabels: true, Limit: 3},
			want: []engine.Row{row(d("2026-11-01 00:00:00"), 0, nil), row(d("2026-11-01 01:00:00"), 2, 0.0), row(d("2026-11-01 02:00:00"), 0, nil)},
		},
		{
			name:   "time picks hours for one day, days up to 40, months beyond",
			events: []analytics.Event{ev("A", at("10:00:00"), "pv", "/")},
			q: engine.Query{From: day0, To: day0.AddDate(0, 0, 41),
				Metrics: []string{engine.Visitors}, Dimensions: []string{engine.Time}, TimeLabels: true},
			want: []engine.Row{row(d("2026-06-01"), 1), row(d("2026-07-01"), 0)},
		},
		{
			name: "weeks start on Monday in the site's zone",
			events: []analytics.Event{
				ev("A", time.Date(2026, 6, 7, 23, 0, 0, 0, la), "pv", "/"), // Sunday in LA, Monday in UTC
				ev("B", time.Date(2026, 6, 8, 1, 0, 0, 0, la), "pv", "/"),  // Monday
			},
			q: engine.Query{Location: la, From: time.Date(2026, 6, 1, 0, 0, 0, 0, la), To: time.Date(2026, 6, 15, 0, 0, 0, 0, la),
				Metrics: []string{engine.Visitors}, Dimensions: []string{engine.TimeWeek}},
			want: []engine.Row{row(d("2026-06-01"), 1), row(d("2026-06-08"), 1)},
		},
		{
			name:   "months label their first day",
			events: []analytics.Event{ev("A", time.Date(2026, 7, 1, 3, 0, 0, 0, time.UTC), "pv", "/")}, // June 30 in LA
			q: engine.Query{Location: la, From: time.Date(2026, 6, 1, 0, 0, 0, 0, la), To: time.Date(2026, 8, 1, 0, 0, 0, 0, la),
				Metrics: []string{engine.Visitors}, Dimensions: []string{engine.TimeMonth}},
			want: []engine.Row{row(d("2026-06-01"), 1)},
		},
		{
			name:   "visit attributes come from the first event's note",
			events: []analytics.Event{ev("A", at("10:00:00"), "pv", "/", source("Own"), note(analytics.VisitAttrs{Source: "Google", Country: "FR"})), ev("A", at("10:01:00"), "pv", "/", source("Bing"))},
			q:      engine.Query{Metrics: []string{engine.Visits, engine.Pageviews}, Dimensions: []string{engine.Source, engine.Country}},
			want:   []engine.Row{row(d("Google", "FR"), 1, 2)},
		},
		{
			name:   "visit attributes of a visit without a note are its first event's; empty source is Direct",
			events: basic(),
			q:      engine.Query{Metrics: []string{engine.Visitors, engine.Pageviews}, Dimensions: []string{engine.Source}},
			// the visitor-less page view stands alone with its own source
			want: []engine.Row{row(d("Google"), 1, 3), row(d(engine.Direct), 1, 1)}, // tied visitors: more page views first
		},
		{
			name:   "entry and exit pages",
			events: basic(),
			q:      engine.Query{Metrics: []string{engine.Visits}, Dimensions: []string{engine.EntryPage, engine.ExitPage}},
			want:   []engine.Row{row(d("/a", "/a"), 1), row(d("/a", "/b"), 1)},
		},
		{
			name:   "page breakdown counts a visit in each page it viewed, its bounce and duration in its entry page's",
			events: basic(),
			q:      engine.Query{Metrics: []string{engine.Visitors, engine.Visits, engine.Pageviews, engine.BounceRate, engine.VisitDuration}, Dimensions: []string{engine.EventPage}},
			want: []engine.Row{row(d("/a"), 2, 2, 3, 50.0, 300.0),
				row(d("/b"), 1, 1, 1, 0.0, 0.0)},
		},
		{
			name:   "event:name reports page views as pageview",
			events: append(basic(), ev("C", at("13:00:00"), "pageview", "/c")),
			q:      engine.Query{Metrics: []string{engine.Events}, Dimensions: []string{engine.EventName}},
			want:   []engine.Row{row(d("pageview"), 5), row(d("signup"), 1)},
		},
		{
			name:   "an event filter selects the visits holding such an event",
			events: basic(),
			q:      engine.Query{Metrics: []string{engine.Visitors, engine.Visits, engine.Pageviews, engine.Events, engine.VisitDuration, engine.ViewsPerVisit}, Filter: is(engine.EventName, "signup")},
			want:   []engine.Row{row(nil, 1, 1, 0, 1, 600.0, 2.0)},
		},
		{
			name:   "a visit filter selects whole visits",
			events: basic(),
			q:      engine.Query{Metrics: []string{engine.Visitors, engine.Visits, engine.Pageviews, engine.Events}, Filter: is(engine.Country, "DE")},
			want:   []engine.Row{row(nil, 1, 1, 2, 3)},
		},
		{
			name:   "has_done and has_not_done",
			events: basic(),
			q: engine.Query{Metrics: []string{engine.Visitors, engine.Pageviews}, Dimensions: []string{engine.EventPage},
				Filter: and(&engine.Filter{Op: engine.OpHasNotDone, Children: []*engine.Filter{is(engine.EventName, "signup")}}, is(engine.EventName, "pageview"))},
			want: []engine.Row{row(d("/a"), 1, 2)},
		},
		{
			name:   "has_done",
			events: basic(),
			q: engine.Query{Metrics: []string{engine.Pageviews}, Dimensions: []string{engine.EventPage},
				Filter: &engine.Filter{Op: engine.OpHasDone, Children: []*engine.Filter{is(engine.EventName, "signup")}}},
			want: []engine.Row{row(d("/a"), 1), row(d("/b"), 1)},
		},
		{
			name:   "contains, case-insensitive is, matches_not, or, not",
			events: basic(),
			q: engine.Query{Metrics: []string{engine.Pageviews}, Filter: and(
				&engine.Filter{Op: engine.OpOr, Children: []*engine.Filter{op(engine.OpContains, engine.EventPage, "a"), {Op: engine.OpIs, Dim: engine.Source, Values: []string{"google"}, CaseInsensitive: true}}},
				op(engine.OpMatchesNot, engine.Country, "^U"),
				&engine.Filter{Op: engine.OpNot, Children: []*engine.Filter{is(engine.EventPage, "/b")}},
			)},
			// /a of A (DE), /a without visitor (country ""); not B's /a (US), not /b
			want: []engine.Row{row(nil, 2)},
		},
		{
			name: "props: string forms and (none)",
			events: []analytics.Event{
				ev("A", at("10:00:00"), "buy", "", props("n", 3.0)),
				ev("A", at("10:01:00"), "buy", "", props("n", 2.5)),
				ev("B", at("10:02:00"), "buy", "", props("n", true)),
				ev("C", at("10:03:00"), "buy", "", props("n", "x")),
				ev("D", at("10:04:00"), "buy", "", props("m", "x")),
				ev("E", at("10:05:00"), "buy", "", props("n", 1e21)),
			},
			q: engine.Query{Metrics: []string{engine.Events}, Dimensions: []string{engine.PropPrefix + "n"}},
			want: []engine.Row{row(d("(none)"), 1), row(d("1000000000000000000000"), 1), row(d("2.5"), 1),
				row(d("3"), 1), row(d("true"), 1), row(d("x"), 1)},
		},
		{
			name:   "props filter on (none)",
			events: []analytics.Event{ev("A", at("10:00:00"), "buy", "", props("n", 3.0)), ev("B", at("10:00:00"), "buy", "")},
			q:      engine.Query{Metrics: []string{engine.Visitors}, Filter: is(engine.PropPrefix+"n", "(none)")},
			want:   []engine.Row{row(nil, 1)},
		},
		{
			name: "testGoals: breakdown and conversion rate",
			events: append(basic(),
				ev("C", at("13:00:00"), "pv", "/blog/2026/x"),
				ev("C", at("13:01:00"), "pv", "/bee")),
			q: engine.Query{Goals: testGoals, Metrics: []string{engine.Visitors, engine.Events, engine.ConversionRate}, Dimensions: []string{engine.EventGoal}},
			// 3 visitors; /b* matches /b and /bee, not /blog/2026/x; /blog/** matches it
			want: []engine.Row{row(d("Visit /b*"), 2, 2, 100*2/3.0), row(d("Visit /blog/**"), 1, 1, 100/3.0), row(d("signup"), 1, 1, 100/3.0)},
		},
		{
			name:   "goal filter: conversion rate of the range, group conversion rate of the row",
			events: append(basic(), ev("C", at("13:00:00"), "signup", "/", source("Google"))),
			q: engine.Query{Goals: testGoals, Metrics: []string{engine.Visitors, engine.ConversionRate, engine.GroupConversionRate, engine.Percentage},
				Dimensions: []string{engine.Source}, Filter: is(engine.EventGoal, "signup")},
			// 3 visitors (A Google, B Direct, C Google); converted: A, C
			want: []engine.Row{row(d("Google"), 2, 100*2/3.0, 100.0, 100.0)},
		},
		{
			name:   "goal filter is_not keeps events of no goal",
			events: basic(),
			q:      engine.Query{Goals: testGoals, Metrics: []string{engine.Events}, Filter: op(engine.OpIsNot, engine.EventGoal, "signup")},
			want:   []engine.Row{row(nil, 4)},
		},
		{
			name:   "percentage of the filtered range",
			events: basic(),
			q:      engine.Query{Metrics: []string{engine.Percentage}, Dimensions: []string{engine.Country}},
			want:   []engine.Row{row(d("DE"), 50.0), row(d("US"), 50.0), row(d(""), 0.0)},
		},
		{
			name: "a late event, received last, is first in its visit",
			events: []analytics.Event{
				ev("A", at("10:05:00"), "pv", "/b", source("Bing")),
				ev("A", at("10:00:00"), "pv", "/a", source("Google")),
			},
			q:    engine.Query{Metrics: []string{engine.Visits, engine.VisitDuration}, Dimensions: []string{engine.Source, engine.EntryPage, engine.ExitPage}},
			want: []engine.Row{row(d("Google", "/a", "/b"), 1, 300.0)},
		},
		{
			name:   "hours of a half-hour zone",
			events: []analytics.Event{ev("A", at("10:45:00"), "pv", "/")}, // 16:15 in Kolkata
			q: engine.Query{Location: mustZone("Asia/Kolkata"), From: day0, To: day0.Add(24 * time.Hour),
				Metrics: []string{engine.Pageviews}, Dimensions: []string{engine.TimeHour}},
			want: []engine.Row{row(d("2026-06-01 16:00:00"), 1)},
		},
		{
			name:   "goal and source: conversion rate of the range, group conversion rate of the source",
			events: append(basic(), ev("C", at("13:00:00"), "signup", "/", source("Google"))),
			q: engine.Query{Goals: testGoals[:1], Metrics: []string{engine.Visitors, engine.ConversionRate, engine.GroupConversionRate},
				Dimensions: []string{engine.EventGoal, engine.Source}},
			// visitors: A (Google), B (Direct), C (Google); signed up: A, C
			want: []engine.Row{row(d("signup", "Google"), 2, 100*2/3.0, 100.0)},
		},
		{
			name:   "a visit filter with a goal filter: conversion rate without the goal only",
			events: append(basic(), ev("C", at("13:00:00"), "pv", "/", source("Google")), ev("C", at("13:01:00"), "signup", "/")),
			q: engine.Query{Goals: testGoals[:1], Metrics: []string{engine.Visitors, engine.ConversionRate},
				Filter: and(is(engine.Source, "Google"), is(engine.EventGoal, "signup"))},
			// Google visitors: A, C, both signed up; B (Direct) is outside the filter
			want: []engine.Row{row(nil, 2, 100.0)},
		},
		{
			name: "props filter on a number's string form",
			events: []analytics.Event{
				ev("A", at("10:00:00"), "buy", "", props("amount", 10.0)),
				ev("B", at("10:00:00"), "buy", "", props("amount", 10.5)),
			},
			q:    engine.Query{Metrics: []string{engine.Visitors}, Filter: is(engine.PropPrefix+"amount", "10")},
			want: []engine.Row{row(nil, 1)},
		},
		{
			name: "order_by, offset and limit; total rows",
			events: []analytics.Event{
				ev("A", at("10:00:00"), "pv", "/x"), ev("B", at("10:00:00"), "pv", "/x"),
				ev("A", at("10:01:00"), "pv", "/y"), ev("C", at("10:00:00"), "pv", "/z"),
			},
			q: engine.Query{Metrics: []string{engine.Visitors}, Dimensions: []string{engine.EventPage},
				OrderBy: []engine.Order{{By: engine.EventPage, Desc: true}}, Offset: 1, Limit: 1},
			want: []engine.Row{row(d("/y"), 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			q.Site = site
			if q.From.IsZero() {
				q.From, q.To = day0, day0.AddDate(0, 0, 1)
			}
			got, err := Answer(tt.events, q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Rows, tt.want) {
				t.Errorf("rows\n got %v\nwant %v", got.Rows, tt.want)
			}
		})
	}
}

func TestTotalRows(t *testing.T) {
	q := engine.Query{Site: site, From: day0, To: day0.AddDate(0, 0, 1), Metrics: []string{engine.Visitors},
		Dimensions: []string{engine.EventPage}, Limit: 1}
	got, err := Answer(basic(), q)
	if err != nil {
		t.Fatal(err)
	}
	if got.TotalRows != 2 || len(got.Rows) != 1 {
		t.Errorf("total rows %d, rows %d; want 2, 1", got.TotalRows, len(got.Rows))
	}
}

func TestAnswerInvalid(t *testing.T) {
	tests := []struct {
		name string
		q    engine.Query
	}{
		{"unknown metric", engine.Query{Metrics: []string{"nope"}}},
		{"unknown dimension", engine.Query{Metrics: []string{engine.Visitors}, Dimensions: []string{"visit:nope"}}},
		{"conversion rate without a goal", engine.Query{Metrics: []string{engine.ConversionRate}}},
		{"goal under or with conversion rate", engine.Query{Metrics: []string{engine.ConversionRate},
			Filter: &engine.Filter{Op: engine.OpOr, Children: []*engine.Filter{is(engine.EventGoal, "signup"), is(engine.Source, "x")}}}},
		{"bad regexp", engine.Query{Metrics: []string{engine.Visitors}, Filter: op(engine.OpMatches, engine.EventPage, "(")}},
		{"filter on time", engine.Query{Metrics: []string{engine.Visitors}, Filter: is(engine.Time, "x")}},
		{"filter without values", engine.Query{Metrics: []string{engine.Visitors}, Filter: is(engine.EventPage)}},
		{"order by something else", engine.Query{Metrics: []string{engine.Visitors}, OrderBy: []engine.Order{{By: engine.EventPage}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			q.Site, q.From, q.To, q.Goals = site, day0, day0.AddDate(0, 0, 1), testGoals
			_, err := Answer(basic(), q)
			var ae *analytics.Error
			if !errors.As(err, &ae) || ae.Kind != analytics.Invalid {
				t.Errorf("err = %v, want an Invalid error", err)
			}
		})
	}
}

func TestMatchPage(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/pricing", "/pricing", true},
		{"/pricing", "/pricing/x", false},
		{"/blog/*", "/blog/a", true},
		{"/blog/*", "/blog/a/b", false},
		{"/blog/**", "/blog/a/b", true},
		{"/blog/**", "/blog/", true},
		{"/blog/**", "/blogs", false},
		{"/*/edit", "/x/edit", true},
		{"/a.b", "/aXb", false},
		{"**", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.path, func(t *testing.T) {
			if got := matchPage(tt.pattern, tt.path); got != tt.want {
				t.Errorf("matchPage(%q, %q) = %v", tt.pattern, tt.path, got)
			}
		})
	}
}

func TestFunnel(t *testing.T) {
	pricing := engine.Goal{Name: "Visit /pricing", Page: "/pricing"}
	signup := engine.Goal{Name: "signup", Event: "signup"}
	paid := engine.Goal{Event: "paid"}
	events := []analytics.Event{
		// A: all three steps in order in one visit
		ev("A", at("10:00:00"), "pv", "/pricing"), ev("A", at("10:01:00"), "signup", ""), ev("A", at("10:02:00"), "paid", ""),
		// B: signup before pricing, then pricing: step 1 only
		ev("B", at("10:00:00"), "signup", ""), ev("B", at("10:01:00"), "pv", "/pricing"),
		// C: pricing, then signup in another visit: step 1 only
		ev("C", at("10:00:00"), "pv", "/pricing"), ev("C", at("11:00:00"), "signup", ""),
		// D: pricing and signup, paid in another visit
		ev("D", at("10:00:00"), "pv", "/pricing"), ev("D", at("10:10:00"), "signup", ""), ev("D", at("12:00:00"), "paid", ""),
		// no visitor: never in a funnel
		ev("", at("10:00:00"), "pv", "/pricing"),
	}
	q := engine.Query{Site: site, From: day0, To: day0.AddDate(0, 0, 1)}
	got, err := Funnel(events, q, engine.Funnel{Name: "f", Steps: []engine.Goal{pricing, signup, paid}})
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.FunnelStep{
		{Goal: "Visit /pricing", Visitors: 4, ConversionRate: 100, ConversionRateStep: 100},
		{Goal: "signup", Visitors: 2, DropOff: 2, ConversionRate: 50, ConversionRateStep: 50},
		{Goal: "paid", Visitors: 1, DropOff: 1, ConversionRate: 25, ConversionRateStep: 50},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("funnel\n got %+v\nwant %+v", got, want)
	}

	q.Filter = is(engine.EventPage, "/pricing")
	q.Filter = and(q.Filter, is(engine.EventName, "pageview"))
	if got, _ := Funnel(events[:3], q, engine.Funnel{Steps: []engine.Goal{pricing, paid}}); got[1].Visitors != 1 {
		t.Errorf("a filter selects visits, and then all their events count: %+v", got)
	}
	q.Filter = nil
	if _, err := Funnel(events, q, engine.Funnel{Steps: []engine.Goal{pricing}}); err == nil {
		t.Error("a funnel of one step: no error")
	}
	if got, _ := Funnel(nil, q, engine.Funnel{Steps: []engine.Goal{pricing, paid}}); got[0].ConversionRate != 0 || got[1].ConversionRateStep != 0 {
		t.Errorf("no visitors: %+v", got)
	}
}
