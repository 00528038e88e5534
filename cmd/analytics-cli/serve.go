package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/internal/metrics"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/sites"
)

// redisRestarts is how many failed restarts in a row of the embedded
// redis-server make serve give up and exit non-zero.
const redisRestarts = 5

func serveCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	if !cfg.SetInEnv("LOG_FORMAT") {
		cfg.LogFormat = "console" // a person is watching; LOG_FORMAT or --log-format json still wins
	}
	if !cfg.SetInEnv("HOST") {
		// The quick start's reporter is open: keep it to this machine
		// unless asked (--host 0.0.0.0 or HOST).
		cfg.Host = "127.0.0.1"
	}
	return &cli.Command{
		Name:  "serve",
		Usage: "run collector, processor and reporter in one process (embedded Redis and FerretDB unless configured)",
		Description: "With no REDIS_URL/REDIS_HOST it runs redis-server (AOF under --data) as a child process, or\n" +
			"in-process miniredis when redis-server is not installed. A redis-server child that dies is restarted\n" +
			"(its AOF keeps the queue); if that fails 5 times in a row serve exits non-zero. With no MONGODB_URI\n" +
			"it embeds FerretDB on SQLite under --data. Set them to use your own servers.",
		Flags: append(append(append([]cli.Flag{
			&cli.IntFlag{Name: "ingestion-port", Value: cfg.IngestionPort, Destination: &cfg.IngestionPort, Usage: "collector port (env INGESTION_PORT)"},
			&cli.IntFlag{Name: "reporting-port", Value: cfg.ReportingPort, Destination: &cfg.ReportingPort, Usage: "reporter port (env REPORTING_PORT)"},
			&cli.StringFlag{Name: "host", Value: cfg.Host, Destination: &cfg.Host, Usage: "interface to listen on; 0.0.0.0 (or empty) means all: set --token then (env HOST)"},
			cfg.MetricsPortFlag(), cfg.MetricsHostFlag(),
			&cli.StringFlag{Name: "data", Value: cfg.DataDir, Destination: &cfg.DataDir, Usage: "folder of the embedded servers' data (env DATA_DIR)"},
			&cli.StringFlag{Name: "token", Value: cfg.ReporterToken, Destination: &cfg.ReporterToken, Usage: "require this bearer token on /stats (env REPORTER_TOKEN)"},
			&cli.BoolFlag{Name: "open", Value: cfg.ReporterOpen, Destination: &cfg.ReporterOpen, Usage: "answer without a token while none exists, even after one existed (env REPORTER_OPEN)"},
			&cli.DurationFlag{Name: "lease-ttl", Value: cfg.LeaseTTL, Destination: &cfg.LeaseTTL, Usage: "partition lease (env LEASE_TTL)"},
			&cli.IntFlag{Name: "batch-size", Value: cfg.BatchSize, Destination: &cfg.BatchSize, Usage: "entries the processor stores at once (env BATCH_SIZE)"},
			&cli.IntFlag{Name: "workers", Value: cfg.Workers, Destination: &cfg.Workers, Usage: "batches (of different partitions) stored at once, 1-64 (env PROCESSOR_WORKERS)"},
			&cli.IntFlag{Name: "retention-days", Value: cfg.RetentionDays, Destination: &cfg.RetentionDays, Usage: "days of raw events kept for sites without a retention of their own; 0 keeps them forever (env RETENTION_DAYS)"},
			&cli.Int64Flag{Name: "max-backlog", Value: cfg.MaxBacklog, Destination: &cfg.MaxBacklog, Usage: "answer 503 when this many events wait in Redis; 0 turns it off (env MAX_BACKLOG)"},
			&cli.BoolFlag{Name: "store-events", Value: cfg.StoreEvents, Destination: &cfg.StoreEvents, Usage: "keep raw events (needed by rebuild) (env STORE_EVENTS)"},
			&cli.StringFlag{Name: "cors-origins", Value: cfg.CORSOrigins, Destination: &cfg.CORSOrigins, Usage: "comma-separated origins allowed to send from browsers, * for any (env CORS_ORIGINS)"},
			cfg.QueueTimeoutFlag(),
		}, append(append(cfg.EnrichFlags(), cfg.AccessFlags()...), cfg.RedisFlags()...)...), cfg.MongoFlags()...), cfg.LogFlags()...),
		Action: func(c *cli.Context) error { return serve(c.Context, cfg, stdout) },
	}
}

// tryIt is serve's "Try it": a curl line that the collector takes. In open
// mode any site id does; in registered mode only a registered site, with its
// write key, which is stored hashed and so cannot be shown: the line names
// where it comes from, or, with no site yet, how to add one.
func tryIt(ctx context.Context, cfg *config.Config, store *mongostore.Store, cURL, rURL string) string {
	today := time.Now().UTC().Format("2006-01-02")
	stats := func(site string) string {
		auth := ""
		if cfg.ReporterToken != "" {
			auth = "-H 'Authorization: Bearer <REPORTER_TOKEN>' "
		}
		return fmt.Sprintf("  curl %s'%s/stats?site_id=%s&date=%s'\n", auth, rURL, site, today)
	}
	send := func(site, auth string) string {
		return fmt.Sprintf("  curl -X POST %s/event -H 'Content-Type: application/json' %s\\\n"+
			"    -d '{\"site_id\":\"%s\",\"event_type\":\"page_view\",\"path\":\"/pricing\",\"user_id\":\"user-001\"}'\n", cURL, auth, site)
	}
	if cfg.SitesMode != string(sites.Registered) {
		return "Try it:\n" + send("site-abc-123", "") + stats("site-abc-123")
	}
	all, err := store.Registry().LoadSites(ctx)
	if err != nil {
		return fmt.Sprintf("Try it: the registered sites could not be read (%v); `analytics-cli sites list` shows them.\n", err)
	}
	if len(all) == 0 {
		return "Try it (registered mode: only registered sites are taken, and there is none yet):\n" +
			"  analytics-cli sites add --domain example.com example.com\n" +
			"prints the site's write key and a curl line that sends it an event.\n"
	}
	slices.SortFunc(all, func(a, b sites.Site) int { return strings.Compare(a.ID, b.ID) })
	site := all[0].ID
	return fmt.Sprintf("Try it (registered mode: server-side events need the site's write key, printed once by\n"+
		"`analytics-cli sites add`; `analytics-cli sites update --rotate-key %s` prints a new one):\n", site) +
		send(site, "-H 'Authorization: Bearer <write key of "+site+">' ") + stats(site)
}

// serve runs the whole pipeline until ctx ends, then shuts down upstream
// first: the collector stops and flushes to Redis, the processor finishes
// (draining the queue when Redis keeps it only in memory), then the
// reporter and the servers stop.
func serve(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	log, err := cfg.Logger(stdout, "serve")
	if err != nil {
		return err
	}
	es, err := startEmbedded(ctx, cfg, "serve")
	defer es.stop()
	if err != nil {
		return err
	}
	redisNote, mongoNote, redisChild, volatileQueue := es.redisNote, es.mongoNote, es.redisChild, es.volatile

	rdb, err := app.ConnectRedis(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer rdb.Close()
	store, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	cln, err := app.Listen(cfg.Host, cfg.IngestionPort, "--ingestion-port or INGESTION_PORT")
	if err != nil {
		return err
	}
	rln, err := app.Listen(cfg.Host, cfg.ReportingPort, "--reporting-port or REPORTING_PORT")
	if err != nil {
		cln.Close()
		return err
	}
	m := metrics.New() // one registry: the three stages and this process
	metricsURL, stopMetrics, err := app.StartMetrics(cfg, m, log)
	if err != nil {
		cln.Close()
		rln.Close()
		return err
	}
	defer stopMetrics()
	cURL, rURL := app.URL(cln), app.URL(rln)
	if metricsURL == "" {
		metricsURL = rURL + metrics.RouteMetrics + " (and on the collector's port)"
	}
	if !cfg.SetInEnv("COLLECTOR_URL") {
		cfg.CollectorURL = cURL
	}
	// The other commands (queue, rebuild, stats) find this pipeline's
	// servers through this file while it runs.
	endpointsNote := fmt.Sprintf("Endpoints: %s (analytics-cli queue, rebuild and stats run with this data folder use these servers)", filepath.Join(cfg.DataDir, endpointsFile))
	removeEndpoints, err := writeEndpoints(cfg.DataDir, endpoints{Command: "serve", Collector: cURL, Reporter: rURL,
		RedisURL: cfg.RedisURL, MongoURI: cfg.MongoURI, Prefix: cfg.Prefix})
	if err != nil {
		endpointsNote = fmt.Sprintf("could not write %s (%v): set REDIS_URL and MONGODB_URI for the other commands", endpointsFile, err)
	}
	defer removeEndpoints()
	fmt.Fprintf(stdout, `
Analytics is running.
  Collector  %s   (POST /event, POST /events)
  Reporter   %s   (the dashboard; GET /stats, /api/v1/stats/...)
  Metrics    %s
  %s
  %s
  %s

%s
Press Ctrl+C to stop.

`, cURL, rURL, metricsURL, redisNote, mongoNote, endpointsNote, tryIt(ctx, cfg, store, cURL, rURL))

	logs := map[string]zerolog.Logger{}
	for _, name := range []string{"collector", "processor", "reporter"} {
		logs[name], _ = cfg.Logger(stdout, name) // the format was checked above
	}
	// Each stage gets its own context so shutdown can go upstream first.
	collectorCtx, stopCollector := context.WithCancel(context.Background())
	processorCtx, stopProcessor := context.WithCancel(context.Background())
	reporterCtx, stopReporter := context.WithCancel(context.Background())
	defer stopCollector()
	defer stopProcessor()
	defer stopReporter()

	var wg sync.WaitGroup
	errs := make([]error, 4)
	failed := make(chan struct{}, 3)
	start := func(i int, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = f(); errs[i] != nil {
				failed <- struct{}{}
			}
		}()
	}
	collectorDone := make(chan struct{})
	start(0, func() error {
		defer close(collectorDone)
		return app.RunCollector(collectorCtx, cfg, rdb, cln, logs["collector"], m)
	})
	start(1, func() error {
		return app.RunProcessor(processorCtx, cfg, rdb, store, logs["processor"], m, nil)
	})
	start(2, func() error {
		return app.RunReporter(reporterCtx, cfg, store, rdb, rln, logs["reporter"], m)
	})
	// A redis-server child that dies is started again (the collector answers
	// 503 meanwhile); if it cannot be, serve stops and exits non-zero so a
	// supervisor notices, instead of answering 503 forever.
	superviseCtx, stopSupervising := context.WithCancel(context.Background())
	defer stopSupervising()
	var redisGone chan error // stays nil (never ready) without a child to watch
	if redisChild != nil {
		redisGone = make(chan error, 1)
		go func() {
			redisGone <- redisChild.Supervise(superviseCtx, redisRestarts, func(r embedded.Restart) {
				if r.Err != nil {
					why, _, _ := strings.Cut(r.Err.Error(), "\n") // the log's tail comes with the final error
					log.Error().Str("error", why).Int("attempt", r.Attempt+1).Msg("restarting redis-server failed")
					return
				}
				log.Warn().Str("exit", fmt.Sprint(r.Exit)).Int("pid", r.PID).Dur("down", r.Downtime).
					Msg("redis-server died; restarted it on the same port and data folder (its AOF keeps the queue)")
			})
		}()
	}

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case <-failed:
	case errs[3] = <-redisGone:
		log.Error().Err(errs[3]).Msg("Redis is gone and cannot be restarted; shutting down")
	}
	stopSupervising()
	stopCollector()
	<-collectorDone
	if volatileQueue {
		drain(rdb, cfg, log)
	}
	stopProcessor()
	stopReporter()
	wg.Wait()
	return errors.Join(errs[3], errs[0], errs[1], errs[2]) // why Redis is gone first
}

// drain waits (up to a minute) for the processor to empty a queue that
// lives only in memory, so a clean exit loses nothing.
func drain(rdb redis.UniversalClient, cfg *config.Config, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		n, err := redisqueue.Backlog(ctx, rdb, app.Keys(cfg))
		if err == nil && n == 0 {
			return
		}
		log.Info().Int64("backlog", n).Msg("draining the in-memory queue before exit")
		select {
		case <-ctx.Done():
			log.Error().Int64("backlog", n).Msg("queue not drained within a minute; these events are lost")
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// embeddedServers are the servers serve and embedded start when no Redis or
// MongoDB is configured.
type embeddedServers struct {
	servers              []*embedded.Server
	redisNote, mongoNote string
	redisChild           *embedded.Server // a redis-server child, to supervise
	volatile             bool             // the queue is in memory only (miniredis)
	lock                 *dataLock        // the data folder's, while anything is embedded
}

// stop stops the servers, then gives the data folder back.
func (es *embeddedServers) stop() {
	for i := len(es.servers) - 1; i >= 0; i-- {
		_ = es.servers[i].Stop()
	}
	es.lock.Unlock()
}

// startEmbedded starts what cfg does not name, under cfg.DataDir, and
// points cfg at it. Before it starts anything it takes the data folder's
// lock for command (serve, embedded), so a second one on the same folder
// fails at once naming the first; with both servers configured nothing is
// kept in the folder and no lock is taken.
func startEmbedded(ctx context.Context, cfg *config.Config, command string) (*embeddedServers, error) {
	es := &embeddedServers{redisNote: "Redis: " + app.RedisDescription(cfg), mongoNote: "MongoDB: " + cfg.MongoURI}
	if !cfg.HasRedis() || cfg.MongoURI == "" {
		l, err := lockData(cfg.DataDir, command)
		if err != nil {
			return es, err
		}
		es.lock = l
	}
	if !cfg.HasRedis() {
		s, err := embedded.Redis(ctx, filepath.Join(cfg.DataDir, "redis"))
		if err != nil {
			return es, err
		}
		es.servers = append(es.servers, s)
		cfg.RedisURL = s.URL
		switch s.Kind {
		case "redis-server":
			es.redisChild = s
			es.redisNote = fmt.Sprintf("Redis: redis-server child (pid %d) at %s, AOF in %s%s", s.PID(), s.URL, filepath.Join(cfg.DataDir, "redis"), orphanNote(runtime.GOOS, s.PID()))
		default:
			es.volatile = true
			es.redisNote = fmt.Sprintf("Redis: in-process miniredis at %s (memory only: install redis-server for a durable queue)", s.URL)
		}
	}
	if cfg.MongoURI == "" {
		addr := "127.0.0.1:27017"
		if ln, err := net.Listen("tcp", addr); err == nil {
			_ = ln.Close()
		} else {
			addr = "127.0.0.1:0"
		}
		dir := filepath.Join(cfg.DataDir, "ferretdb")
		s, err := embedded.FerretDB(ctx, dir, addr, io.Discard)
		if err != nil {
			return es, err
		}
		es.servers = append(es.servers, s)
		cfg.MongoURI = s.URL + mongostore.DefaultDatabase
		es.mongoNote = fmt.Sprintf("MongoDB: embedded FerretDB at %s, SQLite files in %s", cfg.MongoURI, dir)
	}
	return es, nil
}

// orphanNote warns where the redis-server child cannot be tied to this
// process's life: only Linux ends it when serve is killed with SIGKILL
// (Pdeathsig); elsewhere it would keep running, holding its AOF folder.
func orphanNote(goos string, pid int) string {
	if goos == "linux" {
		return ""
	}
	stop := fmt.Sprintf("kill %d", pid)
	if goos == "windows" {
		stop = fmt.Sprintf("taskkill /PID %d", pid)
	}
	return fmt.Sprintf("\n  (on %s a serve killed outright leaves this redis-server running: stop it with `%s` before starting serve again)", goos, stop)
}
