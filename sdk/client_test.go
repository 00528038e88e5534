package sdk

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// collector is a test endpoint that speaks POST /events like the real one
// and counts what it accepted by event id.
type collector struct {
	t        *testing.T
	mu       sync.Mutex
	ids      map[string]int // id -> times accepted
	events   []Event
	requests int
	// respond, if set, decides the answer to request n (1-based); return 0
	// to accept normally.
	respond func(n int, w http.ResponseWriter, evs []Event) int
	srv     *httptest.Server
}

func newCollector(t *testing.T) *collector {
	c := &collector{t: t, ids: map[string]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/events" || r.Header.Get("Content-Encoding") != "gzip" {
		http.Error(w, "bad request shape", 400)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var evs []Event
	if err := json.NewDecoder(zr).Decode(&evs); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	c.requests++
	n := c.requests
	c.mu.Unlock()
	if c.respond != nil {
		if status := c.respond(n, w, evs); status != 0 {
			return
		}
	}
	c.mu.Lock()
	for _, ev := range evs {
		c.ids[ev.ID]++
		if c.ids[ev.ID] == 1 {
			c.events = append(c.events, ev)
		}
	}
	c.mu.Unlock()
	w.WriteHeader(202)
	fmt.Fprintf(w, `{"success":true,"accepted":%d,"rejected":[]}`, len(evs))
}

func (c *collector) unique() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

func (c *collector) reqs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.SiteID == "" {
		cfg.SiteID = "site-1"
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Millisecond
		cfg.MaxBackoff = 20 * time.Millisecond
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

func eventually(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func flush(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBatchesBySize(t *testing.T) {
	col := newCollector(t)
	c := newClient(t, Config{Endpoint: col.srv.URL, BatchSize: 10, FlushInterval: time.Hour})
	for i := 0; i < 25; i++ {
		if err := c.Page(fmt.Sprintf("/p%d", i), "u"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() error {
		if col.unique() != 20 {
			return fmt.Errorf("%d events sent before flush, want the two full batches", col.unique())
		}
		return nil
	})
	flush(t, c)
	if col.unique() != 25 || col.reqs() != 3 {
		t.Fatalf("%d events in %d requests, want 25 in 3", col.unique(), col.reqs())
	}
	if s := c.Stats(); s.Sent != 25 || s.Queued != 0 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBatchesByBytes(t *testing.T) {
	col := newCollector(t)
	c := newClient(t, Config{Endpoint: col.srv.URL, BatchSize: 1000, BatchBytes: MaxEventBytes, FlushInterval: time.Hour})
	big := strings.Repeat("x", 3000)
	for i := 0; i < 30; i++ { // about 3.1 KB each: 10 fit in 32 KB
		if err := c.Track(Event{EventType: "big", Props: map[string]any{"a": big[:1000], "b": big[:1000], "c": big[:1000]}}); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	if col.unique() != 30 || col.reqs() < 3 {
		t.Fatalf("%d events in %d requests", col.unique(), col.reqs())
	}
}

func TestFlushInterval(t *testing.T) {
	col := newCollector(t)
	c := newClient(t, Config{Endpoint: col.srv.URL, FlushInterval: 20 * time.Millisecond})
	c.Page("/", "")
	eventually(t, func() error {
		if col.unique() != 1 {
			return errors.New("event not sent by the interval")
		}
		return nil
	})
}

func TestRetriesUntilRecoveredWithoutDuplicates(t *testing.T) {
	col := newCollector(t)
	col.respond = func(n int, w http.ResponseWriter, evs []Event) int {
		switch {
		case n <= 3:
			http.Error(w, `{"success":false,"error":"queue unavailable"}`, http.StatusServiceUnavailable)
			return 503
		case n == 4:
			// The collector stored the batch but the answer was lost:
			// the client must resend, and ids keep it from counting twice.
			col.mu.Lock()
			for _, ev := range evs {
				col.ids[ev.ID]++
			}
			col.mu.Unlock()
			http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
			return 504
		}
		return 0
	}
	c := newClient(t, Config{Endpoint: col.srv.URL, BatchSize: 50})
	var tracked []string
	for i := 0; i < 50; i++ {
		ev := Event{EventType: "page_view", Path: "/", ID: fmt.Sprintf("id-%d", i)}
		if err := c.Track(ev); err != nil {
			t.Fatal(err)
		}
		tracked = append(tracked, ev.ID)
	}
	flush(t, c)
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.ids) != 50 {
		t.Fatalf("%d distinct events arrived, want 50", len(col.ids))
	}
	for _, id := range tracked {
		if col.ids[id] == 0 {
			t.Fatalf("event %s lost", id)
		}
	}
	if s := c.Stats(); s.Retried != 4 || s.Sent != 50 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	col := newCollector(t)
	var first time.Time
	var second atomic.Int64
	col.respond = func(n int, w http.ResponseWriter, _ []Event) int {
		if n == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return 429
		}
		second.Store(int64(time.Since(first)))
		return 0
	}
	c := newClient(t, Config{Endpoint: col.srv.URL})
	c.Page("/", "")
	flush(t, c)
	if d := time.Duration(second.Load()); d < time.Second {
		t.Fatalf("retried after %v, before the 1s Retry-After", d)
	}
}

func TestClientErrorIsNotRetried(t *testing.T) {
	col := newCollector(t)
	col.respond = func(n int, w http.ResponseWriter, _ []Event) int {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"success":false,"error":"no valid events in the batch"}`)
		return 400
	}
	var got []Event
	var gotErr error
	c := newClient(t, Config{Endpoint: col.srv.URL, OnFailure: func(evs []Event, err error) { got, gotErr = evs, err }})
	c.Page("/a", "")
	c.Page("/b", "")
	flush(t, c)
	if col.reqs() != 1 || len(got) != 2 || !strings.Contains(gotErr.Error(), "no valid events") {
		t.Fatalf("%d requests, failure callback got %d events: %v", col.reqs(), len(got), gotErr)
	}
	if s := c.Stats(); s.Failed != 2 || s.Retried != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRejectedEventsAreReported(t *testing.T) {
	col := newCollector(t)
	col.respond = func(n int, w http.ResponseWriter, evs []Event) int {
		w.WriteHeader(202)
		fmt.Fprintf(w, `{"success":true,"accepted":%d,"rejected":[{"index":1,"error":"timestamp: too far"}]}`, len(evs)-1)
		return 202
	}
	var got []Event
	c := newClient(t, Config{Endpoint: col.srv.URL, OnFailure: func(evs []Event, err error) { got = evs }})
	c.Page("/a", "")
	c.Page("/b", "")
	flush(t, c)
	if len(got) != 1 || got[0].Path != "/b" {
		t.Fatalf("reported %+v", got)
	}
	if s := c.Stats(); s.Sent != 1 || s.Failed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTrackNeverBlocksOnASlowCollector(t *testing.T) {
	col := newCollector(t)
	release := make(chan struct{})
	col.respond = func(n int, w http.ResponseWriter, _ []Event) int {
		<-release
		return 0
	}
	defer close(release)
	c := newClient(t, Config{Endpoint: col.srv.URL, BatchSize: 10, BufferSize: 100})
	done := make(chan int)
	go func() {
		n := 0
		for i := 0; i < 1000; i++ {
			if c.Page("/", "") == nil {
				n++
			}
		}
		done <- n
	}()
	select {
	case n := <-done:
		if n < 100 {
			t.Fatalf("only %d events accepted", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Track blocked while the collector hung")
	}
}

func TestBufferOverflowIsCountedAndReported(t *testing.T) {
	col := newCollector(t)
	release := make(chan struct{})
	col.respond = func(n int, w http.ResponseWriter, _ []Event) int {
		if n == 1 {
			<-release
		}
		return 0
	}
	var mu sync.Mutex
	var dropped []Event
	c := newClient(t, Config{Endpoint: col.srv.URL, BatchSize: 10, BufferSize: 10, FlushInterval: time.Hour,
		OnFailure: func(evs []Event, err error) {
			if errors.Is(err, ErrBufferFull) {
				mu.Lock()
				dropped = append(dropped, evs...)
				mu.Unlock()
			}
		}})
	for i := 0; i < 10; i++ {
		c.Page("/first", "")
	}
	eventually(t, func() error { // the first batch is on the wire, held
		if col.reqs() != 1 {
			return errors.New("first batch not sent yet")
		}
		return nil
	})
	var full int
	for i := 0; i < 15; i++ {
		if err := c.Page("/second", ""); errors.Is(err, ErrBufferFull) {
			full++
		}
	}
	close(release)
	flush(t, c)
	s := c.Stats()
	mu.Lock()
	defer mu.Unlock()
	if full != 5 || s.Dropped != 5 || len(dropped) != 5 || col.unique() != 20 || s.Sent != 20 {
		t.Fatalf("ErrBufferFull %d, stats %+v, callback %d, delivered %d", full, s, len(dropped), col.unique())
	}
}

func TestCloseUnderConcurrentLoadDeliversEverythingAccepted(t *testing.T) {
	col := newCollector(t)
	col.respond = func(n int, w http.ResponseWriter, _ []Event) int {
		if n%3 == 0 {
			http.Error(w, "flaky", http.StatusServiceUnavailable)
			return 503
		}
		return 0
	}
	c, err := New(Config{Endpoint: col.srv.URL, SiteID: "s", BatchSize: 50, BufferSize: 100000, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				switch err := c.Page("/", ""); err {
				case nil:
					accepted.Add(1)
				case ErrClosed:
					return
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(time.Millisecond) // let some Track calls race with Close; not synchronisation
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if int64(col.unique()) != accepted.Load() {
		t.Fatalf("accepted %d, delivered %d", accepted.Load(), col.unique())
	}
	if err := c.Page("/", ""); err != ErrClosed {
		t.Fatalf("Track after Close: %v", err)
	}
	if err := c.Close(ctx); err != ErrClosed {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Flush(ctx); err != ErrClosed {
		t.Fatalf("Flush after Close: %v", err)
	}
}

func TestCloseRespectsDeadlineWhenFirewalled(t *testing.T) {
	// A listener that accepts connections and never answers, like a
	// firewall that drops packets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	var reported atomic.Int64
	c, err := New(Config{Endpoint: "http://" + ln.Addr().String(), SiteID: "s", HTTPClient: &http.Client{Timeout: time.Hour},
		OnFailure: func(evs []Event, err error) { reported.Add(int64(len(evs))) }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 250; i++ {
		c.Page("/", "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Close(ctx)
	took := time.Since(start)
	var de *DeliveryError
	if !errors.As(err, &de) || len(de.Events) != 250 || reported.Load() != 250 {
		t.Fatalf("Close: %v (reported %d)", err, reported.Load())
	}
	if took > 10*time.Second {
		t.Fatalf("Close took %v with a 200ms deadline", took)
	}
	if s := c.Stats(); s.Failed != 250 || s.Sent != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTrackValidation(t *testing.T) {
	c := newClient(t, Config{Endpoint: newCollector(t).srv.URL})
	for _, tt := range []struct {
		name  string
		ev    Event
		field string
	}{
		{"missing event_type", Event{}, "event_type"},
		{"bad site_id", Event{SiteID: "a b", EventType: "x"}, "site_id"},
		{"relative path", Event{EventType: "x", Path: "pricing"}, "path"},
		{"long user_id", Event{EventType: "x", UserID: strings.Repeat("u", 257)}, "user_id"},
		{"future timestamp", Event{EventType: "x", Timestamp: time.Now().Add(2 * time.Hour)}, "timestamp"},
		{"nested prop", Event{EventType: "x", Props: map[string]any{"a": map[string]any{}}}, "props.a"},
		{"bad id", Event{EventType: "x", ID: "a b"}, "id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var fe *FieldError
			if err := c.Track(tt.ev); !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Track: %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
	props := map[string]any{}
	for i := 0; i < 32; i++ {
		props[fmt.Sprint(i)] = strings.Repeat("x", 130)
	}
	if err := c.Track(Event{EventType: "x", Props: props}); err == nil {
		t.Fatal("props over 4 KiB accepted")
	}
	if err := c.Track(Event{EventType: "x", UserID: strings.Repeat("é", 128)}); err != nil {
		t.Fatalf("256-byte user id refused: %v", err)
	}
}

func TestLargestValidEventFitsIn32KB(t *testing.T) {
	// The field limits bound an event well under 32 KB even when every
	// character needs escaping ('<' encodes as \u003c, 6 bytes; a path is
	// limited in its canonical, percent-encoded form). Only the browser's
	// fields (referrer, url, user_agent) full of characters JSON escapes
	// can reach the 32 KB check (ErrTooLarge); real URLs are percent-encoded,
	// so the largest of them fit, as below.
	c := newClient(t, Config{Endpoint: newCollector(t).srv.URL})
	props := map[string]any{}
	for i := 0; i < 32; i++ {
		props[fmt.Sprintf("k%02d", i)] = strings.Repeat("<", 16)
	}
	ev := Event{SiteID: strings.Repeat("s", 128), EventType: strings.Repeat("<", 64), Path: "/" + strings.Repeat("%3C", 682) + "a",
		UserID: strings.Repeat("<", 256), Props: props, ID: strings.Repeat("i", 128)}
	if err := c.Track(ev); err != nil {
		t.Fatalf("largest valid event refused: %v", err)
	}
	if len(ev.Path) != 2048 {
		t.Fatalf("path is %d bytes, want the longest, 2048", len(ev.Path))
	}
	if size := encodedSize(&ev); size > MaxEventBytes || size < 7000 {
		t.Fatalf("largest valid event encodes to %d bytes", size)
	}
	longURL := "https://e.com/" + strings.Repeat("%3C", 678)
	ev.Referrer, ev.URL, ev.UserAgent, ev.IP = longURL, longURL, strings.Repeat("<", 1024), "2001:db8::1"
	if err := c.Track(ev); err != nil {
		t.Fatalf("largest valid event with the browser's fields refused: %v", err)
	}
	if size := encodedSize(&ev); size > MaxEventBytes || len(longURL) != 2048 {
		t.Fatalf("largest valid event with the browser's fields encodes to %d bytes (url %d)", size, len(longURL))
	}
	ev.Referrer = "https://e.com/" + strings.Repeat("<", 2034)
	ev.URL = ev.Referrer
	if err := c.Track(ev); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("an event of %d bytes: Track: %v, want ErrTooLarge", encodedSize(&ev), err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no endpoint", Config{}, "Endpoint is required"},
		{"bad endpoint", Config{Endpoint: "collector:3000"}, "is not an http(s) URL"},
		{"bad site", Config{Endpoint: "http://x", SiteID: "a b"}, "SiteID"},
		{"batch too big", Config{Endpoint: "http://x", BatchSize: 1001}, "BatchSize 1001"},
		{"bytes too big", Config{Endpoint: "http://x", BatchBytes: 600 << 10}, "BatchBytes"},
		{"bytes too small", Config{Endpoint: "http://x", BatchBytes: 1000}, "at least"},
		{"negative", Config{Endpoint: "http://x", FlushInterval: -1}, "must not be negative"},
		{"buffer below batch", Config{Endpoint: "http://x", BatchSize: 100, BufferSize: 10}, "BufferSize 10"},
		{"backoff order", Config{Endpoint: "http://x", MinBackoff: time.Second, MaxBackoff: time.Millisecond}, "MaxBackoff"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMiddlewareRecordsPageViews(t *testing.T) {
	col := newCollector(t)
	c := newClient(t, Config{Endpoint: col.srv.URL})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	mux.HandleFunc("/missing", http.NotFound)
	h := Middleware(c, MiddlewareConfig{UserID: func(r *http.Request) string { return r.Header.Get("X-User") }})(mux)
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/ok?x=1", nil)
	req.Header.Set("X-User", "u42")
	for _, r := range []*http.Request{req, mustReq("GET", srv.URL+"/missing"), mustReq("POST", srv.URL+"/ok")} {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	flush(t, c)
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.events) != 1 || col.events[0].Path != "/ok" || col.events[0].UserID != "u42" || col.events[0].EventType != "page_view" {
		t.Fatalf("recorded %+v", col.events)
	}
}

func mustReq(method, url string) *http.Request {
	r, _ := http.NewRequest(method, url, nil)
	return r
}

func BenchmarkTrack(b *testing.B) {
	c, _ := New(Config{Endpoint: "http://127.0.0.1:1", SiteID: "site-abc-123", BufferSize: 1 << 30, BatchSize: 1000, FlushInterval: time.Hour})
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.Close(ctx)
	}()
	c.cfg.BatchSize = 1 << 30 // keep the loop from sending while measuring Track
	ev := Event{EventType: "page_view", Path: "/pricing", UserID: "user-001"}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Track(ev); err != nil {
			b.Fatal(err)
		}
	}
}
