package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/reporter"
)

// loadtest paths: one site, one day, page views spread over N distinct
// paths (plus a few hot ones), stored through mongostore.Store.Apply in
// batches as the processor does, then /stats read over HTTP. For each size it
// reports the batch time (first batches against last ones, so growth shows)
// with a raw InsertMany of the same batch as the baseline, and /stats latency
// with GET /healthz interleaved as the baseline; and it checks the answers
// against the exact views of every path.

const (
	pathsSite = "site-paths"
	pathsDate = "2025-11-10"
)

var hotPaths = []string{"/", "/pricing", "/blog", "/docs/getting-started", "/about"}

// hotPick weighs the hot paths: "/" gets the most views.
var hotPick = []int{0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4}

var slugWords = []string{"how", "we", "scaled", "our", "analytics", "pipeline", "to", "millions", "of", "events",
	"without", "losing", "one", "a", "practical", "guide", "for", "small", "teams", "and", "their", "first", "redis", "stream"}

// longPath is distinct path k: 45 to 90 bytes, like real blog, docs and
// product URLs.
func longPath(k int) string {
	h := uint32(k)*2654435761 + 12345
	var words []string
	for w := 0; w < 4+int(h%4); w++ {
		words = append(words, slugWords[(h>>(3*w))%uint32(len(slugWords))])
	}
	slug := strings.Join(words, "-")
	switch k % 3 {
	case 0:
		return fmt.Sprintf("/blog/%d/%02d/%s-%d", 2015+k%11, 1+k%12, slug, k)
	case 1:
		return fmt.Sprintf("/docs/v%d/guides/%s-%d", 1+k%4, slug, k)
	}
	return fmt.Sprintf("/products/category-%d/%s-%d/reviews", k%37, slug, k)
}

// pathsWorkload is the event stream of one size: every hotEvery-th event
// views a hot path, the others cycle over the n distinct paths.
type pathsWorkload struct {
	n, events int
	hotEvery  int
	run       string
	day       time.Time
	msBase    int64
}

func newPathsWorkload(n, perPath, minEvents, hotEvery int) pathsWorkload {
	e := max(minEvents, n*perPath)
	for e-(e+hotEvery-1)/hotEvery < n*perPath {
		e++
	}
	day, _ := time.Parse(analytics.DateLayout, pathsDate)
	return pathsWorkload{n: n, events: e, hotEvery: hotEvery, run: strconv.FormatInt(time.Now().UnixNano()%1e9, 36), day: day, msBase: 1764000000000}
}

func (w pathsWorkload) path(i int) string {
	if i%w.hotEvery == 0 {
		return hotPaths[hotPick[(i/w.hotEvery)%len(hotPick)]]
	}
	return longPath((i - i/w.hotEvery - 1) % w.n)
}

// entry is queue entry i: ids like Redis stream ids ("ms-seq"), increasing.
func (w pathsWorkload) entry(i int) analytics.Entry {
	return analytics.Entry{
		ID: fmt.Sprintf("%d-%d", w.msBase+int64(i/50), i%50),
		Event: analytics.Event{
			ID: fmt.Sprintf("pv-%s-%d", w.run, i), SiteID: pathsSite, EventType: analytics.PageView,
			Path: w.path(i), UserID: fmt.Sprintf("u%d", (i*7919)%5000),
			// Spread over the day, in milliseconds (nanoseconds would overflow).
			Timestamp: w.day.Add(time.Duration(int64(i)*86_400_000/int64(w.events)) * time.Millisecond),
		},
	}
}

// pathsModel is what /stats must answer: every path's exact views.
type pathsModel struct {
	views map[string]int64
	other int64 // always 0: nothing is cut off any more
	total int64
	users map[string]bool
}

func newPathsModel() *pathsModel {
	return &pathsModel{views: map[string]int64{}, users: map[string]bool{}}
}

func (m *pathsModel) add(ev *analytics.Event) {
	m.total++
	m.users[ev.UserID] = true
	m.views[ev.Path]++
}

// expected returns the top_paths answer for limit: most views first, ties
// by path.
func (m *pathsModel) expected(limit int) []analytics.PathViews {
	out := []analytics.PathViews{}
	for p, v := range m.views {
		out = append(out, analytics.PathViews{Path: p, Views: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Views != out[j].Views {
			return out[i].Views > out[j].Views
		}
		return out[i].Path < out[j].Path
	})
	return out[:min(limit, len(out))]
}

// check compares an answer of /stats with the model.
func (m *pathsModel) check(body []byte, date string, limit int) error {
	var got analytics.Stats
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("decode %q: %w", truncateForLog(body), err)
	}
	var problems []string
	if got.TotalViews != m.total {
		problems = append(problems, fmt.Sprintf("total_views %d, want %d (events stored)", got.TotalViews, m.total))
	}
	if got.UniqueUsers != int64(len(m.users)) {
		problems = append(problems, fmt.Sprintf("unique_users %d, want %d", got.UniqueUsers, len(m.users)))
	}
	if got.Truncated != (m.other > 0) {
		problems = append(problems, fmt.Sprintf("truncated %v, want %v ((other) views %d)", got.Truncated, m.other > 0, m.other))
	}
	if (got.Date == nil) != (date == "") || (got.Date != nil && *got.Date != date) {
		problems = append(problems, fmt.Sprintf("date %v, want %q", got.Date, date))
	}
	want := m.expected(limit)
	if len(got.TopPaths) != len(want) {
		problems = append(problems, fmt.Sprintf("%d top_paths, want %d", len(got.TopPaths), len(want)))
	}
	for i := 0; i < min(len(want), len(got.TopPaths)); i++ {
		if got.TopPaths[i] != want[i] {
			problems = append(problems, fmt.Sprintf("top_paths[%d] = %s %d, want %s %d", i, got.TopPaths[i].Path, got.TopPaths[i].Views, want[i].Path, want[i].Views))
			break
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("/stats date=%q limit=%d: %s", date, limit, strings.Join(problems, "; "))
	}
	return nil
}

func truncateForLog(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// pathsRow is the outcome of one size.
type pathsRow struct {
	size, events, batches    int
	storeTime                time.Duration
	first, last, median, p99 time.Duration // batch times; median and p99 after the first 10%
	raw                      time.Duration // median raw InsertMany of a batch (baseline)
	rawFirst, rawLast        time.Duration
	health, lim1, lim100     result
	truncated                bool
	other                    int64
	biggestDoc, rollupDocs   int // largest document other than the day's main one; documents of the site
	mainDoc, rollupBytes     int // the day's main document (what /stats reads); all the site's rollup bytes
	checks                   []string
	loadBefore, loadAfter    string
}

func pathsLoad(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, out io.Writer) error {
	sizes := fs.String("sizes", "100,10000,100000", "distinct paths of the site-day, one run (and one fresh database) per size")
	perPath := fs.Int("events-per-path", 1, "views of each non-hot path at least")
	hotEvery := fs.Int("hot-every", 8, "every n-th event views one of 5 hot paths (\"/\" the most)")
	minEvents := fs.Int("min-events", 20000, "events stored at least per size, so small sizes have enough batches to measure")
	batchSize := fs.Int("batch", 500, "entries per Apply, as the processor's batch")
	reqs := fs.Int("requests", 1000, "sequential rounds of GET /healthz, /stats limit=1, /stats limit=100 (interleaved)")
	baseEvery := fs.Int("baseline-every", 4, "time a raw InsertMany of the same batch after every n-th batch (the batch-time baseline)")
	pg := fs.String("pg", "", "run embedded FerretDB on this PostgreSQL URL instead of SQLite")
	profile := fs.String("cpuprofile", "", "write CPU profiles (embedded FerretDB included) here, one per size and phase: FILE-<size>-store.prof, FILE-<size>-stats.prof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-sizes: %q is not a positive number", s)
		}
		ns = append(ns, n)
	}
	if *batchSize < 1 || *reqs < 1 || *perPath < 1 || *baseEvery < 1 || *hotEvery < 2 {
		return fmt.Errorf("-batch, -requests, -events-per-path and -baseline-every must be at least 1, -hot-every at least 2")
	}
	uri, stop, err := mongoServer(ctx, getenv, *pg, out)
	defer stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "every path counted exactly (event blocks); load %s\n", loadavg())

	var rows []pathsRow
	for _, n := range ns {
		row, err := pathsOne(ctx, uri, n, *perPath, *minEvents, *hotEvery, *batchSize, *reqs, *baseEvery, *profile, out)
		if err != nil {
			return fmt.Errorf("size %d: %w", n, err)
		}
		rows = append(rows, row)
	}

	fmt.Fprintf(out, "\nsummary (batch = one Apply of %d entries; raw = InsertMany of the same %d documents, same run; /stats ratios to /healthz p50 of the same run)\n", *batchSize, *batchSize)
	fmt.Fprintln(out, "| distinct paths | events stored | batch median / p99 (after first 10%) | first 10% median -> last 10% median | raw insert first -> last | batch / raw | /stats limit=1 p50 / p99 | /stats limit=100 p50 / p99 | /healthz p50 / p99 | limit=100 p50 / healthz p50 | truncated | (other) views | main doc / largest other rollup doc / all rollups | answers |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	failed := false
	for _, r := range rows {
		verdict := "exact"
		if len(r.checks) > 0 {
			verdict = "WRONG: " + strings.Join(r.checks, " | ")
			failed = true
		}
		fmt.Fprintf(out, "| %d | %d | %s / %s | %s -> %s (%.2fx) | %s -> %s | %.2fx | %s / %s | %s / %s | %s / %s | %.1fx | %v | %d | %d B / %d B / %d B in %d docs | %s |\n",
			r.size, r.events, ms(r.median), ms(r.p99), ms(r.first), ms(r.last), ratio(r.last, r.first), ms(r.rawFirst), ms(r.rawLast),
			ratio(r.median, r.raw),
			us(r.lim1.pct(.5)), us(r.lim1.pct(.99)), us(r.lim100.pct(.5)), us(r.lim100.pct(.99)), us(r.health.pct(.5)), us(r.health.pct(.99)),
			ratio(r.lim100.pct(.5), r.health.pct(.5)), r.truncated, r.other, r.mainDoc, r.biggestDoc, r.rollupBytes, r.rollupDocs, verdict)
	}
	if len(rows) > 1 {
		a, b := rows[0], rows[len(rows)-1]
		fmt.Fprintf(out, "growth from %d to %d distinct paths: batch/raw %.2fx -> %.2fx (%.2fx); /stats limit=100 p50/healthz %.1fx -> %.1fx (%.2fx); /stats limit=1 p50/healthz %.1fx -> %.1fx (%.2fx)\n",
			a.size, b.size, ratio(a.median, a.raw), ratio(b.median, b.raw), ratio(b.median, b.raw)/ratio(a.median, a.raw),
			ratio(a.lim100.pct(.5), a.health.pct(.5)), ratio(b.lim100.pct(.5), b.health.pct(.5)),
			ratio(b.lim100.pct(.5), b.health.pct(.5))/ratio(a.lim100.pct(.5), a.health.pct(.5)),
			ratio(a.lim1.pct(.5), a.health.pct(.5)), ratio(b.lim1.pct(.5), b.health.pct(.5)),
			ratio(b.lim1.pct(.5), b.health.pct(.5))/ratio(a.lim1.pct(.5), a.health.pct(.5)))
	}
	fmt.Fprintf(out, "load at the end: %s\n", loadavg())
	if failed {
		return fmt.Errorf("some /stats answers were wrong (see the table)")
	}
	return nil
}

func pathsOne(ctx context.Context, uri string, n, perPath, minEvents, hotEvery, batchSize, reqs, baseEvery int, profile string, out io.Writer) (pathsRow, error) {
	w := newPathsWorkload(n, perPath, minEvents, hotEvery)
	row := pathsRow{size: n, events: w.events, loadBefore: loadavg()}
	cfg := mongostore.DefaultConfig()
	cfg.Database = fmt.Sprintf("loadtest_paths_%s_%d", w.run, n)
	store, err := mongostore.Open(ctx, uri, cfg)
	if err != nil {
		return row, err
	}
	defer func() { _ = store.Database().Drop(context.Background()); store.Close(context.Background()) }()
	scratch := store.Database().Collection("baseline")
	fmt.Fprintf(out, "\n== %d distinct paths: %d events (%d views per path at least, 1/%d on %d hot paths), database %s, load %s\n",
		n, w.events, perPath, hotEvery, len(hotPaths), cfg.Database, row.loadBefore)

	stopProfile, err := startProfile(profile, n, "store")
	if err != nil {
		return row, err
	}
	model := newPathsModel()
	var times, raws []time.Duration
	var rawAt []int // batch index of each raw sample
	t0 := time.Now()
	nb := (w.events + batchSize - 1) / batchSize
	for b := 0; b < nb; b++ {
		if err := ctx.Err(); err != nil {
			stopProfile()
			return row, err
		}
		batch := analytics.Batch{Partition: 0}
		for i := b * batchSize; i < min((b+1)*batchSize, w.events); i++ {
			batch.Entries = append(batch.Entries, w.entry(i))
		}
		t := time.Now()
		res, err := store.Apply(ctx, batch)
		if err != nil {
			stopProfile()
			return row, fmt.Errorf("batch %d: %w", b, err)
		}
		times = append(times, time.Since(t))
		if res.Stored != len(batch.Entries) || len(res.Failed) > 0 || res.Duplicates > 0 {
			row.checks = append(row.checks, fmt.Sprintf("batch %d: stored %d of %d, %d failed, %d duplicates", b, res.Stored, len(batch.Entries), len(res.Failed), res.Duplicates))
		}
		for i := range batch.Entries {
			model.add(&batch.Entries[i].Event)
		}
		if b%baseEvery == 0 {
			docs := make([]any, len(batch.Entries))
			for j, e := range batch.Entries {
				ev := e.Event
				docs[j] = bson.D{{Key: "_id", Value: ev.ID}, {Key: "site_id", Value: ev.SiteID}, {Key: "event_type", Value: ev.EventType},
					{Key: "path", Value: ev.Path}, {Key: "user_id", Value: ev.UserID}, {Key: "timestamp", Value: ev.Timestamp},
					{Key: "queue_entry", Value: "0/" + e.ID}}
			}
			t := time.Now()
			if _, err := scratch.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
				stopProfile()
				return row, fmt.Errorf("baseline insert: %w", err)
			}
			raws = append(raws, time.Since(t))
			rawAt = append(rawAt, b)
		}
		if (b+1)%max(1, nb/10) == 0 || b == nb-1 {
			fmt.Fprintf(out, "  batch %4d/%d: %d events stored, this batch %s, %.0f events/s so far, (other) views %d, load %s\n",
				b+1, nb, model.total, ms(times[b]), float64(model.total)/time.Since(t0).Seconds(), model.other, loadavg())
		}
	}
	row.storeTime = time.Since(t0)
	stopProfile()
	row.batches = nb
	row.other = model.other

	tenth := max(1, nb/10)
	row.first = pctOf(times[:tenth], .5)
	row.last = pctOf(times[nb-tenth:], .5)
	after := times
	if nb > tenth {
		after = times[tenth:]
	}
	row.median, row.p99 = pctOf(after, .5), pctOf(after, .99)
	row.raw = pctOf(raws, .5)
	// Raw samples are taken every baseEvery batches: widen the windows so
	// each holds at least one.
	var rf, rl []time.Duration
	for i, at := range rawAt {
		if at < max(tenth, baseEvery) {
			rf = append(rf, raws[i])
		}
		if at >= nb-max(tenth, baseEvery) {
			rl = append(rl, raws[i])
		}
	}
	row.rawFirst, row.rawLast = pctOf(rf, .5), pctOf(rl, .5)
	fmt.Fprintf(out, "  store: %d batches in %s (%.0f events/s); batch median %s p99 %s after the first 10%%; first 10%% median %s, last 10%% median %s; raw InsertMany of a batch median %s (first %s, last %s)\n",
		nb, row.storeTime.Round(time.Millisecond), float64(w.events)/row.storeTime.Seconds(), ms(row.median), ms(row.p99), ms(row.first), ms(row.last), ms(row.raw), ms(row.rawFirst), ms(row.rawLast))

	// The rollup documents as stored: how big the biggest one is.
	cur, err := store.Database().Collection("rollups").Find(ctx, bson.D{{Key: "site_id", Value: pathsSite}})
	if err == nil {
		for cur.Next(ctx) {
			row.rollupDocs++
			row.rollupBytes += len(cur.Current)
			id, _ := cur.Current.Lookup("_id").StringValueOK()
			if id == pathsSite+"|"+pathsDate {
				row.mainDoc = len(cur.Current)
			} else {
				row.biggestDoc = max(row.biggestDoc, len(cur.Current))
			}
		}
		_ = cur.Close(ctx)
	}

	// /stats over HTTP through the real reporter; /healthz interleaved.
	srv := httptest.NewServer(reporter.New(engine.New(store), store, zerolog.Nop(), reporter.Config{Sites: store}).Handler())
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func(path string) (time.Duration, []byte, error) {
		t := time.Now()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			return 0, nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, truncateForLog(body))
		}
		return d, body, err
	}
	day := fmt.Sprintf("/stats?site_id=%s&date=%s", pathsSite, pathsDate)
	// The answers first (day and all-time), then the timed rounds.
	for _, q := range []struct {
		path, date string
		limit      int
	}{{day + "&limit=1", pathsDate, 1}, {day + "&limit=100", pathsDate, 100}, {"/stats?site_id=" + pathsSite + "&limit=100", "", 100}} {
		_, body, err := get(q.path)
		if err != nil {
			return row, err
		}
		if err := model.check(body, q.date, q.limit); err != nil {
			row.checks = append(row.checks, err.Error())
		}
		if q.limit == 100 && q.date != "" {
			var s analytics.Stats
			_ = json.Unmarshal(body, &s)
			row.truncated = s.Truncated
			top := ""
			for i, p := range s.TopPaths[:min(3, len(s.TopPaths))] {
				top += fmt.Sprintf("%s%s %d", map[bool]string{true: ", "}[i > 0], p.Path, p.Views)
			}
			fmt.Fprintf(out, "  /stats day: total_views %d (stored %d), unique_users %d, truncated %v, %d top_paths: %s, ...\n",
				s.TotalViews, model.total, s.UniqueUsers, s.Truncated, len(s.TopPaths), top)
		}
	}
	stopProfile, err = startProfile(profile, n, "stats")
	if err != nil {
		return row, err
	}
	var hl, l1, l100 []time.Duration
	for i := 0; i < reqs; i++ {
		for _, p := range []struct {
			path string
			into *[]time.Duration
		}{{"/healthz", &hl}, {day + "&limit=1", &l1}, {day + "&limit=100", &l100}} {
			d, _, err := get(p.path)
			if err != nil {
				stopProfile()
				return row, err
			}
			*p.into = append(*p.into, d)
		}
	}
	stopProfile()
	row.health, row.lim1, row.lim100 = asResult(hl), asResult(l1), asResult(l100)
	row.loadAfter = loadavg()
	fmt.Fprintf(out, "  %d rounds: /healthz p50 %s p99 %s | /stats limit=1 p50 %s p99 %s | limit=100 p50 %s p99 %s (%.1fx healthz p50) | main rollup doc %d B, largest other %d B, %d rollup docs %d B | load %s\n",
		reqs, us(row.health.pct(.5)), us(row.health.pct(.99)), us(row.lim1.pct(.5)), us(row.lim1.pct(.99)),
		us(row.lim100.pct(.5)), us(row.lim100.pct(.99)), ratio(row.lim100.pct(.5), row.health.pct(.5)), row.mainDoc, row.biggestDoc, row.rollupDocs, row.rollupBytes, row.loadAfter)
	for _, c := range row.checks {
		fmt.Fprintf(out, "  WRONG: %s\n", c)
	}
	return row, nil
}

// mongoServer returns MONGODB_URI, else starts embedded FerretDB (SQLite, or
// PostgreSQL with -pg); no Redis is needed here.
func mongoServer(ctx context.Context, getenv func(string) string, pgURL string, out io.Writer) (string, func(), error) {
	if uri := getenv("MONGODB_URI"); uri != "" {
		fmt.Fprintf(out, "mongodb: MONGODB_URI (one database per size, dropped after)\n")
		return uri, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "loadtest-paths-")
	if err != nil {
		return "", func() {}, err
	}
	var s *embedded.Server
	backend := "SQLite in " + dir
	if pgURL != "" {
		s, err = embedded.FerretDBPostgres(ctx, pgURL, "127.0.0.1:0", nil)
		backend = "PostgreSQL"
	} else {
		s, err = embedded.FerretDB(ctx, filepath.Join(dir, "db"), "127.0.0.1:0", nil)
	}
	stop := func() {
		if s != nil {
			_ = s.Stop()
		}
		_ = os.RemoveAll(dir)
	}
	if err != nil {
		return "", stop, err
	}
	fmt.Fprintf(out, "mongodb: embedded FerretDB %s (%s), one database per size\n", s.URL, backend)
	return s.URL, stop, nil
}

func startProfile(file string, n int, phase string) (func(), error) {
	if file == "" {
		return func() {}, nil
	}
	ext := filepath.Ext(file)
	name := fmt.Sprintf("%s-%d-%s%s", strings.TrimSuffix(file, ext), n, phase, ext)
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func asResult(l []time.Duration) result {
	s := append([]time.Duration(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return result{requests: len(s), lat: s}
}

func pctOf(l []time.Duration, p float64) time.Duration { return asResult(l).pct(p) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
func us(d time.Duration) string { return d.Round(time.Microsecond).String() }

// loadavg is the machine's 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
