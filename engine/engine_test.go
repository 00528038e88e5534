package engine

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
)

// memSource serves blocks built from events in memory.
type memSource map[string][]analytics.Event

func (m memSource) Blocks(_ context.Context, site string, from, to time.Time) ([]*block.Block, error) {
	var evs []analytics.Event
	for _, e := range m[site] {
		h := e.Timestamp.UTC().Truncate(time.Hour)
		if h.Add(time.Hour).After(from) && h.Before(to) {
			evs = append(evs, e)
		}
	}
	return block.FromEvents(evs), nil
}

var day = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func ev(user, name, path string, at time.Duration, src string) analytics.Event {
	return analytics.Event{ID: fmt.Sprint(user, name, path, at), SiteID: "s", EventType: name, Path: path, UserID: user, Timestamp: day.Add(at), Source: src}
}

func TestSmallWorkloadByHand(t *testing.T) {
	evs := []analytics.Event{
		ev("a", "page_view", "/", 10*time.Minute, "Google"),
		ev("a", "page_view", "/pricing", 12*time.Minute, ""),
		ev("a", "signup", "/pricing", 13*time.Minute, ""),
		ev("a", "page_view", "/", 2*time.Hour, ""), // a second visit
		ev("b", "page_view", "/", 30*time.Minute, ""),
		ev("", "page_view", "/anon", 40*time.Minute, ""),
	}
	// a's second visit's first event has its own (empty) source: the visit
	// attributes are each visit's first event's.
	e := New(memSource{"s": evs})
	q := Query{Site: "s", From: day, To: day.Add(24 * time.Hour), Metrics: []string{Visitors, Visits, Pageviews, Events, BounceRate, VisitDuration, ViewsPerVisit}}
	res, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	got := res.Rows[0].Metrics
	// visits: a1 (3 events, 180 s), a2 (1), b (1): bounces 2 of 3.
	want := []any{2.0, 3.0, 5.0, 6.0, 200.0 / 3, 60.0, 4.0 / 3}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("%s = %v, want %v", q.Metrics[i], got[i], want[i])
		}
	}

	q.Metrics = []string{Visitors, Pageviews}
	q.Dimensions = []string{Source}
	res, err = e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[{[Direct / None] [2 3]} {[Google] [1 2]}]" {
		t.Errorf("by source: %v", res.Rows)
	}

	q.Dimensions = []string{EventPage}
	q.Filter = &Filter{Op: OpIs, Dim: Source, Values: []string{"Google"}}
	res, err = e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[{[/] [1 1]} {[/pricing] [1 1]}]" {
		t.Errorf("pages of Google visits: %v", res.Rows)
	}

	q.Goals = []Goal{{Name: "signup", Event: "signup"}, {Name: "Visit /pri*", Page: "/pri*"}}
	q.Dimensions = []string{EventGoal}
	q.Filter = nil
	q.Metrics = []string{Visitors, Events, ConversionRate}
	res, err = e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[{[Visit /pri*] [1 1 50]} {[signup] [1 1 50]}]" {
		t.Errorf("goals: %v", res.Rows)
	}

	steps, err := e.Funnel(context.Background(), Query{Site: "s", From: day, To: day.Add(24 * time.Hour)},
		Funnel{Name: "f", Steps: []Goal{{Name: "Visit /", Page: "/"}, {Name: "Visit /pricing", Page: "/pricing"}, {Name: "signup", Event: "signup"}}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(steps) != "[{Visit / 2 0 100 100} {Visit /pricing 1 1 50 50} {signup 1 0 50 100}]" {
		t.Errorf("funnel: %v", steps)
	}
}

func TestTimeBucketsAcrossDST(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, la) // 25 hours
	to := time.Date(2026, 11, 2, 0, 0, 0, 0, la)
	var evs []analytics.Event
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		evs = append(evs, analytics.Event{ID: h.String(), SiteID: "s", EventType: "page_view", Path: "/", UserID: "u" + h.String(), Timestamp: h.Add(time.Minute)})
	}
	res, err := New(memSource{"s": evs}).Query(context.Background(), Query{Site: "s", From: from, To: to, Location: la, Metrics: []string{Pageviews}, Dimensions: []string{TimeHour}, TimeLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 24 || len(res.TimeLabels) != 24 {
		t.Fatalf("got %d rows, %d labels; want 24 (01:00 twice, merged)", len(res.Rows), len(res.TimeLabels))
	}
	if res.Rows[1].Dimensions[0] != "2026-11-01 01:00:00" || res.Rows[1].Metrics[0] != 2.0 {
		t.Fatalf("the repeated hour: %v", res.Rows[1])
	}
	res, err = New(memSource{"s": evs}).Query(context.Background(), Query{Site: "s", From: from, To: to.AddDate(0, 0, 1), Location: la, Metrics: []string{Pageviews}, Dimensions: []string{TimeDay}, TimeLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[{[2026-11-01] [25]} {[2026-11-02] [0]}]" {
		t.Fatalf("days: %v", res.Rows)
	}
}

// Rows tied on the first metric rank by the next: the seed's pages by
// visitors, page views put /pricing (1 visitor, 2 views) above
// /blog/post-1 (1 visitor, 1 view), as /stats does.
func TestTiesRankByTheNextMetric(t *testing.T) {
	evs := []analytics.Event{
		ev("user-001", "page_view", "/pricing", 0, ""),
		ev("user-002", "page_view", "/blog/post-1", 5*time.Minute, ""),
		ev("user-001", "page_view", "/pricing", 10*time.Minute, ""),
	}
	res, err := New(memSource{"s": evs}).Query(context.Background(), Query{Site: "s", From: day, To: day.Add(24 * time.Hour),
		Metrics: []string{Visitors, Pageviews}, Dimensions: []string{EventPage}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[{[/pricing] [1 2]} {[/blog/post-1] [1 1]}]" {
		t.Fatalf("rows %v", res.Rows)
	}
}

// TestConversionRateIgnoresPropertyFilters: the denominator of a conversion
// rate leaves out the top level's goal and custom-property conditions
// (Plausible's "conversion_rate when goal + custom prop filter applied":
// 1 of 4 visitors, 25%).
func TestConversionRateIgnoresPropertyFilters(t *testing.T) {
	signup := func(user, author string) analytics.Event {
		e := ev(user, "Signup", "/", time.Minute, "")
		if author != "" {
			e.Props = map[string]any{"author": author}
		}
		return e
	}
	evs := []analytics.Event{signup("a", ""), signup("b", "Uku"), signup("c", "Marko"), ev("d", "page_view", "/", time.Minute, "")}
	q := Query{Site: "s", From: day, To: day.Add(24 * time.Hour), Metrics: []string{ConversionRate, Visitors, Events},
		Goals: []Goal{{Name: "Signup", Event: "Signup"}},
		Filter: &Filter{Op: OpAnd, Children: []*Filter{
			{Op: OpIs, Dim: EventGoal, Values: []string{"Signup"}},
			{Op: OpIs, Dim: PropPrefix + "author", Values: []string{"Uku"}},
		}}}
	res, err := New(memSource{"s": evs}).Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[{[] [25 1 1]}]" {
		t.Fatalf("rows %v, want a conversion rate of 25 (1 of the 4 visitors)", res.Rows)
	}
}

// TestBounceRateUnderAPageFilter: under an event:page filter the bounce
// rate counts the visits that entered on the page (Plausible's "event:page
// filter is interpreted as entry_page filter only for bounce_rate"); the
// other visit metrics count every visit that viewed it.
func TestBounceRateUnderAPageFilter(t *testing.T) {
	evs := []analytics.Event{
		ev("a", "page_view", "/ignore", 0, ""), ev("a", "page_view", "/plausible.io", time.Minute, ""),
		ev("b", "page_view", "/important-page", 0, ""), ev("b", "page_view", "/", time.Minute, ""),
		ev("c", "page_view", "/plausible.io", time.Minute, ""),
	}
	q := Query{Site: "s", From: day, To: day.Add(24 * time.Hour), Metrics: []string{Visitors, Visits, BounceRate, VisitDuration},
		Filter: &Filter{Op: OpIs, Dim: EventPage, Values: []string{"/plausible.io", "/important-page"}}}
	res, err := New(memSource{"s": evs}).Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	// Visits a, b, c; entered on a listed page: b (no bounce), c (bounce).
	if fmt.Sprint(res.Rows) != "[{[] [3 3 50 40]}]" {
		t.Fatalf("rows %v, want 3 visitors, 3 visits, bounce rate 50, duration 40", res.Rows)
	}
}

// TestPropertyFiltersNeedTheProperty: contains and matches (and their
// negations) select only events that have the custom property; is_not
// keeps those without it (Plausible's "`contains` and `contains_not`
// operator with custom properties").
func TestPropertyFiltersNeedTheProperty(t *testing.T) {
	with := func(user string, props map[string]any) analytics.Event {
		e := ev(user, "page_view", "/", time.Minute, "")
		e.Props = props
		return e
	}
	evs := []analytics.Event{
		with("a", map[string]any{"tier": "small-1", "value": "ax"}), with("b", map[string]any{"tier": "small-2", "value": "bx"}),
		with("c", map[string]any{"tier": "small-3"}), with("d", nil),
	}
	e := New(memSource{"s": evs})
	for _, tt := range []struct {
		f    *Filter
		want string
	}{
		{&Filter{Op: OpContainsNot, Dim: PropPrefix + "value", Values: []string{"b"}}, "[{[] [1]}]"},
		{&Filter{Op: OpMatchesNot, Dim: PropPrefix + "value", Values: []string{"b|c"}}, "[{[] [1]}]"},
		{&Filter{Op: OpMatches, Dim: PropPrefix + "value", Values: []string{".*"}}, "[{[] [2]}]"},
		{&Filter{Op: OpIsNot, Dim: PropPrefix + "value", Values: []string{"bx"}}, "[{[] [3]}]"},
		{&Filter{Op: OpIsNot, Dim: PropPrefix + "value", Values: []string{"bx", None}}, "[{[] [1]}]"},
		{&Filter{Op: OpIs, Dim: PropPrefix + "value", Values: []string{None}}, "[{[] [2]}]"},
	} {
		q := Query{Site: "s", From: day, To: day.Add(24 * time.Hour), Metrics: []string{Visitors}, Filter: tt.f}
		res, err := e.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(res.Rows) != tt.want {
			t.Errorf("%s %v: %v, want %s", tt.f.Op, tt.f.Values, res.Rows, tt.want)
		}
	}
}

// TestStartOfDayWhereMidnightIsSkipped: America/Santiago skipped 2022-09-11
// 00:00-00:59, so the day starts at 01:00 -03 (04:00 UTC) and an event at
// 03:59 UTC (23:59 -04) is the day before's (Plausible's "handles timezone
// gap when date starts at non-existent midnight").
func TestStartOfDayWhereMidnightIsSkipped(t *testing.T) {
	scl, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	if got := StartOfDay(2022, 9, 11, scl).UTC(); !got.Equal(time.Date(2022, 9, 11, 4, 0, 0, 0, time.UTC)) {
		t.Fatalf("2022-09-11 in Santiago starts at %v, want 04:00 UTC", got)
	}
	if got := StartOfDay(2022, 9, 12, scl).UTC(); !got.Equal(time.Date(2022, 9, 12, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("2022-09-12 in Santiago starts at %v, want 03:00 UTC", got)
	}
	if got := StartOfDay(2022, 8, 32, time.UTC); !got.Equal(time.Date(2022, 9, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("day 32 of August is %v", got)
	}
	at := func(h, m int) analytics.Event {
		e := ev(fmt.Sprint(h, m), "page_view", "/", 0, "")
		e.Timestamp = time.Date(2022, 9, 11, h, m, 0, 0, time.UTC)
		return e
	}
	e := New(memSource{"s": {at(3, 59), at(4, 0), at(5, 0)}})
	q := Query{Site: "s", From: StartOfDay(2022, 9, 10, scl), To: StartOfDay(2022, 9, 12, scl), Location: scl,
		Metrics: []string{Pageviews}, Dimensions: []string{TimeDay}}
	res, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[{[2022-09-10] [1]} {[2022-09-11] [2]}]" {
		t.Fatalf("days %v, want 1 page view on the 10th and 2 on the 11th", res.Rows)
	}
}

// countingSource counts the reads of a source.
type countingSource struct {
	src   BlockSource
	reads atomic.Int64
}

func (c *countingSource) Blocks(ctx context.Context, site string, from, to time.Time) ([]*block.Block, error) {
	c.reads.Add(1)
	return c.src.Blocks(ctx, site, from, to)
}

// Under ShareBlocks, queries of one range read it once, and answer as
// they would alone; another range or site is read on its own.
func TestShareBlocksReadsARangeOnce(t *testing.T) {
	var evs []analytics.Event
	for i := range 50 {
		evs = append(evs, analytics.Event{ID: fmt.Sprint(i), SiteID: "s", EventType: analytics.PageView, Path: fmt.Sprint("/", i%4),
			UserID: fmt.Sprint("u", i%9), Timestamp: day.Add(time.Duration(i) * 13 * time.Minute)})
	}
	src := &countingSource{src: memSource{"s": evs}}
	e := New(src)
	q := Query{Site: "s", From: day, To: day.AddDate(0, 0, 1), Metrics: []string{Pageviews, Visitors}}
	alone, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ShareBlocks(context.Background())
	src.reads.Store(0)
	shared, err := e.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	top := q
	top.Dimensions = []string{EventPage}
	if _, err := e.Query(ctx, top); err != nil {
		t.Fatal(err)
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("%d reads of one range under ShareBlocks, want 1", n)
	}
	if !reflect.DeepEqual(alone, shared) {
		t.Fatalf("shared answer %+v, alone %+v", shared, alone)
	}
	other := q
	other.From = day.Add(time.Hour)
	if _, err := e.Query(ctx, other); err != nil {
		t.Fatal(err)
	}
	if n := src.reads.Load(); n != 2 {
		t.Fatalf("%d reads after another range, want 2", n)
	}
}

// Past maxVisitorIDs the engine starts its visitor dictionaries afresh,
// and answers as before: blocks noted for the old dictionary are mapped
// again.
func TestVisitorDictionariesAreBounded(t *testing.T) {
	defer func(old int64) { maxVisitorIDs = old }(maxVisitorIDs)
	maxVisitorIDs = 10
	var evs []analytics.Event
	for i := range 200 {
		evs = append(evs, analytics.Event{ID: fmt.Sprint(i), SiteID: "s", EventType: analytics.PageView, Path: fmt.Sprint("/", i%3),
			UserID: fmt.Sprint("u", i%40), Timestamp: day.Add(time.Duration(i) * 7 * time.Minute)})
	}
	e := New(memSource{"s": evs})
	q := Query{Site: "s", From: day, To: day.AddDate(0, 0, 2), Metrics: []string{Visitors, Visits, BounceRate}, Dimensions: []string{EventPage}}
	first, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	before := e.dict("s") // past the bound: a new dictionary
	if n := before.len(); n != 0 {
		t.Fatalf("dictionary kept %d ids past the bound of %d", n, maxVisitorIDs)
	}
	again, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("answer changed across the reset:\n%+v\n%+v", first, again)
	}
	if n := e.dict("s").len(); n != 0 {
		t.Fatalf("second reset: %d ids", n)
	}
	// The largest dictionaries go first: a small site's stays.
	maxVisitorIDs = 60
	small := append([]analytics.Event(nil), evs[:20]...)
	for i := range small {
		small[i].SiteID = "small"
	}
	e = New(memSource{"s": evs, "small": small})
	qs := q
	qs.Site = "small"
	if _, err := e.Query(context.Background(), qs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Query(context.Background(), q); err != nil { // 20 + 40 ids: at the bound
		t.Fatal(err)
	}
	if _, err := e.Query(context.Background(), qs); err != nil {
		t.Fatal(err)
	}
	if n := e.dict("small").len(); n != 20 {
		t.Fatalf("the small site's dictionary has %d ids, want its 20 kept", n)
	}
	maxVisitorIDs = 50
	if n, m := e.dict("small").len(), e.dict("s").len(); n != 20 || m != 0 {
		t.Fatalf("past the bound: small site %d ids (want 20 kept), large site %d (want 0: started afresh)", n, m)
	}
	// Under the bound, the dictionary is kept.
	maxVisitorIDs = 1000
	if _, err := e.Query(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if n := e.dict("s").len(); n != 40 {
		t.Fatalf("dictionary of %d ids, want the 40 visitors kept", n)
	}
}

// A query over a small part of what the engine has seen of a site (a day
// after a month) numbers its own visitors 0 to n-1, and answers as an
// engine that saw only that day.
func TestSmallRangeAfterLargeUsesItsOwnVisitorIDs(t *testing.T) {
	var evs []analytics.Event
	for i := range 3000 {
		evs = append(evs, analytics.Event{ID: fmt.Sprint(i), SiteID: "s", EventType: []string{analytics.PageView, "signup"}[i%5/4], Path: fmt.Sprint("/", i%7),
			UserID: fmt.Sprint("u", i), Timestamp: day.Add(time.Duration(i) * 15 * time.Minute)})
	}
	src := memSource{"s": evs}
	e := New(src)
	month := Query{Site: "s", From: day, To: day.AddDate(0, 1, 0), Metrics: []string{Visitors}}
	if _, err := e.Query(context.Background(), month); err != nil {
		t.Fatal(err)
	}
	one := Query{Site: "s", From: day.AddDate(0, 0, 3), To: day.AddDate(0, 0, 4), Metrics: []string{Visitors, Visits, Pageviews, BounceRate, VisitDuration},
		Dimensions: []string{EventPage}}
	got, err := e.Query(context.Background(), one)
	if err != nil {
		t.Fatal(err)
	}
	want, err := New(src).Query(context.Background(), one)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after a month's query:\n%+v\na fresh engine:\n%+v", got, want)
	}
	bl, _ := src.Blocks(context.Background(), "s", one.From, one.To)
	if s := newScan(bl, one, e.dict("s")); s.nvis > 200 {
		t.Fatalf("a day of 96 visitors scanned with %d visitor ids (the month's dictionary has %d)", s.nvis, e.dict("s").len())
	}
	funnelGot, err := e.Funnel(context.Background(), one, Funnel{Name: "f", Steps: []Goal{{Name: "a", Page: "/1"}, {Name: "b", Event: "signup"}}})
	if err != nil {
		t.Fatal(err)
	}
	funnelWant, _ := New(src).Funnel(context.Background(), one, Funnel{Name: "f", Steps: []Goal{{Name: "a", Page: "/1"}, {Name: "b", Event: "signup"}}})
	if !reflect.DeepEqual(funnelGot, funnelWant) {
		t.Fatalf("funnel after a month's query %+v, fresh %+v", funnelGot, funnelWant)
	}
}
