package ingest_test

import (
	"strings"
	"testing"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
)

func BenchmarkDecodeEvent(b *testing.B) {
	body := []byte(`{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-xyz-789","timestamp":"2025-11-12T19:30:01Z"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ingest.DecodeEvent(body, now, analytics.NewID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEventPropsAndEncodedPath is the slower shape: a path that
// needs percent-encoding and a few props.
func BenchmarkDecodeEventPropsAndEncodedPath(b *testing.B) {
	body := []byte(`{"id":"01JD7X5Q9R3M8K2N4P6T0V1W3Y","site_id":"site-abc-123","event_type":"signup","path":"https://example.com/caf%c3%a9/a b?utm_source=x",` +
		`"user_id":"user-xyz-789","timestamp":"2025-11-12T21:30:01+02:00","props":{"plan":"pro","seats":3,"trial":true,"ref":"n\u00e9wsletter"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ingest.DecodeEvent(body, now, analytics.NewID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBatch100(b *testing.B) {
	ev := `{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-xyz-789","timestamp":"2025-11-12T19:30:01Z"}`
	body := []byte(`[` + strings.TrimSuffix(strings.Repeat(ev+",", 100), ",") + `]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if evs, _, err := ingest.DecodeBatch(body, now, analytics.NewID); err != nil || len(evs) != 100 {
			b.Fatal(err)
		}
	}
}
