// Package metrics is what the daemons report to Prometheus: one registry per
// process (never the global one: the FerretDB that `serve` embeds may
// register its own metrics there), HTTP instrumentation by route pattern,
// queue publish and processor lag histograms, the queue's state read from
// Redis at scrape time, and the running counters each daemon also reports
// to the fleet totals in Redis (redisqueue.ReportCounters), exported from the
// very same snapshot function so `analytics-cli queue` and /metrics agree.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/siteanalytics/analytics"
)

// Namespace prefixes every metric of the product.
const Namespace = "analytics"

// Metrics is one process's registry and the instruments its daemons share.
// Its methods are safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	http     *prometheus.HistogramVec
	publish  *prometheus.HistogramVec
	lag      prometheus.Histogram
	counters *counters

	mu    sync.Mutex
	queue *queueCollector
}

// latencyBuckets suit requests and queue calls that take about a
// millisecond, up to the QUEUE_TIMEOUT range.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// New returns a registry holding the Go runtime and process collectors and
// the product's instruments.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP requests by server (collector, reporter, processor), route pattern and status code; _count is the number of requests.",
			Buckets: latencyBuckets,
		}, []string{"server", "route", "code"}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "queue_publish_duration_seconds",
			Help:    "Time the collector waited for Redis to take a request's events (group commit included), by result (ok, error).",
			Buckets: latencyBuckets,
		}, []string{"result"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "processor_lag_seconds",
			Help:    "Time from an event entering the queue to its acknowledgement by this processor (stored, skipped as a duplicate or dead-lettered).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
		counters: &counters{descs: map[string]*prometheus.Desc{}},
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.http, m.publish, m.lag, m.counters,
	)
	return m
}

// Registry is the registry, for tests and for registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler answers GET /metrics in the Prometheus text format (or
// OpenMetrics when the scraper asks). A collector that fails (Redis down
// while reading the queue's state) does not fail the scrape: the rest is
// served and analytics_queue_status_up says 0.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: m.reg})
}

// AddCounters exports the running totals snapshot returns, each name as
// analytics_<name>_total. Give it the function a daemon hands to
// redisqueue.ReportCounters: the fleet totals `analytics-cli queue` shows
// are the sums of exactly these values, so a counter added to a snapshot
// shows up in both without further code. Names used by several snapshots
// of one process are summed. help explains the names (whoever defines the
// names supplies it: redisqueue.CounterHelp); a name it lacks is still
// exported, with a generic help text.
func (m *Metrics) AddCounters(snapshot func() map[string]int64, help map[string]string) {
	m.counters.mu.Lock()
	defer m.counters.mu.Unlock()
	m.counters.snapshots = append(m.counters.snapshots, snapshot)
	for name, h := range help {
		if m.counters.help == nil {
			m.counters.help = map[string]string{}
		}
		m.counters.help[name] = h
	}
}

// AddBlockCache exports a reporter's cache of decoded event blocks: its
// bytes and bound (gauges), and lookups that found a block and that had to
// read one (counters).
func (m *Metrics) AddBlockCache(stats func() (bytes, limit, hits, misses int64)) {
	gauge := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, v)
	}
	counter := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, v)
	}
	m.reg.MustRegister(
		gauge("block_cache_bytes", "Bytes of decoded event blocks the reporter keeps in memory.", func() float64 { b, _, _, _ := stats(); return float64(b) }),
		gauge("block_cache_limit_bytes", "The bound of the block cache (BLOCK_CACHE_MB).", func() float64 { _, l, _, _ := stats(); return float64(l) }),
		counter("block_cache_hits_total", "Block lookups answered from the cache.", func() float64 { _, _, h, _ := stats(); return float64(h) }),
		counter("block_cache_misses_total", "Block lookups that read the database.", func() float64 { _, _, _, mi := stats(); return float64(mi) }),
	)
}

// AddAnswerCache shows the reporter's answer cache (answers kept while
// their event blocks are unchanged): entries as a gauge, hits and misses
// as counters, read from stats when scraped.
func (m *Metrics) AddAnswerCache(stats func() (entries, hits, misses int64)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "answer_cache_entries", Help: "Answers the reporter keeps with the event blocks they were computed from."},
			func() float64 { e, _, _ := stats(); return float64(e) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "answer_cache_hits_total", Help: "Questions answered again from a kept answer (its event blocks unchanged)."},
			func() float64 { _, h, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "answer_cache_misses_total", Help: "Questions the engine computed (not kept, or their event blocks changed)."},
			func() float64 { _, _, mi := stats(); return float64(mi) }),
	)
}

// counters is a collector over snapshot functions; it describes nothing up
// front (an unchecked collector) because the names are the snapshots' keys.
type counters struct {
	mu        sync.Mutex
	snapshots []func() map[string]int64
	help      map[string]string
	descs     map[string]*prometheus.Desc
}

func (c *counters) Describe(chan<- *prometheus.Desc) {}

func (c *counters) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	snaps := append([]func() map[string]int64(nil), c.snapshots...)
	c.mu.Unlock()
	sum := map[string]int64{}
	for _, s := range snaps {
		for name, v := range s() {
			sum[name] += v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, v := range sum {
		d := c.descs[name]
		if d == nil {
			help := c.help[name]
			if help == "" {
				help = "Running total " + strconv.Quote(name) + " of this process (the fleet's sum is in `analytics-cli queue`)."
			}
			d = prometheus.NewDesc(CounterName(name), help, nil, nil)
			c.descs[name] = d
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
}

// CounterName is the metric a counter of the fleet totals is exported as:
// analytics_<name>_total, with anything but letters, digits and _ replaced.
func CounterName(name string) string {
	clean := strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	return Namespace + "_" + clean + "_total"
}

// Publisher returns pub timing each Publish in
// analytics_queue_publish_duration_seconds.
func (m *Metrics) Publisher(pub analytics.Publisher) analytics.Publisher {
	return timedPublisher{pub, m.publish.WithLabelValues("ok"), m.publish.WithLabelValues("error")}
}

type timedPublisher struct {
	analytics.Publisher
	ok, failed prometheus.Observer
}

func (p timedPublisher) Publish(ctx context.Context, events []analytics.Event) error {
	start := time.Now()
	err := p.Publisher.Publish(ctx, events)
	o := p.ok
	if err != nil {
		o = p.failed
	}
	o.Observe(time.Since(start).Seconds())
	return err
}

// Consumer returns c observing, for each event of every batch it
// acknowledges, how long ago queuedAt says the event entered the queue
// (analytics_processor_lag_seconds). Entries whose time queuedAt cannot
// tell are not observed.
func (m *Metrics) Consumer(c analytics.Consumer, queuedAt func(entryID string) (time.Time, bool)) analytics.Consumer {
	return lagConsumer{c, m.lag, queuedAt}
}

type lagConsumer struct {
	analytics.Consumer
	lag      prometheus.Observer
	queuedAt func(string) (time.Time, bool)
}

func (c lagConsumer) Ack(ctx context.Context, b analytics.Batch) error {
	if err := c.Consumer.Ack(ctx, b); err != nil {
		return err
	}
	now := time.Now()
	for _, e := range b.Entries {
		if at, ok := c.queuedAt(e.ID); ok {
			c.lag.Observe(max(now.Sub(at), 0).Seconds())
		}
	}
	return nil
}
