package query_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/query"
	"github.com/siteanalytics/analytics/rollup"
	"github.com/siteanalytics/analytics/sketch"
)

// now is a Friday afternoon; today is 2026-11-27.
var now = time.Date(2026, 11, 27, 15, 4, 5, 0, time.UTC)

func date(s string) time.Time {
	d, err := time.Parse(analytics.DateLayout, s)
	if err != nil {
		panic(err)
	}
	return d
}

// fakeReader is an in-memory rollup.Reader: a map of snapshots by period.
type fakeReader struct {
	snaps map[string]rollup.Snapshot
	asked [][]string
	err   error
}

func (f *fakeReader) Rollups(_ context.Context, site string, periods []string) ([]rollup.Snapshot, error) {
	f.asked = append(f.asked, append([]string(nil), periods...))
	if f.err != nil {
		return nil, f.err
	}
	out := make([]rollup.Snapshot, len(periods))
	for i, p := range periods {
		s := f.snaps[p]
		s.Period = p
		out[i] = s
	}
	return out, nil
}

// visitors returns the keys prefix-0 .. prefix-(n-1).
func visitors(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, from+i)
	}
	return out
}

// snap builds a snapshot with the given distinct visitor keys.
func snap(views, events int64, keys []string) rollup.Snapshot {
	s := rollup.Snapshot{Views: views, Events: events, Visitors: int64(len(keys))}
	if len(keys) > 0 {
		b, err := sketch.Add(nil, keys)
		if err != nil {
			panic(err)
		}
		s.Sketch = b
	}
	return s
}

func values(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestParseQueryErrors(t *testing.T) {
	for _, tt := range []struct {
		kind query.Kind
		q    string
		want string // the start of the message: the parameter's name
		has  string
	}{
		{query.Aggregate, "", "site_id: required", ""},
		{query.Aggregate, "site_id=a%20b", "site_id", ""},
		{query.Aggregate, "site_id=s&site_id=t", "site_id: given 2 times", ""},
		{query.Aggregate, "site_id=s&period=week", "period: \"week\" is not a period", "custom"},
		{query.Aggregate, "site_id=s&period=day&date=2026-13-01", "date: \"2026-13-01\" is not a date in YYYY-MM-DD format", ""},
		{query.Aggregate, "site_id=s&period=day&date=27/11/2026", "date: ", "YYYY-MM-DD"},
		{query.Aggregate, "site_id=s&period=day&date=2026-11-01,2026-11-02", "date: a range", "period=custom"},
		{query.Aggregate, "site_id=s&period=custom", "date: period=custom needs two dates", ""},
		{query.Aggregate, "site_id=s&period=custom&date=2026-11-01", "date: period=custom needs two dates", ""},
		{query.Aggregate, "site_id=s&period=custom&date=2026-11-01,x", "date: \"x\" is not a date", ""},
		{query.Aggregate, "site_id=s&period=custom&date=2026-11-02,2026-11-01", "date: the range ends (2026-11-01) before it starts (2026-11-02)", ""},
		{query.Aggregate, "site_id=s&period=custom&date=2020-01-01,2025-01-01", "date: the range spans", "at most 5 years"},
		{query.Aggregate, "site_id=s&metrics=time_on_page", "metrics: time_on_page is not available yet", ""},
		{query.Aggregate, "site_id=s&metrics=visitors,conversion_rate", "metrics: conversion_rate is not available yet", "goals"},
		{query.Breakdown, "site_id=s&property=visit:exit_page&metrics=visitors", "metrics: visitors is not available for visit:exit_page", "visits"},
		{query.Breakdown, "site_id=s&property=event:page&metrics=bounce_rate", "metrics: bounce_rate is not available for event:page", "visit:entry_page"},
		{query.Aggregate, "site_id=s&metrics=clicks", "metrics: \"clicks\" is not a metric", "visitors, pageviews, events"},
		{query.Aggregate, "site_id=s&metrics=visitors,", "metrics: an empty name", ""},
		{query.Aggregate, "site_id=s&metrics=visitors,visitors", "metrics: \"visitors\" is listed twice", ""},
		{query.Aggregate, "site_id=s&filters=event:page==/", "filters: not supported", "cannot filter"},
		{query.Aggregate, "site_id=s&compare=previous_period", "compare: not supported", ""},
		{query.Aggregate, "site_id=s&property=event:page", "property: only a breakdown", ""},
		{query.Aggregate, "site_id=s&interval=date", "interval: only a timeseries", ""},
		{query.Timeseries, "site_id=s&period=7d&interval=hour", "interval: hour needs a range of one day", ""},
		{query.Timeseries, "site_id=s&interval=week", "interval: \"week\" is not an interval", ""},
		{query.Timeseries, "site_id=s&period=all", "period: all", "timeseries"},
		{query.Breakdown, "site_id=s", "property: required", "visit:source"},
		{query.Breakdown, "site_id=s&property=visit:city", "property: \"visit:city\" is not available", "visit:entry_page"},
		{query.Breakdown, "site_id=s&property=event:goal", "property: \"event:goal\" is not available", ""},
		{query.Breakdown, "site_id=s&property=visit:source&metrics=pageviews", "metrics: pageviews is not available for visit:source", "visit properties count visitors"},
		{query.Breakdown, "site_id=s&property=visit:country&metrics=visitors,events", "metrics: events is not available for visit:country", "first event"},
		{query.Breakdown, "site_id=s&property=event:page&metrics=events", "metrics: events is not available for event:page", "pageviews"},
		{query.Breakdown, "site_id=s&property=visit:os&metrics=time_on_page", "metrics: time_on_page is not available yet", ""},
		{query.Breakdown, "site_id=s&property=event:page&limit=0", "limit: \"0\" must be a whole number from 1 to 1000", ""},
		{query.Breakdown, "site_id=s&property=event:page&limit=1001", "limit: \"1001\"", ""},
		{query.Breakdown, "site_id=s&property=event:page&limit=x", "limit: \"x\"", ""},
		{query.Breakdown, "site_id=s&property=event:page&page=0", "page: \"0\" must be a whole number from 1", "pages start at 1"},
		{query.Breakdown, "site_id=s&property=event:page&page=-2", "page: ", ""},
	} {
		t.Run(tt.kind.String()+"?"+tt.q, func(t *testing.T) {
			v, err := url.ParseQuery(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			_, err = query.Parse(tt.kind, v, now)
			if err == nil {
				t.Fatal("no error")
			}
			if analytics.KindOf(err) != analytics.Invalid {
				t.Fatalf("kind %v", analytics.KindOf(err))
			}
			msg := analytics.Message(err)
			if !strings.HasPrefix(msg, tt.want) || !strings.Contains(msg, tt.has) {
				t.Fatalf("message %q\nwant prefix %q containing %q", msg, tt.want, tt.has)
			}
		})
	}
}

func TestParseQueryRanges(t *testing.T) {
	for _, tt := range []struct {
		kind     query.Kind
		q        string
		from, to string
		interval string
	}{
		{query.Aggregate, "", "2026-10-28", "2026-11-27", ""}, // default 30d ending today
		{query.Aggregate, "period=day", "2026-11-27", "2026-11-27", ""},
		{query.Aggregate, "period=day&date=today", "2026-11-27", "2026-11-27", ""},
		{query.Aggregate, "period=day&date=2026-02-03", "2026-02-03", "2026-02-03", ""},
		{query.Aggregate, "period=7d&date=2026-03-02", "2026-02-24", "2026-03-02", ""},
		{query.Aggregate, "period=30d&date=2026-03-31", "2026-03-01", "2026-03-31", ""},
		{query.Aggregate, "period=month&date=2024-02-10", "2024-02-01", "2024-02-29", ""},
		{query.Aggregate, "period=6mo&date=2026-03-15", "2025-10-01", "2026-03-31", ""},
		{query.Aggregate, "period=12mo", "2025-12-01", "2026-11-30", ""},
		{query.Aggregate, "period=custom&date=2026-01-05,2026-01-05", "2026-01-05", "2026-01-05", ""},
		{query.Aggregate, "period=custom&date=2021-11-28,2026-11-27", "2021-11-28", "2026-11-27", ""},
		{query.Timeseries, "period=day", "2026-11-27", "2026-11-27", query.Hour},
		{query.Timeseries, "period=7d", "2026-11-21", "2026-11-27", query.Date},
		{query.Timeseries, "period=7d&interval=day", "2026-11-21", "2026-11-27", query.Date},
		{query.Timeseries, "period=7d&interval=month", "2026-11-21", "2026-11-27", query.Month},
		{query.Timeseries, "period=month", "2026-11-01", "2026-11-30", query.Date},
		{query.Timeseries, "period=6mo", "2026-06-01", "2026-11-30", query.Month},
		{query.Timeseries, "period=12mo&interval=date", "2025-12-01", "2026-11-30", query.Date},
		{query.Timeseries, "period=custom&date=2026-01-05,2026-01-05&interval=hour", "2026-01-05", "2026-01-05", query.Hour},
	} {
		t.Run(tt.q, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.q)
			v.Set("site_id", "s")
			q, err := query.Parse(tt.kind, v, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.From.Format(analytics.DateLayout) + ".." + q.To.Format(analytics.DateLayout); got != tt.from+".."+tt.to {
				t.Fatalf("range %s, want %s..%s", got, tt.from, tt.to)
			}
			if q.Interval != tt.interval {
				t.Fatalf("interval %q, want %q", q.Interval, tt.interval)
			}
			if !reflect.DeepEqual(q.Metrics, []string{query.Visitors}) {
				t.Fatalf("default metrics %v", q.Metrics)
			}
		})
	}
	q, err := query.ParseBreakdown(values("site_id", "s", "property", "visit:source", "period", "all"), now)
	if err != nil || q.Limit != 100 || q.Page != 1 || q.Dim != rollup.Source || q.Period != query.PeriodAll || !q.From.IsZero() {
		t.Fatalf("breakdown defaults %+v %v", q, err)
	}
}

// TestQueryPlan: ranges are split into whole months and leftover days, so
// long ranges read few documents.
func TestQueryPlan(t *testing.T) {
	today := date("2026-11-27")
	for _, tt := range []struct {
		from, to string
		want     string
	}{
		{"2026-11-27", "2026-11-27", "2026-11-27"},
		{"2026-10-01", "2026-10-31", "2026-10"},
		{"2026-11-01", "2026-11-30", "2026-11"}, // the current month, whole
		{"2026-11-01", "2026-11-27", "2026-11"}, // the current month so far
		{"2026-11-01", "2026-11-26", "days"},    // not up to today: days
		{"2026-10-28", "2026-11-27", "2026-10-28 2026-10-29 2026-10-30 2026-10-31 2026-11"},
		{"2026-09-15", "2026-10-31", "days+2026-10"},
		{"2025-12-01", "2026-11-30", "12 months"},
		{"2024-02-29", "2024-03-31", "2024-02-29 2024-03"},
	} {
		got := query.Plan(date(tt.from), date(tt.to), today)
		s := strings.Join(got, " ")
		switch tt.want {
		case "days":
			if len(got) != 26 || got[0] != "2026-11-01" || got[25] != "2026-11-26" {
				t.Errorf("%s..%s: %s", tt.from, tt.to, s)
			}
		case "days+2026-10":
			if len(got) != 17 || got[0] != "2026-09-15" || got[16] != "2026-10" {
				t.Errorf("%s..%s: %s", tt.from, tt.to, s)
			}
		case "12 months":
			if len(got) != 12 || got[0] != "2025-12" || got[11] != "2026-11" {
				t.Errorf("%s..%s: %s", tt.from, tt.to, s)
			}
		default:
			if s != tt.want {
				t.Errorf("%s..%s: %s, want %s", tt.from, tt.to, s, tt.want)
			}
		}
	}
}

func run(t *testing.T, f *fakeReader, kind query.Kind, kv ...string) (query.Answer, string) {
	t.Helper()
	q, err := query.Parse(kind, values(append([]string{"site_id", "s"}, kv...)...), now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := query.Run(context.Background(), f, q)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return a, string(b)
}

func TestAggregateExactness(t *testing.T) {
	// Visitors u-0..u-99 on 2026-11-20, u-50..u-149 on 2026-11-21: 150
	// distinct, 200 summed. The month and all-time snapshots know 150
	// exactly.
	d20, d21 := snap(300, 400, visitors("u", 0, 100)), snap(100, 150, visitors("u", 50, 100))
	month := snap(400, 550, visitors("u", 0, 150))
	f := &fakeReader{snaps: map[string]rollup.Snapshot{
		"2026-11-20": d20, "2026-11-21": d21, "2026-11": month, "all": month,
		"2026-10-05": snap(7, 9, visitors("u", 0, 1)),
		"2026-10":    snap(7, 9, visitors("u", 0, 1)),
	}}
	metrics := []string{"metrics", "visitors,pageviews,events"}
	for _, tt := range []struct {
		name  string
		kv    []string
		want  string
		asked string
	}{
		{"one day is exact", []string{"period", "day", "date", "2026-11-20"},
			`{"results":{"events":{"value":400},"pageviews":{"value":300},"visitors":{"value":100}},"approximate":false}`, "2026-11-20"},
		{"a calendar month is exact", []string{"period", "month"},
			`{"results":{"events":{"value":550},"pageviews":{"value":400},"visitors":{"value":150}},"approximate":false}`, "2026-11"},
		{"all time is exact", []string{"period", "all"},
			`{"results":{"events":{"value":550},"pageviews":{"value":400},"visitors":{"value":150}},"approximate":false}`, "all"},
		{"the current month so far is exact", []string{"period", "custom", "date", "2026-11-01,2026-11-27"},
			`{"results":{"events":{"value":550},"pageviews":{"value":400},"visitors":{"value":150}},"approximate":false}`, "2026-11"},
		{"two days are estimated", []string{"period", "custom", "date", "2026-11-20,2026-11-21"},
			`{"results":{"events":{"value":550},"pageviews":{"value":400},"visitors":{"value":150,"approximate":true}},"approximate":true}`, "2026-11-20 2026-11-21"},
		{"7d: one day with visitors is exact", []string{"period", "7d", "date", "2026-10-10"},
			`{"results":{"events":{"value":9},"pageviews":{"value":7},"visitors":{"value":1}},"approximate":false}`, "2026-10-04 2026-10-05 2026-10-06 2026-10-07 2026-10-08 2026-10-09 2026-10-10"},
		{"30d ending today: 4 days and the month", []string{"period", "30d"},
			`{"results":{"events":{"value":550},"pageviews":{"value":400},"visitors":{"value":150}},"approximate":false}`, "2026-10-28 2026-10-29 2026-10-30 2026-10-31 2026-11"},
		{"counts without visitors are never approximate", []string{"period", "custom", "date", "2026-10-01,2026-11-21", "metrics", "pageviews,events"},
			`{"results":{"events":{"value":559},"pageviews":{"value":407}},"approximate":false}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.asked = nil
			kv := tt.kv
			if !strings.Contains(strings.Join(kv, " "), "metrics") {
				kv = append(kv, metrics...)
			}
			_, got := run(t, f, query.Aggregate, kv...)
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if len(f.asked) != 1 {
				t.Fatalf("%d reads", len(f.asked))
			}
			if tt.asked != "" && strings.Join(f.asked[0], " ") != tt.asked {
				t.Fatalf("asked %v, want %s", f.asked[0], tt.asked)
			}
		})
	}
}

// TestAggregateEstimateIsClose: the union of many days' sketches is near the
// true distinct count, and within the certain bounds.
func TestAggregateEstimateIsClose(t *testing.T) {
	f := &fakeReader{snaps: map[string]rollup.Snapshot{}}
	// 30 days, 2000 visitors a day, each day sharing half with the next:
	// 1000*31 distinct.
	for i := 0; i < 31; i++ {
		d := date("2026-05-01").AddDate(0, 0, i)
		f.snaps[rollup.DayOf(d)] = snap(10, 10, visitors("v", i*1000, 2000))
	}
	a, _ := run(t, f, query.Aggregate, "period", "custom", "date", "2026-05-01,2026-05-30")
	got, want := a.Aggregate["visitors"].Value, float64(31000)
	if !a.Approximate || !a.Aggregate["visitors"].Approximate {
		t.Fatal("not marked approximate")
	}
	if got < want*97/100 || got > want*103/100 {
		t.Fatalf("estimate %v, true %v", got, want)
	}
	if n := len(f.asked[0]); n != 30 {
		t.Fatalf("read %d periods", n)
	}
}

func TestAggregateMonthSplitting(t *testing.T) {
	f := &fakeReader{snaps: map[string]rollup.Snapshot{}}
	for _, tt := range []struct {
		kv  []string
		max int
	}{
		{[]string{"period", "12mo"}, 12},
		{[]string{"period", "12mo", "date", "2025-06-15"}, 12},
		{[]string{"period", "6mo"}, 6},
		{[]string{"period", "30d", "date", "2026-03-30"}, 31},
		{[]string{"period", "30d", "date", "2026-03-31"}, 1},
		{[]string{"period", "custom", "date", "2025-11-15,2026-11-14"}, 11 + 16 + 14},
		{[]string{"period", "custom", "date", "2021-11-28,2026-11-27"}, 4 + 59},
	} {
		f.asked = nil
		run(t, f, query.Aggregate, tt.kv...)
		if n := len(f.asked[0]); n > tt.max {
			t.Errorf("%v: %d periods asked: %v", tt.kv, n, f.asked[0])
		}
	}
}

func TestTimeseriesRows(t *testing.T) {
	day := snap(5, 6, visitors("u", 0, 3))
	day.Hours[0] = rollup.Bucket{Views: 1, Events: 1, Visitors: 1}
	day.Hours[13] = rollup.Bucket{Views: 4, Events: 5, Visitors: 2}
	f := &fakeReader{snaps: map[string]rollup.Snapshot{
		"2026-11-25": day,
		"2026-11-26": snap(2, 2, visitors("u", 2, 2)),
		"2026-10":    snap(9, 9, visitors("u", 0, 4)),
		"2026-09-30": snap(1, 1, visitors("w", 0, 1)),
		"2026-11":    snap(7, 8, visitors("u", 0, 4)),
	}}
	// interval date: one row per day, zeros included, exact.
	a, got := run(t, f, query.Timeseries, "period", "7d", "metrics", "visitors,pageviews")
	want := `{"results":[{"date":"2026-11-21","visitors":0,"pageviews":0},{"date":"2026-11-22","visitors":0,"pageviews":0},{"date":"2026-11-23","visitors":0,"pageviews":0},{"date":"2026-11-24","visitors":0,"pageviews":0},{"date":"2026-11-25","visitors":3,"pageviews":5},{"date":"2026-11-26","visitors":2,"pageviews":2},{"date":"2026-11-27","visitors":0,"pageviews":0}],"approximate":false}`
	if got != want || a.Approximate {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// interval hour: 24 rows.
	a, got = run(t, f, query.Timeseries, "period", "day", "date", "2026-11-25", "metrics", "pageviews,events,visitors")
	if len(a.Rows) != 24 || !strings.Contains(got, `{"date":"2026-11-25 13:00:00","pageviews":4,"events":5,"visitors":2}`) ||
		!strings.HasPrefix(got, `{"results":[{"date":"2026-11-25 00:00:00","pageviews":1,"events":1,"visitors":1},{"date":"2026-11-25 01:00:00","pageviews":0,"events":0,"visitors":0}`) {
		t.Fatalf("hours %s", got)
	}
	if strings.Join(f.asked[len(f.asked)-1], " ") != "2026-11-25" {
		t.Fatalf("asked %v", f.asked)
	}
	// interval month: whole months from month snapshots (exact); a month
	// cut by the range from its days (estimated when needed).
	a, got = run(t, f, query.Timeseries, "period", "custom", "date", "2026-09-30,2026-11-27", "interval", "month", "metrics", "visitors,events")
	want = `{"results":[{"date":"2026-09-01","visitors":1,"events":1},{"date":"2026-10-01","visitors":4,"events":9},{"date":"2026-11-01","visitors":4,"events":8}],"approximate":false}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if strings.Join(f.asked[len(f.asked)-1], " ") != "2026-09-30 2026-10 2026-11" {
		t.Fatalf("asked %v", f.asked[len(f.asked)-1])
	}
	// 12mo: 12 month rows from 12 month snapshots.
	a, _ = run(t, f, query.Timeseries, "period", "12mo")
	if len(a.Rows) != 12 || a.Rows[0].Key != "2025-12-01" || a.Rows[11].Key != "2026-11-01" || len(f.asked[len(f.asked)-1]) != 12 {
		t.Fatalf("12mo rows %v asked %v", a.Rows, f.asked[len(f.asked)-1])
	}
	// A month bucket cut by the range, with visitors on two days: estimated.
	a, got = run(t, f, query.Timeseries, "period", "custom", "date", "2026-11-25,2026-11-26", "interval", "month")
	if !a.Approximate || got != `{"results":[{"date":"2026-11-01","visitors":4}],"approximate":true}` {
		t.Fatalf("cut month %s", got)
	}
}

func TestBreakdownRows(t *testing.T) {
	d1 := snap(10, 12, visitors("u", 0, 10))
	d1.Top = map[string][]rollup.Ranked{
		rollup.Source: {{Value: "Google", Counter: rollup.Counter{Visitors: 6}}, {Value: rollup.Direct, Counter: rollup.Counter{Visitors: 4}}},
		rollup.Path:   {{Value: "/", Counter: rollup.Counter{Count: 6, Visitors: 5}}, {Value: "/b", Counter: rollup.Counter{Count: 4, Visitors: 4}}},
		rollup.Type:   {{Value: "page_view", Counter: rollup.Counter{Count: 10, Visitors: 10}}, {Value: "signup", Counter: rollup.Counter{Count: 2, Visitors: 2}}},
	}
	d1.Other = map[string]rollup.Counter{rollup.Path: {Count: 3, Visitors: 2}}
	// The next day: the same 10 visitors come back.
	d2 := snap(4, 4, visitors("u", 0, 10))
	d2.Top = map[string][]rollup.Ranked{
		rollup.Source: {{Value: "Google", Counter: rollup.Counter{Visitors: 10}}},
		rollup.Path:   {{Value: "/b", Counter: rollup.Counter{Count: 4, Visitors: 4}}},
	}
	f := &fakeReader{snaps: map[string]rollup.Snapshot{"2026-11-20": d1, "2026-11-21": d2}}

	for _, tt := range []struct {
		name string
		kv   []string
		want string
	}{
		{"one day: exact, sorted by the first metric then value",
			[]string{"property", "visit:source", "period", "day", "date", "2026-11-20"},
			`{"results":[{"source":"Google","visitors":6},{"source":"Direct / None","visitors":4}],"approximate":false}`},
		{"pages with the (other) row last, truncated",
			[]string{"property", "event:page", "period", "day", "date", "2026-11-20", "metrics", "pageviews,visitors"},
			`{"results":[{"page":"/","pageviews":6,"visitors":5},{"page":"/b","pageviews":4,"visitors":4},{"page":"(other)","pageviews":3,"visitors":2}],"approximate":false,"truncated":true}`},
		{"event names: events, visitors, page views",
			[]string{"property", "event:name", "period", "day", "date", "2026-11-20", "metrics", "events,visitors,pageviews"},
			`{"results":[{"name":"page_view","events":10,"visitors":10,"pageviews":10},{"name":"signup","events":2,"visitors":2,"pageviews":0}],"approximate":false}`},
		{"paging",
			[]string{"property", "event:page", "period", "day", "date", "2026-11-20", "metrics", "pageviews", "limit", "1", "page", "2"},
			`{"results":[{"page":"/b","pageviews":4}],"approximate":false,"truncated":true}`},
		{"paging past the end",
			[]string{"property", "event:page", "period", "day", "date", "2026-11-20", "limit", "2", "page", "3"},
			`{"results":[],"approximate":false,"truncated":true}`},
		{"two days: visitors scaled by the overlap (10 distinct of 20 summed)",
			[]string{"property", "visit:source", "period", "custom", "date", "2026-11-20,2026-11-21"},
			`{"results":[{"source":"Google","visitors":10},{"source":"Direct / None","visitors":4}],"approximate":true}`},
		{"two days: page views summed, exact when every list is complete",
			[]string{"property", "event:page", "period", "custom", "date", "2026-11-20,2026-11-21", "metrics", "pageviews"},
			`{"results":[{"page":"/b","pageviews":8},{"page":"/","pageviews":6},{"page":"(other)","pageviews":3}],"approximate":false,"truncated":true}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, got := run(t, f, query.Breakdown, tt.kv...)
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestBreakdownTiesByTheNextMetric: rows equal in the first metric rank by
// the next, then by value; the seed's pages by visitors, views: /pricing (1
// visitor, 2 views) above /blog/post-1 (1 visitor, 1 view), as /stats.
func TestBreakdownTiesByTheNextMetric(t *testing.T) {
	d := snap(3, 3, []string{"user-001", "user-002"})
	d.Top = map[string][]rollup.Ranked{
		rollup.Path: {{Value: "/blog/post-1", Counter: rollup.Counter{Count: 1, Visitors: 1}}, {Value: "/pricing", Counter: rollup.Counter{Count: 2, Visitors: 1}}, {Value: "/about", Counter: rollup.Counter{Count: 1, Visitors: 1}}},
	}
	f := &fakeReader{snaps: map[string]rollup.Snapshot{"2025-11-12": d}}
	_, got := run(t, f, query.Breakdown, "property", "event:page", "period", "day", "date", "2025-11-12", "metrics", "visitors,pageviews")
	want := `{"results":[{"page":"/pricing","visitors":1,"pageviews":2},{"page":"/about","visitors":1,"pageviews":1},{"page":"/blog/post-1","visitors":1,"pageviews":1}],"approximate":false}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestBreakdownLowerBounds: a value missing from a full leaders list may
// have counted there, so its sum is only a lower bound: approximate. With
// complete lists, counts over several days are exact.
func TestBreakdownLowerBounds(t *testing.T) {
	full := snap(1000, 1000, nil)
	full.Top = map[string][]rollup.Ranked{}
	var top []rollup.Ranked
	for i := 0; i < rollup.TopKeys; i++ {
		top = append(top, rollup.Ranked{Value: fmt.Sprintf("/p%03d", i), Counter: rollup.Counter{Count: int64(1000 - i)}})
	}
	full.Top[rollup.Path] = top
	small := snap(5, 5, nil)
	small.Top = map[string][]rollup.Ranked{rollup.Path: {{Value: "/p000", Counter: rollup.Counter{Count: 2}}}}
	other := snap(5, 5, nil)
	other.Top = map[string][]rollup.Ranked{rollup.Path: {{Value: "/new", Counter: rollup.Counter{Count: 5}}}}
	f := &fakeReader{snaps: map[string]rollup.Snapshot{"2026-11-01": full, "2026-11-02": small, "2026-11-03": other}}

	a, _ := run(t, f, query.Breakdown, "property", "event:page", "period", "custom", "date", "2026-11-01,2026-11-02", "metrics", "pageviews", "limit", "3")
	if a.Approximate || !a.Truncated || a.Rows[0].Key != "/p000" || a.Rows[0].Values[0] != 1002 {
		t.Fatalf("every value in every full list: exact sums; %+v", a)
	}
	a, _ = run(t, f, query.Breakdown, "property", "event:page", "period", "custom", "date", "2026-11-01,2026-11-03", "metrics", "pageviews", "limit", "1000")
	if !a.Approximate || len(a.Rows) != rollup.TopKeys+1 {
		t.Fatalf("/new is missing from a full list: lower bound; %v %d", a.Approximate, len(a.Rows))
	}
	a, _ = run(t, f, query.Breakdown, "property", "event:page", "period", "custom", "date", "2026-11-02,2026-11-03", "metrics", "pageviews")
	if a.Approximate || a.Truncated {
		t.Fatalf("complete lists: exact; %+v", a)
	}
}

func TestQueryStoreError(t *testing.T) {
	f := &fakeReader{err: analytics.Wrap(analytics.Unavailable, "mongodb", fmt.Errorf("down"))}
	q, _ := query.ParseAggregate(values("site_id", "s"), now)
	if _, err := query.Run(context.Background(), f, q); analytics.KindOf(err) != analytics.Unavailable {
		t.Fatalf("err %v", err)
	}
}

// realistic returns snapshots for every day and month around now: 100
// leaders per dimension, sketches of a few thousand visitors.
func realistic() *fakeReader {
	f := &fakeReader{snaps: map[string]rollup.Snapshot{}}
	top := map[string][]rollup.Ranked{}
	other := map[string]rollup.Counter{}
	for _, d := range rollup.Dims {
		var r []rollup.Ranked
		for i := 0; i < rollup.TopKeys; i++ {
			r = append(r, rollup.Ranked{Value: fmt.Sprintf("%s-value-%03d", d.Name, i), Counter: rollup.Counter{Count: int64(5000 - i*10), Visitors: int64(3000 - i*10)}})
		}
		top[d.Name] = r
		other[d.Name] = rollup.Counter{Count: 100, Visitors: 50}
	}
	start := date("2025-06-01")
	for d := start; !d.After(date("2026-11-30")); d = d.AddDate(0, 0, 1) {
		s := snap(20000, 30000, visitors("v", int(d.Sub(start).Hours()/24)*1000, 3000))
		s.Top, s.Other = top, other
		f.snaps[rollup.DayOf(d)] = s
		if d.Day() == 1 {
			m := snap(600000, 900000, visitors("v", int(d.Sub(start).Hours()/24)*1000, 5000))
			m.Top, m.Other = top, other
			f.snaps[rollup.MonthOf(d)] = m
		}
	}
	return f
}

func BenchmarkQueryRun(b *testing.B) {
	f := realistic()
	for _, bb := range []struct {
		name string
		kind query.Kind
		kv   []string
	}{
		{"aggregate-30d", query.Aggregate, []string{"period", "30d", "date", "2026-11-20", "metrics", "visitors,pageviews,events"}},
		{"aggregate-30d-ending-today", query.Aggregate, []string{"period", "30d", "metrics", "visitors,pageviews,events"}},
		{"aggregate-12mo", query.Aggregate, []string{"period", "12mo", "metrics", "visitors,pageviews,events"}},
		{"timeseries-30d", query.Timeseries, []string{"period", "30d", "date", "2026-11-20", "metrics", "visitors,pageviews"}},
		{"timeseries-12mo", query.Timeseries, []string{"period", "12mo", "metrics", "visitors,pageviews"}},
		{"breakdown-30d", query.Breakdown, []string{"period", "30d", "date", "2026-11-20", "property", "visit:source"}},
		{"breakdown-12mo-pageviews", query.Breakdown, []string{"period", "12mo", "property", "event:page", "metrics", "pageviews"}},
		{"breakdown-12mo", query.Breakdown, []string{"period", "12mo", "property", "event:page", "metrics", "visitors,pageviews"}},
	} {
		q, err := query.Parse(bb.kind, values(append([]string{"site_id", "s"}, bb.kv...)...), now)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.asked = f.asked[:0]
				if _, err := query.Run(context.Background(), f, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Visit metrics: sums of the snapshots' visit counters, exact for any
// range; bounce rate a whole percentage, duration whole seconds, views per
// visit two decimals; exit pages count visits only; a value with nothing in
// the metrics asked has no row.
func TestVisitMetrics(t *testing.T) {
	vc := func(visits, bounces, dur, views int64) rollup.VisitCounts {
		return rollup.VisitCounts{Visits: visits, Bounces: bounces, Duration: dur, VisitViews: views}
	}
	d1 := snap(10, 12, visitors("u", 0, 3))
	d1.VisitCounts = vc(4, 1, 130, 10)
	d1.Hours[9] = rollup.Bucket{Views: 10, Events: 12, Visitors: 3, VisitCounts: vc(4, 1, 130, 10)}
	d1.Top = map[string][]rollup.Ranked{
		rollup.Source:   {{Value: "Google", Counter: rollup.Counter{Visitors: 2, VisitCounts: vc(3, 1, 100, 7)}}, {Value: "Direct / None", Counter: rollup.Counter{Visitors: 1}}, {Value: "newsletter", Counter: rollup.Counter{VisitCounts: vc(1, 0, 30, 3)}}},
		rollup.ExitPage: {{Value: "/b", Counter: rollup.Counter{VisitCounts: vc(3, 0, 130, 9)}}, {Value: "/a", Counter: rollup.Counter{VisitCounts: vc(1, 1, 0, 1)}}, {Value: "/gone", Counter: rollup.Counter{}}},
	}
	d2 := snap(3, 3, visitors("u", 5, 2))
	d2.VisitCounts = vc(2, 2, 0, 2)
	d2.Top = map[string][]rollup.Ranked{rollup.ExitPage: {{Value: "/a", Counter: rollup.Counter{VisitCounts: vc(2, 2, 0, 2)}}}}
	f := &fakeReader{snaps: map[string]rollup.Snapshot{"2026-11-25": d1, "2026-11-26": d2}}

	a, got := run(t, f, query.Aggregate, "period", "custom", "date", "2026-11-25,2026-11-26", "metrics", "visits,bounce_rate,visit_duration,views_per_visit")
	// 6 visits, 3 bounces (50%), 130 s (21.67 -> 22), 12 views (2.00).
	if want := `{"results":{"bounce_rate":{"value":50},"views_per_visit":{"value":2},"visit_duration":{"value":22},"visits":{"value":6}},"approximate":false}`; got != want || a.Approximate {
		t.Fatalf("aggregate\ngot  %s\nwant %s", got, want)
	}
	_, got = run(t, f, query.Aggregate, "period", "day", "date", "2026-11-25", "metrics", "views_per_visit,bounce_rate")
	if want := `{"results":{"bounce_rate":{"value":25},"views_per_visit":{"value":2.5}},"approximate":false}`; got != want {
		t.Fatalf("day\ngot  %s\nwant %s", got, want)
	}
	_, got = run(t, f, query.Aggregate, "period", "day", "date", "2026-11-24", "metrics", "visits,bounce_rate,visit_duration,views_per_visit")
	if want := `{"results":{"bounce_rate":{"value":0},"views_per_visit":{"value":0},"visit_duration":{"value":0},"visits":{"value":0}},"approximate":false}`; got != want {
		t.Fatalf("no visits\ngot  %s\nwant %s", got, want)
	}
	_, got = run(t, f, query.Timeseries, "period", "day", "date", "2026-11-25", "metrics", "visits,visit_duration")
	if !strings.Contains(got, `{"date":"2026-11-25 09:00:00","visits":4,"visit_duration":33}`) || !strings.Contains(got, `{"date":"2026-11-25 10:00:00","visits":0,"visit_duration":0}`) {
		t.Fatalf("hours %s", got)
	}
	_, got = run(t, f, query.Timeseries, "period", "custom", "date", "2026-11-25,2026-11-26", "metrics", "visits,bounce_rate")
	if want := `{"results":[{"date":"2026-11-25","visits":4,"bounce_rate":25},{"date":"2026-11-26","visits":2,"bounce_rate":100}],"approximate":false}`; got != want {
		t.Fatalf("days\ngot  %s\nwant %s", got, want)
	}
	// Sources: visitors and visits side by side; each row has something.
	_, got = run(t, f, query.Breakdown, "period", "day", "date", "2026-11-25", "property", "visit:source", "metrics", "visitors,visits,bounce_rate")
	if want := `{"results":[{"source":"Google","visitors":2,"visits":3,"bounce_rate":33},{"source":"Direct / None","visitors":1,"visits":0,"bounce_rate":0},{"source":"newsletter","visitors":0,"visits":1,"bounce_rate":0}],"approximate":false}`; got != want {
		t.Fatalf("sources\ngot  %s\nwant %s", got, want)
	}
	_, got = run(t, f, query.Breakdown, "period", "day", "date", "2026-11-25", "property", "visit:source")
	if want := `{"results":[{"source":"Google","visitors":2},{"source":"Direct / None","visitors":1}],"approximate":false}`; got != want {
		t.Fatalf("sources by visitors\ngot  %s\nwant %s", got, want)
	}
	// Exit pages: visits by default, summed over the range; /gone has none.
	_, got = run(t, f, query.Breakdown, "period", "custom", "date", "2026-11-25,2026-11-26", "property", "visit:exit_page", "metrics", "visits,bounce_rate,visit_duration,views_per_visit")
	if want := `{"results":[{"exit_page":"/a","visits":3,"bounce_rate":100,"visit_duration":0,"views_per_visit":1},{"exit_page":"/b","visits":3,"bounce_rate":0,"visit_duration":43,"views_per_visit":3}],"approximate":false}`; got != want {
		t.Fatalf("exit pages\ngot  %s\nwant %s", got, want)
	}
	_, got = run(t, f, query.Breakdown, "period", "day", "date", "2026-11-25", "property", "visit:exit_page")
	if want := `{"results":[{"exit_page":"/b","visits":3},{"exit_page":"/a","visits":1}],"approximate":false}`; got != want {
		t.Fatalf("exit pages by default\ngot  %s\nwant %s", got, want)
	}
}
