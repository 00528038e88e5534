package query

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/statsmodel"
)

// model answers queries with the independent model of package statsmodel.
type model []analytics.Event

func (m model) Query(_ context.Context, q engine.Query) (engine.Result, error) {
	return statsmodel.Answer(m, q)
}

func (m model) Funnel(_ context.Context, q engine.Query, f engine.Funnel) ([]engine.FunnelStep, error) {
	return statsmodel.Funnel(m, q, f)
}

// TestEmptyVisitValues: Plausible's v1 breakdown leaves out the empty
// value of a campaign, entry or exit page and country (Legacy.Breakdown's
// dimension_filters), and shows an empty browser, OS or device as "(not
// set)"; v2 shows every empty campaign, browser, OS and device as "(not
// set)"; filters name it so.
func TestEmptyVisitValues(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2021, 1, 1, 10, min, 0, 0, time.UTC) }
	evs := model{
		// A campaign visit in Chrome from Germany, two pages.
		{ID: "1", SiteID: "dummy.site", EventType: "page_view", Path: "/a", UserID: "u1", Timestamp: at(0), UTMSource: "hn", Browser: "Chrome", Country: "DE"},
		{ID: "2", SiteID: "dummy.site", EventType: "page_view", Path: "/b", UserID: "u1", Timestamp: at(1), UTMSource: "hn", Browser: "Chrome", Country: "DE"},
		// A server-side visitor: no campaign, no browser, no country.
		{ID: "3", SiteID: "dummy.site", EventType: "page_view", Path: "/a", UserID: "u2", Timestamp: at(2)},
		// A visit of a custom event only: no entry or exit page.
		{ID: "4", SiteID: "dummy.site", EventType: "signup", Path: "/c", UserID: "u3", Timestamp: at(3), Browser: "Firefox"},
	}
	n := now("2021-01-05T12:00:00Z")
	v1 := func(kind Kind, params string) string {
		t.Helper()
		v, err := url.ParseQuery("period=day&date=2021-01-01&" + params)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseV1(kind, v, utc, n)
		if err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		a, err := q.Run(context.Background(), evs)
		if err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		return mustJSON(t, a)
	}
	for _, tt := range []struct {
		kind         Kind
		params, want string
	}{
		{Breakdown, "property=visit:utm_source", `{"results":[{"utm_source":"hn","visitors":1}]}`},
		{Breakdown, "property=visit:country", `{"results":[{"country":"DE","visitors":1}]}`},
		{Breakdown, "property=visit:entry_page", `{"results":[{"entry_page":"/a","visitors":2}]}`},
		{Breakdown, "property=visit:exit_page&metrics=visits", `{"results":[{"exit_page":"/a","visits":1},{"exit_page":"/b","visits":1}]}`},
		{Breakdown, "property=visit:browser", `{"results":[{"browser":"(not set)","visitors":1},{"browser":"Chrome","visitors":1},{"browser":"Firefox","visitors":1}]}`},
		{Breakdown, "property=visit:os", `{"results":[{"os":"(not set)","visitors":3}]}`},
		// Paging counts the rows shown.
		{Breakdown, "property=visit:utm_source&limit=1&page=2", `{"results":[]}`},
		{Breakdown, "property=visit:source", `{"results":[{"source":"Direct / None","visitors":3}]}`},
		{Aggregate, "filters=" + url.QueryEscape("visit:browser==(not set)") + "&metrics=visitors,pageviews", `{"results":{"visitors":{"value":1},"pageviews":{"value":1}}}`},
		{Aggregate, "filters=" + url.QueryEscape("visit:utm_source!=(not set)"), `{"results":{"visitors":{"value":1}}}`},
		{Aggregate, "filters=" + url.QueryEscape("visit:browser==Chrome|(not set)"), `{"results":{"visitors":{"value":2}}}`},
	} {
		if got := v1(tt.kind, tt.params); got != tt.want {
			t.Errorf("v1 %s %s:\n got %s\nwant %s", tt.kind, tt.params, got, tt.want)
		}
	}

	for _, tt := range []struct{ body, want string }{
		{`{"site_id":"dummy.site","metrics":["visitors"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:utm_source","visit:browser"]}`,
			`[{"dimensions":["(not set)","(not set)"],"metrics":[1]},{"dimensions":["(not set)","Firefox"],"metrics":[1]},{"dimensions":["hn","Chrome"],"metrics":[1]}]`},
		{`{"site_id":"dummy.site","metrics":["visitors"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:country"],"filters":[["is","visit:utm_source",["(not set)"]]]}`,
			`[{"dimensions":[""],"metrics":[2]}]`},
	} {
		if got := v2Results(t, evs, tt.body, n); got != tt.want {
			t.Errorf("v2 %s:\n got %s\nwant %s", tt.body, got, tt.want)
		}
	}
}

// Pages are answered decoded, as Plausible stores them ("/blog/post|1",
// "/café"), in v1 and v2 breakdowns and entry and exit pages; a filter
// with the decoded value, as the dashboard sends back a clicked row,
// finds the stored page; an escape that decodes to no text is shown as
// stored.
func TestPagesAreAnsweredDecoded(t *testing.T) {
	evs := pageViews("/blog/post%7C1", "u1", "/caf%C3%A9", "u1", "/bin%FF", "u2")
	n := now("2021-01-05T12:00:00Z")
	v, _ := url.ParseQuery("period=day&date=2021-01-01&property=event:page")
	q, err := ParseV1(Breakdown, v, utc, n)
	if err != nil {
		t.Fatal(err)
	}
	a, err := q.Run(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(t, a), `{"results":[{"page":"/bin%FF","visitors":1},{"page":"/blog/post|1","visitors":1},{"page":"/café","visitors":1}]}`; got != want {
		t.Errorf("v1 pages:\n got %s\nwant %s", got, want)
	}
	for _, tt := range []struct{ body, want string }{
		{`{"site_id":"dummy.site","metrics":["visitors"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:entry_page","visit:exit_page"]}`,
			`[{"dimensions":["/bin%FF","/bin%FF"],"metrics":[1]},{"dimensions":["/blog/post|1","/café"],"metrics":[1]}]`},
		{`{"site_id":"dummy.site","metrics":["pageviews"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["event:page"],"filters":[["is","event:page",["/café","/blog/post|1"]]]}`,
			`[{"dimensions":["/blog/post|1"],"metrics":[1]},{"dimensions":["/café"],"metrics":[1]}]`},
	} {
		if got := v2Results(t, evs, tt.body, n); got != tt.want {
			t.Errorf("v2 %s:\n got %s\nwant %s", tt.body, got, tt.want)
		}
	}
}

// v2Results answers a v2 query body over evs at now and returns its
// results as JSON.
func v2Results(t *testing.T, evs model, body string, now time.Time) string {
	t.Helper()
	q, err := ParseV2([]byte(body), utc, now)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	a, err := q.Run(context.Background(), evs)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return mustJSON(t, a.Get("results"))
}
