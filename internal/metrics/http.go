package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siteanalytics/analytics/internal/httpx"
)

// Route labels of requests no route pattern answered.
const (
	RoutePreflight = "preflight" // OPTIONS answered outside the routes (CORS)
	RouteUnmatched = "unmatched" // 404 and 405 answers
	RouteMetrics   = "/metrics"
)

// Instrument returns h observing each request in
// analytics_http_request_duration_seconds, labelled with server, the route
// pattern h's router notes (httpx.Handle; never the raw path, so a client
// cannot create series) and the status code.
func (m *Metrics) Instrument(server string, h http.Handler) http.Handler {
	obs := &observers{vec: m.http, server: server}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		route := rec.route
		if route == "" {
			route = RouteUnmatched
			if r.Method == http.MethodOptions {
				route = RoutePreflight
			}
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		obs.get(route, code).Observe(time.Since(start).Seconds())
	})
}

// WithEndpoint answers GET and HEAD /metrics with the registry and passes
// every other request to h: the daemons' main ports, unless METRICS_PORT
// moves /metrics to a port of its own.
func (m *Metrics) WithEndpoint(h http.Handler) http.Handler {
	mh := m.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == RouteMetrics && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			if n, ok := w.(httpx.RouteNoter); ok {
				n.NoteRoute(RouteMetrics)
			}
			mh.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// observers caches the histogram of each (route, code) of one server, so
// the hot path skips hashing three label values on every request.
type observers struct {
	vec    *prometheus.HistogramVec
	server string
	cache  sync.Map // routeCode -> prometheus.Observer
}

type routeCode struct {
	route string
	code  int
}

func (o *observers) get(route string, code int) prometheus.Observer {
	k := routeCode{route, code}
	if v, ok := o.cache.Load(k); ok {
		return v.(prometheus.Observer)
	}
	obs := o.vec.WithLabelValues(o.server, route, strconv.Itoa(code))
	o.cache.Store(k, obs)
	return obs
}

// recorder notes the status code and the route pattern of a request.
var _ httpx.RouteNoter = (*recorder)(nil)

type recorder struct {
	http.ResponseWriter
	code  int
	route string
}

func (r *recorder) NoteRoute(pattern string) { r.route = pattern }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
