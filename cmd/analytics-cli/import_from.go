package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/imported"
	"github.com/siteanalytics/analytics/internal/config"
)

// import --from reads another tool's export:
//
//   - goatcounter: GoatCounter's CSV export (version 2, one row per hit;
//     format: arp242/goatcounter tpl/help/export.md and exportcsv.go), gzipped
//     as GoatCounter writes it or not;
//   - umami: Umami's data export, a CSV of website_event rows (the columns of
//     umami-software/umami db/clickhouse/schema.sql, website_event);
//   - plausible: Plausible's CSV export, a zip of imported_*.csv daily
//     aggregates (plausible/analytics lib/plausible/exports.ex).
//
// Hits and rows become events with ids derived from the row, queued
// straight into the pipeline's Redis with every field the file has (as
// --direct), so importing a file again stores nothing twice. Plausible's
// aggregates go to the store as imported data (see package imported).

// afterImportBatch, when set (by a test), runs after each batch of an
// event import is queued and checkpointed: where an interrupt lands.
var afterImportBatch func()

// importSummary is what an import did, printed at its end and kept in its
// checkpoint so that a resumed import reports the whole file.
type importSummary struct {
	Rows       int            `json:"rows"`       // data rows read (for plausible: CSV rows of every table)
	Events     int            `json:"events"`     // events queued
	Duplicates int            `json:"duplicates"` // rows whose event an earlier row of the file already was; plausible: days stored before exactly so
	Days       int            `json:"days"`       // plausible: days of tables written (new or changed)
	Refused    map[string]int `json:"refused"`    // refused rows by reason
}

func (s *importSummary) refuse(reason string) {
	if s.Refused == nil {
		s.Refused = map[string]int{}
	}
	s.Refused[reason]++
}

func (s importSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rows read      %d\n", s.Rows)
	fmt.Fprintf(&b, "events queued  %d (each stored once, however often it is imported)\n", s.Events)
	fmt.Fprintf(&b, "duplicates     %d\n", s.Duplicates)
	n := 0
	for _, v := range s.Refused {
		n += v
	}
	fmt.Fprintf(&b, "refused rows   %d\n", n)
	reasons := make([]string, 0, len(s.Refused))
	for r := range s.Refused {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(&b, "  %6d  %s\n", s.Refused[r], r)
	}
	return b.String()
}

// checkpoint is where an interrupted import resumes: FILE.import-checkpoint
// beside the file, for the same file (size and time), tool and site.
type checkpoint struct {
	From    string        `json:"from"`
	Site    string        `json:"site"`
	Size    int64         `json:"size"`
	ModTime time.Time     `json:"mod_time"`
	Done    int           `json:"done"`    // rows (goatcounter, umami) or tables (plausible) fully handled
	Summary importSummary `json:"summary"` // of those
	path    string
}

func loadCheckpoint(file, from, site string) (*checkpoint, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	cp := &checkpoint{From: from, Site: site, Size: st.Size(), ModTime: st.ModTime().UTC(), path: file + ".import-checkpoint"}
	b, err := os.ReadFile(cp.path)
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return nil, err
	}
	var old checkpoint
	if json.Unmarshal(b, &old) == nil && old.From == from && old.Site == site && old.Size == cp.Size && old.ModTime.Equal(cp.ModTime) {
		old.path = cp.path
		return &old, nil
	}
	return cp, nil // another file or site: start over
}

// save writes the checkpoint (to a temporary file renamed over it, so an
// interruption leaves the old one or the new one).
func (cp *checkpoint) save() error {
	b, _ := json.Marshal(cp)
	tmp := cp.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write the import checkpoint: %w", err)
	}
	return os.Rename(tmp, cp.path)
}

func (cp *checkpoint) remove() { _ = os.Remove(cp.path) }

// openExport opens an export, unzipping a gzip stream, and returns its
// first bytes for sniffing.
func openExport(name string) (*bufio.Reader, int64, func(), *countingReader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, nil, err
	}
	cr := &countingReader{r: f}
	br := bufio.NewReaderSize(cr, 1<<16)
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, 0, nil, nil, fmt.Errorf("%s: a gzip file that cannot be read: %v", name, err)
		}
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	return br, st.Size(), func() { f.Close() }, cr, nil
}

// looksLike describes an export by its first bytes, for the error that
// refuses a file of another kind.
func looksLike(head []byte) string {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	line = bytes.TrimSpace(bytes.TrimPrefix(line, []byte("\ufeff")))
	switch {
	case len(head) == 0:
		return "an empty file"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "a zip archive"
	case bytes.HasPrefix(line, []byte("2,Path,")):
		return "GoatCounter's CSV export (version 2)"
	case bytes.HasPrefix(line, []byte("1,Path,")):
		return "GoatCounter's CSV export of version 1"
	case bytes.Contains(line, []byte("website_id")) && bytes.Contains(line, []byte("session_id")):
		return "Umami's data export (website_event rows)"
	case bytes.HasPrefix(line, []byte("date,")) || bytes.Contains(line, []byte(",visitors,")):
		return "a CSV of daily aggregates (one table of Plausible's export? import the whole zip)"
	case bytes.HasPrefix(line, []byte("id,site_id,event_type")):
		return "analytics-cli export --format csv"
	case bytes.HasPrefix(line, []byte("{")):
		if bytes.Contains(line, []byte(`"event_type"`)) {
			return "an NDJSON export of analytics-cli (import it without --from)"
		}
		return "JSON"
	case bytes.HasPrefix(line, []byte("[")):
		return "a JSON array"
	case bytes.IndexByte(line, ',') >= 0:
		return fmt.Sprintf("a CSV with the header %q", string(line[:min(len(line), 120)]))
	}
	return fmt.Sprintf("a file that starts with %q", string(line[:min(len(line), 60)]))
}

func importFrom(c *cli.Context, cfg *config.Config, stdout io.Writer, from, site, name string) error {
	if name == "-" {
		return fmt.Errorf("import --from reads a file, not stdin (it checkpoints its place in the file)")
	}
	switch from {
	case "goatcounter", "umami":
		return importEvents(c, cfg, stdout, from, site, name)
	case "plausible":
		return importPlausible(c, cfg, stdout, site, name)
	}
	return fmt.Errorf("--from %q: use plausible, umami or goatcounter", from)
}

// rowReader turns one CSV row of an export into an event (ok false with a
// reason when the row is refused).
type rowReader func(rec []string) (ev exported, reason string)

func importEvents(c *cli.Context, cfg *config.Config, stdout io.Writer, from, site, name string) error {
	br, size, closeFile, counted, err := openExport(name)
	if err != nil {
		return err
	}
	defer closeFile()
	head, _ := br.Peek(512)
	kind := looksLike(head)
	want := map[string]string{"goatcounter": "GoatCounter's CSV export (version 2)", "umami": "Umami's data export (website_event rows)"}[from]
	if kind != want {
		return fmt.Errorf("%s is not %s: it looks like %s", name, want, kind)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%s: header: %v", name, err)
	}
	var read rowReader
	if from == "goatcounter" {
		read, err = goatCounterRows(header, site)
	} else {
		read, err = umamiRows(header, site)
	}
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	cp, err := loadCheckpoint(name, from, site)
	if err != nil {
		return err
	}
	if cp.Done > 0 {
		fmt.Fprintf(errWriter(c), "resuming %s at row %d (from %s)\n", name, cp.Done+1, cp.path)
	}
	q, err := openDirectQueue(c.Context, cfg)
	if err != nil {
		return err
	}
	defer q.close()
	bar := newProgressBar(progressOut(c))
	defer bar.done()
	sum := cp.Summary
	seen := map[string]bool{} // event ids of this file: a repeated one is a duplicate
	var batch []analytics.Event
	var lines []int
	now := time.Now()
	row := 0
	send := func() error {
		if len(batch) > 0 {
			if err := q.publish(c.Context, batch, lines); err != nil {
				return err
			}
			sum.Events += len(batch)
			batch, lines = batch[:0], lines[:0]
		}
		cp.Done, cp.Summary = row, sum
		if size > 0 {
			bar.update(int(min(counted.n, size)), int(size))
		}
		if err := cp.save(); err != nil {
			return err
		}
		if afterImportBatch != nil {
			afterImportBatch()
		}
		return nil
	}
	interrupted := func(err error) error {
		return fmt.Errorf("%s: import stopped at row %d (%v); run the same command again to resume from row %d (checkpoint %s)",
			name, row, err, cp.Done+1, cp.path)
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if c.Context.Err() != nil {
			return interrupted(c.Context.Err())
		}
		row++
		var pe *csv.ParseError
		if err != nil && !(errors.As(err, &pe) && pe.Err == csv.ErrFieldCount) {
			return fmt.Errorf("%s row %d: %v", name, row, err)
		}
		x, reason := read(rec)
		if row <= cp.Done {
			if reason == "" {
				seen[x.ID] = true
			}
			continue // counted before the interruption
		}
		sum.Rows++
		if reason != "" {
			sum.refuse(reason)
			continue
		}
		if seen[x.ID] {
			sum.Duplicates++
			continue
		}
		seen[x.ID] = true
		line, _ := json.Marshal(x)
		ev, err := directEvent(line, now)
		if err != nil {
			sum.refuse(analytics.Message(err))
			continue
		}
		batch = append(batch, ev)
		lines = append(lines, row+1)
		if len(batch) == importBatch {
			if err := send(); err != nil {
				return interrupted(err)
			}
		}
	}
	if err := send(); err != nil {
		return interrupted(err)
	}
	bar.done()
	cp.remove()
	fmt.Fprintf(stdout, "imported %s from %s (%s) into the queue at %s\n%s", plural(sum.Events, "event"), name, from, q.where, sum)
	return nil
}

// eventID is the id of an imported row: the tool, the site and what
// identifies the row in that tool, hashed to a fixed length (ids are at
// most analytics.MaxIDLen).
func eventID(tool, site string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(tool + "\x00" + site))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return tool + "-" + hex.EncodeToString(h.Sum(nil)[:16])
}

func columns(header []string, want ...string) (map[string]int, error) {
	idx := map[string]int{}
	for i, h := range header {
		idx[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	var missing []string
	for _, w := range want {
		if _, ok := idx[w]; !ok {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the header has no %s column", strings.Join(missing, ", "))
	}
	return idx, nil
}

// goatCounterRows reads GoatCounter's CSV export, version 2:
// 2,Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,
// Referrer scheme,Screen size,Location,FirstVisit,Date. A row has no id of
// its own, so its id is its content and how many identical rows came
// before it (two hits of one session in one second are two page views).
func goatCounterRows(header []string, site string) (rowReader, error) {
	// The version is the header's first field: "2,Path,..." is read as
	// "2", "Path", ...; rows have no field under it.
	if len(header) > 0 && strings.TrimPrefix(header[0], "\ufeff") == "2" {
		header = header[1:]
	}
	col, err := columns(header, "Path", "Event", "Browser", "System", "Session", "Bot", "Referrer", "Referrer scheme", "Screen size", "Location", "Date")
	if err != nil {
		return nil, err
	}
	if site == "" {
		return nil, fmt.Errorf("GoatCounter's export does not name the site: give --site")
	}
	occurrences := map[[32]byte]int{}
	return func(rec []string) (exported, string) {
		if len(rec) != len(header) {
			return exported{}, fmt.Sprintf("wrong number of fields (%d, not %d)", len(rec), len(header))
		}
		get := func(k string) string { return strings.TrimSpace(rec[col[k]]) }
		key := sha256.Sum256([]byte(strings.Join(rec, "\x00")))
		n := occurrences[key]
		occurrences[key] = n + 1
		if b := get("Bot"); b != "" && b != "0" {
			return exported{}, "a bot's hit (Bot " + b + ")"
		}
		ts, err := time.Parse(time.RFC3339, get("Date"))
		if err != nil {
			return exported{}, "Date is not RFC 3339"
		}
		x := exported{ID: eventID("goatcounter", site, strings.Join(rec, "\x00"), fmt.Sprint(n)), SiteID: site,
			Timestamp: ts.UTC().Format(time.RFC3339Nano), EventType: analytics.PageView, Path: get("Path")}
		if s := get("Session"); s != "" {
			x.UserID = "goatcounter:" + s
		}
		if ev := strings.ToLower(get("Event")); ev == "1" || ev == "true" {
			// An event's name is its path (GoatCounter's docs).
			x.EventType, x.Path = strings.TrimPrefix(x.Path, "/"), ""
			if x.EventType == "" {
				return exported{}, "an event without a name"
			}
		}
		ref := get("Referrer")
		switch get("Referrer scheme") {
		case "h":
			if ref != "" && !strings.Contains(ref, "://") {
				ref = "https://" + ref
			}
			x.Source, x.ReferrerHost = enrich.Source(ref, "", "")
			if x.ReferrerHost != "" {
				x.ReferrerURL = enrich.ReferrerURL(ref)
			}
		case "c":
			x.UTMSource = ref
			x.Source, _ = enrich.Source("", "", ref)
		case "g", "o":
			x.Source = ref
		}
		x.Browser = imported.BrowserName(get("Browser"))
		x.OS = imported.OSName(get("System"))
		x.Device = deviceOfScreen(get("Screen size"))
		if loc := get("Location"); len(loc) >= 2 {
			x.Country = strings.ToUpper(loc[:2]) // "US" or "US-TX"
		}
		return x, ""
	}, nil
}

// deviceOfScreen classes a screen "width,height,scale" as Plausible does
// by width: below 576 mobile, below 992 tablet, else desktop.
func deviceOfScreen(s string) string {
	w, _, _ := strings.Cut(s, ",")
	var n int
	if _, err := fmt.Sscan(strings.TrimSpace(w), &n); err != nil || n <= 0 {
		return ""
	}
	switch {
	case n < 576:
		return "Mobile"
	case n < 992:
		return "Tablet"
	}
	return "Desktop"
}

// umamiRows reads Umami's data export: website_event rows with their
// session's fields (event_type 1 a page view, 2 a custom event named by
// event_name). event_id is the row's id.
func umamiRows(header []string, site string) (rowReader, error) {
	col, err := columns(header, "website_id", "session_id", "event_id", "url_path", "event_type", "created_at")
	if err != nil {
		return nil, err
	}
	return func(rec []string) (exported, string) {
		if len(rec) != len(header) {
			return exported{}, fmt.Sprintf("wrong number of fields (%d, not %d)", len(rec), len(header))
		}
		get := func(k string) string {
			if i, ok := col[k]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		s := site
		if s == "" {
			s = get("website_id") // open mode: the website id is the site id
		}
		id := get("event_id")
		if id == "" {
			return exported{}, "no event_id"
		}
		ts, ok := parseUmamiTime(get("created_at"))
		if !ok {
			return exported{}, "created_at is not a time (YYYY-MM-DD HH:MM:SS, UTC)"
		}
		x := exported{ID: eventID("umami", s, id), SiteID: s, Timestamp: ts.Format(time.RFC3339Nano), Path: get("url_path")}
		if u := get("session_id"); u != "" {
			x.UserID = "umami:" + u
		}
		switch get("event_type") {
		case "1", "":
			x.EventType = analytics.PageView
		case "2":
			x.EventType = get("event_name")
			if x.EventType == "" {
				return exported{}, "a custom event (event_type 2) without event_name"
			}
		default:
			return exported{}, "event_type " + get("event_type") + " (only 1, page views, and 2, custom events, are events)"
		}
		x.UTMSource, x.UTMMedium, x.UTMCampaign, x.UTMContent, x.UTMTerm = get("utm_source"), get("utm_medium"), get("utm_campaign"), get("utm_content"), get("utm_term")
		if d := get("referrer_domain"); d != "" {
			ref := "https://" + d + get("referrer_path")
			x.Source, x.ReferrerHost = enrich.Source(ref, get("hostname"), x.UTMSource)
			if x.ReferrerHost != "" {
				x.ReferrerURL = enrich.ReferrerURL(ref)
			}
		} else if x.UTMSource != "" {
			x.Source, _ = enrich.Source("", "", x.UTMSource)
		}
		x.Browser, x.OS, x.Device = imported.BrowserName(get("browser")), imported.OSName(get("os")), imported.DeviceName(get("device"))
		if c := strings.ToUpper(get("country")); len(c) == 2 {
			x.Country = c
		}
		return x, ""
	}, nil
}

func parseUmamiTime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// importPlausible stores the tables of Plausible's CSV export as imported
// data of site, a table at a time, each day replacing what an earlier
// import wrote for it.
func importPlausible(c *cli.Context, cfg *config.Config, stdout io.Writer, site, name string) error {
	if site == "" {
		return fmt.Errorf("give --site: Plausible's export does not name the site")
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if kind := looksLike(head[:n]); kind != "a zip archive" {
		return fmt.Errorf("%s is not Plausible's CSV export (a zip of imported_*.csv): it looks like %s", name, kind)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return fmt.Errorf("%s: a zip archive that cannot be read: %v", name, err)
	}
	files, err := imported.OpenPlausible(zr)
	if err != nil {
		return fmt.Errorf("%s is %v", name, err)
	}
	cp, err := loadCheckpoint(name, "plausible", site)
	if err != nil {
		return err
	}
	if cp.Done > 0 {
		fmt.Fprintf(errWriter(c), "resuming %s at its table %d of %d (from %s)\n", name, cp.Done+1, len(files), cp.path)
	}
	store, err := app.OpenStore(c.Context, cfg)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	bar := newProgressBar(progressOut(c))
	defer bar.done()
	sum := cp.Summary
	var ps imported.PlausibleSummary
	for i, zf := range files {
		if i < cp.Done {
			continue
		}
		if err := c.Context.Err(); err != nil {
			return fmt.Errorf("%s: import stopped before %s (%v); run the same command again to resume there", name, zf.Name, err)
		}
		table := imported.PlausibleTable(zf.Name)
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("%s: %s: %v", name, zf.Name, err)
		}
		before := ps.Rows[table]
		refusedBefore := maps.Clone(ps.Refused)
		var pending []imported.Day
		flush := func() error {
			if err := store.PutImportedDays(c.Context, site, pending); err != nil {
				return err
			}
			pending = pending[:0]
			return nil
		}
		err = imported.ReadPlausibleTable(table, rc, &ps, func(d imported.Day) error {
			old, ok, err := store.ImportedDay(c.Context, site, d.Table, d.Date)
			if err != nil {
				return err
			}
			if ok && reflect.DeepEqual(old.Rows, d.Rows) {
				sum.Duplicates++
				return nil
			}
			sum.Days++
			pending = append(pending, d)
			if len(pending) == 100 {
				return flush()
			}
			return nil
		})
		rc.Close()
		if err == nil {
			err = flush()
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w (run the same command again to resume at this table)", name, zf.Name, err)
		}
		sum.Rows += ps.Rows[table] - before
		for r, n := range ps.Refused {
			for range n - refusedBefore[r] {
				sum.refuse(r)
			}
		}
		if ps.First != "" {
			if err := store.WidenImportedSpan(c.Context, site, "plausible", ps.First, ps.Last); err != nil {
				return err
			}
		}
		cp.Done, cp.Summary = i+1, sum
		if err := cp.save(); err != nil {
			return err
		}
		bar.update(i+1, len(files))
	}
	bar.done()
	cp.remove()
	span, err := store.ImportedSpan(c.Context, site)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %s of Plausible's aggregates from %s as imported data of %s (%s to %s); answers include them when asked (v2 include.imports, v1 with_imported=true)\n",
		plural(sum.Days, "table day"), name, site, span.First, span.Last)
	fmt.Fprintf(stdout, "rows read      %d\ndays written   %d\nduplicates     %d (days stored before exactly so)\n", sum.Rows, sum.Days, sum.Duplicates)
	s := sum.String()
	if i := strings.Index(s, "refused rows"); i >= 0 {
		fmt.Fprint(stdout, s[i:])
	}
	return nil
}
