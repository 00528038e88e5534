package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/reporter"
)

// loadtest queries: one site with -site-events events over the last 30
// days and -other-events events of 20 other sites in the same store,
// stored through Store.Apply as the processor does (batches of one
// partition, in time order) and compacted, then every query the dashboard
// makes for 30 days, unfiltered and with two filters (a visit property and
// a page), a 12-month aggregate and /stats for a day, over HTTP through
// the real reporter: the first answer of each after a restart (a new
// store, its cache empty) and the p50 of -requests answers warm.
func queriesLoad(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, out io.Writer) error {
	siteEvents := fs.Int("site-events", 1_000_000, "events of the measured site, over the last 30 days")
	otherEvents := fs.Int("other-events", 3_000_000, "events of 20 other sites in the same store")
	reqs := fs.Int("requests", 15, "answers per query, warm")
	pg := fs.String("pg", "", "run embedded FerretDB on this PostgreSQL URL instead of SQLite")
	if err := fs.Parse(args); err != nil {
		return err
	}
	uri, stop, err := mongoServer(ctx, getenv, *pg, out)
	defer stop()
	if err != nil {
		return err
	}
	store, err := mongostore.Open(ctx, uri, mongostore.DefaultConfig())
	if err != nil {
		return err
	}
	const site = "big.example"
	now := time.Now().UTC().Truncate(time.Hour)
	from := now.AddDate(0, 0, -30)
	total := *siteEvents + *otherEvents
	t0 := time.Now()
	// Time order across sites, as traffic arrives: event i of all at
	// from + i/total of 30 days; every fourth event (of 4M) the measured
	// site's when -site-events is a quarter of the total.
	const batch = 2000
	partitionOf := func(s string) int { return int(fnv32(s) % 8) }
	pending := map[int][]analytics.Entry{}
	flush := func(p int) error {
		if len(pending[p]) == 0 {
			return nil
		}
		_, err := store.Apply(ctx, analytics.Batch{Partition: p, Entries: pending[p]})
		pending[p] = nil
		return err
	}
	mainEvery := float64(total) / float64(max(*siteEvents, 1))
	next, mi, oi := 0.0, 0, 0
	for i := 0; i < total; i++ {
		var ev analytics.Event
		if (float64(i) >= next && mi < *siteEvents) || oi >= *otherEvents {
			ev = enriched(session(mi*4), mi)
			ev.SiteID = site
			ev.UserID = fmt.Sprintf("v%d", (mi/5*7919)%(*siteEvents/4+1))
			mi++
			next += mainEvery
		} else {
			ev = enriched(session(oi), oi)
			oi++
		}
		ev.ID = fmt.Sprintf("q-%d", i)
		ev.Timestamp = from.Add(time.Duration(float64(i) / float64(total) * float64(30*24*time.Hour)))
		p := partitionOf(ev.SiteID)
		pending[p] = append(pending[p], analytics.Entry{ID: fmt.Sprintf("%d-%d", 1_000_000+i/batch, i%batch), Event: ev})
		if len(pending[p]) == batch {
			if err := flush(p); err != nil {
				return err
			}
		}
		if i%200_000 == 0 && i > 0 {
			fmt.Fprintf(out, "  %d of %d stored (%.0f events/s)\n", i, total, float64(i)/time.Since(t0).Seconds())
		}
	}
	for p := range 8 {
		if err := flush(p); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "stored %d events (%d of %s) in %v: %.0f events/s\n", total, *siteEvents, site, time.Since(t0).Round(time.Second), float64(total)/time.Since(t0).Seconds())
	t0 = time.Now()
	// The measured site's closed hours compacted, as the processors leave
	// them (the other sites' are left as written: they only fill the store).
	hours, err := store.Compact(ctx, site, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "compacted %d hours of %s in %v\n", hours, site, time.Since(t0).Round(time.Second))
	store.Close(ctx)

	// The reporter's memory is measured from here: what storing left on
	// the heap is returned to the system and the peak RSS reset.
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	fmt.Fprintf(out, "before the reporter: process RSS %s\n", rss())

	// A restarted reporter: a new store, its cache empty, and the soft
	// memory limit the reporter daemon sets.
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(mongostore.MemoryLimit(0))
	}
	fmt.Fprintf(out, "soft memory limit %d MiB\n", debug.SetMemoryLimit(-1)>>20)
	store, err = mongostore.Open(ctx, uri, mongostore.DefaultConfig())
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	srv := httptest.NewServer(reporter.New(engine.New(store), store, zerolog.Nop(), reporter.Config{Sites: store}).Handler())
	defer srv.Close()
	date := now.Format(analytics.DateLayout)
	thirty := url.Values{"site_id": {site}, "period": {"30d"}, "date": {date}}
	var queries []struct{ name, path string }
	add := func(name, path string, v url.Values, extra ...string) {
		q := url.Values{}
		for k, vs := range v {
			q[k] = vs
		}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		queries = append(queries, struct{ name, path string }{name, path + "?" + q.Encode()})
	}
	for _, filters := range []string{"", "visit:source==Google;event:page==/page/3"} {
		v := url.Values{}
		for k, vs := range thirty {
			v[k] = vs
		}
		label := "30d"
		if filters != "" {
			v.Set("filters", filters)
			label = "30d, 2 filters"
		}
		metrics := "visitors,visits,pageviews,bounce_rate,visit_duration,views_per_visit"
		if filters != "" {
			metrics = "visitors,visits,pageviews,bounce_rate,visit_duration" // Plausible refuses views_per_visit with a page filter
		}
		add(label+" aggregate", "/api/v1/stats/aggregate", v, "metrics", metrics)
		add(label+" timeseries", "/api/v1/stats/timeseries", v, "metrics", "visitors,pageviews")
		for _, p := range []string{"event:page", "visit:entry_page", "visit:exit_page", "visit:source", "visit:referrer", "visit:utm_source", "visit:country", "visit:browser", "visit:os", "visit:device", "event:name"} {
			add(label+" "+p, "/api/v1/stats/breakdown", v, "property", p, "metrics", "visitors", "limit", "10")
		}
	}
	add("12mo aggregate", "/api/v1/stats/aggregate", url.Values{"site_id": {site}, "period": {"12mo"}, "date": {date}}, "metrics", "visitors,visits,pageviews,bounce_rate,visit_duration")
	add("12mo pages", "/api/v1/stats/breakdown", url.Values{"site_id": {site}, "period": {"12mo"}, "date": {date}}, "property", "event:page", "metrics", "visitors,pageviews", "limit", "10")
	add("/stats of a day", "/stats", url.Values{"site_id": {site}, "date": {now.AddDate(0, 0, -3).Format(analytics.DateLayout)}})

	get := func(path string) (time.Duration, error) {
		t := time.Now()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("GET %s: %s %s", path, resp.Status, body)
		}
		return time.Since(t), nil
	}
	fmt.Fprintf(out, "\n| query | first after restart | warm p50 | warm p99 |\n|---|---|---|---|\n")
	var worstWarm time.Duration
	for _, q := range queries {
		first, err := get(q.path)
		if err != nil {
			return err
		}
		var lat []time.Duration
		for range *reqs {
			d, err := get(q.path)
			if err != nil {
				return err
			}
			lat = append(lat, d)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
		if !strings.HasPrefix(q.name, "12mo") && q.name != "/stats of a day" && p50 > worstWarm {
			worstWarm = p50
		}
		fmt.Fprintf(out, "| %s | %v | %v | %v |\n", q.name, first.Round(time.Millisecond), p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond))
	}
	cs := store.BlockCacheStats()
	fmt.Fprintf(out, "\nworst 30-day warm p50 %v; block cache %d MiB of %d MiB (%d entries); process RSS %s, peak while answering %s (FerretDB embedded in this process)\n",
		worstWarm.Round(time.Millisecond), cs.Bytes>>20, cs.Limit>>20, cs.Entries, rss(), peakRSS())
	return nil
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func rss() string { return procStatus("VmRSS:") }

// peakRSS is the process's peak RSS since resetPeakRSS (Linux).
func peakRSS() string { return procStatus("VmHWM:") }

// resetPeakRSS resets the peak RSS the kernel keeps (Linux 4.0 and later).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			return strings.TrimSpace(strings.TrimPrefix(l, field))
		}
	}
	return "?"
}
