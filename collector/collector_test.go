package collector_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/internal/testhttp"
)

// memQueue is an in-memory Publisher for handler-level tests.
type memQueue struct {
	mu     sync.Mutex
	events []analytics.Event
	err    error
}

func (q *memQueue) Publish(_ context.Context, evs []analytics.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.events = append(q.events, evs...)
	return nil
}

func (q *memQueue) Ping(context.Context) error { return q.err }

func newServer(t *testing.T, q *memQueue) *httptest.Server {
	cfg := collector.DefaultConfig()
	cfg.Now = func() time.Time { return time.Date(2025, 11, 12, 20, 0, 0, 0, time.UTC) }
	cfg.NewID = func() string { return "fixed-id" }
	c := collector.New(q, q, zerolog.Nop(), cfg)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, ctype, encoding string, body []byte, hdr ...string) (*http.Response, string) {
	t.Helper()
	if ctype != "" {
		hdr = append([]string{"Content-Type", ctype}, hdr...)
	}
	if encoding != "" {
		hdr = append([]string{"Content-Encoding", encoding}, hdr...)
	}
	resp, b := testhttp.Request(t, method, url, bytes.NewReader(body), hdr...)
	return resp, string(b)
}

const seedEvent = `{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-xyz-789","timestamp":"2025-11-12T19:30:01Z"}`

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestCollectorHTTP(t *testing.T) {
	big := `{"site_id":"s","event_type":"x","path":"/` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name, method, path, ctype, enc string
		body                           []byte
		status                         int
		want                           string
		queued                         int
	}{
		{"seed event", "POST", "/event", "application/json", "", []byte(seedEvent), 202, `{"success":true,"message":"Event queued successfully"}`, 1},
		{"text/plain as sendBeacon sends", "POST", "/event", "text/plain;charset=UTF-8", "", []byte(seedEvent), 202, `"success":true`, 1},
		{"no content type", "POST", "/event", "", "", []byte(seedEvent), 202, `"success":true`, 1},
		{"gzip body", "POST", "/event", "application/json", "gzip", gz(seedEvent), 202, `"success":true`, 1},
		{"bad gzip", "POST", "/event", "application/json", "gzip", []byte("nope"), 400, `body is not valid gzip`, 0},
		{"unknown encoding", "POST", "/event", "application/json", "br", []byte(seedEvent), 415, `Content-Encoding br is not supported`, 0},
		{"curl -d without a content type header", "POST", "/event", "application/x-www-form-urlencoded", "", []byte(seedEvent), 202, `"success":true`, 1},
		{"a real form body", "POST", "/event", "application/x-www-form-urlencoded", "", []byte("a=b"), 400, `body is not valid JSON`, 0},
		{"xml content type", "POST", "/event", "application/xml", "", []byte("<a/>"), 415, `Content-Type application/xml is not supported`, 0},
		{"an error names a field as it is, without HTML escapes", "POST", "/event", "application/json", "", []byte(`{"site_id":"s","event_type":"x","<b>":1}`), 400, `{"success":false,"error":"unknown field \"<b>\": an event`, 0},
		{"invalid event names field", "POST", "/event", "application/json", "", []byte(`{"event_type":"x"}`), 400, `{"success":false,"error":"site_id: required"}`, 0},
		{"body over 1 MiB", "POST", "/event", "application/json", "", []byte(big), 413, `larger than 1 MiB`, 0},
		{"gzip bomb over 1 MiB", "POST", "/event", "application/json", "gzip", gz(big), 413, `larger than 1 MiB`, 0},
		{"GET on /event", "GET", "/event", "", "", nil, 405, `GET is not allowed here; allowed: `, 0},
		{"unknown path", "POST", "/nope", "", "", nil, 404, `no such endpoint`, 0},
		{"batch", "POST", "/events", "application/json", "", []byte(`[` + seedEvent + `,{"site_id":"s"},` + seedEvent + `]`), 202,
			`{"success":true,"accepted":2,"rejected":[{"index":1,"error":"event_type: required"}]}`, 2},
		{"batch object form", "POST", "/events", "application/json", "", []byte(`{"events":[` + seedEvent + `]}`), 202, `"accepted":1,"rejected":[]`, 1},
		{"batch none valid", "POST", "/events", "application/json", "", []byte(`[{"site_id":"s"}]`), 400,
			`{"success":false,"accepted":0,"rejected":[{"index":0,"error":"event_type: required"}],"error":"no valid events in the batch"}`, 0},
		{"batch not an array", "POST", "/events", "application/json", "", []byte(`"x"`), 400, `body is not JSON`, 0},
		{"health", "GET", "/healthz", "", "", nil, 200, `"status":"ok"`, 0},
		{"ready", "GET", "/readyz", "", "", nil, 200, `"ready":true`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &memQueue{}
			srv := newServer(t, q)
			resp, body := do(t, tt.method, srv.URL+tt.path, tt.ctype, tt.enc, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s; want %d containing %s", resp.StatusCode, body, tt.status, tt.want)
			}
			if len(q.events) != tt.queued {
				t.Fatalf("queued %d events, want %d", len(q.events), tt.queued)
			}
		})
	}
}

func TestCollectorQueuesNormalizedEvent(t *testing.T) {
	q := &memQueue{}
	srv := newServer(t, q)
	do(t, "POST", srv.URL+"/event", "application/json", "", []byte(`{"site_id":"s","event_type":"page_view","path":"https://x.com/a?b=1","timestamp":"2025-11-12T21:30:00+02:00"}`))
	if len(q.events) != 1 {
		t.Fatalf("queued %d", len(q.events))
	}
	ev := q.events[0]
	if ev.ID != "fixed-id" || ev.Path != "/a" || ev.Timestamp.Location() != time.UTC || ev.Day() != "2025-11-12" || ev.Timestamp.Hour() != 19 {
		t.Fatalf("queued %+v", ev)
	}
}

func TestCollectorQueueDown(t *testing.T) {
	q := &memQueue{err: analytics.Wrap(analytics.Unavailable, "redis: queue events", errors.New("connection refused"))}
	srv := newServer(t, q)
	for _, path := range []string{"/event", "/events"} {
		body := seedEvent
		if path == "/events" {
			body = "[" + seedEvent + "]"
		}
		resp, b := do(t, "POST", srv.URL+path, "application/json", "", []byte(body))
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(b, `"success":false`) {
			t.Fatalf("%s with the queue down: %d %s (Retry-After %q)", path, resp.StatusCode, b, resp.Header.Get("Retry-After"))
		}
	}
	resp, _ := do(t, "GET", srv.URL+"/readyz", "", "", nil)
	if resp.StatusCode != 503 {
		t.Fatalf("readyz with the queue down: %d", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	srv := newServer(t, &memQueue{})
	resp, _ := do(t, "OPTIONS", srv.URL+"/events", "", "", nil, "Origin", "https://shop.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	h := resp.Header
	// Header names are case-insensitive (Fetch): the allowed ones may be
	// echoed as the browser asked for them.
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}
	resp, _ = do(t, "POST", srv.URL+"/event", "application/json", "", []byte(seedEvent), "Origin", "https://shop.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("POST lacks CORS header: %v", resp.Header)
	}

	cfg := collector.DefaultConfig()
	cfg.AllowedOrigins = []string{"https://shop.example"}
	only := httptest.NewServer(collector.New(&memQueue{}, &memQueue{}, zerolog.Nop(), cfg).Handler())
	defer only.Close()
	resp, _ = do(t, "POST", only.URL+"/event", "application/json", "", []byte(seedEvent), "Origin", "https://shop.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("allowed origin: %v", resp.Header)
	}
	resp, _ = do(t, "POST", only.URL+"/event", "application/json", "", []byte(seedEvent), "Origin", "https://evil.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin got %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestServesSnippet(t *testing.T) {
	srv := newServer(t, &memQueue{})
	resp, body := do(t, "GET", srv.URL+"/t.js", "", "", nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/javascript") ||
		etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") || !strings.Contains(body, "sendBeacon") {
		t.Fatalf("GET /t.js: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = do(t, "GET", srv.URL+"/t.js", "", "", nil, "If-None-Match", etag)
	if resp.StatusCode != 304 {
		t.Fatalf("revalidation: %d", resp.StatusCode)
	}
}

// headMatchesGet checks that HEAD on url answers what GET does: the same
// status and headers (Content-Length included), and no body.
func headMatchesGet(t *testing.T, url string, hdr ...string) {
	t.Helper()
	get, getBody := raw(t, "GET", url, hdr...)
	head, headBody := raw(t, "HEAD", url, hdr...)
	if head.StatusCode != get.StatusCode {
		t.Fatalf("HEAD %s: %d, GET: %d", url, head.StatusCode, get.StatusCode)
	}
	if headBody != "" || getBody == "" {
		t.Fatalf("HEAD %s has body %q (GET's: %d bytes)", url, headBody, len(getBody))
	}
	for _, h := range []http.Header{get.Header, head.Header} {
		h.Del("Date")
	}
	if len(head.Header) != len(get.Header) {
		t.Fatalf("HEAD %s headers %v\nGET headers %v", url, head.Header, get.Header)
	}
	for k := range get.Header {
		if head.Header.Get(k) != get.Header.Get(k) {
			t.Fatalf("HEAD %s: %s is %q, GET's %q", url, k, head.Header.Get(k), get.Header.Get(k))
		}
	}
}

func TestHeadWorksWhereGetDoes(t *testing.T) {
	up := newServer(t, &memQueue{})
	down := newServer(t, &memQueue{err: analytics.Wrap(analytics.Unavailable, "redis: ping", errors.New("connection refused"))})
	for _, tt := range []struct {
		name, url string
		hdr       []string
	}{
		{"snippet", up.URL + "/t.js", nil},
		{"snippet gzipped", up.URL + "/t.js", []string{"Accept-Encoding", "gzip"}},
		{"healthz", up.URL + "/healthz", nil},
		{"readyz", up.URL + "/readyz", nil},
		{"readyz with the queue down", down.URL + "/readyz", nil},
		{"unknown path", up.URL + "/nope", nil},
	} {
		t.Run(tt.name, func(t *testing.T) { headMatchesGet(t, tt.url, tt.hdr...) })
	}
	resp, _ := do(t, "HEAD", up.URL+"/t.js", "", "", nil, "If-None-Match", resp304ETag(t, up.URL))
	if resp.StatusCode != 304 {
		t.Fatalf("HEAD revalidation: %d", resp.StatusCode)
	}
	resp, _ = do(t, "POST", up.URL+"/healthz", "", "", nil)
	if resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "HEAD") {
		t.Fatalf("POST /healthz: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// raw sends a request as is: no Accept-Encoding added, no transparent gunzip
// (which would drop Content-Length and Content-Encoding from GET's answer).
func raw(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func resp304ETag(t *testing.T, base string) string {
	resp, _ := do(t, "GET", base+"/t.js", "", "", nil)
	return resp.Header.Get("ETag")
}

// stalledQueue never answers by itself: it returns only when the caller's
// context ends, as a publisher stuck on a frozen Redis would.
type stalledQueue struct{}

// stalledPublishes counts the publishes that started waiting.
var stalledPublishes atomic.Int64

func (stalledQueue) Publish(ctx context.Context, _ []analytics.Event) error {
	stalledPublishes.Add(1)
	<-ctx.Done()
	return ctx.Err() // a plain error: the collector must still answer 503
}

func (stalledQueue) Ping(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestCollectorAnswers503AtTheQueueDeadline(t *testing.T) {
	cfg := collector.DefaultConfig()
	cfg.QueueTimeout = 100 * time.Millisecond
	srv := httptest.NewServer(collector.New(stalledQueue{}, stalledQueue{}, zerolog.Nop(), cfg).Handler())
	defer srv.Close()
	for _, tt := range []struct{ path, body string }{{"/event", seedEvent}, {"/events", "[" + seedEvent + "]"}, {"/readyz", ""}} {
		start := time.Now()
		method := "POST"
		if tt.body == "" {
			method = "GET"
		}
		resp, body := do(t, method, srv.URL+tt.path, "application/json", "", []byte(tt.body))
		took := time.Since(start)
		if resp.StatusCode != 503 || took > time.Second {
			t.Fatalf("%s with a stalled queue: %d %s after %v", tt.path, resp.StatusCode, body, took)
		}
		if tt.body != "" && (resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "queue did not answer within 100ms")) {
			t.Fatalf("%s: Retry-After %q, body %s", tt.path, resp.Header.Get("Retry-After"), body)
		}
	}
}

// annotatingQueue notes each event's visit, then queues the events, as
// visits.Annotator.Queue does in production, or fails with fail.
type annotatingQueue struct {
	*memQueue
	fail error
}

func (a *annotatingQueue) Publish(ctx context.Context, evs []analytics.Event) error {
	if a.fail != nil {
		return a.fail
	}
	for i := range evs {
		evs[i].Visit = &analytics.Visit{Start: i == 0, Views: int64(i)}
	}
	return a.memQueue.Publish(ctx, evs)
}

// The collector's queue annotates every event's visit (visits.Annotator's
// queue, the one path): what the annotation sets is what is queued, and
// when it fails the collector answers 503 without queuing anything (the
// client resends with the same ids).
func TestCollectorAnnotatesVisitsBeforeQueuing(t *testing.T) {
	q := &memQueue{}
	ann := &annotatingQueue{memQueue: q}
	cfg := collector.DefaultConfig()
	srv := httptest.NewServer(collector.New(ann, q, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	body := `[{"site_id":"s","event_type":"page_view","user_id":"u","path":"/a"},{"site_id":"s","event_type":"click","user_id":"u"}]`
	if resp, b := do(t, "POST", srv.URL+"/events", "application/json", "", []byte(body)); resp.StatusCode != 202 {
		t.Fatalf("POST /events: %d %s", resp.StatusCode, b)
	}
	if len(q.events) != 2 || q.events[0].Visit == nil || !q.events[0].Visit.Start || q.events[1].Visit == nil || q.events[1].Visit.Views != 1 {
		t.Fatalf("queued %+v", q.events)
	}
	ann.fail = analytics.Wrap(analytics.Unavailable, "visits: annotating events in Redis", errors.New("connection refused"))
	for _, path := range []string{"/event", "/events"} {
		b := seedEvent
		if path == "/events" {
			b = "[" + seedEvent + "]"
		}
		resp, out := do(t, "POST", srv.URL+path, "application/json", "", []byte(b))
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(out, "annotating events") {
			t.Fatalf("%s with the annotation failing: %d %s", path, resp.StatusCode, out)
		}
	}
	if len(q.events) != 2 {
		t.Fatalf("%d events queued although their annotation failed", len(q.events)-2)
	}
}
