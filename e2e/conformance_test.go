package e2e

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
	"github.com/siteanalytics/analytics/sdk"
)

// TestConformanceSDKValidationMatchesCollector keeps the SDK's copy of the event rules
// (the SDK may not import this module) in step with the collector's: every
// case must be accepted by both or refused by both.
func TestConformanceSDKValidationMatchesCollector(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }))
	defer srv.Close()
	client, err := sdk.New(sdk.Config{Endpoint: srv.URL, SiteID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	now := time.Now()
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []sdk.Event{
		{EventType: "page_view", Path: "/ok"},
		{EventType: ""},
		{EventType: long(64)}, {EventType: long(65)}, {EventType: "a\x01"},
		{EventType: "x", SiteID: long(128)}, {EventType: "x", SiteID: long(129)}, {EventType: "x", SiteID: "a/b"},
		{EventType: "x", Path: "/" + long(2047)}, {EventType: "x", Path: "/" + long(2048)}, {EventType: "x", Path: "rel"},
		{EventType: "x", Path: "https://e.com/a?b"}, {EventType: "x", Path: "http://"}, {EventType: "x", Path: "/a\x00"},
		{EventType: "x", UserID: long(256)}, {EventType: "x", UserID: long(257)},
		{EventType: "x", Timestamp: now.Add(59 * time.Minute)}, {EventType: "x", Timestamp: now.Add(61 * time.Minute)},
		{EventType: "x", Timestamp: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)},
		{EventType: "x", ID: long(128)}, {EventType: "x", ID: long(129)}, {EventType: "x", ID: "a b"},
		{EventType: "x", Props: map[string]any{"a": 1.5, "b": "x", "c": true}},
		{EventType: "x", Props: map[string]any{"a": []any{1}}}, {EventType: "x", Props: map[string]any{"": 1}},
		{EventType: "x", Props: map[string]any{"a": long(4090)}}, {EventType: "x", Props: map[string]any{"a": long(4100)}},
		// Issue 8: keys the database cannot store, canonical paths, edges of the rules.
		{EventType: "x", Props: map[string]any{"a.b": 1}}, {EventType: "x", Props: map[string]any{"$set": 1}},
		{EventType: "x", Props: map[string]any{"a\x00b": 1}}, {EventType: "x", Props: map[string]any{"a\u0085": 1}},
		{EventType: "x", Props: map[string]any{long(128): 1}}, {EventType: "x", Props: map[string]any{long(129): 1}},
		{EventType: "x", Props: map[string]any{"prénom": "é", "a-b:c_d": true}},
		{EventType: "x", Props: map[string]any{"n": json.Number("1e400")}}, {EventType: "x", Props: map[string]any{"n": json.Number("1e300")}},
		// The SDK sends <, > and & escaped (6 bytes), and the collector measures what it receives.
		{EventType: "x", Props: map[string]any{"a": strings.Repeat("<", 600)}}, {EventType: "x", Props: map[string]any{"a": strings.Repeat("<", 700)}},
		{EventType: " click"}, {EventType: "click "}, {EventType: "click\u00a0"},
		{EventType: "x", Path: "/login?next=https://evil.example/"}, {EventType: "x", Path: "/r/https://x.y/z"},
		{EventType: "x", Path: "/a%00"}, {EventType: "x", Path: "/a%0A"}, {EventType: "x", Path: "/x "},
		{EventType: "x", Path: "/" + strings.Repeat("é", 682)}, {EventType: "x", Path: "/" + strings.Repeat("é", 683)},
		{EventType: "x", Timestamp: time.Date(1970, 1, 1, 0, 30, 0, 0, time.FixedZone("+01", 3600))},
		{EventType: "x", Timestamp: time.Date(1969, 12, 31, 23, 30, 0, 0, time.FixedZone("-01", -3600))},
	}
	for i, ev := range cases {
		sdkErr := client.Track(ev)
		var fe *sdk.FieldError
		if sdkErr != nil && !errors.As(sdkErr, &fe) {
			t.Fatalf("case %d: unexpected SDK error %v", i, sdkErr)
		}
		if ev.SiteID == "" {
			ev.SiteID = "s"
		}
		wire := map[string]any{"site_id": ev.SiteID, "event_type": ev.EventType}
		if ev.Path != "" {
			wire["path"] = ev.Path
		}
		if ev.UserID != "" {
			wire["user_id"] = ev.UserID
		}
		if !ev.Timestamp.IsZero() {
			wire["timestamp"] = ev.Timestamp.Format(time.RFC3339Nano)
		}
		if ev.ID != "" {
			wire["id"] = ev.ID
		}
		if ev.Props != nil {
			wire["props"] = ev.Props
		}
		body, _ := json.Marshal(wire)
		_, colErr := ingest.DecodeEvent(body, now, analytics.NewID)
		if (sdkErr == nil) != (colErr == nil) {
			t.Errorf("case %d %s: SDK says %v, collector says %v", i, body, sdkErr, colErr)
		}
		if sdkErr != nil && colErr != nil && !strings.HasPrefix(analytics.Message(colErr), fe.Field) {
			t.Errorf("case %d: SDK blames %s, collector says %q", i, fe.Field, analytics.Message(colErr))
		}
	}
}

// TestConformanceSDKPathsMatchCollector feeds the same paths to the collector's
// NormalizePath and to the SDK, and requires the SDK to send exactly the
// canonical form the collector computes (or to refuse the same paths, for
// the same reason): one page is one row of top_paths whichever client
// recorded it.
func TestConformanceSDKPathsMatchCollector(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	sent := map[string]string{} // event id -> path as sent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var evs []struct{ ID, Path string }
		if err := json.NewDecoder(zr).Decode(&evs); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		for _, ev := range evs {
			sent[ev.ID] = ev.Path
		}
		mu.Unlock()
		w.WriteHeader(202)
	}))
	defer srv.Close()
	client, err := sdk.New(sdk.Config{Endpoint: srv.URL, SiteID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	paths := []string{
		"/pricing", "/", "/a?b=c", "/a#top", "/login?next=https://evil.example/", "/r/https://x.y/z",
		"https://example.com/blog/post-1?utm=x#top", "https://example.com", "https://example.com?x", "android-app://com.example/s",
		"/café", "/caf%C3%A9", "/caf%c3%a9", "https://example.com/café", "/a b", "/a%20b", "/x ", "/x\u00a0", "/search%20",
		"/%7Euser/%41%2d%5F", "/a!$&'()*+,;=:@b", "/a%2Fb", "/a%3Fb%23c", "/100%", "/a%zzb%4", "/a%25b",
		"/a|b[c]^`{}\"<>\\", "/%FF%fe", "/\xff", "/" + strings.Repeat("a", 2047), "/" + strings.Repeat("é", 341) + "a",
		"pricing", "?a=b", "//example.com/a", "http://", "https:///a", "1http://x/a", "/a%00", "/a%0a", "/a\tb", "/a%7F",
		"/a\u0085", "/a%C2%85", "/" + strings.Repeat("a", 2048), "/" + strings.Repeat("é", 341) + "ab",
	}
	want := map[string]string{}
	for i, p := range paths {
		id := fmt.Sprintf("p%d", i)
		canonical, colErr := analytics.NormalizePath(p)
		sdkErr := client.Track(sdk.Event{ID: id, EventType: "page_view", Path: p})
		var fe *sdk.FieldError
		switch {
		case colErr == nil && sdkErr == nil:
			want[id] = canonical
		case colErr != nil && sdkErr != nil:
			if !errors.As(sdkErr, &fe) || "path: "+fe.Reason != analytics.Message(colErr) {
				t.Errorf("%q: SDK says %v, collector says %q", p, sdkErr, analytics.Message(colErr))
			}
		default:
			t.Errorf("%q: SDK says %v, collector says %v", p, sdkErr, colErr)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := client.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, p := range paths {
		id := fmt.Sprintf("p%d", i)
		if w, ok := want[id]; ok && sent[id] != w {
			t.Errorf("%q: SDK sent %q, collector's canonical form is %q", p, sent[id], w)
		}
	}
	if len(sent) != len(want) {
		t.Errorf("SDK sent %d events, want %d", len(sent), len(want))
	}
	// Spellings of one page are one path, from either client.
	for _, same := range [][]string{
		{"/café", "/caf%C3%A9", "/caf%c3%a9", "https://example.com/café"},
		{"/a b", "/a%20b"},
	} {
		for _, p := range same {
			col, _ := analytics.NormalizePath(p)
			i := slices.Index(paths, p)
			if first, _ := analytics.NormalizePath(same[0]); col != first || sent[fmt.Sprintf("p%d", i)] != first {
				t.Errorf("%q is recorded as %q by the collector and %q by the SDK; %q as %q",
					p, col, sent[fmt.Sprintf("p%d", i)], same[0], first)
			}
		}
	}
}
