package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/visits"
)

// queueCollected queues events as a collector would after enriching
// them (derived fields set, visits annotated), straight into p's Redis.
func queueCollected(t *testing.T, p *pipeline, events []analytics.Event) {
	t.Helper()
	ctx := context.Background()
	opt, err := redis.ParseURL(p.env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys := redisqueue.Keys{Prefix: p.env["QUEUE_PREFIX"]}
	if keys.Partitions, err = rdb.HGet(ctx, keys.Meta(), "partitions").Int(); err != nil {
		t.Fatal(err)
	}
	pub := redisqueue.NewPublisher(rdb, keys, redisqueue.PublisherConfig{})
	defer pub.Close()
	ann := visits.New(rdb, keys.Prefix, config.DefaultVisitTimeout)
	defer ann.Close()
	if err := ann.Queue(pub).Publish(ctx, events); err != nil {
		t.Fatal(err)
	}
}

// getBody returns the body of a reporter GET, failing on any status but 200.
func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return string(b)
}

// Import keeps what export wrote. Events collected with different
// browsers, systems, devices, countries, sources and campaigns are
// exported and imported into another pipeline, with --direct and through
// a collector in registered mode with the site's write key: every field
// of every event, every breakdown, the aggregates and /stats come out as
// they went in (before, through a collector the importing request
// supplied browser and country for all of them). Without the key the
// collector refuses the import, saying why.
func TestImportDirectKeepsEveryDerivedField(t *testing.T) {
	t.Run("direct", func(t *testing.T) {
		testImportKeepsEveryDerivedField(t, func(t *testing.T, site string) (*pipeline, []string) {
			return startPipeline(t), []string{"--direct"}
		})
	})
	t.Run("collector with the write key", func(t *testing.T) {
		testImportKeepsEveryDerivedField(t, func(t *testing.T, site string) (*pipeline, []string) {
			dst := startPipelineEnv(t, map[string]string{"SITES_MODE": "registered", "SITES_REFRESH": "200ms"}, serveArgs)
			key := writeKeyRe.FindString(dst.cli(t, "sites", "add", "--domain", site, site))
			if key == "" {
				t.Fatal("sites add printed no write key")
			}
			return dst, []string{"--collector", dst.collector, "--key", key}
		})
	})
}

func testImportKeepsEveryDerivedField(t *testing.T, destination func(t *testing.T, site string) (*pipeline, []string)) {
	src := startPipeline(t)
	const site = "direct.example"
	browsers := []string{"Chrome", "Firefox", "Safari"}
	systems := []string{"Windows", "macOS", "Android", "iOS"}
	devices := []string{"desktop", "mobile", "tablet"}
	countries := []string{"DE", "FR", "US", "JP", "BR"}
	var events []analytics.Event
	for i := range 300 {
		ev := analytics.Event{ID: fmt.Sprintf("d-%03d", i), SiteID: site, EventType: analytics.PageView,
			Path: fmt.Sprintf("/p%d", i%6), UserID: fmt.Sprintf("user-%d", i%23),
			Timestamp: time.Date(2025, 11, 10+i%3, 8+i%9, i%60, 0, 0, time.UTC),
			Browser:   browsers[i%23%3], OS: systems[i%23%4], Device: devices[i%23%3], Country: countries[i%23%5]}
		if i%4 == 0 {
			ev.EventType, ev.Path = "signup", ""
			ev.Props = map[string]any{"plan": []string{"pro", "free"}[i%2]}
		}
		switch i % 23 % 4 {
		case 0:
			ev.Source, ev.ReferrerHost = "Google", "google.com"
		case 1:
			ev.Source, ev.ReferrerHost = "news.example.org", "news.example.org"
		case 2:
			ev.UTMSource, ev.UTMMedium, ev.UTMCampaign, ev.Source = "newsletter", "email", "c1", "newsletter"
		}
		events = append(events, ev)
	}
	// In time order, as a browser would send them, so visits are cut the
	// same way on both sides.
	sort.SliceStable(events, func(i, j int) bool { return events[i].Timestamp.Before(events[j].Timestamp) })
	queueCollected(t, src, events)
	src.waitProcessed(t, len(events), len(events))

	dir := t.TempDir()
	nd := filepath.Join(dir, "events.ndjson")
	if out, err := runCLI(t, src, "export", "--site", site, "-o", nd); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	dst, how := destination(t, site)
	var out string
	var err error
	testenv.Eventually(t, 10*time.Second, func() error {
		out, err = runCLI(t, dst, append(append([]string{"import"}, how...), nd)...)
		return err
	})
	if !strings.Contains(out, fmt.Sprintf("imported %d events", len(events))) {
		t.Fatalf("import %v: %s", how, out)
	}
	if !slices.Contains(how, "--direct") {
		// Without the key, the collector refuses to keep the file's
		// fields, and says why (the registry was read: the import above went through).
		_, err := runCLI(t, dst, "import", "--collector", dst.collector, nd)
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "needs its write key") {
			t.Fatalf("import without the write key: %v", err)
		}
	}
	dst.waitProcessed(t, len(events), len(events))

	// Every field of every event.
	exportOf := func(p *pipeline) string {
		out, err := runCLI(t, p, "export", "--site", site)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	want, _ := os.ReadFile(nd)
	wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
	sort.Strings(wantLines)
	if got := exportOf(dst); got != strings.Join(wantLines, "\n") {
		t.Fatalf("events after the round trip differ from the export:\n%s\nwant\n%s", firstLines(got, 3), firstLines(strings.Join(wantLines, "\n"), 3))
	}
	if !strings.Contains(string(want), `"country":"JP"`) || !strings.Contains(string(want), `"browser":"Safari"`) {
		t.Fatalf("the export lacks the derived fields:\n%s", firstLines(string(want), 3))
	}

	// Every breakdown, the aggregates and /stats.
	q := "site_id=" + site + "&period=custom&date=2025-11-10,2025-11-12"
	paths := []string{
		"/api/v1/stats/aggregate?" + q + "&metrics=visitors,visits,pageviews,events,bounce_rate,visit_duration,views_per_visit",
		"/api/v1/stats/timeseries?" + q + "&metrics=visitors,pageviews",
		"/stats?site_id=" + site, "/stats?site_id=" + site + "&date=2025-11-11",
	}
	for _, prop := range []string{"event:page", "event:name", "visit:source", "visit:referrer", "visit:utm_source", "visit:utm_medium",
		"visit:utm_campaign", "visit:browser", "visit:os", "visit:device", "visit:country", "visit:entry_page", "visit:exit_page"} {
		paths = append(paths, "/api/v1/stats/breakdown?"+q+"&limit=1000&property="+prop)
	}
	for _, path := range paths {
		a, b := getBody(t, src.reporter+path), getBody(t, dst.reporter+path)
		if a != b {
			t.Fatalf("%s after the round trip:\n%s\nwant\n%s", path, b, a)
		}
		if strings.Contains(path, "visit:country") && !strings.Contains(a, `"JP"`) {
			t.Fatalf("%s has no JP: %s", path, a)
		}
	}
	// A second import counts nothing more.
	if out, err := runCLI(t, dst, append(append([]string{"import"}, how...), nd)...); err != nil {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	dst.waitProcessed(t, 2*len(events), len(events))
	var st analytics.Stats
	if err := json.Unmarshal([]byte(getBody(t, dst.reporter+"/stats?site_id="+site)), &st); err != nil || st.TotalViews != int64(len(events)-len(events)/4) {
		t.Fatalf("after a second import: %+v, %v", st, err)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
