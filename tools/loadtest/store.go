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
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/processor"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/reporter"
	"github.com/siteanalytics/analytics/visits"
)

// servers returns Redis and MongoDB URLs: from the environment, else
// embedded ones (FerretDB on SQLite, or on PostgreSQL with -pg).
func servers(ctx context.Context, getenv func(string) string, pgURL string, out io.Writer) (redisURL, mongoURI string, stop func(), err error) {
	var stops []func() error
	stop = func() {
		for _, s := range stops {
			_ = s()
		}
	}
	redisURL, mongoURI = getenv("REDIS_URL"), getenv("MONGODB_URI")
	if redisURL == "" {
		dir, _ := os.MkdirTemp("", "loadtest-redis-")
		s, err := embedded.Redis(ctx, dir)
		if err != nil {
			return "", "", stop, err
		}
		stops = append(stops, s.Stop)
		redisURL = s.URL
	}
	if mongoURI == "" {
		dir, _ := os.MkdirTemp("", "loadtest-ferretdb-")
		var s *embedded.Server
		if pgURL != "" {
			s, err = embedded.FerretDBPostgres(ctx, pgURL, "127.0.0.1:0", nil)
		} else {
			s, err = embedded.FerretDB(ctx, dir, "127.0.0.1:0", nil)
		}
		if err != nil {
			return "", "", stop, err
		}
		stops = append(stops, s.Stop)
		mongoURI = s.URL
	}
	backend := "SQLite"
	if pgURL != "" {
		backend = "PostgreSQL"
	}
	if getenv("MONGODB_URI") != "" {
		backend = "MONGODB_URI"
	}
	fmt.Fprintf(out, "redis %s, mongodb %s (%s)\n", redisURL, mongoURI, backend)
	return redisURL, strings.TrimSuffix(mongoURI, "/") + "/loadtest_" + strconv.FormatInt(time.Now().Unix(), 10), stop, nil
}

// queueAndStore returns a client of the configured or embedded Redis and
// a store in a database of its own; stop drops the database and stops all.
func queueAndStore(ctx context.Context, getenv func(string) string, pg string, out io.Writer) (*redis.Client, *mongostore.Store, func(), error) {
	rdb, store, _, stop, err := queueStoreURI(ctx, getenv, pg, out)
	return rdb, store, stop, err
}

// queueStoreURI is queueAndStore, also returning the store's URI (for a
// second store on the same database: a restarted process).
func queueStoreURI(ctx context.Context, getenv func(string) string, pg string, out io.Writer) (*redis.Client, *mongostore.Store, string, func(), error) {
	redisURL, mongoURI, stopServers, err := servers(ctx, getenv, pg, out)
	if err != nil {
		return nil, nil, "", stopServers, err
	}
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	store, err := mongostore.Open(ctx, mongoURI, mongostore.DefaultConfig())
	if err != nil {
		rdb.Close()
		return nil, nil, "", stopServers, err
	}
	return rdb, store, mongoURI, func() {
		_ = store.Database().Drop(context.Background())
		store.Close(context.Background())
		rdb.Close()
		stopServers()
	}, nil
}

// synthetic returns event i of a workload over 20 sites, 3 days, 5000 users
// and 50 paths, with what the collector derives (source, browser, country...)
// as real traffic has it: a few sources, browsers and countries per user.
func synthetic(i int) analytics.Event {
	day := time.Date(2025, 11, 10+i%3, 0, 0, 0, 0, time.UTC)
	return enriched(analytics.Event{
		ID: fmt.Sprintf("lt-%d-%d", time.Now().UnixNano()%1e9, i), SiteID: fmt.Sprintf("site-%d", i%20), EventType: analytics.PageView,
		Path: fmt.Sprintf("/page/%d", i%50), UserID: fmt.Sprintf("u%d", i%5000), Timestamp: day.Add(time.Duration(i%86400) * time.Second),
	}, i)
}

// spread returns event i of a workload of visits (see session) spread
// over 400 days in time order, 2,500 events a day (400 days at 1M events),
// for the query latency over a range of periods.
func spread(i int) analytics.Event {
	ev := enriched(session(i), i)
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration((i/2500)%400) * 24 * time.Hour)
	ev.Timestamp = day.Add(time.Duration(ev.Timestamp.Hour())*time.Hour + time.Duration(ev.Timestamp.Minute())*time.Minute)
	return ev
}

var (
	ltSources  = [][2]string{{"", ""}, {"", ""}, {"Google", "google.com"}, {"Hacker News", "news.ycombinator.com"}, {"GitHub", "github.com"}, {"blog.example.org", "blog.example.org"}, {"newsletter", ""}}
	ltBrowsers = [][3]string{{"Chrome", "Windows", "desktop"}, {"Safari", "iOS", "mobile"}, {"Firefox", "Linux", "desktop"}, {"Chrome", "Android", "mobile"}, {"Safari", "iPadOS", "tablet"}}
	ltCountry  = []string{"US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "NL", ""}
)

func enriched(ev analytics.Event, i int) analytics.Event {
	u := i % 5000
	src := ltSources[(i/7)%len(ltSources)]
	ev.Source, ev.ReferrerHost = src[0], src[1]
	if src[0] == "newsletter" {
		ev.UTMSource, ev.UTMMedium, ev.UTMCampaign = "newsletter", "email", fmt.Sprintf("issue-%d", i%12)
	}
	b := ltBrowsers[u%len(ltBrowsers)]
	ev.Browser, ev.OS, ev.Device = b[0], b[1], b[2]
	ev.Country = ltCountry[u%len(ltCountry)]
	return ev
}

func process(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, out io.Writer) error {
	n := fs.Int("n", 50000, "events")
	batch := fs.Int("batch", processor.DefaultConfig().BatchSize, "processor batch size (the default is BATCH_SIZE's)")
	workers := fs.Int("workers", 0, "batches stored at once (0: the processor's default)")
	pg := fs.String("pg", "", "run embedded FerretDB on this PostgreSQL URL instead of SQLite")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the processing phase (embedded FerretDB included) here")
	shape := fs.String("workload", "uniform", "uniform (every event a new visitor-hour: the worst case for the rollups) or sessions (visits of 5 events)")
	annotate := fs.Bool("visits", true, "annotate each event's visit before queuing it, as the collector does (false: events without visits)")
	restart := fs.Bool("restart", false, "then queue n more events and store them with a new processor and store (cold caches): the rate right after a restart")
	if err := fs.Parse(args); err != nil {
		return err
	}
	synthetic := synthetic
	switch *shape {
	case "uniform":
	case "sessions":
		synthetic = func(i int) analytics.Event { return enriched(session(i), i) }
	default:
		return fmt.Errorf("-workload %q: use uniform or sessions", *shape)
	}
	rdb, store, uri, stop, err := queueStoreURI(ctx, getenv, *pg, out)
	defer stop()
	if err != nil {
		return err
	}
	keys := redisqueue.Keys{Prefix: fmt.Sprintf("loadtest:%d:", time.Now().UnixNano()), Partitions: 8}

	// Baseline: the database's own bulk insert rate for the same documents.
	scratch := store.Database().Collection("baseline")
	t0, c0 := time.Now(), cpuTime()
	for i := 0; i < *n; i += 1000 {
		docs := make([]any, 0, 1000)
		for j := i; j < min(i+1000, *n); j++ {
			// The very documents the processor stores (every field the
			// collector derived), without their visit note.
			docs = append(docs, store.RawDocument(0, analytics.Entry{ID: fmt.Sprintf("%d-0", j), Event: synthetic(j)}))
		}
		if _, err := scratch.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return err
		}
	}
	base := float64(*n) / time.Since(t0).Seconds()
	baseCPU := cpuPerEvent(c0, *n)
	fmt.Fprintf(out, "baseline: raw InsertMany of the same %d event documents %8.0f events/s, %5.1f µs CPU/event\n", *n, base, baseCPU)
	// The seed design's drain (a BullMQ worker, one job at a time): take
	// the job from Redis, insert its one document, mark the job done.
	seedN := min(*n, 3000)
	seedColl := store.Database().Collection("seed_baseline")
	jobs := fmt.Sprintf("loadtest:seed:%d", time.Now().UnixNano())
	for j := 0; j < seedN; j++ {
		ev := synthetic(*n + j)
		b, _ := json.Marshal(ev)
		if err := rdb.RPush(ctx, jobs+":wait", b).Err(); err != nil {
			return err
		}
	}
	t0 = time.Now()
	for j := 0; j < seedN; j++ {
		job, err := rdb.LMove(ctx, jobs+":wait", jobs+":active", "LEFT", "RIGHT").Result()
		if err != nil {
			return err
		}
		var ev analytics.Event
		if err := json.Unmarshal([]byte(job), &ev); err != nil {
			return err
		}
		if _, err := seedColl.InsertOne(ctx, bson.D{{Key: "_id", Value: ev.ID}, {Key: "site_id", Value: ev.SiteID}, {Key: "event_type", Value: ev.EventType},
			{Key: "path", Value: ev.Path}, {Key: "user_id", Value: ev.UserID}, {Key: "timestamp", Value: ev.Timestamp}}); err != nil {
			return err
		}
		if err := rdb.LRem(ctx, jobs+":active", 1, job).Err(); err != nil {
			return err
		}
	}
	seed := float64(seedN) / time.Since(t0).Seconds()
	rdb.Del(ctx, jobs+":wait", jobs+":active")
	fmt.Fprintf(out, "baseline: the seed's drain (take job, InsertOne, done) x %d  %8.0f events/s\n", seedN, seed)

	pub := redisqueue.NewPublisher(rdb, keys, redisqueue.PublisherConfig{})
	ann := visits.New(rdb, keys.Prefix, visits.DefaultTimeout)
	defer ann.Close()
	t0 = time.Now()
	for i := 0; i < *n; i += 1000 {
		evs := make([]analytics.Event, 0, 1000)
		for j := i; j < min(i+1000, *n); j++ {
			evs = append(evs, synthetic(j))
		}
		if *annotate {
			if err := ann.Annotate(ctx, evs); err != nil {
				return err
			}
		}
		if err := pub.Publish(ctx, evs); err != nil {
			return err
		}
	}
	pub.Close()
	fmt.Fprintf(out, "queue:    published %d events to Redis       %8.0f events/s\n", *n, float64(*n)/time.Since(t0).Seconds())

	cc := redisqueue.DefaultConsumerConfig()
	consumer, err := redisqueue.NewConsumer(ctx, rdb, keys, cc, zerolog.Nop())
	if err != nil {
		return err
	}
	defer consumer.Close(context.Background())
	p := processor.New(consumer, store, zerolog.Nop(), processor.Config{BatchSize: *batch, Workers: *workers})
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	t0, c0 = time.Now(), cpuTime()
	go func() { done <- p.Run(pctx) }()
	last := time.Now()
	for p.Counters.Stored.Load() < int64(*n) {
		if ctx.Err() != nil {
			cancel()
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(out, "  ... %d stored\n", p.Counters.Stored.Load())
		}
	}
	el := time.Since(t0)
	cancel()
	<-done
	rate := float64(*n) / el.Seconds()
	procCPU := cpuPerEvent(c0, *n)
	fmt.Fprintf(out, "processor: stored %d events (batch %d)       %8.0f events/s (%.2fx raw insert, %.1fx the seed's drain), %5.1f µs CPU/event (%.2fx raw insert's)\n",
		*n, *batch, rate, rate/base, rate/seed, procCPU, procCPU/baseCPU)
	if !*restart {
		return nil
	}
	// A restart: the same events again (a deploy replaying what it had not
	// acknowledged, plus new ones), then a cold processor (new consumer,
	// new store: nothing cached) stores the next n events; its rate is
	// compared with the warm one just measured.
	consumer.Close(context.Background()) // the first process is gone: its leases with it
	store2, err := mongostore.Open(ctx, uri, mongostore.DefaultConfig())
	if err != nil {
		return err
	}
	defer store2.Close(context.Background())
	pub2 := redisqueue.NewPublisher(rdb, keys, redisqueue.PublisherConfig{})
	for i := *n; i < 2**n; i += 1000 {
		evs := make([]analytics.Event, 0, 1000)
		for j := i; j < min(i+1000, 2**n); j++ {
			evs = append(evs, synthetic(j))
		}
		if err := pub2.Publish(ctx, evs); err != nil {
			return err
		}
	}
	pub2.Close()
	consumer2, err := redisqueue.NewConsumer(ctx, rdb, keys, cc, zerolog.Nop())
	if err != nil {
		return err
	}
	defer consumer2.Close(context.Background())
	p2 := processor.New(consumer2, store2, zerolog.Nop(), processor.Config{BatchSize: *batch, Workers: *workers})
	pctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	done2 := make(chan error, 1)
	t0 = time.Now()
	go func() { done2 <- p2.Run(pctx2) }()
	for p2.Counters.Stored.Load() < int64(*n) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	el2 := time.Since(t0)
	cancel2()
	<-done2
	rate2 := float64(*n) / el2.Seconds()
	fmt.Fprintf(out, "after a restart: a cold processor stored %d events %8.0f events/s (%.2fx the warm rate)\n", *n, rate2, rate2/rate)
	return nil
}

func statsLatency(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, out io.Writer) error {
	sizes := fs.String("sizes", "10000,1000000", "stored event counts to measure at")
	reqs := fs.Int("requests", 2000, "stats requests per measurement")
	pg := fs.String("pg", "", "run embedded FerretDB on this PostgreSQL URL instead of SQLite")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, stop, err := scratchStore(ctx, getenv, *pg, out)
	defer stop()
	if err != nil {
		return err
	}
	srv := httptest.NewServer(reporter.New(engine.New(store), store, zerolog.Nop(), reporter.Config{Sites: store}).Handler())
	defer srv.Close()

	stored := 0
	for _, s := range strings.Split(*sizes, ",") {
		target, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-sizes: %q", s)
		}
		if err := fill(ctx, store, stored, target, spread, out); err != nil {
			return err
		}
		stored = target
		base := load(ctx, 1, *reqs, func(int) (*http.Request, error) { return http.NewRequest("GET", srv.URL+"/healthz", nil) }, 200)
		fmt.Fprintf(out, "%8d events stored: /healthz p50 %s p99 %s\n", stored, base.pct(.5).Round(time.Microsecond), base.pct(.99).Round(time.Microsecond))
		for _, c := range []struct{ name, query string }{
			{"/stats day", "/stats?site_id=site-%d&date=2025-06-1%d"},
			{"/stats all-time", "/stats?site_id=site-%d&x=%d"},
			{"aggregate 30d visitors,pageviews", "/api/v1/stats/aggregate?site_id=site-%d&period=30d&date=2026-01-2%d&metrics=visitors,pageviews"},
			{"timeseries 30d (daily)", "/api/v1/stats/timeseries?site_id=site-%d&period=30d&date=2026-01-2%d&metrics=visitors,pageviews"},
			{"breakdown 30d visit:source", "/api/v1/stats/breakdown?site_id=site-%d&period=30d&date=2026-01-2%d&property=visit:source&metrics=visitors"},
			{"breakdown 30d event:page", "/api/v1/stats/breakdown?site_id=site-%d&period=30d&date=2026-01-2%d&property=event:page&metrics=pageviews,visitors"},
			{"aggregate 12mo visitors,pageviews", "/api/v1/stats/aggregate?site_id=site-%d&period=12mo&date=2026-01-2%d&metrics=visitors,pageviews"},
			{"timeseries 12mo (monthly)", "/api/v1/stats/timeseries?site_id=site-%d&period=12mo&date=2026-01-2%d&metrics=visitors,pageviews"},
			{"breakdown 12mo visit:source", "/api/v1/stats/breakdown?site_id=site-%d&period=12mo&date=2026-01-2%d&property=visit:source&metrics=visitors"},
			{"breakdown 12mo event:page", "/api/v1/stats/breakdown?site_id=site-%d&period=12mo&date=2026-01-2%d&property=event:page&metrics=pageviews"},
		} {
			r := load(ctx, 1, *reqs, func(i int) (*http.Request, error) {
				return http.NewRequest("GET", srv.URL+fmt.Sprintf(c.query, i%20, i%3), nil)
			}, 200)
			fmt.Fprintf(out, "%8d events stored: %-34s p50 %8s p99 %8s (p50 = %.1fx healthz)\n", stored, c.name,
				r.pct(.5).Round(time.Microsecond), r.pct(.99).Round(time.Microsecond), float64(r.pct(.5))/float64(base.pct(.5)))
		}
	}
	return nil
}

// scratchStore opens a store in a database of its own on the configured or
// embedded servers; stop drops the database and stops the servers.
func scratchStore(ctx context.Context, getenv func(string) string, pg string, out io.Writer) (*mongostore.Store, func(), error) {
	_, mongoURI, stopServers, err := servers(ctx, getenv, pg, out)
	if err != nil {
		return nil, stopServers, err
	}
	store, err := mongostore.Open(ctx, mongoURI, mongostore.DefaultConfig())
	if err != nil {
		return nil, stopServers, err
	}
	return store, func() {
		_ = store.Database().Drop(context.Background())
		store.Close(context.Background())
		stopServers()
	}, nil
}

// fill stores the events from up to to (event i is event(i), its entry id
// "<i+1>-0") in batches of 1,000 straight through the store, reporting
// progress every 100,000.
func fill(ctx context.Context, store *mongostore.Store, from, to int, event func(int) analytics.Event, out io.Writer) error {
	t0 := time.Now()
	for i := from; i < to; {
		b := analytics.Batch{Partition: 0}
		for ; len(b.Entries) < 1000 && i < to; i++ {
			b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-0", i+1), Event: event(i)})
		}
		if _, err := store.Apply(ctx, b); err != nil {
			return err
		}
		if i%100000 == 0 {
			fmt.Fprintf(out, "  ... %d stored (%.0f events/s)\n", i, float64(i-from)/time.Since(t0).Seconds())
		}
	}
	return nil
}

// cpuPerEvent is the CPU time per event since c0, in microseconds (the
// processor's and the embedded FerretDB's: one process).
func cpuPerEvent(c0 time.Duration, n int) float64 {
	return float64(cpuTime()-c0) / float64(time.Microsecond) / float64(n)
}
