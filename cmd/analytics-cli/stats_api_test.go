package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/reporter"
)

// apiEngine answers like the engine for a small site and records the
// filters it was asked with.
type apiEngine struct{ asked []engine.Query }

func (e *apiEngine) Ping(context.Context) error { return nil }
func (e *apiEngine) Funnel(context.Context, engine.Query, engine.Funnel) ([]engine.FunnelStep, error) {
	return nil, nil
}
func (e *apiEngine) Query(_ context.Context, q engine.Query) (engine.Result, error) {
	e.asked = append(e.asked, q)
	vals := map[string]any{"visitors": 8.0, "pageviews": 210.0, "events": 231.0, "visits": 21.0, "bounce_rate": 47.6, "visit_duration": 65.0, "views_per_visit": 3.0}
	row := engine.Row{}
	for _, m := range q.Metrics {
		row.Metrics = append(row.Metrics, vals[m])
	}
	if len(q.Dimensions) == 0 {
		return engine.Result{Rows: []engine.Row{row}}, nil
	}
	if d := q.Dimensions[0]; d == engine.TimeDay {
		var rows []engine.Row
		for i, v := range []float64{1, 2, 4, 8, 4, 2, 0} {
			rows = append(rows, engine.Row{Dimensions: []string{"2026-11-0" + string(rune('1'+i))}, Metrics: []any{v, v * 10}})
		}
		return engine.Result{Rows: rows}, nil
	}
	row.Dimensions = []string{"/pricing"}
	return engine.Result{Rows: []engine.Row{row}, TotalRows: 1}, nil
}

func apiReporter(t *testing.T) (*httptest.Server, *apiEngine) {
	t.Helper()
	e := &apiEngine{}
	srv := httptest.NewServer(reporter.New(e, e, zerolog.Nop(), reporter.Config{}).Handler())
	t.Cleanup(srv.Close)
	return srv, e
}

func TestStatsPeriodSparkline(t *testing.T) {
	t.Parallel()
	srv, e := apiReporter(t)
	getenv := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "s", "--period", "7d", "--date", "2026-11-08",
		"--filter", "visit:source==Google", "--filter", "event:page==/blog/**", "--reporter", srv.URL}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"Period      7d of 2026-11-08, in the site's time zone; where visit:source==Google;event:page==/blog/**\n",
		"Visitors    8\n",
		"Page views  210\n",
		"Visitors    ▂▃▅█▅▃▁  2026-11-01 .. 2026-11-07\n",
		"\nVisits          21\nBounce rate     48%\nVisit duration  1m 05s\n",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("output lacks %q:\n%s", want, got)
		}
	}
	if f := e.asked[0].Filter; f == nil || f.Op != engine.OpAnd || len(f.Children) != 2 || f.Children[1].Op != engine.OpMatches {
		t.Fatalf("filters reached the engine as %+v", f)
	}
}

func TestStatsBreakdownBy(t *testing.T) {
	t.Parallel()
	srv, _ := apiReporter(t)
	getenv := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "s", "--by", "page", "--date", "2026-11-04", "--reporter", srv.URL}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	want := "Site    s\nPeriod  day of 2026-11-04, in the site's time zone\nBy      page\n\n  #  Views  Visitors\n  1    210         8  /pricing\n"
	if got := out.String(); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestStatsAPICommandErrors(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"bad period", []string{"--site", "s", "--period", "week"}, `period: "week" is not a period`},
		{"bad by", []string{"--site", "s", "--by", "city"}, `by: "city" is not a dimension`},
		{"bad date", []string{"--site", "s", "--period", "7d", "--date", "2026-02-30"}, `date: "2026-02-30" is not a date`},
		{"unreachable reporter", []string{"--site", "s", "--period", "7d", "--reporter", "http://127.0.0.1:1"}, "cannot reach the reporter"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"analytics-cli", "stats"}, tt.args...), getenv, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSparkline(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []int64
		want string
	}{
		{nil, ""},
		{[]int64{0, 0}, "▁▁"},
		{[]int64{0, 1, 2, 3, 4, 5, 6, 7}, "▁▂▃▄▅▆▇█"},
		{[]int64{5, 10}, "▅█"},
	} {
		if got := Sparkline(tt.in); got != tt.want {
			t.Errorf("Sparkline(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
