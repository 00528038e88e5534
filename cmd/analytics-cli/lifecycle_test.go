package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/mongostore"
)

// lifecycleDays are the days the lifecycle tests' events fall on.
var lifecycleDays = []string{"2025-11-10", "2025-11-11", "2025-11-12"}

// sendLifecycleEvents posts n events of site (and n/3 of site+"-other")
// over lifecycleDays: page views and signups of 7 users on 5 paths, some
// with a campaign and a referrer. It returns the events sent per site, and
// appends those of site to evs when it is not nil.
func sendLifecycleEvents(t *testing.T, p *pipeline, site string, n int, evs ...*[]map[string]any) map[string]int {
	t.Helper()
	sent := map[string]int{}
	var batch []map[string]any
	flush := func() {
		if len(batch) == 0 {
			return
		}
		b, _ := json.Marshal(batch)
		if code, body := post(t, p.collector+"/events", string(b)); code != 202 || strings.Contains(body, `"rejected":[{`) {
			t.Fatalf("POST /events: %d %s", code, body)
		}
		batch = batch[:0]
	}
	for i := range n + n/3 {
		s := site
		if i >= n {
			s = site + "-other"
		}
		ev := map[string]any{"id": fmt.Sprintf("%s-%d", s, i), "site_id": s, "event_type": "page_view",
			"path": fmt.Sprintf("/p%d", i%5), "user_id": fmt.Sprintf("user-%d", i%7),
			"timestamp": fmt.Sprintf("%sT%02d:%02d:00Z", lifecycleDays[i%3], 8+i%12, i%60)}
		if i%4 == 0 {
			ev["event_type"] = "signup"
			ev["props"] = map[string]any{"plan": "pro", "seats": i % 3}
		}
		if i%5 == 0 {
			ev["path"] = fmt.Sprintf("/p%d?utm_source=newsletter&utm_campaign=c%d", i%5, i%2)
			ev["referrer"] = "https://www.google.com/search"
		}
		batch = append(batch, ev)
		sent[s]++
		if len(evs) > 0 && s == site {
			*evs[0] = append(*evs[0], ev)
		}
		if len(batch) == 100 {
			flush()
		}
	}
	flush()
	return sent
}

// siteStats returns a site's /stats of each lifecycle day and all time.
func siteStats(t *testing.T, p *pipeline, site string) map[string]analytics.Stats {
	t.Helper()
	out := map[string]analytics.Stats{}
	for _, d := range append([]string{""}, lifecycleDays...) {
		out[d], _ = getStats(t, p.reporter, site, d)
	}
	return out
}

// runCLI runs analytics-cli with args against p's servers and returns
// its output.
func runCLI(t *testing.T, p *pipeline, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"analytics-cli"}, args...), p.getenv, &out)
	return out.String(), err
}

func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	src := startPipeline(t)
	const site = "export.example"
	sent := sendLifecycleEvents(t, src, site, 240)
	src.waitProcessed(t, sent[site]+sent[site+"-other"], sent[site]+sent[site+"-other"])
	want := siteStats(t, src, site)
	if want[""].TotalViews == 0 {
		t.Fatal("no views to compare")
	}

	dir := t.TempDir()
	nd, cs := filepath.Join(dir, "events.ndjson"), filepath.Join(dir, "events.csv")
	if out, err := runCLI(t, src, "export", "--site", site, "-o", nd); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if out, err := runCLI(t, src, "export", "--site", site, "--format", "csv", "-o", cs); err != nil {
		t.Fatalf("export csv: %v\n%s", err, out)
	}
	// Both hold exactly the site's events, with the same ids and fields.
	ndIDs := map[string]exported{}
	b, err := os.ReadFile(nd)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e exported
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		if e.SiteID != site {
			t.Fatalf("exported an event of %s", e.SiteID)
		}
		ndIDs[e.ID] = e
	}
	if len(ndIDs) != sent[site] {
		t.Fatalf("ndjson export has %d events, want %d", len(ndIDs), sent[site])
	}
	f, err := os.Open(cs)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], csvHeader) || len(rows) != sent[site]+1 {
		t.Fatalf("csv export: header %v, %d rows; want %d rows", rows[0], len(rows)-1, sent[site])
	}
	for _, r := range rows[1:] {
		e, ok := ndIDs[r[0]]
		if !ok || !reflect.DeepEqual(r, e.csvRow()) {
			t.Fatalf("csv row %v is not the ndjson event %+v", r, e)
		}
		if e.Path != "" && strings.Contains(e.Path, "?") {
			t.Fatalf("exported path %q keeps a query", e.Path)
		}
	}
	// One day: only its events.
	out, err := runCLI(t, src, "export", "--site", site, "--from", "2025-11-11", "--to", "2025-11-11")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "\n"); n != sent[site]/3 || strings.Count(out, `"timestamp":"2025-11-11T`) != n {
		t.Fatalf("export of one day: %d lines, want %d of 2025-11-11", n, sent[site]/3)
	}

	// Into another, empty pipeline: the same stats; a second import counts
	// nothing more.
	dst := startPipeline(t)
	if out, err := runCLI(t, dst, "import", "--collector", dst.collector, nd); err != nil || !strings.Contains(out, fmt.Sprintf("imported %d events", sent[site])) {
		t.Fatalf("import: %v\n%s", err, out)
	}
	dst.waitProcessed(t, sent[site], sent[site])
	if got := siteStats(t, dst, site); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats after import:\n%+v\nwant\n%+v", got, want)
	}
	if out, err := runCLI(t, dst, "import", "--collector", dst.collector, nd); err != nil {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	dst.waitProcessed(t, 2*sent[site], sent[site])
	if got := siteStats(t, dst, site); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats after a second import:\n%+v\nwant\n%+v", got, want)
	}
	// The campaign survived the trip: it went back into the path.
	back := map[string]exported{}
	out, err = runCLI(t, dst, "export", "--site", site)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e exported
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		back[e.ID] = e
	}
	for id, e := range ndIDs {
		g := back[id]
		if g.Timestamp != e.Timestamp || g.Path != e.Path || g.UserID != e.UserID || g.EventType != e.EventType ||
			g.UTMSource != e.UTMSource || g.UTMCampaign != e.UTMCampaign || g.Source != e.Source || fmt.Sprint(g.Props) != fmt.Sprint(e.Props) {
			t.Fatalf("event %s after the round trip: %+v, was %+v", id, g, e)
		}
	}
}

func TestImportNamesTheBadLine(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	dir := t.TempDir()
	good := `{"id":"imp-1","site_id":"imp.example","event_type":"page_view","path":"/","timestamp":"2025-11-12T10:00:00Z"}`
	for _, tt := range []struct {
		name, second, want string
	}{
		{"not JSON", `{"id":"imp-2","site_id":`, "line 3: not a JSON object"},
		{"no id", `{"site_id":"imp.example","event_type":"page_view"}`, `line 3: no "id"`},
		{"refused by the collector", `{"id":"imp-3","site_id":"imp.example","event_type":"page_view","path":"/","colour":"red"}`, `line 3: unknown field "colour"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(f, []byte(good+"\n\n"+tt.second+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := runCLI(t, p, "import", "--collector", p.collector, f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("import: %v, want an error with %q", err, tt.want)
			}
		})
	}
	// A bad line stops the import before its batch is sent; a line the
	// collector refuses leaves the rest of its batch accepted.
	p.waitProcessed(t, 1, 1)
	st, _ := getStats(t, p.reporter, "imp.example", "2025-11-12")
	if st.TotalViews != 1 {
		t.Fatalf("views %d, want 1", st.TotalViews)
	}
}

// expectedStats computes /stats of each lifecycle day and all time from
// events, leaving out user skip: the independent truth forget is checked
// against.
func expectedStats(site string, events []map[string]any, skip string) map[string]analytics.Stats {
	out := map[string]analytics.Stats{}
	for _, d := range append([]string{""}, lifecycleDays...) {
		views := map[string]int64{}
		users := map[string]bool{}
		var total int64
		for _, ev := range events {
			if ev["user_id"] == skip || (d != "" && !strings.HasPrefix(ev["timestamp"].(string), d)) {
				continue
			}
			users[ev["user_id"].(string)] = true
			if ev["event_type"] == "page_view" {
				path, _, _ := strings.Cut(ev["path"].(string), "?")
				views[path]++
				total++
			}
		}
		top := []analytics.PathViews{}
		for p, v := range views {
			top = append(top, analytics.PathViews{Path: p, Views: v})
		}
		sort.Slice(top, func(i, j int) bool {
			if top[i].Views != top[j].Views {
				return top[i].Views > top[j].Views
			}
			return top[i].Path < top[j].Path
		})
		st := analytics.Stats{SiteID: site, TotalViews: total, UniqueUsers: int64(len(users)), TopPaths: top}
		if d != "" {
			st.Date = &d
		}
		out[d] = st
	}
	return out
}

// blockRows counts the rows of each visitor (block.Hash of the user id)
// in the event blocks of site over the lifecycle days, read from the
// database, and reports each block's visitor dictionary too: a visitor in
// a dictionary without rows is still a byte of them.
func blockRows(t *testing.T, p *pipeline, site string) (rows map[uint64]int, dict map[uint64]bool) {
	t.Helper()
	store, err := mongostore.Open(context.Background(), p.env["MONGODB_URI"], mongostore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	from, _ := time.Parse("2006-01-02", lifecycleDays[0])
	to, _ := time.Parse("2006-01-02", lifecycleDays[len(lifecycleDays)-1])
	bs, err := store.Blocks(context.Background(), site, from, to.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	rows, dict = map[uint64]int{}, map[uint64]bool{}
	for _, b := range bs {
		for _, v := range b.Visitors {
			dict[v] = true
		}
		for r := range b.Len() {
			rows[b.Visitors[b.Visitor[r]]]++
		}
	}
	return rows, dict
}

// exportedUsers counts the exported raw events of site per user.
func exportedUsers(t *testing.T, p *pipeline, site string) map[string]int {
	t.Helper()
	out, err := runCLI(t, p, "export", "--site", site)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e exported
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		m[e.UserID]++
	}
	return m
}

func TestForgetVisitor(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	const site, gone = "forget.example", "user-3"
	var events []map[string]any
	sent := sendLifecycleEvents(t, p, site, 210, &events)
	p.waitProcessed(t, sent[site]+sent[site+"-other"], sent[site]+sent[site+"-other"])
	before := exportedUsers(t, p, site)
	rows, _ := blockRows(t, p, site)
	if before[gone] == 0 || rows[block.Hash(gone)] != before[gone] {
		t.Fatalf("%s: %d raw events, %d block rows; want the same, more than 0 (raw events per user %v)", gone, before[gone], rows[block.Hash(gone)], before)
	}
	if got, want := siteStats(t, p, site), expectedStats(site, events, ""); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats before forget:\n%+v\nwant\n%+v", got, want)
	}
	otherBefore := siteStats(t, p, site+"-other")
	otherRows, _ := blockRows(t, p, site+"-other")

	// forget deletes the raw events and rewrites the hours whose blocks
	// hold the visitor: one row per event, the hours of their events.
	hours := func(user string) int {
		h := map[string]bool{}
		for _, ev := range events {
			if ev["user_id"] == user {
				h[ev["timestamp"].(string)[:13]] = true
			}
		}
		return len(h)
	}
	out, err := runCLI(t, p, "forget", "--site", site, "--user", gone)
	if err != nil {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("deleted %s of %s on %s, %s of the event blocks (%s rewritten)", plural(before[gone], "raw event"), gone, site,
		plural(before[gone], "row"), plural(hours(gone), "hour")); !strings.Contains(out, want) {
		t.Fatalf("forget said:\n%s\nwant %q", out, want)
	}
	after := exportedUsers(t, p, site)
	for u, n := range before {
		if u == gone && after[u] != 0 || u != gone && after[u] != n {
			t.Fatalf("raw events per user after forget: %v, before %v", after, before)
		}
	}
	rows, dict := blockRows(t, p, site)
	if rows[block.Hash(gone)] != 0 || dict[block.Hash(gone)] {
		t.Fatalf("%s still in the event blocks: %d rows, in a visitor dictionary: %v", gone, rows[block.Hash(gone)], dict[block.Hash(gone)])
	}
	for u, n := range before {
		if u != gone && rows[block.Hash(u)] != n {
			t.Fatalf("%s: %d block rows after forget, want their %d events", u, rows[block.Hash(u)], n)
		}
	}
	if got, want := siteStats(t, p, site), expectedStats(site, events, gone); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats after forget:\n%+v\nwant\n%+v", got, want)
	}
	if got := siteStats(t, p, site+"-other"); !reflect.DeepEqual(got, otherBefore) {
		t.Fatalf("another site's stats changed: %+v, were %+v", got, otherBefore)
	}
	if got, _ := blockRows(t, p, site+"-other"); !reflect.DeepEqual(got, otherRows) {
		t.Fatalf("another site's block rows changed: %v, were %v", got, otherRows)
	}

	// Once retention deleted raw events of the site, forget still deletes
	// the visitor everywhere (it rebuilds nothing), but a rebuild would
	// lose days: rebuild refuses.
	store, err := mongostore.Open(context.Background(), p.env["MONGODB_URI"], mongostore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	if _, err := store.Database().Collection("retention").InsertOne(context.Background(),
		bson.D{{Key: "_id", Value: site}, {Key: "before", Value: time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	const also = "user-4"
	out, err = runCLI(t, p, "forget", "--site", site, "--user", also)
	if want := fmt.Sprintf("deleted %s of %s on %s, %s of the event blocks (%s rewritten)", plural(before[also], "raw event"), also, site,
		plural(before[also], "row"), plural(hours(also), "hour")); err != nil || !strings.Contains(out, want) {
		t.Fatalf("forget after retention: %v\n%s\nwant %q", err, out, want)
	}
	rows, dict = blockRows(t, p, site)
	if exportedUsers(t, p, site)[also] != 0 || rows[block.Hash(also)] != 0 || dict[block.Hash(also)] {
		t.Fatalf("%s not deleted: raw events or block rows left", also)
	}
	var left []map[string]any
	for _, ev := range events {
		if ev["user_id"] != gone {
			left = append(left, ev)
		}
	}
	if got, want := siteStats(t, p, site), expectedStats(site, left, also); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats after forgetting %s too:\n%+v\nwant\n%+v", also, got, want)
	}
	if _, err := runCLI(t, p, "rebuild", "--site", site); err == nil || !strings.Contains(err.Error(), "rebuild of "+site+" refused") {
		t.Fatalf("rebuild after retention: %v", err)
	}
}

// TestBackupRestoreEmbedded runs serve on its embedded servers, backs its
// data folder up once stopped, wipes it, restores it and finds the same
// /stats; backup and restore refuse while serve runs, and restore refuses
// a folder that holds data.
func TestBackupRestoreEmbedded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := map[string]string{"DATA_DIR": data, "LOG_FORMAT": "json", "LOG_LEVEL": "warn"}
	args := []string{"analytics-cli", "serve", "--host", "127.0.0.1", "--ingestion-port", "0", "--reporting-port", "0"}
	p := startWithEnv(t, args, env)
	const site = "backup.example"
	var events []map[string]any
	sendLifecycleEvents(t, p, site, 120, &events)
	want := expectedStats(site, events, "")
	testenv.Eventually(t, 2*time.Minute, func() error {
		if got := siteStats(t, p, site); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("stats %+v, want %+v", got[""], want[""])
		}
		return nil
	})
	archive := filepath.Join(dir, "backup.tar.gz")
	if _, err := runCLI(t, p, "backup", "-o", archive); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("backup while serve runs: %v", err)
	}
	p.stop(t)
	if out, err := runCLI(t, p, "backup", "-o", archive); err != nil || !strings.Contains(out, "backed up "+data) {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, p, "restore", archive); err != nil || !strings.Contains(out, "restored ") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if _, err := runCLI(t, p, "restore", archive); err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Fatalf("restore over data: %v", err)
	}
	q := startWithEnv(t, args, env)
	if got := siteStats(t, q, site); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats after restore:\n%+v\nwant\n%+v", got, want)
	}
	if _, err := runCLI(t, q, "restore", archive); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("restore while serve runs: %v", err)
	}
}
