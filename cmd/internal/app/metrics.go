package app

import (
	"context"
	"net"
	"net/http"

	"github.com/julienschmidt/httprouter"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/internal/metrics"
	"github.com/siteanalytics/analytics/redisqueue"
)

// StartMetrics serves m's /metrics on METRICS_PORT when it is set (on
// METRICS_HOST, else HOST like the main ports), until the returned function is called, and
// returns its URL; when it is not set it does nothing, returns "" and each
// daemon's main port answers /metrics. Call stop after the daemons
// stopped, so the last scrapes still see their final counts.
func StartMetrics(cfg *config.Config, m *metrics.Metrics, log zerolog.Logger) (url string, stop func(), err error) {
	if cfg.MetricsPort == 0 {
		return "", func() {}, nil
	}
	host := cfg.MetricsHost
	if host == "" {
		host = cfg.Host
	}
	ln, err := Listen(host, cfg.MetricsPort, "--metrics-port or METRICS_PORT")
	if err != nil {
		return "", nil, err
	}
	r := httprouter.New()
	httpx.GetAndHead(r, metrics.RouteMetrics, m.Handler())
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "this port serves GET /metrics only"})
	})
	url = URL(ln) + metrics.RouteMetrics
	log.Info().Str("metrics_url", url).Msg("metrics listening")
	return url, background(ln, m.Instrument("metrics", r), log), nil
}

// ownMetrics returns m when the process shares one registry among its
// daemons (serve, which starts METRICS_PORT itself); for nil, a standalone
// daemon's, it returns a new registry and serves it on METRICS_PORT when set
// until stop is called.
func ownMetrics(cfg *config.Config, m *metrics.Metrics, log zerolog.Logger) (_ *metrics.Metrics, stop func(), err error) {
	if m != nil {
		return m, func() {}, nil
	}
	m = metrics.New()
	_, stop, err = StartMetrics(cfg, m, log)
	return m, stop, err
}

// background serves h on ln until the returned function is called.
func background(ln net.Listener, h http.Handler, log zerolog.Logger) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = httpx.Serve(ctx, ln, h, shutdownGrace, log)
	}()
	return func() { cancel(); <-done }
}

// instrument is h as a daemon's main port serves it: every request
// observed under server, and /metrics answered there too unless
// METRICS_PORT gives it a port of its own.
func instrument(cfg *config.Config, m *metrics.Metrics, server string, h http.Handler) http.Handler {
	if cfg.MetricsPort == 0 {
		h = m.WithEndpoint(h)
	}
	return m.Instrument(server, h)
}

// processorHandler is the processor's port: alive, ready (its Redis and its
// database both answer) and, unless METRICS_PORT moves it, /metrics.
func processorHandler(cfg *config.Config, m *metrics.Metrics, rdb redis.UniversalClient, db analytics.Pinger) http.Handler {
	r := httprouter.New()
	httpx.GetAndHead(r, "/healthz", httpx.Health())
	httpx.GetAndHead(r, "/readyz", httpx.Ready(map[string]analytics.Pinger{"redis": redisqueue.Ping{RDB: rdb}, "mongodb": db}, 0))
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint: " + r.URL.Path + " (the processor answers /healthz, /readyz and /metrics)"})
	})
	return instrument(cfg, m, "processor", r)
}

// serveProcessorPort serves processorHandler on ln (nil: none, as in
// serve) until the returned function is called.
func serveProcessorPort(cfg *config.Config, m *metrics.Metrics, rdb redis.UniversalClient, db analytics.Pinger, ln net.Listener, log zerolog.Logger) func() {
	if ln == nil {
		return func() {}
	}
	return background(ln, processorHandler(cfg, m, rdb, db), log)
}
