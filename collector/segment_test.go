package collector_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/collector"
)

func basic(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
}

func newSegmentServer(t *testing.T, q *memQueue, cfg collector.Config) (*httptest.Server, *collector.Collector) {
	t.Helper()
	cfg.Now = func() time.Time { return time.Date(2025, 11, 12, 20, 0, 0, 0, time.UTC) }
	cfg.NewID = func() string { return "fixed-id" }
	c := collector.New(q, q, zerolog.Nop(), cfg)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv, c
}

// Every endpoint, by its name and by analytics.js's letter, under any
// content type, gzipped or not.
func TestSegmentEndpoints(t *testing.T) {
	q := &memQueue{}
	srv, c := newSegmentServer(t, q, collector.Config{})
	msg := map[string]string{
		"track": `{"userId":"u","event":"Signed Up","messageId":"m-track"}`,
		"page":  `{"userId":"u","properties":{"path":"/p"},"messageId":"m-page"}`, "screen": `{"userId":"u","name":"Home","messageId":"m-screen"}`,
		"identify": `{"userId":"u","messageId":"m-identify"}`, "group": `{"userId":"u","groupId":"g"}`, "alias": `{"userId":"u","previousId":"p"}`,
		"batch": `{"batch":[{"type":"track","userId":"u","event":"b","messageId":"m-batch"}]}`,
	}
	wantType := map[string]string{"track": "Signed Up", "page": "page_view", "screen": "page_view", "identify": "identify", "batch": "b"}
	paths := map[string]string{"track": "t", "page": "p", "screen": "s", "identify": "i", "group": "g", "alias": "a", "batch": "b"}
	ctypes := []string{"application/json", "text/plain;charset=UTF-8", "", "application/octet-stream"}
	i := 0
	for kind, short := range paths {
		for _, path := range []string{"/v1/" + kind, "/v1/" + short} {
			i++
			body, enc := []byte(msg[kind]), ""
			if i%2 == 0 {
				body, enc = gz(msg[kind]), "gzip"
			}
			before := len(q.events)
			resp, b := do(t, "POST", srv.URL+path, ctypes[i%len(ctypes)], enc, body, "Authorization", basic("site-"+kind))
			if resp.StatusCode != 200 || strings.TrimSpace(b) != `{"success":true}` {
				t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
			}
			got := q.events[before:]
			if want := wantType[kind]; want == "" {
				if len(got) != 0 {
					t.Fatalf("POST %s queued %v; group and alias are not recorded", path, got)
				}
			} else if len(got) != 1 || got[0].EventType != want || got[0].SiteID != "site-"+kind {
				t.Fatalf("POST %s queued %+v, want one %q of site-%s", path, got, want, kind)
			}
		}
	}
	resp, b := do(t, "POST", srv.URL+"/v1/import", "application/json", "", []byte(msg["batch"]), "Authorization", basic("s"))
	if resp.StatusCode != 200 || q.events[len(q.events)-1].EventType != "b" {
		t.Fatalf("POST /v1/import: %d %s", resp.StatusCode, b)
	}
	if got := c.Counters.Accepted.Load(); got != int64(len(q.events)) {
		t.Fatalf("accepted counter %d, queued %d", got, len(q.events))
	}
}

func TestSegmentWriteKey(t *testing.T) {
	q := &memQueue{}
	registry := func(_ context.Context, key string) (string, error) {
		if key == "wk_live_123" {
			return "registered-site", nil
		}
		return "", analytics.Errorf(analytics.Invalid, "unknown write key")
	}
	open, _ := newSegmentServer(t, q, collector.Config{})
	reg, _ := newSegmentServer(t, q, collector.Config{SiteForKey: registry})
	track := `{"userId":"u","event":"e"}`
	tests := []struct {
		name, url, body, auth string
		status                int
		site, err             string
	}{
		{"Basic auth user name", open.URL, track, basic("site-a"), 200, "site-a", ""},
		{"writeKey in the body", open.URL, `{"writeKey":"site-b","userId":"u","event":"e"}`, "", 200, "site-b", ""},
		{"Basic auth wins over the body", open.URL, `{"writeKey":"site-b","userId":"u","event":"e"}`, basic("site-c"), 200, "site-c", ""},
		{"writeKey of a batch", open.URL, `{"writeKey":"site-d","batch":[{"type":"track","userId":"u","event":"e"}]}`, "", 200, "site-d", ""},
		{"missing", open.URL, track, "", 401, "", "missing write key: send it as the Basic auth user name"},
		{"empty user name", open.URL, track, basic(""), 401, "", "missing write key"},
		{"not a site id", open.URL, track, basic("a/b"), 401, "", "unknown write key: without a sites registry the write key is the site id"},
		{"registry: known key", reg.URL, track, basic("wk_live_123"), 200, "registered-site", ""},
		{"registry: unknown key", reg.URL, track, basic("site-a"), 401, "", "unknown write key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(q.events)
			path := "/v1/track"
			if strings.Contains(tt.body, "batch") {
				path = "/v1/batch"
			}
			resp, b := do(t, "POST", tt.url+path, "application/json", "", []byte(tt.body), "Authorization", tt.auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tt.status)
			}
			if tt.status == 401 {
				if !strings.Contains(b, `"success":false`) || !strings.Contains(b, tt.err) || resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatalf("401 body %s (WWW-Authenticate %q), want %q", b, resp.Header.Get("WWW-Authenticate"), tt.err)
				}
				if len(q.events) != before {
					t.Fatal("an unauthenticated request was queued")
				}
				return
			}
			if len(q.events) != before+1 || q.events[before].SiteID != tt.site {
				t.Fatalf("queued %+v, want one event of %s", q.events[before:], tt.site)
			}
		})
	}
}

// A request valid as a whole is 200 whatever its messages are: the invalid
// ones are dropped and counted as rejected. Only what is wrong with the
// request as a whole is refused.
func TestSegmentInvalidMessagesAreDroppedWith200(t *testing.T) {
	q := &memQueue{}
	srv, c := newSegmentServer(t, q, collector.Config{})
	body := `{"batch":[{"type":"track","userId":"u","event":"ok"},{"type":"track","event":"no user"},{"type":"nope","userId":"u"},` +
		`{"type":"page","userId":"u","properties":{"path":"relative"}},{"type":"group","userId":"u"}]}`
	resp, b := do(t, "POST", srv.URL+"/v1/batch", "application/json", "", []byte(body), "Authorization", basic("s"))
	if resp.StatusCode != 200 || strings.TrimSpace(b) != `{"success":true}` || len(q.events) != 1 || q.events[0].EventType != "ok" {
		t.Fatalf("%d %s, queued %+v", resp.StatusCode, b, q.events)
	}
	if c.Counters.Rejected.Load() != 3 || c.Counters.Accepted.Load() != 1 {
		t.Fatalf("rejected %d, accepted %d; want 3 and 1", c.Counters.Rejected.Load(), c.Counters.Accepted.Load())
	}
	// Nothing valid at all is still 200: resending it would not help.
	resp, b = do(t, "POST", srv.URL+"/v1/track", "application/json", "", []byte(`{"event":"e"}`), "Authorization", basic("s"))
	if resp.StatusCode != 200 || c.Counters.Rejected.Load() != 4 {
		t.Fatalf("%d %s, rejected %d", resp.StatusCode, b, c.Counters.Rejected.Load())
	}
}

func TestSegmentRequestLimits(t *testing.T) {
	q := &memQueue{}
	srv, _ := newSegmentServer(t, q, collector.Config{})
	msg := `{"type":"track","userId":"u","event":"e"}`
	batch := func(n int) string { return `{"batch":[` + strings.TrimSuffix(strings.Repeat(msg+",", n), ",") + `]}` }
	pad := func(n int) string { // one message of about n bytes
		return `{"batch":[{"type":"track","userId":"u","event":"e","properties":{"p":"` + strings.Repeat("x", n) + `"}}]}`
	}
	tests := []struct {
		name   string
		body   []byte
		enc    string
		status int
		want   string
	}{
		{"2500 messages", []byte(batch(2500)), "", 200, `{"success":true}`},
		{"2501 messages", []byte(batch(2501)), "", 400, "batch: 2501 messages, at most 2500 per request"},
		{"message over 32 KB", []byte(pad(32 << 10)), "", 400, "message 0 is 32831 bytes, at most 32768 (32 KB) allowed per message"},
		{"body over 500 KB", []byte(pad(500 << 10)), "", 413, "body is larger than 500 KB"},
		{"gzipped body over 500 KB once unpacked", gz(pad(500 << 10)), "gzip", 413, "body is larger than 500 KB"},
		{"not JSON", []byte(`{"batch":[`), "", 400, "body is not valid JSON"},
		{"not gzip", []byte(msg), "gzip", 400, "body is not valid gzip"},
		{"batch not an array", []byte(`{"batch":"x"}`), "", 400, "batch: must be an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := do(t, "POST", srv.URL+"/v1/batch", "text/plain", tt.enc, tt.body, "Authorization", basic("s"))
			if resp.StatusCode != tt.status || !strings.Contains(b, tt.want) {
				t.Fatalf("%d %s, want %d %q", resp.StatusCode, b, tt.status, tt.want)
			}
		})
	}
	if len(q.events) != 2500 {
		t.Fatalf("queued %d events, want the 2500 of the one valid request", len(q.events))
	}
}

func TestSegmentQueueDownIs503(t *testing.T) {
	q := &memQueue{err: analytics.Wrap(analytics.Unavailable, "redis: queue events", errors.New("connection refused"))}
	srv, c := newSegmentServer(t, q, collector.Config{})
	resp, b := do(t, "POST", srv.URL+"/v1/batch", "application/json", "", []byte(`{"batch":[{"type":"track","userId":"u","event":"e"},{"type":"identify","userId":"u"}]}`),
		"Authorization", basic("s"))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(b, `"success":false`) || c.Counters.Failed.Load() != 2 {
		t.Fatalf("%d %s (Retry-After %q, failed %d)", resp.StatusCode, b, resp.Header.Get("Retry-After"), c.Counters.Failed.Load())
	}
}

func TestSegmentCORS(t *testing.T) {
	srv, _ := newSegmentServer(t, &memQueue{}, collector.Config{AllowedOrigins: []string{"https://shop.example"}})
	resp, _ := do(t, "POST", srv.URL+"/v1/t", "text/plain", "", []byte(`{"writeKey":"s","userId":"u","event":"e"}`), "Origin", "https://shop.example")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("%d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	resp, _ = do(t, "OPTIONS", srv.URL+"/v1/batch", "", "", nil, "Origin", "https://shop.example",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
	if resp.StatusCode != 204 || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight %d, Allow-Headers %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Headers"))
	}
}

func TestSegmentUnknownPathNamesTheEndpoints(t *testing.T) {
	srv, _ := newSegmentServer(t, &memQueue{}, collector.Config{})
	resp, b := do(t, "POST", srv.URL+"/v1/purchase", "application/json", "", []byte(`{}`))
	if resp.StatusCode != 404 || !strings.Contains(b, fmt.Sprintf("%q", "/v1/purchase")[1:len("/v1/purchase")+1]) || !strings.Contains(b, "/v1/batch") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
