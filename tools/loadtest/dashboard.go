package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/dashboard"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/testenv/chrome"
	"github.com/siteanalytics/analytics/reporter"
)

// dashboardLoad measures the dashboard as a browser sees it: the time from
// navigation start to the view's data being drawn (the page's
// "dashboard-drawn" mark), and the API calls it makes, for one site
// holding n events, against a site with none (the baseline: the page's own
// cost) in the same run.
func dashboardLoad(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, out io.Writer) error {
	n := fs.Int("n", 1000000, "events stored for the measured site")
	loads := fs.Int("loads", 7, "page loads per view (the median is reported)")
	pg := fs.String("pg", "", "run embedded FerretDB on this PostgreSQL URL instead of SQLite")
	recent := fs.Bool("recent", false, "the events in the last 30 days (compacted, as processors leave them), and the views of the last 30 days: unfiltered, with two filters (a visit property and a page), compared with the previous period; else 400 days and the views of a day, 30 days and 12 months")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, stop, err := scratchStore(ctx, getenv, *pg, out)
	defer stop()
	if err != nil {
		return err
	}
	const site, empty = "dash-1m", "dash-empty"
	from := time.Now().UTC().Truncate(time.Hour).AddDate(0, 0, -30)
	err = fill(ctx, store, 0, *n, func(i int) analytics.Event {
		ev := spread(i)
		ev.SiteID = site
		if *recent {
			// Visits of five events a few seconds apart, in time order
			// over the last 30 days.
			ev.Timestamp = from.Add(time.Duration(float64(i) / float64(*n) * float64(30*24*time.Hour)))
		}
		return ev
	}, out)
	if err != nil {
		return err
	}
	if *recent {
		t0 := time.Now()
		hours, err := store.Compact(ctx, site, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "compacted %d hours in %v\n", hours, time.Since(t0).Round(time.Second))
	}
	// A site that is known, but has nothing in the views.
	ev := spread(0)
	ev.SiteID, ev.Timestamp = empty, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := store.Apply(ctx, analytics.Batch{Entries: []analytics.Entry{{ID: "empty-0", Event: ev}}}); err != nil {
		return err
	}
	d, err := dashboard.New(dashboard.Config{CollectorURL: "http://localhost:3000"})
	if err != nil {
		return err
	}
	// The reporter as it runs (its answer cache on), and one that computes
	// every answer (the engine's block cache still warm).
	srv := httptest.NewServer(reporter.New(engine.New(store), store, zerolog.Nop(), reporter.Config{Dashboard: d, Sites: store, Blocks: store}).Handler())
	defer srv.Close()
	bare := httptest.NewServer(reporter.New(engine.New(store), store, zerolog.Nop(), reporter.Config{Dashboard: d, Sites: store, Blocks: store, AnswerCache: -1}).Handler())
	defer bare.Close()
	fmt.Fprintf(out, "page weight: %d bytes gzipped (HTML, script with uPlot, styles)\n", d.Weight())

	bctx, cancel, err := headless(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	var mu sync.Mutex
	var api int
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(e.Request.URL, "/api/") {
			mu.Lock()
			api++
			mu.Unlock()
		}
	}); err != nil {
		return err
	}
	// The stored days run from 2025-01-01 for 400 days; views end on
	// 2026-01-31.
	views := []struct{ name, query string }{
		{"one day (hourly)", "?period=custom&from=2026-01-20&to=2026-01-20"},
		{"30 days (daily)", "?period=custom&from=2026-01-01&to=2026-01-31"},
		{"12 months (monthly)", "?period=custom&from=2025-02-01&to=2026-01-31"},
	}
	if *recent {
		views = []struct{ name, query string }{
			{"30 days", "?period=30d"},
			{"30 days, 2 filters", "?period=30d&f=is,visit:source,Google&f=is,event:page,/page/3"},
			{"30 days, compared", "?period=30d&compare=previous_period"},
			{"30 days, 2 filters, compared", "?period=30d&compare=previous_period&f=is,visit:source,Google&f=is,event:page,/page/3"},
		}
	}
	for _, server := range []struct{ name, url string }{{"", srv.URL}, {" (no answer cache)", bare.URL}} {
		for _, v := range views {
			var base, full []time.Duration
			var calls int
			for i := 0; i < *loads; i++ {
				for _, s := range []string{empty, site} {
					mu.Lock()
					api = 0
					mu.Unlock()
					d, err := drawn(bctx, server.url+"/sites/"+s+v.query)
					if err != nil {
						return fmt.Errorf("%s %s: %w", s, v.name, err)
					}
					mu.Lock()
					calls = api
					mu.Unlock()
					if s == site {
						full = append(full, d)
					} else {
						base = append(base, d)
					}
				}
			}
			b, f := pctOf(base, .5), pctOf(full, .5)
			fmt.Fprintf(out, "%-48s %d events: drawn in %8s (median of %d loads); empty site %8s (%.1fx); %d API calls\n",
				v.name+server.name, *n, ms(f), *loads, ms(b), float64(f)/float64(b), calls)
		}
	}
	return nil
}

// drawn loads url and returns the time from navigation start to the
// dashboard's "dashboard-drawn" mark.
func drawn(ctx context.Context, url string) (time.Duration, error) {
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(performance.getEntriesByName("dashboard-drawn")[0] || {startTime: -1}).startTime`))
		if err == nil && v >= 0 {
			return time.Duration(v * float64(time.Millisecond)), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("not drawn within 60 s")
}

// headless starts a headless Chrome or Chromium (chrome.Path says
// which, or what to install).
func headless(ctx context.Context) (context.Context, context.CancelFunc, error) {
	path, err := chrome.Path()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "loadtest-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(dir), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	cancel := func() { cancelTab(); cancelAlloc(); os.RemoveAll(dir) }
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		return nil, nil, err
	}
	return bctx, cancel, nil
}
