package sdk

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTrackRefusesWhatTheCollectorRefuses covers the rules of issue 8:
// props keys the database cannot store, numbers JSON cannot carry, and
// strings encoding/json would change after they were checked.
func TestTrackRefusesWhatTheCollectorRefuses(t *testing.T) {
	c := newClient(t, Config{Endpoint: newCollector(t).srv.URL})
	for _, tt := range []struct {
		name   string
		ev     Event
		field  string
		reason string
	}{
		{"props key with a dot", Event{EventType: "x", Props: map[string]any{"a.b": 1}}, "props", `key "a.b" must not contain "." (MongoDB cannot store it)`},
		{"props key starting with $", Event{EventType: "x", Props: map[string]any{"$set": 1}}, "props", `key "$set" must not start with "$"`},
		{"props key with NUL", Event{EventType: "x", Props: map[string]any{"a\x00": 1}}, "props", `key "a\x00" must not contain control characters`},
		{"props key over 128 bytes", Event{EventType: "x", Props: map[string]any{strings.Repeat("k", 129): 1}}, "props", "is 129 bytes, at most 128 allowed"},
		{"props key invalid UTF-8", Event{EventType: "x", Props: map[string]any{"a\xff": 1}}, "props", "is not valid UTF-8"},
		{"props NaN", Event{EventType: "x", Props: map[string]any{"n": math.NaN()}}, "props.n", "number NaN is out of range"},
		{"props infinite float32", Event{EventType: "x", Props: map[string]any{"n": float32(math.Inf(-1))}}, "props.n", "number -Inf is out of range"},
		{"props json.Number out of range", Event{EventType: "x", Props: map[string]any{"n": json.Number("1e400")}}, "props.n", `number "1e400" is out of range`},
		{"props string invalid UTF-8", Event{EventType: "x", Props: map[string]any{"s": "\xff"}}, "props.s", "must be valid UTF-8 text"},
		{"event_type invalid UTF-8", Event{EventType: "x\xff"}, "event_type", "must be valid UTF-8 text"},
		// 200 bytes here, 600 once encoding/json replaced each with U+FFFD.
		{"user_id invalid UTF-8", Event{EventType: "x", UserID: strings.Repeat("\xff", 200)}, "user_id", "must be valid UTF-8 text"},
		{"path with an encoded control character", Event{EventType: "x", Path: "/a%0Ab"}, "path", "must not contain control characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var fe *FieldError
			if err := c.Track(tt.ev); !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Reason, tt.reason) {
				t.Fatalf("Track: %v, want a FieldError on %s containing %q", err, tt.field, tt.reason)
			}
		})
	}
	for _, tt := range []struct {
		name string
		ev   Event
	}{
		{"event_type with surrounding spaces", Event{EventType: " click "}},
		{"props keys that are storable", Event{EventType: "x", Props: map[string]any{"prénom": "é", "a-b:c_d": 1, strings.Repeat("k", 128): true}}},
		{"1969 local time that is 1970 in UTC", Event{EventType: "x", Timestamp: time.Date(1969, 12, 31, 23, 30, 0, 0, time.FixedZone("-01", -3600))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Track(tt.ev); err != nil {
				t.Fatalf("Track: %v", err)
			}
		})
	}
	ev := Event{EventType: "x", Timestamp: time.Date(1970, 1, 1, 0, 30, 0, 0, time.FixedZone("+01", 3600))}
	var fe *FieldError
	if err := c.Track(ev); !errors.As(err, &fe) || fe.Field != "timestamp" || !strings.Contains(fe.Reason, "before 1970 (in UTC)") {
		t.Fatalf("1970 local time that is 1969 in UTC: Track: %v", err)
	}
}

// TestMiddlewareRecordsCanonicalPaths: the middleware records the path as
// the request wrote it, in the collector's canonical form, so "GET
// /search%20" is "/search%20" (r.URL.Path would be "/search ", which the
// database could not store) and the same page is one path for the
// middleware, the snippet and the collector.
func TestMiddlewareRecordsCanonicalPaths(t *testing.T) {
	col := newCollector(t)
	c := newClient(t, Config{Endpoint: col.srv.URL})
	h := Middleware(c, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	want := map[string]string{
		"/search%20":       "/search%20",
		"/caf%c3%a9?q=1":   "/caf%C3%A9",
		"/caf%C3%A9":       "/caf%C3%A9",
		"/a%2Fb":           "/a/b",
		"/r/https://x.y/z": "/r/https://x.y/z",
		"/x%C2%A0":         "/x%C2%A0",
		"/%7Euser":         "/~user",
	}
	for raw := range want {
		resp, err := http.Get(srv.URL + raw)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	flush(t, c)
	col.mu.Lock()
	defer col.mu.Unlock()
	got := map[string]bool{}
	for _, ev := range col.events {
		got[ev.Path] = true
	}
	for raw, path := range want {
		if !got[path] {
			t.Errorf("GET %s: %q not recorded; recorded %v", raw, path, got)
		}
	}
	if len(col.events) != len(want) {
		t.Errorf("recorded %d page views, want %d", len(col.events), len(want))
	}
}
