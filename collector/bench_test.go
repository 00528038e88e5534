package collector_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/collector"
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
