package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
)

// The fixtures under testdata/imports are written in each tool's documented
// export format:
//   - goatcounter.csv: GoatCounter's CSV export, version 2, as documented in
//     arp242/goatcounter tpl/help/export.md (header "2,Path,Title,Event,
//     UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,Screen
//     size,Location,FirstVisit,Date") and written by its exportcsv.go;
//   - umami.csv: Umami's data export, rows of website_event with the columns
//     of umami-software/umami db/clickhouse/schema.sql (table website_event);
//   - plausible/*.csv: the tables of Plausible's CSV export, named and with
//     the columns of plausible/analytics lib/plausible/exports.ex
//     (export_queries), zipped by the test as Plausible zips them.

// v2 posts a Stats API v2 query and returns its decoded answer.
func v2(t *testing.T, p *pipeline, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(p.reporter+"/api/v2/query", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("v2 %s: %s %s", body, resp.Status, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// results writes v2 results compactly: "dims=metrics; ...".
func results(a map[string]any) string {
	var parts []string
	for _, r := range a["results"].([]any) {
		row := r.(map[string]any)
		parts = append(parts, fmt.Sprint(row["dimensions"], "=", row["metrics"]))
	}
	return strings.Join(parts, "; ")
}

func metaOf(a map[string]any) string {
	b, _ := json.Marshal(a["meta"])
	return string(b)
}

// breakdowns answers every breakdown a site's dashboard shows, plus the
// aggregate, as one string to compare.
func breakdowns(t *testing.T, p *pipeline, site, day string, imports bool) string {
	t.Helper()
	var b strings.Builder
	for _, dim := range []string{"", "event:page", "event:name", "visit:source", "visit:referrer", "visit:utm_source", "visit:utm_campaign",
		"visit:browser", "visit:os", "visit:device", "visit:country", "visit:entry_page", "visit:exit_page", "time:day"} {
		metrics := `["visitors","visits","pageviews","events","bounce_rate","visit_duration"]`
		if dim == "event:page" || dim == "event:name" {
			metrics = `["visitors","pageviews","events"]`
		}
		dims := "[]"
		if dim != "" {
			dims = `["` + dim + `"]`
		}
		a := v2(t, p, fmt.Sprintf(`{"site_id":%q,"metrics":%s,"date_range":[%q,%q],"dimensions":%s,"include":{"imports":%v}}`,
			site, metrics, day, day, dims, imports))
		fmt.Fprintf(&b, "%s: %s\n", dim, results(a))
	}
	return b.String()
}

func TestImportFromGoatCounterAndUmami(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	gc := filepath.Join(t.TempDir(), "goatcounter-export.csv")
	copyFile(t, "testdata/imports/goatcounter.csv", gc)
	out, err := runCLI(t, p, "import", "--from", "goatcounter", "--site", "gc.example", gc)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{"imported 6 events", "rows read      9", "duplicates     0", "refused rows   3",
		"1  Date is not RFC 3339", "1  a bot's hit (Bot 7)", "1  wrong number of fields (2, not 14)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(gc + ".import-checkpoint"); !os.IsNotExist(err) {
		t.Errorf("a finished import left its checkpoint: %v", err)
	}
	p.waitProcessed(t, 6, 6)
	// Sessions 0a1b (Chrome on Windows, US-TX, from Reddit: /, /about
	// twice, the event signup-click, 2 minutes), 1b2c (Safari on iOS, a
	// 390-wide screen, DE) and 2c3d (campaign newsletter, FR); the bot's
	// hit and the broken rows are not counted.
	first := breakdowns(t, p, "gc.example", "2025-10-01", false)
	if want := `: []=[3 3 5 6 67 40]
event:page: [/]=[2 2 2]; [/about]=[1 2 2]; [/pricing]=[1 1 1]; []=[1 0 1]
event:name: [pageview]=[3 5 5]; [signup-click]=[1 0 1]
visit:source: [Reddit]=[1 1 3 4 0 120]; [news.example.org]=[1 1 1 1 100 0]; [newsletter]=[1 1 1 1 100 0]
visit:referrer: [https://www.reddit.com]=[1 1 3 4 0 120]; [Direct / None]=[1 1 1 1 100 0]; [https://news.example.org]=[1 1 1 1 100 0]
visit:utm_source: [(not set)]=[2 2 4 5 50 60]; [newsletter]=[1 1 1 1 100 0]
visit:utm_campaign: [(not set)]=[3 3 5 6 67 40]
visit:browser: [Chrome]=[1 1 3 4 0 120]; [Firefox]=[1 1 1 1 100 0]; [Safari]=[1 1 1 1 100 0]
visit:os: [Windows]=[1 1 3 4 0 120]; [Linux]=[1 1 1 1 100 0]; [iOS]=[1 1 1 1 100 0]
visit:device: [Desktop]=[2 2 4 5 50 60]; [Mobile]=[1 1 1 1 100 0]
visit:country: [US]=[1 1 3 4 0 120]; [DE]=[1 1 1 1 100 0]; [FR]=[1 1 1 1 100 0]
visit:entry_page: [/]=[2 2 4 5 50 60]; [/pricing]=[1 1 1 1 100 0]
visit:exit_page: [/about]=[1 1 3 4 0 120]; [/]=[1 1 1 1 100 0]; [/pricing]=[1 1 1 1 100 0]
time:day: [2025-10-01]=[3 3 5 6 67 40]
`; first != want {
		t.Errorf("GoatCounter import: answers\n%s\nwant\n%s", first, want)
	}

	// Importing again changes nothing: the same events, stored once.
	out, err = runCLI(t, p, "import", "--from", "goatcounter", "--site", "gc.example", gc)
	if err != nil || !strings.Contains(out, "imported 6 events") {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	p.waitProcessed(t, 12, 6)
	if again := breakdowns(t, p, "gc.example", "2025-10-01", false); again != first {
		t.Errorf("a second import changed the answers:\nbefore:\n%s\nafter:\n%s", first, again)
	}

	// Umami: the file's event ids; a repeated row is a duplicate.
	um := filepath.Join(t.TempDir(), "website_event.csv")
	copyFile(t, "testdata/imports/umami.csv", um)
	out, err = runCLI(t, p, "import", "--from", "umami", "--site", "um.example", um)
	if err != nil {
		t.Fatalf("umami import: %v\n%s", err, out)
	}
	for _, want := range []string{"imported 4 events", "rows read      7", "duplicates     1", "refused rows   2",
		"1  a custom event (event_type 2) without event_name", "1  created_at is not a time"} {
		if !strings.Contains(out, want) {
			t.Errorf("umami summary lacks %q:\n%s", want, out)
		}
	}
	p.waitProcessed(t, 16, 10)
	// Session 5d0f (chrome on Windows 10, US, from www.google.com: /,
	// /docs, the event signup, 6 minutes) and session 6e1a (ios, GB,
	// utm_source twitter).
	umFirst := breakdowns(t, p, "um.example", "2025-10-02", false)
	if want := `: []=[2 2 3 4 50 180]
event:page: [/]=[2 2 2]; [/docs]=[1 1 2]
event:name: [pageview]=[2 3 3]; [signup]=[1 0 1]
visit:source: [Google]=[1 1 2 3 0 360]; [Twitter]=[1 1 1 1 100 0]
visit:referrer: [https://www.google.com/search]=[1 1 2 3 0 360]; [Direct / None]=[1 1 1 1 100 0]
visit:utm_source: [(not set)]=[1 1 2 3 0 360]; [twitter]=[1 1 1 1 100 0]
visit:utm_campaign: [(not set)]=[1 1 2 3 0 360]; [launch]=[1 1 1 1 100 0]
visit:browser: [Chrome]=[1 1 2 3 0 360]; [Safari]=[1 1 1 1 100 0]
visit:os: [Windows]=[1 1 2 3 0 360]; [iOS]=[1 1 1 1 100 0]
visit:device: [Desktop]=[1 1 2 3 0 360]; [Mobile]=[1 1 1 1 100 0]
visit:country: [US]=[1 1 2 3 0 360]; [GB]=[1 1 1 1 100 0]
visit:entry_page: [/]=[2 2 3 4 50 180]
visit:exit_page: [/docs]=[1 1 2 3 0 360]; [/]=[1 1 1 1 100 0]
time:day: [2025-10-02]=[2 2 3 4 50 180]
`; umFirst != want {
		t.Errorf("Umami import: answers\n%s\nwant\n%s", umFirst, want)
	}
	out, err = runCLI(t, p, "import", "--from", "umami", "--site", "um.example", um)
	if err != nil || !strings.Contains(out, "imported 4 events") {
		t.Fatalf("second umami import: %v\n%s", err, out)
	}
	p.waitProcessed(t, 20, 10)
	if again := breakdowns(t, p, "um.example", "2025-10-02", false); again != umFirst {
		t.Errorf("a second umami import changed the answers:\nbefore:\n%s\nafter:\n%s", umFirst, again)
	}

	// A file of the wrong kind is refused with what it looks like.
	p.cliFails(t, []string{"import", "--from", "umami", "--site", "um.example", gc}, "is not Umami's data export", "it looks like GoatCounter's CSV export (version 2)")
	p.cliFails(t, []string{"import", "--from", "goatcounter", "--site", "gc.example", um}, "it looks like Umami's data export")
	p.cliFails(t, []string{"import", "--from", "plausible", "--site", "gc.example", gc}, "is not Plausible's CSV export", "GoatCounter's CSV export")
}

// An import stopped after its first batch resumes where it stopped: the
// second run reads on from the checkpoint, reports the whole file, and the
// site has every event once.
// Not parallel: afterImportBatch is the package's, and another import
// running beside it would trip it.
func TestImportFromResumesAfterInterrupt(t *testing.T) {
	p := startPipeline(t)
	var b bytes.Buffer
	b.WriteString("2,Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,Screen size,Location,FirstVisit,Date\n")
	const rows = 2*importBatch + 100
	start := time.Date(2025, 10, 3, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		fmt.Fprintf(&b, "/p%d,,0,,Chrome 120,Windows 10,%016x-%016x,0,,,\"1920,1080,1\",NL,1,%s\n", i%7, i%40, i%40, start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	file := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	afterImportBatch = cancel // Ctrl+C right after the first batch is queued
	var out bytes.Buffer
	err := run(ctx, []string{"analytics-cli", "import", "--from", "goatcounter", "--site", "resume.example", file}, p.getenv, &out)
	afterImportBatch = nil
	if err == nil || !strings.Contains(err.Error(), "run the same command again to resume from row 501") {
		t.Fatalf("interrupted import: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(file + ".import-checkpoint"); err != nil {
		t.Fatalf("no checkpoint after the interrupt: %v", err)
	}
	out2, err := runCLI(t, p, "import", "--from", "goatcounter", "--site", "resume.example", file)
	if err != nil {
		t.Fatalf("resumed import: %v\n%s", err, out2)
	}
	if !strings.Contains(out2, fmt.Sprintf("imported %d events", rows)) || !strings.Contains(out2, fmt.Sprintf("rows read      %d", rows)) {
		t.Errorf("the resumed import does not report the whole file:\n%s", out2)
	}
	p.waitProcessed(t, rows, rows) // none sent twice: the resumed run skipped the first batch
	a := v2(t, p, `{"site_id":"resume.example","metrics":["pageviews","visitors"],"date_range":["2025-10-03","2025-10-04"]}`)
	if got, want := results(a), fmt.Sprintf("[]=[%d 40]", rows); got != want {
		t.Errorf("after a resumed import: %s, want %s", got, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// plausibleZip zips the fixture tables as Plausible's export does.
func plausibleZip(t *testing.T) string {
	t.Helper()
	dir := "testdata/imports/plausible"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pl_example_20250903.zip")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name(), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return file
}

func TestImportFromPlausible(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	const site = "pl.example"
	// Our own events on the second imported day: one visitor, two page
	// views ten minutes apart, from Google, in Chrome.
	queueCollected(t, p, []analytics.Event{
		{ID: "pl-1", SiteID: site, EventType: analytics.PageView, Path: "/", UserID: "u1", Timestamp: time.Date(2025, 9, 2, 10, 0, 0, 0, time.UTC),
			Source: "Google", ReferrerHost: "google.com", Browser: "Chrome", OS: "Windows", Device: "Desktop", Country: "US"},
		{ID: "pl-2", SiteID: site, EventType: analytics.PageView, Path: "/blog", UserID: "u1", Timestamp: time.Date(2025, 9, 2, 10, 10, 0, 0, time.UTC),
			Source: "Google", ReferrerHost: "google.com", Browser: "Chrome", OS: "Windows", Device: "Desktop", Country: "US"},
	})
	p.waitProcessed(t, 2, 2)
	agg := func(include bool, extra string) map[string]any {
		return v2(t, p, fmt.Sprintf(`{"site_id":%q,"metrics":["visitors","visits","pageviews","events","bounce_rate","visit_duration","views_per_visit"],"date_range":["2025-09-01","2025-09-02"]%s,"include":{"imports":%v}}`, site, extra, include))
	}
	if a := agg(true, ""); results(a) != "[]=[1 1 2 2 0 600 2]" || metaOf(a) != `{"imports_included":false,"imports_skip_reason":"no_imported_data"}` {
		t.Fatalf("before the import: %s %s", results(a), metaOf(a))
	}

	zipFile := plausibleZip(t)
	out, err := runCLI(t, p, "import", "--from", "plausible", "--site", site, zipFile)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{"(2025-09-01 to 2025-09-02)", "rows read      32", "days written   20", "duplicates     0",
		"refused rows   1", "1  imported_pages: visits is not a whole number >= 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	check := func(when string) string {
		var b strings.Builder
		// Without include.imports nothing changes, and nothing says so.
		a := agg(false, "")
		if results(a) != "[]=[1 1 2 2 0 600 2]" || metaOf(a) != "{}" {
			t.Errorf("%s: without include.imports: %s %s", when, results(a), metaOf(a))
		}
		// With it: our 1 visitor, 1 visit of 2 page views (600 s, no
		// bounce) and the imported 15 visitors, 18 visits, 38 page views,
		// 6 bounces and 900 s.
		a = agg(true, "")
		if got, want := results(a), "[]=[16 19 40 40 32 79 2.11]"; got != want || metaOf(a) != `{"imports_included":true}` {
			t.Errorf("%s: with imports: %s %s, want %s and imports_included", when, got, metaOf(a), want)
		}
		for _, c := range []struct{ dims, metrics, filters, want string }{
			{`["visit:source"]`, `["visitors","visits","bounce_rate"]`, ``, `[Google]=[12 14 29]; [Direct / None]=[4 5 40]`},
			{`["visit:browser"]`, `["visitors","visits"]`, ``, `[Chrome]=[8 9]; [Firefox]=[5 6]; [Safari]=[3 4]`},
			{`["visit:os"]`, `["visitors"]`, ``, `[Linux]=[6]; [Windows]=[6]; [Mac]=[4]`},
			{`["visit:device"]`, `["visitors"]`, ``, `[Desktop]=[8]; [Mobile]=[8]`},
			{`["visit:country"]`, `["visitors","pageviews"]`, ``, `[US]=[10 22]; [DE]=[6 18]`},
			{`["event:page"]`, `["visitors","pageviews"]`, ``, `[/]=[14 27]; [/blog]=[5 13]`},
			{`["visit:entry_page"]`, `["visitors","visits"]`, ``, `[/]=[14 17]; [/blog]=[2 2]`},
			{`["visit:exit_page"]`, `["visitors","visits"]`, ``, `[/]=[9 11]; [/blog]=[7 8]`},
			{`["event:name"]`, `["visitors","events"]`, ``, `[Signup]=[3 4]; [pageview]=[1 2]; [Outbound Link: Click]=[1 1]`},
			{`["time:day"]`, `["visitors","pageviews"]`, ``, `[2025-09-01]=[10 30]; [2025-09-02]=[6 10]`},
			{`["visit:source"]`, `["visitors"]`, `,"filters":[["is","visit:source",["Google"]]]`, `[Google]=[12]`},
			{`[]`, `["visitors"]`, `,"filters":[["is","visit:country",["DE"]]]`, `[]=[6]`},
		} {
			a := v2(t, p, fmt.Sprintf(`{"site_id":%q,"metrics":%s,"date_range":["2025-09-01","2025-09-02"],"dimensions":%s%s,"include":{"imports":true}}`, site, c.metrics, c.dims, c.filters))
			if got := results(a); got != c.want || metaOf(a) != `{"imports_included":true}` {
				t.Errorf("%s: %s %s: %s %s, want %s", when, c.dims, c.filters, got, metaOf(a), c.want)
			}
			fmt.Fprintln(&b, results(a))
		}
		// Queries imported data cannot answer say why it is not in them.
		for _, c := range []struct{ body, meta string }{
			{`"metrics":["visitors"],"date_range":["2025-09-02","2025-09-02"],"dimensions":["time:hour"]`,
				`{"imports_included":false,"imports_skip_reason":"unsupported_interval","imports_warning":"Imported stats are not included because the time dimension (i.e. the interval) is too short."}`},
			{`"metrics":["visitors"],"date_range":["2025-09-01","2025-09-02"],"dimensions":["visit:source"],"filters":[["is","visit:country",["DE"]]]`,
				`{"imports_included":false,"imports_skip_reason":"unsupported_query","imports_warning":"Imported stats are not included in the results because query parameters are not supported. For more information, see: https://plausible.io/docs/stats-api#filtering-imported-stats"}`},
			{`"metrics":["visitors"],"date_range":["2025-10-01","2025-10-02"]`, `{"imports_included":false,"imports_skip_reason":"out_of_range"}`},
		} {
			a := v2(t, p, fmt.Sprintf(`{"site_id":%q,%s,"include":{"imports":true}}`, site, c.body))
			if metaOf(a) != c.meta {
				t.Errorf("%s: %s: meta %s, want %s", when, c.body, metaOf(a), c.meta)
			}
		}
		// v1: with_imported=true, and the answer's meta says so.
		v1 := strings.TrimSpace(getBody(t, p.reporter+"/api/v1/stats/aggregate?site_id="+site+"&period=custom&date=2025-09-01,2025-09-02&metrics=visitors,pageviews&with_imported=true"))
		if want := `{"results":{"visitors":{"value":16},"pageviews":{"value":40}},"meta":{"imports_included":true}}`; v1 != want {
			t.Errorf("%s: v1 with_imported: %s, want %s", when, v1, want)
		}
		v1 = strings.TrimSpace(getBody(t, p.reporter+"/api/v1/stats/breakdown?site_id="+site+"&period=custom&date=2025-09-01,2025-09-02&property=visit:browser&metrics=visitors&with_imported=true"))
		if want := `{"results":[{"browser":"Chrome","visitors":8},{"browser":"Firefox","visitors":5},{"browser":"Safari","visitors":3}],"meta":{"imports_included":true}}`; v1 != want {
			t.Errorf("%s: v1 breakdown with_imported: %s, want %s", when, v1, want)
		}
		v1 = strings.TrimSpace(getBody(t, p.reporter+"/api/v1/stats/aggregate?site_id="+site+"&period=custom&date=2025-09-01,2025-09-02&metrics=visitors"))
		if want := `{"results":{"visitors":{"value":1}}}`; v1 != want {
			t.Errorf("%s: v1 without with_imported: %s, want %s", when, v1, want)
		}
		return b.String()
	}
	first := check("after the import")

	// Importing the same export again changes nothing.
	out, err = runCLI(t, p, "import", "--from", "plausible", "--site", site, zipFile)
	if err != nil || !strings.Contains(out, "days written   0") || !strings.Contains(out, "duplicates     20") {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	if again := check("after the second import"); again != first {
		t.Errorf("a second import changed the answers:\n%s\n%s", first, again)
	}
}

// FuzzPeerRows: any CSV row of a GoatCounter or Umami export is read
// without a panic; a row that is not refused has an id, the site, and
// either becomes an event by the collector's rules or is refused with a
// reason.
func FuzzPeerRows(f *testing.F) {
	gc, _ := os.ReadFile("testdata/imports/goatcounter.csv")
	um, _ := os.ReadFile("testdata/imports/umami.csv")
	for _, line := range strings.Split(string(gc), "\n")[1:] {
		f.Add(true, line)
	}
	for _, line := range strings.Split(string(um), "\n")[1:] {
		f.Add(false, line)
	}
	gcHeader := strings.Split("2,Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,Screen size,Location,FirstVisit,Date", ",")
	umHeader := strings.Split(strings.SplitN(string(um), "\n", 2)[0], ",")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, goat bool, line string) {
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil {
			return
		}
		var read rowReader
		if goat {
			read, err = goatCounterRows(slices.Clone(gcHeader), "fuzz.example")
		} else {
			read, err = umamiRows(umHeader, "fuzz.example")
		}
		if err != nil {
			t.Fatal(err)
		}
		x, reason := read(rec)
		if reason != "" {
			return
		}
		if x.ID == "" || x.SiteID != "fuzz.example" {
			t.Fatalf("row %q: id %q, site %q", line, x.ID, x.SiteID)
		}
		b, _ := json.Marshal(x)
		if _, err := directEvent(b, now); err != nil && analytics.Message(err) == "" {
			t.Fatalf("row %q refused without a reason", line)
		}
	})
}

// BenchmarkGoatCounterRow is the per-row cost of import --from goatcounter
// before the queue: the row read, its id hashed, the event checked by the
// collector's rules.
func BenchmarkGoatCounterRow(b *testing.B) {
	header := strings.Split("2,Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,Screen size,Location,FirstVisit,Date", ",")
	read, err := goatCounterRows(header, "bench.example")
	if err != nil {
		b.Fatal(err)
	}
	rec := []string{"/blog/post", "A post", "0", "", "Chrome 120", "Windows 10", "0a1b2c3d4e5f6071-8293a4b5c6d7e8f9", "0",
		"www.reddit.com", "h", "1920,1080,1", "US-TX", "1", "2025-10-01T10:00:00Z"}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		x, reason := read(rec)
		if reason != "" {
			b.Fatal(reason)
		}
		line, _ := json.Marshal(x)
		if _, err := directEvent(line, now); err != nil {
			b.Fatal(err)
		}
	}
}
