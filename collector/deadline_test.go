package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// slowLink forwards TCP connections to a server, holding each chunk of its
// replies for delay while delay is set: a slow network path to a real
// Redis.
type slowLink struct {
	ln    net.Listener
	delay atomic.Int64
}

func newSlowLink(t *testing.T, target string) *slowLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &slowLink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						time.Sleep(time.Duration(l.delay.Load()))
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l
}

// A request waits at most QueueTimeout in all: a salt read from a slow
// Redis that succeeds just inside the deadline leaves the publish only
// what is left of it, not a fresh QueueTimeout of its own.
func TestRequestWaitsAtMostQueueTimeoutInAll(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	opt := rdb.(*redis.Client).Options()
	link := newSlowLink(t, opt.Addr)
	slowOpt := *opt
	slowOpt.Addr = link.ln.Addr().String()
	slowOpt.MaxRetries = -1
	slow := redis.NewClient(&slowOpt)
	t.Cleanup(func() { slow.Close() })
	if err := slow.Ping(context.Background()).Err(); err != nil { // the connection is set up before the link slows down
		t.Fatal(err)
	}
	const timeout = 400 * time.Millisecond
	link.delay.Store(int64(timeout * 6 / 10))

	cfg := collector.DefaultConfig()
	cfg.QueueTimeout = timeout
	cfg.Enricher = enrich.New(enrich.Config{Salts: enrich.NewSalts(redisqueue.SaltStore{RDB: slow}, prefix, nil)})
	srv := httptest.NewServer(collector.New(stalledQueue{}, stalledQueue{}, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	start := time.Now()
	resp, body := do(t, "POST", srv.URL+"/event?cookieless=1", "application/json", "", []byte(seedEvent))
	took := time.Since(start)
	if resp.StatusCode != 503 {
		t.Fatalf("stalled queue behind a slow salt read: %d %s", resp.StatusCode, body)
	}
	if took > timeout*13/10 {
		t.Fatalf("answered after %v, more than QueueTimeout %v", took, timeout)
	}
	t.Logf("answered 503 after %v (QueueTimeout %v)", took, timeout)
}

// A client that hangs up while its events wait for the queue is counted as
// a disconnect, not as an event refused because the queue was unavailable,
// and nothing is logged as a queue failure.
func TestClientDisconnectIsNotQueueUnavailable(t *testing.T) {
	var logs syncBuffer
	cfg := collector.DefaultConfig()
	cfg.QueueTimeout = 30 * time.Second
	c := collector.New(stalledQueue{}, stalledQueue{}, zerolog.New(&logs), cfg)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	base := stalledPublishes.Load()
	for i, path := range []string{"/event", "/events"} {
		body := seedEvent
		if path == "/events" {
			body = "[" + seedEvent + "," + seedEvent + "]"
		}
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		done := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		// The request is in the handler once the queue holds it: only then
		// does the client hang up.
		testenv.Eventually(t, 5*time.Second, func() error {
			if n := stalledPublishes.Load() - base; n != int64(i+1) {
				return fmt.Errorf("%d publishes waiting", n)
			}
			return nil
		})
		cancel()
		<-done
		testenv.Eventually(t, 5*time.Second, func() error {
			if n := c.Counters.Disconnected.Load(); n != int64(i+1) {
				return fmt.Errorf("%d disconnects counted, want %d", n, i+1)
			}
			return nil
		})
	}
	if n := c.Counters.Failed.Load(); n != 0 {
		t.Fatalf("%d events counted as refused for an unavailable queue", n)
	}
	if strings.Contains(logs.String(), "queue unavailable") {
		t.Fatalf("a client disconnect logged as a queue failure:\n%s", logs.String())
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
