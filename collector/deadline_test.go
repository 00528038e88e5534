package collector_test

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/testenv"
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
	cfg.Enricher = enrich.New(enrich.Config{Salts: enrich.NewSalts(slow, prefix, nil)})
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
