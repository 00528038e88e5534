package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/sdk"
)

// pipeline is the whole product running in this process through the real
// `analytics-cli serve`, against the test Redis and MongoDB.
type pipeline struct {
	collector, reporter string
	env                 map[string]string
	cancel              context.CancelFunc
	done                chan error
	out                 *testenv.Buffer
}

func startPipeline(t *testing.T, extra ...string) *pipeline {
	t.Helper()
	return startPipelineArgs(t, append([]string{"analytics-cli", "serve", "--host", "127.0.0.1", "--ingestion-port", "0", "--reporting-port", "0"}, extra...))
}

// startPipelineArgs runs serve with exactly args.
func startPipelineArgs(t *testing.T, args []string) *pipeline {
	t.Helper()
	return startPipelineEnv(t, nil, args)
}

// startPipelineEnv runs serve with exactly args and the variables of
// extraEnv added to the test's.
func startPipelineEnv(t *testing.T, extraEnv map[string]string, args []string) *pipeline {
	t.Helper()
	_, prefix := testenv.Redis(t)
	env := map[string]string{
		"REDIS_URL":    testenv.RedisURL(t),
		"MONGODB_URI":  testenv.MongoDB(t),
		"QUEUE_PREFIX": prefix,
		"LOG_FORMAT":   "json",
		"LOG_LEVEL":    "warn",
		// serve writes serve.json there, and the commands a test runs
		// read it: each pipeline its own, so tests run in parallel.
		"DATA_DIR": t.TempDir(),
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	return startWithEnv(t, args, env)
}

// startWithEnv runs serve with args and exactly the settings env.
func startWithEnv(t *testing.T, args []string, env map[string]string) *pipeline {
	t.Helper()
	p := &pipeline{env: env, done: make(chan error, 1), out: &testenv.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- run(ctx, args, p.getenv, p.out) }()
	p.collector = testenv.WaitMatch(t, p.out, regexp.MustCompile(`Collector\s+(http://\S+)`), 60*time.Second)
	p.reporter = testenv.WaitMatch(t, p.out, regexp.MustCompile(`Reporter\s+(http://\S+)`), 60*time.Second)
	testenv.WaitHealthy(t, p.collector)
	testenv.WaitHealthy(t, p.reporter)
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *pipeline) getenv(k string) string { return p.env[k] }

func (p *pipeline) stop(t *testing.T) {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("serve did not stop within 60s after cancel")
	}
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getStats(t *testing.T, reporter, site, date string) (analytics.Stats, string) {
	t.Helper()
	u := reporter + "/stats?site_id=" + site + "&limit=100"
	if date != "" {
		u += "&date=" + date
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	var st analytics.Stats
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st, string(b)
}

// TestSeedExample runs the seed README's three curl events through the real
// servers and checks the seed's /stats answer, exactly.
func TestSeedExample(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	for _, ev := range []string{
		`{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-001","timestamp":"2025-11-12T10:00:00Z"}`,
		`{"site_id":"site-abc-123","event_type":"page_view","path":"/blog/post-1","user_id":"user-002","timestamp":"2025-11-12T10:05:00Z"}`,
		`{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-001","timestamp":"2025-11-12T10:10:00Z"}`,
	} {
		code, body := post(t, p.collector+"/event", ev)
		if code != 202 || body != `{"success":true,"message":"Event queued successfully"}`+"\n" {
			t.Fatalf("POST /event: %d %s", code, body)
		}
	}
	want := `{"site_id":"site-abc-123","date":"2025-11-12","total_views":3,"unique_users":2,"top_paths":[{"path":"/pricing","views":2},{"path":"/blog/post-1","views":1}]}` + "\n"
	testenv.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(p.reporter + "/stats?site_id=site-abc-123&date=2025-11-12")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			return fmt.Errorf("stats = %s", b)
		}
		return nil
	})
	// The all-time rollup is written beside the daily one, not before it.
	testenv.Eventually(t, 30*time.Second, func() error {
		if _, all := getStats(t, p.reporter, "site-abc-123", ""); !strings.Contains(all, `"date":null,"total_views":3,"unique_users":2`) {
			return fmt.Errorf("all-time stats = %s", all)
		}
		return nil
	})

	// The CLI prints the same numbers as a table, and the JSON with --json.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "site-abc-123", "--date", "2025-11-12", "--reporter", p.reporter}, p.getenv, &out); err != nil {
		t.Fatal(err)
	}
	// Two visits: user-001's of two page views 10 minutes apart, user-002's
	// bounce.
	for _, s := range []string{"Page views    3", "Unique users  2", "2  66.7%  /pricing", "1  33.3%  /blog/post-1",
		"\nVisits           2\nBounce rate      50%\nVisit duration   5m 00s\nViews per visit  1.5\n"} {
		if !strings.Contains(out.String(), s) {
			t.Fatalf("table lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "site-abc-123", "--date", "2025-11-12", "--json", "--reporter", p.reporter}, p.getenv, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Fatalf("--json printed %s", out.String())
	}
}

func TestStatsCommandErrors(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"bad date", []string{"--site", "s", "--date", "12/11/2025"}, `date: "12/11/2025" is not a date in YYYY-MM-DD format`},
		{"unreachable reporter", []string{"--site", "s", "--reporter", "http://127.0.0.1:1"}, "cannot reach the reporter at http://127.0.0.1:1"},
		{"missing site", []string{}, `Required flag "site" not set`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"analytics-cli", "stats"}, tt.args...), getenv, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRandomizedPipeline sends thousands of random events through the real
// HTTP API and checks every site's stats, per day and all-time, against
// numbers computed independently here.
func TestRandomizedPipeline(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	sites := []string{"shop.example", "blog:main", "docs_1", "app-2"}
	days := []time.Time{
		time.Date(2025, 11, 10, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 11, 11, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 11, 12, 0, 0, 0, 0, time.UTC),
	}
	paths := []string{"/", "/pricing", "/blog/post-1", "/a.b", "/docs/$ref", "/x%2Ey"}
	// Paths are counted under their canonical form: %2E encodes ".", an
	// unreserved character, so "/x%2Ey" is "/x.y".
	canonical := map[string]string{"/x%2Ey": "/x.y"}
	types := []string{"page_view", "page_view", "page_view", "click", "signup"}
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -8*3600)}

	type key struct{ site, day string }
	views := map[key]int{}
	pathViews := map[key]map[string]int{}
	users := map[key]map[string]bool{}
	add := func(k key, typ, path, user string) {
		if typ == "page_view" {
			views[k]++
			if pathViews[k] == nil {
				pathViews[k] = map[string]int{}
			}
			if c, ok := canonical[path]; ok {
				path = c
			}
			pathViews[k][path]++
		}
		if user != "" {
			if users[k] == nil {
				users[k] = map[string]bool{}
			}
			users[k][user] = true
		}
	}

	const total = 3000
	var batch []map[string]any
	var sent []map[string]any
	flush := func() {
		body, _ := json.Marshal(batch)
		code, resp := post(t, p.collector+"/events", string(body))
		if code != 202 || !strings.Contains(resp, fmt.Sprintf(`"accepted":%d`, len(batch))) {
			t.Fatalf("POST /events: %d %s", code, resp)
		}
		batch = batch[:0]
	}
	for i := 0; i < total; i++ {
		site := sites[rng.IntN(len(sites))]
		day := days[rng.IntN(len(days))]
		var ts time.Time
		switch i % 10 {
		case 0:
			ts = day // 00:00:00
		case 1:
			ts = day.Add(24*time.Hour - time.Second) // 23:59:59
		default:
			ts = day.Add(time.Duration(rng.IntN(86400)) * time.Second)
		}
		typ := types[rng.IntN(len(types))]
		path := paths[rng.IntN(len(paths))]
		user := ""
		if rng.IntN(4) != 0 {
			user = fmt.Sprintf("user-%d", rng.IntN(150))
		}
		ev := map[string]any{
			"id": fmt.Sprintf("rnd-%d", i), "site_id": site, "event_type": typ, "path": path,
			"timestamp": ts.In(zones[rng.IntN(len(zones))]).Format(time.RFC3339),
		}
		if user != "" {
			ev["user_id"] = user
		}
		dayStr := ts.UTC().Format("2006-01-02")
		add(key{site, dayStr}, typ, path, user)
		add(key{site, ""}, typ, path, user)
		sent = append(sent, ev)
		if i%50 == 0 {
			b, _ := json.Marshal(ev)
			if code, resp := post(t, p.collector+"/event", string(b)); code != 202 {
				t.Fatalf("POST /event: %d %s", code, resp)
			}
			continue
		}
		batch = append(batch, ev)
		if len(batch) == 100 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	// Clients retry: resend 200 events with their ids; none may count twice.
	const resent = 200
	for i := 0; i < resent; i += 100 {
		body, _ := json.Marshal(sent[i : i+100])
		if code, resp := post(t, p.collector+"/events", string(body)); code != 202 {
			t.Fatalf("resend: %d %s", code, resp)
		}
	}
	// Judge only once every event sent, resends included, has gone through
	// the processor: otherwise the counts can match before the resent
	// events are processed, and a resent event counted twice goes unseen.
	p.waitProcessed(t, total+resent, total)

	check := func(k key) error {
		st, _ := getStats(t, p.reporter, k.site, k.day)
		wantUsers := len(users[k])
		if st.TotalViews != int64(views[k]) || st.UniqueUsers != int64(wantUsers) {
			return fmt.Errorf("%v: views %d users %d, want %d and %d", k, st.TotalViews, st.UniqueUsers, views[k], wantUsers)
		}
		var want []analytics.PathViews
		for path, n := range pathViews[k] {
			want = append(want, analytics.PathViews{Path: path, Views: int64(n)})
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].Views != want[j].Views {
				return want[i].Views > want[j].Views
			}
			return want[i].Path < want[j].Path
		})
		if fmt.Sprint(want) != fmt.Sprint(st.TopPaths) {
			return fmt.Errorf("%v: top paths %v, want %v", k, st.TopPaths, want)
		}
		return nil
	}
	var keys []key
	for _, s := range sites {
		keys = append(keys, key{s, ""})
		for _, d := range days {
			keys = append(keys, key{s, d.Format("2006-01-02")})
		}
	}
	for _, k := range keys {
		if err := check(k); err != nil {
			t.Error(err)
		}
	}
}

// waitProcessed waits until the queue is drained (every partition stream
// empty, nothing pending: each entry was stored or skipped and then
// acknowledged) and the fleet counters account for every event sent: stored
// + duplicates = sent. Then it requires that exactly distinct of them were
// stored and the rest skipped as duplicates.
func (p *pipeline) waitProcessed(t *testing.T, sent, distinct int) {
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
		t.Fatalf("partition count of the queue: %v", err)
	}
	var stored, dups int64
	testenv.Eventually(t, 120*time.Second, func() error {
		st, err := redisqueue.ReadStatus(ctx, rdb, keys)
		if err != nil {
			return err
		}
		var pending int64
		for _, ps := range st.Partitions {
			pending += ps.Pending
		}
		if st.Backlog != 0 || pending != 0 {
			return fmt.Errorf("queue not drained: %d entries in the partition streams, %d pending", st.Backlog, pending)
		}
		stored, dups = st.Counters[redisqueue.CounterStored], st.Counters[redisqueue.CounterDuplicates]
		if stored+dups < int64(sent) {
			return fmt.Errorf("fleet counters: %d stored + %d duplicates of %d events sent", stored, dups, sent)
		}
		return nil
	})
	if stored != int64(distinct) || dups != int64(sent-distinct) {
		t.Fatalf("fleet counters: %d stored and %d duplicates, want %d and %d", stored, dups, distinct, sent-distinct)
	}
}

// TestSDKAgainstRealPipeline tracks events with the Go SDK (through the
// `replace` in go.mod) and checks the exact counts in /stats.
func TestSDKAgainstRealPipeline(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	client, err := sdk.New(sdk.Config{Endpoint: p.collector, SiteID: "sdk-site", BatchSize: 40, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2025, 11, 12, 9, 0, 0, 0, time.UTC)
	for i := 0; i < 500; i++ {
		ev := sdk.Event{EventType: "page_view", Path: fmt.Sprintf("/p%d", i%5), UserID: fmt.Sprintf("u%d", i%37), Timestamp: ts}
		if i%10 == 9 {
			ev.EventType = "click"
		}
		if err := client.Track(ev); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := client.Stats(); s.Sent != 500 || s.Failed != 0 || s.Dropped != 0 {
		t.Fatalf("sdk stats %+v", s)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		st, _ := getStats(t, p.reporter, "sdk-site", "2025-11-12")
		if st.TotalViews != 450 || st.UniqueUsers != 37 || len(st.TopPaths) != 5 || st.TopPaths[0].Views != 100 || st.TopPaths[4].Views != 50 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

func TestQueueCommandShowsFleetCounters(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	for i := 0; i < 3; i++ {
		if code, body := post(t, p.collector+"/event", `{"site_id":"q-site","event_type":"page_view","path":"/"}`); code != 202 {
			t.Fatalf("POST /event: %d %s", code, body)
		}
	}
	post(t, p.collector+"/event", `{"site_id":"q-site"}`) // rejected
	testenv.Eventually(t, 30*time.Second, func() error {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"analytics-cli", "queue"}, p.getenv, &out); err != nil {
			return err
		}
		for _, want := range []string{"Backlog         0 events", "Processors      1", "accepted       3", "rejected       1", "stored         3", "dead lettered  0"} {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("queue output lacks %q:\n%s", want, out.String())
			}
		}
		return nil
	})
}

// serve keeps its open reporter to this machine unless told otherwise, and
// warns when it is told.
func TestServeListensLocallyByDefault(t *testing.T) {
	t.Parallel()
	p := startPipelineArgs(t, []string{"analytics-cli", "serve", "--ingestion-port", "0", "--reporting-port", "0"})
	for _, u := range []string{p.collector, p.reporter} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("serve listens at %s by default; want 127.0.0.1", u)
		}
	}
	if strings.Contains(p.out.String(), "no REPORTER_TOKEN") {
		t.Errorf("a warning about a public reporter when it is local:\n%s", p.out.String())
	}
	pub := startPipelineArgs(t, []string{"analytics-cli", "serve", "--host", "0.0.0.0", "--ingestion-port", "0", "--reporting-port", "0"})
	testenv.WaitMatch(t, pub.out, regexp.MustCompile(`(every interface with no REPORTER_TOKEN)`), 10*time.Second)
}

// An unknown site's zeros say why; a known site's quiet day does not.
func TestStatsOfAnUnknownSite(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	if code, body := post(t, p.collector+"/event", `{"site_id":"known.example","event_type":"page_view","path":"/","user_id":"u1","timestamp":"2025-11-12T10:00:00Z"}`); code/100 != 2 {
		t.Fatalf("POST /event: %d %s", code, body)
	}
	p.waitProcessed(t, 1, 1)
	_, body := getStats(t, p.reporter, "nosuch.example", "")
	if !strings.Contains(body, `"note":"no events recorded for site nosuch.example"`) {
		t.Errorf("/stats of an unknown site: %s", body)
	}
	if _, body := getStats(t, p.reporter, "known.example", "2025-11-13"); strings.Contains(body, "note") {
		t.Errorf("/stats of a known site's empty day: %s", body)
	}
	var out bytes.Buffer
	env := func(k string) string { return map[string]string{"REPORTER_URL": p.reporter}[k] }
	if err := run(context.Background(), []string{"analytics-cli", "stats", "--site", "nosuch.example"}, env, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Note: no events recorded for site nosuch.example.") {
		t.Errorf("analytics-cli stats of an unknown site:\n%s", out.String())
	}
}

// Where the redis-server child cannot die with serve, serve says so.
func TestOrphanNote(t *testing.T) {
	t.Parallel()
	if n := orphanNote("linux", 42); n != "" {
		t.Errorf("linux: %q; Pdeathsig ties the child to serve there", n)
	}
	for goos, stop := range map[string]string{"darwin": "kill 42", "freebsd": "kill 42", "windows": "taskkill /PID 42"} {
		if n := orphanNote(goos, 42); !strings.Contains(n, "`"+stop+"`") || !strings.Contains(n, goos) {
			t.Errorf("%s: %q", goos, n)
		}
	}
}
