package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/config"
)

func statsCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var site, date string
	var limit int
	var asJSON bool
	return &cli.Command{
		Name:      "stats",
		Usage:     "print a site's views, unique users and top paths (from the reporter)",
		UsageText: "analytics-cli stats --site site-abc-123 [--date 2025-11-12] [--limit 10] [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "site", Required: true, Destination: &site, Usage: "site id"},
			&cli.StringFlag{Name: "date", Destination: &date, Usage: "UTC day as YYYY-MM-DD; all-time when absent"},
			&cli.IntFlag{Name: "limit", Value: analytics.DefaultTopPaths, Destination: &limit, Usage: "number of top paths (1-100)"},
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
			q := url.Values{"site_id": {site}, "limit": {fmt.Sprint(limit)}}
			if date != "" {
				q.Set("date", date)
			}
			u := strings.TrimRight(cfg.ReporterURL, "/") + "/stats?" + q.Encode()
			req, err := http.NewRequestWithContext(c.Context, http.MethodGet, u, nil)
			if err != nil {
				return fmt.Errorf("reporter URL %q: %w", cfg.ReporterURL, err)
			}
			if cfg.ReporterToken != "" {
				req.Header.Set("Authorization", "Bearer "+cfg.ReporterToken)
			}
			client := &http.Client{Timeout: 10 * time.Second}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("cannot reach the reporter at %s: %w (is it running? set --reporter or REPORTER_URL)", cfg.ReporterURL, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			if err != nil {
				return fmt.Errorf("reading the reporter's answer: %w", err)
			}
			if resp.StatusCode != http.StatusOK {
				var e struct{ Error string }
				_ = json.Unmarshal(body, &e)
				if e.Error == "" {
					e.Error = strings.TrimSpace(string(body))
				}
				return fmt.Errorf("reporter answered %s: %s", resp.Status, e.Error)
			}
			if asJSON {
				_, err := stdout.Write(body)
				return err
			}
			var st analytics.Stats
			if err := json.Unmarshal(body, &st); err != nil {
				return fmt.Errorf("the reporter's answer is not stats JSON: %w", err)
			}
			return printStats(stdout, st)
		},
	}
}

// printStats writes stats as a readable table.
func printStats(w io.Writer, st analytics.Stats) error {
	when := "all time"
	if st.Date != nil {
		when = *st.Date + " (UTC)"
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
