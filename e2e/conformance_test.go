package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
	"github.com/siteanalytics/analytics/sdk"
)

// TestConformanceSDKValidationMatchesCollector: the SDK and the collector
// share the rules of package sdk/rules (limits, paths, ids, props keys),
// and each still checks what its own input carries (a time.Time or an RFC
// 3339 string, Go values or JSON props, their size as sent): every case
// must be accepted by both or refused by both, blaming the same field.
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
