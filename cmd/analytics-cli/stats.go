package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/httpx"
)

func statsCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var site, date, period, by string
	var filters cli.StringSlice
	var limit int
	var asJSON bool
	return &cli.Command{
		Name:  "stats",
		Usage: "print a site's views, unique users, visits and top paths, or any period, filter and breakdown (from the reporter, in the site's time zone)",
		UsageText: "analytics-cli stats --site site-abc-123 [--date 2025-11-12] [--limit 10] [--json]\n" +
			"analytics-cli stats --site site-abc-123 --period 7d [--date 2025-11-12] [--filter 'visit:source==Google'] [--json]\n" +
			"analytics-cli stats --site site-abc-123 --by page [--period 30d] [--filter 'visit:country==DE;event:page==/blog/**'] [--limit 10] [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "site", Required: true, Destination: &site, Usage: "site id"},
			&cli.StringFlag{Name: "date", Destination: &date, Usage: "the site's day as YYYY-MM-DD; all-time when absent (with --period: the day it is relative to, default today; 7d and 30d are the days before it)"},
			&cli.StringFlag{Name: "period", Destination: &period, Usage: "day, 7d, 30d, month, 6mo, 12mo, year or all: totals and a sparkline (Stats API v1 periods)"},
			&cli.StringFlag{Name: "by", Destination: &by, Usage: "break down by " + strings.Join(byNames, ", ") + ", goal or props:<key> (Stats API)"},
			&cli.StringSliceFlag{Name: "filter", Destination: &filters, Usage: "Stats API v1 filter, e.g. 'visit:source==Google', 'event:page==/blog/**', 'visit:country!=US', 'event:page~pricing'; repeat it or join with ';' (all must hold)"},
			&cli.IntFlag{Name: "limit", Value: analytics.DefaultTopPaths, Destination: &limit, Usage: "number of top paths or breakdown rows (1-100)"},
			&cli.BoolFlag{Name: "json", Destination: &asJSON, Usage: "print the reporter's JSON instead of a table"},
			&cli.StringFlag{Name: "reporter", Value: cfg.ReporterURL, Destination: &cfg.ReporterURL, Usage: "reporter base URL (env REPORTER_URL)"},
			&cli.StringFlag{Name: "token", Value: cfg.ReporterToken, Destination: &cfg.ReporterToken, Usage: "bearer token (env REPORTER_TOKEN)"},
		},
		Action: func(c *cli.Context) error {
			// Check locally first so a typo gets a precise message even
			// when the reporter is down.
			if _, err := analytics.ParseStatsQuery(site, date, fmt.Sprint(limit)); err != nil {
				return errors.New(analytics.Message(err))
			}
			if period != "" || by != "" || len(filters.Value()) > 0 {
				return statsAPI(c, cfg, stdout, site, date, period, by, strings.Join(filters.Value(), ";"), limit, asJSON)
			}
			q := url.Values{"site_id": {site}, "limit": {fmt.Sprint(limit)}}
			if date != "" {
				q.Set("date", date)
			}
			body, err := fetch(c, cfg, "/stats", q)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := stdout.Write(body)
				return err
			}
			var st analytics.Stats
			if err := json.Unmarshal(body, &st); err != nil {
				return fmt.Errorf("the reporter's answer is not stats JSON: %w", err)
			}
			v := url.Values{"site_id": {site}, "period": {"all"}, "metrics": {visitMetrics}}
			if date != "" {
				v.Set("period", "day")
				v.Set("date", date)
			}
			agg, err := fetch(c, cfg, "/api/v1/stats/aggregate", v)
			if err != nil {
				return err
			}
			return printStats(stdout, st, agg)
		},
	}
}

// fetch GETs path?q from the reporter and returns the body of a 200.
func fetch(c *cli.Context, cfg *config.Config, path string, q url.Values) ([]byte, error) {
	u := strings.TrimRight(cfg.ReporterURL, "/") + path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(c.Context, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("reporter URL %q: %w", cfg.ReporterURL, err)
	}
	if cfg.ReporterToken != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.ReporterToken)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the reporter at %s: %w (is it running? set --reporter or REPORTER_URL)", cfg.ReporterURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the reporter's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return nil, fmt.Errorf("reporter answered %s: %s", resp.Status, e.Error)
	}
	return body, nil
}

// byNames are the --by values; visit properties are "visit:" + the name.
var byNames = []string{"page", "name", "source", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "browser", "os", "device", "country", "entry_page", "exit_page"}

// visitMetrics are the Stats API's visit metrics, in the order printed.
const visitMetrics = "visits,bounce_rate,visit_duration,views_per_visit"

func byProperty(by string) (property, metrics string, ok bool) {
	switch by {
	case "page":
		return "event:page", "pageviews,visitors", true
	case "name", "goal":
		return "event:" + by, "events,visitors", true
	case "exit_page":
		return "visit:exit_page", visitMetrics, true
	}
	if key, ok := strings.CutPrefix(by, "props:"); ok && key != "" {
		return "event:props:" + key, "events,visitors", true
	}
	for _, n := range byNames {
		if n == by {
			return "visit:" + by, "visitors," + visitMetrics, true
		}
	}
	return "", "", false
}

// periods are the Stats API v1 periods the CLI offers.
var periods = []string{"day", "7d", "30d", "month", "6mo", "12mo", "year", "all"}

// statsAPI prints --period totals with a sparkline, or a --by breakdown,
// from the reporter's Stats API v1, under the v1 filters given.
func statsAPI(c *cli.Context, cfg *config.Config, w io.Writer, site, date, period, by, filters string, limit int, asJSON bool) error {
	if period == "" {
		period = "all"
		if date != "" {
			period = "day"
		}
	}
	known := false
	for _, p := range periods {
		known = known || p == period
	}
	if !known {
		return fmt.Errorf("period: %q is not a period; one of %s", period, strings.Join(periods, ", "))
	}
	v := url.Values{"site_id": {site}, "period": {period}}
	if date != "" {
		v.Set("date", date)
	}
	if filters != "" {
		v.Set("filters", filters)
	}
	when := period + ", in the site's time zone"
	switch {
	case period == "all":
		when = "all time"
	case date != "":
		when = period + " of " + date + ", in the site's time zone"
	}
	if filters != "" {
		when += "; where " + filters
	}
	if by != "" {
		property, metrics, ok := byProperty(by)
		if !ok {
			return fmt.Errorf("by: %q is not a dimension; one of %s, goal, props:<key>", by, strings.Join(byNames, ", "))
		}
		v.Set("property", property)
		v.Set("metrics", metrics)
		v.Set("limit", fmt.Sprint(limit))
		body, err := fetch(c, cfg, "/api/v1/stats/breakdown", v)
		if err != nil {
			return err
		}
		if asJSON {
			_, err := w.Write(body)
			return err
		}
		key := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(property, "event:props:"), "event:"), "visit:")
		return printBreakdown(w, site, when, by, key, strings.Split(metrics, ","), body)
	}
	v.Set("metrics", "visitors,pageviews,events,"+visitMetrics)
	if strings.Contains(filters, "event:name") || strings.Contains(filters, "event:goal") || strings.Contains(filters, "event:props:") {
		// Plausible's v1 refuses visit metrics under an event-only filter.
		v.Set("metrics", "visitors,pageviews,events")
	} else if strings.Contains(filters, "event:page") {
		// ... and views per visit under a page filter.
		v.Set("metrics", "visitors,pageviews,events,visits,bounce_rate,visit_duration")
	}
	agg, err := fetch(c, cfg, "/api/v1/stats/aggregate", v)
	if err != nil {
		return err
	}
	v.Set("metrics", "visitors,pageviews")
	series, err := fetch(c, cfg, "/api/v1/stats/timeseries", v)
	if err != nil {
		return err
	}
	if asJSON {
		b, err := httpx.MarshalJSON(map[string]json.RawMessage{"aggregate": agg, "timeseries": series})
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return printPeriod(w, site, when, agg, series)
}

type apiRows struct {
	Results []map[string]json.RawMessage `json:"results"`
}

func (r apiRows) column(key string) []int64 {
	out := make([]int64, len(r.Results))
	for i, v := range r.floats(key) {
		out[i] = int64(v)
	}
	return out
}

func (r apiRows) floats(key string) []float64 {
	out := make([]float64, len(r.Results))
	for i, row := range r.Results {
		_ = json.Unmarshal(row[key], &out[i])
	}
	return out
}

// formatMetric writes a metric's value for people: a bounce rate as a
// percentage, a duration in minutes and seconds.
func formatMetric(m string, v float64) string {
	switch m {
	case "bounce_rate":
		return fmt.Sprintf("%.0f%%", v)
	case "visit_duration":
		return formatSeconds(int64(v))
	case "views_per_visit":
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// formatSeconds writes 5s, 4m 05s, 2h 03m.
func formatSeconds(s int64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh %02dm", s/3600, s%3600/60)
}

// metricNames are the metrics' labels.
var metricNames = map[string]string{
	"visitors": "Visitors", "pageviews": "Views", "events": "Events", "visits": "Visits",
	"bounce_rate": "Bounce rate", "visit_duration": "Visit duration", "views_per_visit": "Views per visit",
}

// aggValue is one metric of an aggregate answer.
type aggValue struct {
	Value float64 `json:"value"`
}

// aggregateValues reads an aggregate answer.
func aggregateValues(agg []byte) (map[string]aggValue, error) {
	var a struct {
		Results map[string]aggValue `json:"results"`
	}
	if err := json.Unmarshal(agg, &a); err != nil {
		return nil, fmt.Errorf("the reporter's answer is not aggregate JSON: %w", err)
	}
	return a.Results, nil
}

// printVisits writes the visit metrics of an aggregate answer, one a line
// (those it has).
func printVisits(tw io.Writer, results map[string]aggValue) {
	for _, m := range strings.Split(visitMetrics, ",") {
		if r, ok := results[m]; ok {
			fmt.Fprintf(tw, "%s\t%s\n", metricNames[m], formatMetric(m, r.Value))
		}
	}
}

func (r apiRows) label(i int, key string) string {
	var s string
	_ = json.Unmarshal(r.Results[i][key], &s)
	return s
}

// printPeriod writes the totals of a period and sparklines of its
// timeseries.
func printPeriod(w io.Writer, site, when string, agg, series []byte) error {
	results, err := aggregateValues(agg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Site\t%s\n", site)
	fmt.Fprintf(tw, "Period\t%s\n", when)
	for _, m := range [][2]string{{"visitors", "Visitors"}, {"pageviews", "Page views"}, {"events", "Events"}} {
		fmt.Fprintf(tw, "%s\t%.0f\n", m[1], results[m[0]].Value)
	}
	fmt.Fprintln(tw)
	printVisits(tw, results)
	var ts apiRows
	if err := json.Unmarshal(series, &ts); err != nil {
		return fmt.Errorf("the reporter's answer is not timeseries JSON: %w", err)
	}
	if n := len(ts.Results); n > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintf(tw, "Visitors\t%s  %s .. %s\n", Sparkline(ts.column("visitors")), ts.label(0, "date"), ts.label(n-1, "date"))
		fmt.Fprintf(tw, "Page views\t%s\n", Sparkline(ts.column("pageviews")))
	}
	return tw.Flush()
}

// printBreakdown writes a breakdown as a table.
func printBreakdown(w io.Writer, site, when, by, key string, metrics []string, body []byte) error {
	var r apiRows
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("the reporter's answer is not breakdown JSON: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Site\t%s\n", site)
	fmt.Fprintf(tw, "Period\t%s\n", when)
	fmt.Fprintf(tw, "By\t%s\n", by)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Results) == 0 {
		_, err := fmt.Fprintln(w, "Nothing in this period.")
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "#\t")
	for _, m := range metrics {
		fmt.Fprintf(tw, "%s\t", metricNames[m])
	}
	fmt.Fprintln(tw)
	cols := make([][]float64, len(metrics))
	for j, m := range metrics {
		cols[j] = r.floats(m)
	}
	for i := range r.Results {
		fmt.Fprintf(tw, "%d\t", i+1)
		for j, m := range metrics {
			fmt.Fprintf(tw, "%s\t", formatMetric(m, cols[j][i]))
		}
		fmt.Fprintf(tw, "  %s\n", r.label(i, key))
	}
	return tw.Flush()
}

// Sparkline draws values as bars ▁ to █, scaled to the largest.
func Sparkline(values []int64) string {
	const bars = "▁▂▃▄▅▆▇█"
	levels := []rune(bars)
	var most int64
	for _, v := range values {
		most = max(most, v)
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if most > 0 && v > 0 {
			i = int((v*int64(len(levels)-1) + most/2) / most)
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}

// printStats writes stats as a readable table, with the visit metrics of
// the aggregate answer agg.
func printStats(w io.Writer, st analytics.Stats, agg []byte) error {
	results, err := aggregateValues(agg)
	if err != nil {
		return err
	}
	when := "all time"
	if st.Date != nil {
		when = *st.Date + " (the site's day)"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Site\t%s\n", st.SiteID)
	fmt.Fprintf(tw, "Period\t%s\n", when)
	fmt.Fprintf(tw, "Page views\t%d\n", st.TotalViews)
	fmt.Fprintf(tw, "Unique users\t%d\n", st.UniqueUsers)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if st.Note != "" {
		_, err := fmt.Fprintf(w, "Note: %s.\n", st.Note)
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	printVisits(tw, results)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(st.TopPaths) == 0 {
		_, err := fmt.Fprintln(w, "No page views yet.")
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "#\tViews\tShare\t\n")
	for i, p := range st.TopPaths {
		share := 0.0
		if st.TotalViews > 0 {
			share = 100 * float64(p.Views) / float64(st.TotalViews)
		}
		fmt.Fprintf(tw, "%d\t%d\t%.1f%%\t  %s\n", i+1, p.Views, share, p.Path)
	}
	return tw.Flush()
}
