package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/reporter"
	"github.com/siteanalytics/analytics/rollup"
	"github.com/siteanalytics/analytics/sketch"
)

// apiStore is an in-memory store for the reporter: rollups by period.
type apiStore struct{ snaps map[string]rollup.Snapshot }

func (s *apiStore) Stats(context.Context, analytics.StatsQuery) (analytics.Stats, error) {
	return analytics.Stats{SiteID: "s"}, nil
}
func (s *apiStore) Ping(context.Context) error { return nil }
func (s *apiStore) Rollups(_ context.Context, _ string, periods []string) ([]rollup.Snapshot, error) {
	out := make([]rollup.Snapshot, len(periods))
	for i, p := range periods {
		out[i] = s.snaps[p]
		out[i].Period = p
	}
	return out, nil
}

func apiReporter(t *testing.T) *httptest.Server {
	t.Helper()
	st := &apiStore{snaps: map[string]rollup.Snapshot{}}
	for i, v := range []int64{1, 2, 4, 8, 4, 2, 0} {
		visits := rollup.VisitCounts{Visits: v, Bounces: v / 2, Duration: 65 * v, VisitViews: v * 3}
		day := rollup.Snapshot{Views: v * 10, Events: v * 11, Visitors: v, VisitCounts: visits}
		keys := []string{}
		for j := int64(0); j < v; j++ {
			keys = append(keys, "u"+string(rune('a'+j)))
		}
		if v > 0 {
			day.Sketch, _ = sketch.Add(nil, keys)
		}
		day.Hours[9+i] = rollup.Bucket{Views: v * 10, Events: v * 11, Visitors: v, VisitCounts: visits}
		day.Top = map[string][]rollup.Ranked{
			rollup.Source:   {{Value: "Google", Counter: rollup.Counter{Visitors: v, VisitCounts: visits}}},
			rollup.ExitPage: {{Value: "/thanks", Counter: rollup.Counter{VisitCounts: visits}}},
			rollup.Path:     {{Value: "/pricing", Counter: rollup.Counter{Count: v * 10, Visitors: v}}},
		}
		st.snaps["2026-11-0"+string(rune('1'+i))] = day
	}
	srv := httptest.NewServer(reporter.New(st, st, zerolog.Nop(), reporter.Config{}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestStatsPeriodSparkline(t *testing.T) {
	t.Parallel()
	srv := apiReporter(t)
	getenv := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "s", "--period", "7d", "--date", "2026-11-07", "--reporter", srv.URL}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"Period      2026-11-01 .. 2026-11-07 (7d, UTC)",
		"Visitors    8 (approximate)",
		"Page views  210\n",
		"Events      231\n",
		"Visitors    ▂▃▅█▅▃▁  daily, 2026-11-01 .. 2026-11-07\n", // days are exact
		"Page views  ▂▃▅█▅▃▁",
		"Visits      ▂▃▅█▅▃▁",
		// 21 visits, 10 bounces, 1365 s, 63 page views
		"\nVisits           21\nBounce rate      48%\nVisit duration   1m 05s\nViews per visit  3\n",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("output lacks %q:\n%s", want, got)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "s", "--period", "day", "--date", "2026-11-04", "--reporter", srv.URL}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "Visitors    8\n") || !strings.Contains(got, "▁▁▁▁▁▁▁▁▁▁▁▁█▁▁▁▁▁▁▁▁▁▁▁  hourly, 2026-11-04 00:00:00 .. 2026-11-04 23:00:00\n") {
		t.Fatalf("day:\n%s", got)
	}
	out.Reset()
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "s", "--period", "7d", "--date", "2026-11-07", "--json", "--reporter", srv.URL}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, `{"aggregate":{"results":{"bounce_rate":{"value":48},"events":{"value":231}`) ||
		!strings.Contains(got, `"timeseries":{"results":[{"date":"2026-11-01","visitors":1,"pageviews":10,"visits":1}`) {
		t.Fatalf("json:\n%s", got)
	}
}

func TestStatsBreakdownBy(t *testing.T) {
	t.Parallel()
	srv := apiReporter(t)
	getenv := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "s", "--by", "page", "--date", "2026-11-04", "--reporter", srv.URL}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	want := "Site    s\nPeriod  2026-11-04 .. 2026-11-04 (day, UTC)\nBy      page\n\n  #  Views  Visitors\n  1     80         8  /pricing\n"
	if got := out.String(); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	out.Reset()
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "s", "--by", "source", "--period", "7d", "--date", "2026-11-07", "--reporter", srv.URL}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "By      source (approximate)") || !strings.Contains(got, "Google") ||
		!strings.Contains(got, "  #  Visitors  Visits  Bounce rate  Visit duration  Views per visit\n  1         8      21          48%          1m 05s                3  Google\n") {
		t.Fatalf("source:\n%s", got)
	}
	out.Reset()
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "s", "--by", "exit_page", "--date", "2026-11-04", "--reporter", srv.URL}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	want = "Site    s\nPeriod  2026-11-04 .. 2026-11-04 (day, UTC)\nBy      exit_page\n\n  #  Visits  Bounce rate  Visit duration  Views per visit\n  1       8          50%          1m 05s                3  /thanks\n"
	if got := out.String(); got != want {
		t.Fatalf("exit pages: got\n%q\nwant\n%q", got, want)
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
		{"custom", []string{"--site", "s", "--period", "custom"}, "period: custom ranges are not available here"},
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
