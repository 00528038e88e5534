package analytics_test

import (
	"testing"

	"github.com/siteanalytics/analytics"
)

func BenchmarkDecodeEvent(b *testing.B) {
	body := []byte(`{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-xyz-789","timestamp":"2025-11-12T19:30:01Z"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := analytics.DecodeEvent(body, now, analytics.NewID); err != nil {
			b.Fatal(err)
		}
	}
}
