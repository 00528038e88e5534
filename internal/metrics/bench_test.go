package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/julienschmidt/httprouter"

	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/internal/metrics"
)

// BenchmarkInstrument is what Instrument adds to one request, on a route
// that does nothing (collector.BenchmarkPostEventMetrics shows it beside a
// real POST /event).
func BenchmarkInstrument(b *testing.B) {
	r := httprouter.New()
	httpx.Handle(r, http.MethodPost, "/event", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	m := metrics.New()
	req := httptest.NewRequest(http.MethodPost, "/event", nil)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"bare", r}, {"instrumented", m.Instrument("collector", m.WithEndpoint(r))}} {
		b.Run(c.name, func(b *testing.B) {
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, req)
			}
		})
	}
}
