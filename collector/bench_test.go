package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/metrics"
)

type nopQueue struct{}

func (nopQueue) Publish(context.Context, []analytics.Event) error { return nil }
func (nopQueue) Ping(context.Context) error                       { return nil }

// BenchmarkPostEvent measures the handler alone (decode, validate, reply),
// without the network or Redis; BenchmarkHealthz is its baseline.
func BenchmarkPostEvent(b *testing.B) {
	h := collector.New(nopQueue{}, nopQueue{}, zerolog.Nop(), collector.DefaultConfig()).Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/event", strings.NewReader(seedEvent))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkHealthz(b *testing.B) {
	h := collector.New(nopQueue{}, nopQueue{}, zerolog.Nop(), collector.DefaultConfig()).Handler()
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	}
}

// benchHandler is the collector as the daemon builds it (enrichment with the
// embedded country database, the request's proxy trusted), on a queue that
// takes everything; opts change its configuration.
func benchHandler(b *testing.B, opts ...func(*collector.Config)) http.Handler {
	trusted, err := enrich.ParseTrustedProxies("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	cfg := collector.DefaultConfig()
	cfg.Enricher = enrich.New(enrich.Config{Geo: enrich.IPLoc{}, Trusted: trusted})
	for _, o := range opts {
		o(&cfg)
	}
	return collector.New(nopQueue{}, nopQueue{}, zerolog.Nop(), cfg).Handler()
}

func benchPost(b *testing.B, path, body string, want int, hdr ...string) {
	benchPostTo(b, benchHandler(b), path, body, want, hdr...)
}

// benchPostTo posts body to h's path, with the header pairs hdr.
func benchPostTo(b *testing.B, h http.Handler, path, body string, want int, hdr ...string) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
		req.Header.Set("X-Forwarded-For", "80.156.0.1")
		req.RemoteAddr = "127.0.0.1:5000"
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

// BenchmarkPostEvents100 and BenchmarkSegmentBatch100 are the handlers of
// the two batch endpoints, enrichment included, without the network or
// Redis: 100 page views of 50 sites, and 100 Segment page messages shaped
// as analytics-go sends them.
func BenchmarkPostEvents100(b *testing.B) {
	var evs []string
	for i := range 100 {
		evs = append(evs, fmt.Sprintf(`{"site_id":"load-%d","event_type":"page_view","path":"/p/%d","user_id":"u%d","timestamp":"2025-11-12T19:30:01Z"}`, i%50, i%97, i))
	}
	benchPost(b, "/events", "["+strings.Join(evs, ",")+"]", http.StatusAccepted)
}

func BenchmarkSegmentBatch100(b *testing.B) {
	var msgs []string
	for i := range 100 {
		msgs = append(msgs, fmt.Sprintf(`{"type":"page","messageId":"4f7c5b0e-2f7a-4d6e-9d1c-%012d","userId":"u%d","timestamp":"2025-11-12T19:30:01Z",`+
			`"context":{"library":{"name":"analytics-go","version":"3.3.0"}},"properties":{"path":"/p/%d","title":"Page"}}`, i, i, i%97))
	}
	benchPost(b, "/v1/batch", `{"messageId":"b","sentAt":"2025-11-12T19:30:02Z","batch":[`+strings.Join(msgs, ",")+`]}`, http.StatusOK,
		"Authorization", "Basic bG9hZC1zaXRlOg==")
}

// BenchmarkPostEventMetrics is BenchmarkPostEvent bare and as the daemon
// serves the handler: every request observed by route and status, /metrics
// mounted beside the routes, each publish timed. The difference is what
// the metrics cost a request on the hot path.
func BenchmarkPostEventMetrics(b *testing.B) {
	m := metrics.New()
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", collector.New(nopQueue{}, nopQueue{}, zerolog.Nop(), collector.DefaultConfig()).Handler()},
		{"instrumented", m.Instrument("collector", m.WithEndpoint(
			collector.New(m.Publisher(nopQueue{}), nopQueue{}, zerolog.Nop(), collector.DefaultConfig()).Handler()))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/event", strings.NewReader(seedEvent))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				if w.Code != http.StatusAccepted {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
