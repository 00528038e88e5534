package query

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// fake answers from a function of the query, and records the queries.
type fake struct {
	asked []engine.Query
	fn    func(q engine.Query) engine.Result
}

func (f *fake) Query(_ context.Context, q engine.Query) (engine.Result, error) {
	f.asked = append(f.asked, q)
	return f.fn(q), nil
}
func (f *fake) Funnel(context.Context, engine.Query, engine.Funnel) ([]engine.FunnelStep, error) {
	return nil, nil
}

var utc = Site{ID: "dummy.site", Location: time.UTC, Goals: []engine.Goal{{Name: "Signup", Event: "Signup"}, {Name: "Visit /register", Page: "/register"}}}

func now(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestV1Periods: Plausible's v1 tests ("shows last 7 days of visitors"
// with date=2021-01-08 answers 2021-01-01 .. 2021-01-07; 6mo and 12mo end
// with date's month).
func TestV1Periods(t *testing.T) {
	n := now("2021-03-15T12:00:00Z")
	for _, tt := range []struct{ period, date, first, last string }{
		{"day", "2021-01-01", "2021-01-01", "2021-01-01"},
		{"7d", "2021-01-08", "2021-01-01", "2021-01-07"},
		{"30d", "2021-01-31", "2021-01-01", "2021-01-30"},
		{"month", "2021-02-10", "2021-02-01", "2021-02-28"},
		{"6mo", "2021-01-01", "2020-08-01", "2021-01-31"},
		{"12mo", "2021-01-01", "2020-02-01", "2021-01-31"},
		{"year", "2021-06-01", "2021-01-01", "2021-12-31"},
		{"custom", "2021-01-01, 2021-01-02", "2021-01-01", "2021-01-02"},
		{"", "", "2021-02-13", "2021-03-14"},
	} {
		r, err := v1Range(tt.period, tt.date, time.UTC, n)
		if err != nil || r.First.String() != tt.first || r.Last.String() != tt.last {
			t.Errorf("%s %s: %s .. %s, %v; want %s .. %s", tt.period, tt.date, r.First, r.Last, err, tt.first, tt.last)
		}
	}
	for _, tt := range []struct{ period, date, want string }{
		{"aosuhsacp", "", "Error parsing `period` parameter: invalid period `aosuhsacp`. Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods"},
		{"6mo", "2021-dkjbAS", "Error parsing `date` parameter: invalid_format. Please specify a valid date in ISO-8601 format."},
		{"custom", "", "The `date` parameter is required when using a custom period. See https://plausible.io/docs/stats-api#time-periods"},
		{"custom", "2021-01-01", "Invalid format for `date` parameter. When using a custom period, please include two ISO-8601 formatted dates joined by a comma. See https://plausible.io/docs/stats-api#time-periods"},
	} {
		if _, err := v1Range(tt.period, tt.date, time.UTC, n); analytics.Message(err) != tt.want || analytics.KindOf(err) != analytics.Invalid {
			t.Errorf("%s %s: %v", tt.period, tt.date, err)
		}
	}
}

// TestSiteDay: ranges are the site's days, DST-correct.
func TestSiteDay(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	r, _ := v1Range("day", "2026-03-08", la, time.Now())
	if r.To.Sub(r.From) != 23*time.Hour || len(timeLabels(engine.TimeHour, r)) != 23 {
		t.Fatalf("spring forward: %v, %d labels", r.To.Sub(r.From), len(timeLabels(engine.TimeHour, r)))
	}
	r, _ = v1Range("day", "2026-11-01", la, time.Now())
	if r.To.Sub(r.From) != 25*time.Hour || len(timeLabels(engine.TimeHour, r)) != 24 {
		t.Fatalf("fall back: %v, %d labels", r.To.Sub(r.From), len(timeLabels(engine.TimeHour, r)))
	}
	if got := r.echo(); got[0] != "2026-11-01T00:00:00-07:00" || got[1] != "2026-11-01T23:59:59-08:00" {
		t.Fatalf("echo %v", got)
	}
	// "today" is the site's: at 03:00Z on the 2nd it is still the 1st in LA.
	r, _ = v1Range("day", "", la, now("2026-11-02T03:00:00Z"))
	if r.First.String() != "2026-11-01" {
		t.Fatalf("today %s", r.First)
	}
}

func TestV1Filters(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"visit:os == Mac;visit:browser==Chrome|Firefox", `[{"Op":"is","Dim":"visit:os","Values":["Mac"],"Children":null,"CaseInsensitive":false},{"Op":"is","Dim":"visit:browser","Values":["Chrome","Firefox"],"Children":null,"CaseInsensitive":false}]`},
		{"event:page==/blog/**", `[{"Op":"matches","Dim":"event:page","Values":["^(?:/blog/.*)$"],"Children":null,"CaseInsensitive":false}]`},
		{"event:page!=/a*|/b", `[{"Op":"matches_not","Dim":"event:page","Values":["^(?:/a.*|/b)$"],"Children":null,"CaseInsensitive":false}]`},
		{`visit:utm_campaign==campaign\|one`, `[{"Op":"is","Dim":"visit:utm_campaign","Values":["campaign|one"],"Children":null,"CaseInsensitive":false}]`},
		{"visit:country!=FR", `[{"Op":"is_not","Dim":"visit:country","Values":["FR"],"Children":null,"CaseInsensitive":false}]`},
		{"event:page~blog", `[{"Op":"contains","Dim":"event:page","Values":["blog"],"Children":null,"CaseInsensitive":false}]`},
		{"event:goal==Signup|Visit /register", `[{"Op":"is","Dim":"event:goal","Values":["Signup","Visit /register"],"Children":null,"CaseInsensitive":false}]`},
		{"event:props:author==Uku", `[{"Op":"is","Dim":"event:props:author","Values":["Uku"],"Children":null,"CaseInsensitive":false}]`},
	} {
		got, err := ParseV1Filters(tt.in, utc)
		if err != nil || mustJSON(t, got) != tt.want {
			t.Errorf("%s: %s %v\nwant %s", tt.in, mustJSON(t, got), err, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"badproperty==bar", "Invalid filter property 'badproperty'. Please provide a valid filter property: https://plausible.io/docs/stats-api#properties"},
		{"event:goal==Visit /register**", "The pageview goal for the pathname `/register**` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals"},
		{"event:goal==Nope", "The goal `Nope` is not configured for this site."},
		{"visit:city==4347778", "not supported by this server"},
	} {
		if _, err := ParseV1Filters(tt.in, utc); err == nil || !strings.Contains(analytics.Message(err), tt.want) {
			t.Errorf("%s: %v", tt.in, err)
		}
	}
}

func TestV1MetricRules(t *testing.T) {
	n := now("2021-01-10T00:00:00Z")
	for _, tt := range []struct {
		kind Kind
		q    string
		want string
	}{
		{Breakdown, "property=event:name&metrics=visitors,bounce_rate", "Session metric `bounce_rate` cannot be queried for breakdown by `event:name`."},
		{Breakdown, "property=event:page&filters=event:name%3D%3DSignup&metrics=visitors,bounce_rate", "Session metric `bounce_rate` cannot be queried when using a filter on `event:name`."},
		{Breakdown, "property=visit:source&metrics=views_per_visit", "Metric `views_per_visit` is not supported in breakdown queries."},
		{Aggregate, "metrics=views_per_visit&filters=event:page%3D%3D/", "Metric `views_per_visit` cannot be queried with a filter on `event:page`."},
		{Aggregate, "metrics=conversion_rate", "Metric `conversion_rate` can only be queried in a goal breakdown or with a goal filter"},
		{Aggregate, "metrics=visitors,visitors", "Metrics cannot be queried multiple times."},
		{Aggregate, "metrics=baa", "The metric `baa` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics"},
		{Breakdown, "", "The `property` parameter is required. Please provide at least one property to show a breakdown by."},
		{Breakdown, "property=badproperty", "Invalid property 'badproperty'. Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties"},
		{Breakdown, "property=event:page&limit=0", "Please provide limit as a number between 1 and 1000."},
	} {
		v, _ := url.ParseQuery(tt.q)
		if _, err := ParseV1(tt.kind, v, utc, n); analytics.Message(err) != tt.want {
			t.Errorf("%s: %v\nwant %s", tt.q, err, tt.want)
		}
	}
}

// TestV1HourlyTimeseries: Plausible's "shows hourly data for a certain
// date": every hour, an empty hour's visit_duration null and bounce_rate 0.
func TestV1HourlyTimeseries(t *testing.T) {
	f := &fake{fn: func(q engine.Query) engine.Result {
		return engine.Result{Rows: []engine.Row{
			{Dimensions: []string{"2021-01-01 00:00:00"}, Metrics: []any{1.0, 1.0, 2.0, 600.0, 0.0}},
			{Dimensions: []string{"2021-01-01 23:00:00"}, Metrics: []any{1.0, 1.0, 1.0, 0.0, 100.0}},
		}}
	}}
	v, _ := url.ParseQuery("period=day&date=2021-01-01&metrics=visitors,visits,pageviews,visit_duration,bounce_rate")
	q, err := ParseV1(Timeseries, v, utc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := q.Run(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	got := mustJSON(t, a)
	for _, want := range []string{
		`{"results":[{"date":"2021-01-01 00:00:00","visitors":1,"visits":1,"pageviews":2,"visit_duration":600,"bounce_rate":0},`,
		`{"date":"2021-01-01 01:00:00","visitors":0,"visits":0,"pageviews":0,"visit_duration":null,"bounce_rate":0},`,
		`{"date":"2021-01-01 23:00:00","visitors":1,"visits":1,"pageviews":1,"visit_duration":0,"bounce_rate":100}]}`,
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("%s\nlacks %s", got, want)
		}
	}
	if n := strings.Count(got, `"date"`); n != 24 || !f.asked[0].TimeLabels || f.asked[0].Dimensions[0] != engine.TimeHour {
		t.Fatalf("%d buckets; asked %+v", n, f.asked[0])
	}
}

// TestV1AggregateCompare: Plausible's "compare period=day with previous
// period".
func TestV1AggregateCompare(t *testing.T) {
	f := &fake{fn: func(q engine.Query) engine.Result {
		if q.From.Day() == 1 {
			return engine.Result{Rows: []engine.Row{{Metrics: []any{3.0, 2.0, 50.0, 750.0}}}}
		}
		return engine.Result{Rows: []engine.Row{{Metrics: []any{1.0, 1.0, 100.0, 0.0}}}}
	}}
	v, _ := url.ParseQuery("period=day&date=2021-01-01&metrics=pageviews,visitors,bounce_rate,visit_duration&compare=previous_period")
	q, err := ParseV1(Aggregate, v, utc, now("2021-02-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := q.Run(context.Background(), f)
	want := `{"results":{"pageviews":{"value":3,"change":200,"comparison_value":1},"visitors":{"value":2,"change":100,"comparison_value":1},` +
		`"bounce_rate":{"value":50,"change":-50,"comparison_value":100},"visit_duration":{"value":750,"change":100,"comparison_value":0}}}`
	if got := mustJSON(t, a); got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
	if prev := f.asked[1]; prev.From.Format(time.DateOnly) != "2020-12-31" || prev.To.Format(time.DateOnly) != "2021-01-01" {
		t.Fatalf("previous period %v .. %v", prev.From, prev.To)
	}
}

// TestV2Examples: Plausible's published v2 examples (docs' aggregate,
// time labels and pagination examples; QueryComparisonsTest's timeseries
// comparison) in shape and echo.
func TestV2Examples(t *testing.T) {
	n := now("2024-08-18T10:00:00Z")
	t.Run("aggregate", func(t *testing.T) {
		f := &fake{fn: func(engine.Query) engine.Result {
			return engine.Result{Rows: []engine.Row{{Metrics: []any{1069.0, 2648.0}}}}
		}}
		q, err := ParseV2([]byte(`{"site_id":"dummy.site","metrics":["visitors","events"],"date_range":"7d"}`), utc, n)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := q.Run(context.Background(), f)
		want := `{"results":[{"dimensions":[],"metrics":[1069,2648]}],"meta":{},"query":{"site_id":"dummy.site","metrics":["visitors","events"],` +
			`"date_range":["2024-08-11T00:00:00+00:00","2024-08-17T23:59:59+00:00"],"filters":[],"dimensions":[],"order_by":[["visitors","desc"]],"include":{},"pagination":{"limit":10000,"offset":0}}}`
		if got := mustJSON(t, a); got != want {
			t.Fatalf("%s\nwant %s", got, want)
		}
	})
	t.Run("time labels", func(t *testing.T) {
		f := &fake{fn: func(engine.Query) engine.Result {
			return engine.Result{Rows: []engine.Row{{Dimensions: []string{"2024-08-20 01:00:00"}, Metrics: []any{4.0}}}}
		}}
		q, err := ParseV2([]byte(`{"site_id":"dummy.site","metrics":["visitors"],"date_range":["2024-08-20","2024-08-20"],"dimensions":["time:hour"],"include":{"time_labels":true}}`), utc, n)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := q.Run(context.Background(), f)
		got := mustJSON(t, a)
		if !strings.Contains(got, `"meta":{"time_labels":["2024-08-20 00:00:00","2024-08-20 01:00:00",`) ||
			!strings.Contains(got, `"order_by":[["time:hour","asc"],["visitors","desc"]],"include":{"time_labels":true}`) || strings.Count(got, ":00:00\"") != 25 {
			t.Fatalf("%s", got)
		}
	})
	t.Run("pagination", func(t *testing.T) {
		f := &fake{fn: func(q engine.Query) engine.Result {
			if q.Limit != 3 || q.Offset != 1 {
				t.Errorf("paged as %d, %d", q.Limit, q.Offset)
			}
			return engine.Result{Rows: []engine.Row{{Dimensions: []string{"(not set)", "duckduckgo"}, Metrics: []any{325.0, 397.0, 317.0}}}, TotalRows: 6}
		}}
		q, err := ParseV2([]byte(`{"site_id":"dummy.site","metrics":["visitors","events","pageviews"],"date_range":["2024-09-10T00:00:00+00:00","2024-09-16T23:59:59+00:00"],
			"dimensions":["visit:utm_medium","visit:utm_source"],"include":{"total_rows":true},"pagination":{"offset":1,"limit":3}}`), utc, n)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := q.Run(context.Background(), f)
		got := mustJSON(t, a)
		if !strings.Contains(got, `"meta":{"total_rows":6}`) || !strings.Contains(got, `"date_range":["2024-09-10T00:00:00+00:00","2024-09-16T23:59:59+00:00"]`) ||
			!strings.Contains(got, `"pagination":{"limit":3,"offset":1}`) {
			t.Fatalf("%s", got)
		}
	})
	t.Run("timeseries comparison", func(t *testing.T) {
		f := &fake{fn: func(q engine.Query) engine.Result {
			vals := map[string]float64{"2021-01-07": 1, "2021-01-08": 1, "2021-01-01": 2, "2021-01-06": 1}
			var rows []engine.Row
			for d := dateOf(q.From, time.UTC); d.midnight(time.UTC).Before(q.To); d = d.add(1) {
				rows = append(rows, engine.Row{Dimensions: []string{d.String()}, Metrics: []any{vals[d.String()]}})
			}
			return engine.Result{Rows: rows}
		}}
		q, err := ParseV2([]byte(`{"site_id":"dummy.site","metrics":["pageviews"],"date_range":["2021-01-07","2021-01-13"],"dimensions":["time:day"],"include":{"comparisons":{"mode":"previous_period"}}}`), utc, now("2021-02-01T00:00:00Z"))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := q.Run(context.Background(), f)
		got := mustJSON(t, a)
		for _, want := range []string{
			`{"dimensions":["2021-01-07"],"metrics":[1],"comparison":{"dimensions":["2020-12-31"],"metrics":[0],"change":[100]}}`,
			`{"dimensions":["2021-01-08"],"metrics":[1],"comparison":{"dimensions":["2021-01-01"],"metrics":[2],"change":[-50]}}`,
			`{"dimensions":["2021-01-13"],"metrics":[0],"comparison":{"dimensions":["2021-01-06"],"metrics":[1],"change":[-100]}}`,
			`"include":{"comparisons":{"mode":"previous_period"}}`,
		} {
			if !strings.Contains(got, want) {
				t.Fatalf("%s\nlacks %s", got, want)
			}
		}
	})
}

func TestV2Validation(t *testing.T) {
	n := now("2024-08-18T10:00:00Z")
	for _, tt := range []struct{ body, want string }{
		{`{"site_id":"s","metrics":["visitors"],"date_range":"7d","filters":[["is","visit:country",["USA"]]]}`, "Invalid visit:country filter, visit:country needs to be a valid 2-letter country code."},
		{`{"site_id":"s","metrics":["conversion_rate"],"date_range":"7d"}`, "Metric `conversion_rate` can only be queried with event:goal filters or dimensions."},
		{`{"site_id":"s","metrics":["bounce_rate"],"date_range":"7d","dimensions":["event:name"]}`, "Session metric(s) `bounce_rate` cannot be queried along with event dimension(s) `event:name`"},
		{`{"site_id":"s","metrics":["visitors"],"date_range":"7d","include":{"time_labels":true}}`, "Invalid include.time_labels: requires a time dimension."},
		{`{"site_id":"s","metrics":["visitors"],"date_range":"7d","order_by":[["events","desc"]]}`, "Invalid order_by entry '{:events, :desc}'. Entry is not a queried metric or dimension."},
		{`{"site_id":"s","metrics":["visitors"],"date_range":"7d","filters":[["or",[["is","event:goal",["Signup"]]]]]}`, "Invalid filters. Dimension `event:goal` can only be filtered at the top level."},
		{`{"site_id":"s","metrics":["visitors"],"date_range":"7d","filters":[["is","event:goal",["Nope"]]]}`, "The goal `Nope` is not configured for this site."},
		{`{"site_id":"s","metrics":["visitors"],"date_range":"8x"}`, `#/date_range: Invalid date range "8x"`},
		{`{"site_id":"s","metrics":["visitors"],"date_range":"7d","filters":[["what","event:page",["/"]]]}`, `Unknown operator for filter '["what", "event:page", ["/"]]'.`},
		{`{"site_id":"s","metrics":["visitors","baa"],"date_range":"7d"}`, `#/metrics/1: Invalid metric "baa"`},
		{`{"site_id":"s","metrics":["visitors","visitors"],"date_range":"7d"}`, `#/metrics: Expected items to be unique but they were not.`},
		{`{"site_id":"s","metrics":["visitors"],"date_range":"7d","dimensions":["event:props:"]}`, `#/dimensions/0: Invalid dimension "event:props:"`},
	} {
		if _, err := ParseV2([]byte(tt.body), utc, n); err == nil || !strings.Contains(analytics.Message(err), tt.want) {
			t.Errorf("%s: %v\nwant %s", tt.body, err, tt.want)
		}
	}
	q, err := ParseV2([]byte(`{"site_id":"s","metrics":["visitors"],"date_range":"7d","filters":[["is","event:page",["/pricing"]],
		["has_done",["is","event:goal",["Signup"]]],["contains","visit:source",["goo"],{"case_sensitive":false}]]}`), utc, n)
	if err != nil {
		t.Fatal(err)
	}
	if f := q.Filters; len(f) != 3 || f[1].Op != engine.OpHasDone || f[1].Children[0].Dim != engine.EventGoal || !f[2].CaseInsensitive {
		t.Fatalf("%s", mustJSON(t, f))
	}
}

func TestStatsThroughTheEngine(t *testing.T) {
	f := &fake{fn: func(q engine.Query) engine.Result {
		if len(q.Dimensions) == 0 {
			return engine.Result{Rows: []engine.Row{{Metrics: []any{1450.0, 212.0}}}}
		}
		return engine.Result{Rows: []engine.Row{{Dimensions: []string{"/pricing"}, Metrics: []any{700.0}}, {Dimensions: []string{"/blog/post-1"}, Metrics: []any{500.0}}}}
	}}
	st, err := Stats(context.Background(), f, Site{ID: "site-abc-123"}, analytics.StatsQuery{SiteID: "site-abc-123", Date: "2025-11-12", Limit: 10}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"site_id":"site-abc-123","date":"2025-11-12","total_views":1450,"unique_users":212,"top_paths":[{"path":"/pricing","views":700},{"path":"/blog/post-1","views":500}]}`
	if got := mustJSON(t, st); got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
	top := f.asked[1]
	if top.Filter == nil || top.Filter.Dim != engine.EventName || top.Limit != 10 || top.OrderBy[0].By != engine.Pageviews || !top.OrderBy[0].Desc {
		t.Fatalf("top paths asked as %+v", top)
	}
}

func TestCompareRange(t *testing.T) {
	r := dayRange(mkdate(2021, 1, 7), mkdate(2021, 1, 13), time.UTC)
	for _, tt := range []struct {
		mode        string
		today       date
		first, last string
	}{
		{"previous_period", mkdate(2021, 2, 1), "2020-12-31", "2021-01-06"},
		{"previous_period", mkdate(2021, 1, 9), "2021-01-04", "2021-01-06"}, // a range past today counts to today
		{"year_over_year", mkdate(2021, 2, 1), "2020-01-08", "2020-01-14"},
	} {
		c, err := compareRange(r, tt.mode, nil, false, tt.today)
		if err != nil || c.First.String() != tt.first || c.Last.String() != tt.last {
			t.Errorf("%s: %s .. %s %v", tt.mode, c.First, c.Last, err)
		}
	}
}

// TestV1JSONFilters: Plausible's v1 endpoints take filters as a JSON list
// of v2 filters too (AggregateTest "with json filters").
func TestV1JSONFilters(t *testing.T) {
	got, err := ParseV1Filters(`[["contains","event:page",["/en*"]],["matches_wildcard_not","event:props:tier",["small*"]]]`, utc)
	want := `[{"Op":"contains","Dim":"event:page","Values":["/en*"],"Children":null,"CaseInsensitive":false},` +
		`{"Op":"matches_not","Dim":"event:props:tier","Values":["^(?:small.*)$"],"Children":null,"CaseInsensitive":false}]`
	if err != nil || mustJSON(t, got) != want {
		t.Fatalf("%s %v\nwant %s", mustJSON(t, got), err, want)
	}
	for _, tt := range []struct{ in, want string }{
		{`[["is","event:goal",["Nope"]]]`, "The goal `Nope` is not configured for this site."},
		{`[["is","badproperty",["x"]]]`, "Invalid filter"},
		{`[["is","event:page"`, "not a JSON list of filters"},
	} {
		if _, err := ParseV1Filters(tt.in, utc); err == nil || !strings.Contains(analytics.Message(err), tt.want) {
			t.Errorf("%s: %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestGoalFilterCaseInsensitive: a case-insensitive goal filter names the
// configured goals it matches (QueryTest "filtering by a custom event goal
// (case insensitive)").
func TestGoalFilterCaseInsensitive(t *testing.T) {
	q, err := ParseV2([]byte(`{"site_id":"dummy.site","metrics":["visitors"],"date_range":"all",
		"filters":[["is","event:goal",["signup","visit /REGISTER"],{"case_sensitive":false}]]}`), utc, now("2021-02-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if f := q.Filters[0]; f.CaseInsensitive || strings.Join(f.Values, ",") != "Signup,Visit /register" {
		t.Fatalf("goal filter %+v", f)
	}
	_, err = ParseV2([]byte(`{"site_id":"dummy.site","metrics":["visitors"],"date_range":"all",
		"filters":[["is","event:goal",["signups"],{"case_sensitive":false}]]}`), utc, now("2021-02-01T00:00:00Z"))
	if err == nil || !strings.Contains(analytics.Message(err), "The goal `signups` is not configured") {
		t.Fatalf("unknown goal: %v", err)
	}
}

// TestV1ConversionRates: v1 gives conversion rates with two decimals and
// their change in points (AggregateTest "can compare conversion_rate with
// previous period"); a timeseries asks for each bucket's own rate
// (TimeseriesTest "returns conversion rate when goal filter is applied").
func TestV1ConversionRates(t *testing.T) {
	f := &fake{fn: func(q engine.Query) engine.Result {
		if q.From.Day() == 5 {
			return engine.Result{Rows: []engine.Row{{Metrics: []any{50.0}}}}
		}
		return engine.Result{Rows: []engine.Row{{Metrics: []any{100.0 / 3}}}}
	}}
	v, _ := url.ParseQuery("period=day&date=2023-05-05&metrics=conversion_rate&filters=event:goal%3D%3DSignup&compare=previous_period")
	q, err := ParseV1(Aggregate, v, utc, now("2023-06-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := q.Run(context.Background(), f)
	if got, want := mustJSON(t, a), `{"results":{"conversion_rate":{"value":50,"change":16.7,"comparison_value":33.33}}}`; got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
	f = &fake{fn: func(q engine.Query) engine.Result {
		return engine.Result{Rows: []engine.Row{{Dimensions: []string{"2021-01-04"}, Metrics: []any{200.0 / 3}}}}
	}}
	v, _ = url.ParseQuery("period=7d&date=2021-01-11&metrics=conversion_rate&filters=event:goal%3D%3DSignup")
	if q, err = ParseV1(Timeseries, v, utc, now("2021-02-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	a, _ = q.Run(context.Background(), f)
	if got := mustJSON(t, a); !strings.HasPrefix(got, `{"results":[{"date":"2021-01-04","conversion_rate":66.67},{"date":"2021-01-05","conversion_rate":0}`) {
		t.Fatalf("timeseries %s", got)
	}
	if m := f.asked[0].Metrics; len(m) != 1 || m[0] != engine.GroupConversionRate {
		t.Fatalf("asked the engine for %v, want each bucket's rate (group_conversion_rate)", m)
	}
}

// TestV2TimeGranularity: v2's "time" is Plausible's QueryOptimizer rule
// (QueryTest "timeseries with explicit order_by": 35 days are days).
func TestV2TimeGranularity(t *testing.T) {
	for _, tt := range []struct{ first, last, want string }{
		{"2021-01-01", "2021-01-01", engine.TimeHour},
		{"2021-01-01", "2021-01-02", engine.TimeHour},
		{"2021-01-01", "2021-01-03", engine.TimeDay}, // "multiple breakdown timeseries with sources"
		{"2020-12-01", "2021-01-04", engine.TimeDay},
		{"2021-01-01", "2021-02-10", engine.TimeDay},
		{"2021-01-01", "2021-02-11", engine.TimeMonth},
	} {
		f, _ := parseDate(tt.first)
		l, _ := parseDate(tt.last)
		if got := v2Granularity(dayRange(f, l, time.UTC)); got != tt.want {
			t.Errorf("%s .. %s: %s, want %s", tt.first, tt.last, got, tt.want)
		}
	}
}

// TestPageFilterValuesAreEncodedAsStored: page filter values compare with
// paths in their stored percent-encoding (Plausible's "can escape pipe
// character in member + wildcard filter"); regular expressions are left
// as written.
func TestPageFilterValuesAreEncodedAsStored(t *testing.T) {
	got, err := ParseV1Filters(`event:page==**post\|1|/something-else;visit:entry_page==/café`, utc)
	want := `[{"Op":"matches","Dim":"event:page","Values":["^(?:.*post%7C1|/something-else)$"],"Children":null,"CaseInsensitive":false},` +
		`{"Op":"is","Dim":"visit:entry_page","Values":["/caf%C3%A9"],"Children":null,"CaseInsensitive":false}]`
	if err != nil || mustJSON(t, got) != want {
		t.Fatalf("%s %v\nwant %s", mustJSON(t, got), err, want)
	}
	q, err := ParseV2([]byte(`{"site_id":"dummy.site","metrics":["visitors"],"date_range":"all","filters":[
		["contains","event:page",["post|1","/caf%c3%a9"]],["matches","event:page",["^/a|b$"]],["matches_wildcard","event:page",["/x|/y*"]]]}`), utc, now("2021-02-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	want = `[{"Op":"contains","Dim":"event:page","Values":["post%7C1","/caf%C3%A9"],"Children":null,"CaseInsensitive":false},` +
		`{"Op":"matches","Dim":"event:page","Values":["^/a|b$"],"Children":null,"CaseInsensitive":false},` +
		`{"Op":"matches","Dim":"event:page","Values":["^(?:/x|/y.*)$"],"Children":null,"CaseInsensitive":false}]`
	if got := mustJSON(t, q.Filters); got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
}
