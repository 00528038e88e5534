package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Buffer is a goroutine-safe buffer for a program's output.
type Buffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	next chan struct{} // closed by the next Write; nil until asked for
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next != nil {
		close(b.next)
		b.next = nil
	}
	return b.buf.Write(p)
}

// Next returns a channel closed by the next Write, so a test can react to
// output the moment it appears (to kill a program at a given line, say):
// take the channel, read String, and wait on the channel if it lacks what
// you want.
func (b *Buffer) Next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == nil {
		b.next = make(chan struct{})
	}
	return b.next
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitMatch polls out until re matches and returns the first submatch.
func WaitMatch(t testing.TB, out *Buffer, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	var got string
	Eventually(t, timeout, func() error {
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("output has no match for %s; output so far:\n%s", re, out.String())
		}
		got = m[1]
		return nil
	})
	return got
}

// WaitHealthy polls url+"/healthz" until it answers 200.
func WaitHealthy(t testing.TB, url string) {
	t.Helper()
	Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz: %s", resp.Status)
		}
		return nil
	})
}

// FreePort returns a TCP port free on 127.0.0.1 a moment ago, for a
// setting that takes a fixed port (METRICS_PORT, a redis-server's).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
