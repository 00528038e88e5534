// Package app wires the concrete pieces (redisqueue, mongostore) into the
// collector, processor and reporter, for the cmd mains and the all-in-one
// quick start. It is the only place besides cmd/ that knows both sides.
package app

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/dashboard"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/internal/metrics"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/processor"
	"github.com/siteanalytics/analytics/query"
	"github.com/siteanalytics/analytics/realtime"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/reporter"
	"github.com/siteanalytics/analytics/visits"
)

// shutdownGrace bounds how long HTTP requests in flight may take at shutdown.
const shutdownGrace = 10 * time.Second

// Keys returns the queue's keys for the settings.
func Keys(cfg *config.Config) redisqueue.Keys {
	return redisqueue.Keys{Prefix: cfg.Prefix, Partitions: cfg.Partitions}
}

// public reports whether ln accepts connections from other machines.
func public(ln net.Listener) bool {
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && !a.IP.IsLoopback()
}

// Listen opens a TCP listener on host:port (port 0 picks a free one).
// setting names how the user chooses another port (the flag and variable
// of the binary calling it, e.g. "--port or INGESTION_PORT"), for the error.
func Listen(host string, port int, setting string) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return nil, fmt.Errorf("listen on port %d: %w (is another process using it? choose another with %s)", port, err, setting)
	}
	return ln, nil
}

// ListenDefault is Listen for a port that serves only health and metrics
// (the processor's): when the user did not choose it (explicit false) and
// it is taken, a second daemon of the same kind on this host is the usual
// cause, and refusing to start would stop the fleet from scaling out side
// by side. It takes a free port instead and logs which, so a scraper can be
// pointed at it. A port the user chose is never replaced.
func ListenDefault(host string, port int, explicit bool, setting string, log zerolog.Logger) (net.Listener, error) {
	ln, err := Listen(host, port, setting)
	if err == nil || explicit || port == 0 {
		return ln, err
	}
	ln, ferr := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if ferr != nil {
		return nil, err
	}
	log.Warn().Int("default_port", port).Int("port", ln.Addr().(*net.TCPAddr).Port).
		Msgf("default port %d is taken (another processor on this host?); serving /healthz, /readyz and /metrics on port %d instead; choose one with %s",
			port, ln.Addr().(*net.TCPAddr).Port, setting)
	return ln, nil
}

// URL is the http URL clients use to reach ln.
func URL(ln net.Listener) string {
	a := ln.Addr().(*net.TCPAddr)
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, fmt.Sprint(a.Port)))
}

// ConnectRedis opens the configured Redis and checks that it answers and
// that its settings cannot silently drop queued events.
func ConnectRedis(ctx context.Context, cfg *config.Config, log zerolog.Logger) (redis.UniversalClient, error) {
	rdb, err := RedisClient(cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s: %w (start redis-server, or set --redis-url, REDIS_URL or REDIS_HOST)", RedisDescription(cfg), err)
	}
	if policy, err := rdb.ConfigGet(pctx, "maxmemory-policy").Result(); err == nil {
		if p := policy["maxmemory-policy"]; p != "" && p != "noeviction" {
			log.Warn().Str("maxmemory-policy", p).Msg("Redis may EVICT queued events when memory is full; set maxmemory-policy noeviction")
		}
	}
	return rdb, nil
}

// OpenStore opens the configured MongoDB.
func OpenStore(ctx context.Context, cfg *config.Config) (*mongostore.Store, error) {
	sc := mongostore.DefaultConfig()
	sc.StoreEvents = cfg.StoreEvents
	if cfg.BlockCacheMB > 0 {
		sc.BlockCache = cfg.BlockCacheMB << 20
	}
	return mongostore.Open(ctx, cfg.MongoURI, sc)
}

// RunCollector serves the ingestion API on ln until ctx ends, then stops
// accepting requests and flushes every event it answered for to Redis. It
// reports to m, the process's registry; nil makes it one of its own, served
// on METRICS_PORT when set (and on ln otherwise).
func RunCollector(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, ln net.Listener, log zerolog.Logger, m *metrics.Metrics) error {
	m, stopMetrics, err := ownMetrics(cfg, m, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	keys := Keys(cfg)
	if err := redisqueue.CheckMeta(ctx, rdb, keys); err != nil {
		return err
	}
	pc := redisqueue.DefaultPublisherConfig()
	pc.MaxBacklog = cfg.MaxBacklog
	pc.Timeout = cfg.QueueTimeout
	pub := redisqueue.NewPublisher(rdb, keys, pc)
	defer pub.Close()
	var origins []string
	for _, o := range strings.Split(cfg.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	enricher, closeGeo, err := NewEnricher(cfg, rdb, keys)
	if err != nil {
		return err
	}
	defer closeGeo()
	cc := collector.Config{AllowedOrigins: origins, QueueTimeout: cfg.QueueTimeout, Enricher: enricher}
	closeAccess, err := collectorAccess(ctx, cfg, &cc, log)
	if err != nil {
		return err
	}
	defer closeAccess()
	var queue analytics.Publisher = pub
	if cfg.VisitTimeout > 0 {
		ann := visits.New(rdb, keys.Prefix, cfg.VisitTimeout)
		defer ann.Close() // after the HTTP server stopped, before the publisher
		// The annotation and the XADDs in one script call per group of
		// requests: one round trip, not two.
		queue = ann.Queue(pub)
	}
	c := collector.New(m.Publisher(queue), redisqueue.Ping{RDB: rdb}, log, cc)
	log.Info().Str("url", URL(ln)).Int("partitions", keys.Partitions).Int64("max_backlog", cfg.MaxBacklog).
		Dur("queue_timeout", cfg.QueueTimeout).Dur("visit_timeout", cfg.VisitTimeout).Str("sites_mode", cfg.SitesMode).
		Float64("rate_limit_ip", cfg.IPRate).Float64("rate_limit_site", cfg.SiteRate).Msg("collector listening")
	stopReport := reportCounters(rdb, keys, m, func() map[string]int64 {
		return map[string]int64{
			redisqueue.CounterAccepted:     c.Counters.Accepted.Load(),
			redisqueue.CounterRejected:     c.Counters.Rejected.Load(),
			redisqueue.CounterUnavailable:  c.Counters.Failed.Load(),
			redisqueue.CounterBots:         c.Counters.Bots.Load(),
			redisqueue.CounterForbidden:    c.Counters.Forbidden.Load(),
			redisqueue.CounterRateLimited:  c.Counters.RateLimited.Load(),
			redisqueue.CounterHintsIgnored: c.Counters.HintsIgnored.Load(),
			redisqueue.CounterDisconnected: c.Counters.Disconnected.Load(),
		}
	})
	defer stopReport()
	err = httpx.Serve(ctx, ln, instrument(cfg, m, "collector", c.Handler()), shutdownGrace, log)
	log.Info().Int64("accepted", c.Counters.Accepted.Load()).Int64("rejected", c.Counters.Rejected.Load()).
		Int64("unavailable", c.Counters.Failed.Load()).Int64("bots", c.Counters.Bots.Load()).Msg("collector stopped")
	return err
}

// NewEnricher builds the collector's enrichment from the configuration:
// countries from GEOIP_DB when set (else the embedded IP2Location LITE
// data), the TRUSTED_PROXIES, and the daily cookieless salts in the queue's
// Redis. The returned function closes the GeoIP file.
func NewEnricher(cfg *config.Config, rdb redis.UniversalClient, keys redisqueue.Keys) (*enrich.Enricher, func(), error) {
	trusted, err := enrich.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	var geo enrich.Geo = enrich.IPLoc{}
	closeGeo := func() {}
	if cfg.GeoIPDB != "" {
		db, err := enrich.OpenMMDB(cfg.GeoIPDB)
		if err != nil {
			return nil, nil, fmt.Errorf("GEOIP_DB: %w (give a MaxMind GeoLite2-Country or DB-IP country .mmdb file, or unset it to use the embedded IP2Location LITE data)", err)
		}
		geo, closeGeo = db, func() { _ = db.Close() }
	}
	return enrich.New(enrich.Config{Geo: geo, Trusted: trusted, Salts: enrich.NewSalts(redisqueue.SaltStore{RDB: rdb}, keys.Prefix, time.Now), Cookieless: cfg.Cookieless}), closeGeo, nil
}

// RunProcessor moves events from Redis to the store until ctx ends, then
// finishes its batch, gives its partitions back and returns. It reports to
// m (nil: a registry of its own, as RunCollector), and serves /healthz,
// /readyz and /metrics on ln unless ln is nil.
func RunProcessor(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, store *mongostore.Store, log zerolog.Logger, m *metrics.Metrics, ln net.Listener) error {
	m, stopMetrics, err := ownMetrics(cfg, m, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	cc := redisqueue.DefaultConsumerConfig()
	cc.LeaseTTL = cfg.LeaseTTL
	consumer, err := redisqueue.NewConsumer(ctx, rdb, Keys(cfg), cc, log)
	if err != nil {
		return err
	}
	defer consumer.Close(context.Background())
	pc := processor.DefaultConfig()
	pc.BatchSize = cfg.BatchSize
	pc.Workers = cfg.Workers
	pc.Realtime = realtime.New(rdb, cfg.Prefix)
	p := processor.New(m.Consumer(consumer, redisqueue.QueuedAt), store, log, pc)
	m.AddQueue(func(ctx context.Context) (metrics.QueueStatus, error) {
		st, err := redisqueue.ReadStatus(ctx, rdb, Keys(cfg))
		return queueMetrics(st), err
	})
	stopPort := serveProcessorPort(cfg, m, rdb, store, ln, log)
	defer stopPort()
	started := log.Info().Str("name", cc.Name).Ints("partitions", consumer.Owned())
	if ln != nil {
		started = started.Str("url", URL(ln))
	}
	started.Msg("processor started")
	stopReport := reportCounters(rdb, Keys(cfg), m, func() map[string]int64 {
		return map[string]int64{
			redisqueue.CounterStored:       p.Counters.Stored.Load(),
			redisqueue.CounterDuplicates:   p.Counters.Duplicates.Load(),
			redisqueue.CounterExpired:      p.Counters.Expired.Load(),
			redisqueue.CounterRetried:      p.Counters.Retries.Load(),
			redisqueue.CounterDeadLettered: p.Counters.DeadLettered.Load(),
			redisqueue.CounterFenced:       p.Counters.Fenced.Load(),
			redisqueue.CounterTakeovers:    consumer.Takeovers(),
		}
	})
	defer stopReport()
	stopRetention := runRetention(ctx, cfg, rdb, store, cc.Name, log)
	defer stopRetention()
	err = p.Run(ctx)
	log.Info().Int64("stored", p.Counters.Stored.Load()).Int64("duplicates", p.Counters.Duplicates.Load()).
		Int64("dead_lettered", p.Counters.DeadLettered.Load()).Int64("retries", p.Counters.Retries.Load()).
		Msg("processor stopped")
	return err
}

// queueMetrics is the part of the queue's status that /metrics exports.
func queueMetrics(st redisqueue.Status) metrics.QueueStatus {
	out := metrics.QueueStatus{DeadLetters: st.DeadLetters, Processors: len(st.Processors)}
	for _, p := range st.Partitions {
		out.Partitions = append(out.Partitions, metrics.PartitionStatus{
			Partition: p.Partition, Length: p.Length, Pending: p.Pending, Owned: p.Owner != "", OldestAge: p.OldestAge})
	}
	return out
}

// reportCounters adds a daemon's counters to the fleet totals in Redis every
// second, and exports the same snapshot on m's /metrics: one source for
// both, so `analytics-cli queue` and /metrics agree. The returned function
// makes the last report and stops.
func reportCounters(rdb redis.UniversalClient, keys redisqueue.Keys, m *metrics.Metrics, snapshot func() map[string]int64) func() {
	m.AddCounters(snapshot, redisqueue.CounterHelp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		redisqueue.ReportCounters(ctx, rdb, keys, time.Second, snapshot)
	}()
	return func() { cancel(); <-done }
}

// RunReporter serves the stats API on ln until ctx ends, reporting to m
// (nil: a registry of its own, as RunCollector).
func RunReporter(ctx context.Context, cfg *config.Config, store *mongostore.Store, rdb redis.UniversalClient, ln net.Listener, log zerolog.Logger, m *metrics.Metrics) error {
	m, stopMetrics, err := ownMetrics(cfg, m, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	m.AddBlockCache(func() (bytes, limit, hits, misses int64) {
		st := store.BlockCacheStats()
		return int64(st.Bytes), int64(st.Limit), st.Hits, st.Misses
	})
	dash, err := dashboard.New(dashboard.Config{CollectorURL: cfg.CollectorURL})
	if err != nil {
		return err
	}
	// The registry reads the tokens before the reporter exists; from then on
	// each read lets the reporter log a change of its mode.
	var built atomic.Pointer[reporter.Reporter]
	access, err := reporterAccess(ctx, cfg, store, func() {
		if r := built.Load(); r != nil {
			r.NoteMode()
		}
	}, log)
	if err != nil {
		return err
	}
	defer access.Close()
	settings, err := startSettings(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	defer settings.Close()
	rc := reporter.Config{Token: cfg.ReporterToken, Open: cfg.ReporterOpen, Dashboard: dash, Access: access, Sites: zonedSites{store, settings}, Settings: settings, Blocks: store}
	if rdb != nil {
		rc.Realtime = realtime.New(rdb, cfg.Prefix)
	}
	// Imported aggregates join an answer only when a query asks (see query/imports.go).
	r := reporter.New(query.WithImported(engine.New(store), store), store, log, rc)
	m.AddAnswerCache(func() (entries, hits, misses int64) {
		st := r.AnswerCacheStats()
		return int64(st.Entries), st.Hits, st.Misses
	})
	built.Store(r)
	r.NoteMode()
	if open, _ := r.Mode(); open && public(ln) {
		log.Warn().Str("url", URL(ln)).Msg("the reporter listens on every interface with no REPORTER_TOKEN: anyone who reaches it reads every site's stats; set REPORTER_TOKEN (--token) or HOST=127.0.0.1, or put it behind an authenticating proxy")
	}
	log.Info().Str("url", URL(ln)).Bool("token", cfg.ReporterToken != "").Bool("realtime", rdb != nil).Msg("reporter listening")
	err = httpx.Serve(ctx, ln, instrument(cfg, m, "reporter", r.Handler()), shutdownGrace, log)
	log.Info().Err(err).Msg("reporter stopped")
	return err
}

// CollectorGCPercent is the collector's GOGC unless the environment sets
// one. Its live heap is a few MB while each request allocates about its
// body's size again, so at Go's default of 100 it collects hundreds of times
// a second under load; at 400 the collector spends about a third less CPU
// per batch request for a heap a few MB larger (README, Performance).
const CollectorGCPercent = 400

// TuneCollectorGC sets CollectorGCPercent unless getenv says GOGC.
func TuneCollectorGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(CollectorGCPercent)
	}
}

// TuneReporterMemory sets the soft memory limit mongostore.MemoryLimit
// gives for a block cache of cacheBytes, unless getenv says GOMEMLIMIT.
func TuneReporterMemory(getenv func(string) string, cacheBytes int) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(mongostore.MemoryLimit(cacheBytes))
	}
}
