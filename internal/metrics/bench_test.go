package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/internal/metrics"
)

type nopQueue struct{}

func (nopQueue) Publish(context.Context, []analytics.Event) error { return nil }
func (nopQueue) Ping(context.Context) error                       { return nil }

const benchEvent = `{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-001"}`

// BenchmarkCollectorEvent is POST /event through the collector's handler
// (on a queue that takes everything) bare and as the daemon serves it:
// instrumented, /metrics mounted, publish timed. The difference is what
// the metrics cost a request.
func BenchmarkCollectorEvent(b *testing.B) {
	bare := collector.New(nopQueue{}, nopQueue{}, zerolog.Nop(), collector.DefaultConfig()).Handler()
	m := metrics.New()
	instrumented := m.Instrument("collector", m.WithEndpoint(
		collector.New(m.Publisher(nopQueue{}), nopQueue{}, zerolog.Nop(), collector.DefaultConfig()).Handler()))
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"instrumented", instrumented}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/event", strings.NewReader(benchEvent))
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
