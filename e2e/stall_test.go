package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// waitStopped polls /proc until the kernel reports pid stopped.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil // no procfs: the signal is sent, which is all we can know
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return nil
		}
		return fmt.Errorf("process %d not stopped yet", pid)
	})
}

type answer struct {
	what       string
	status     int
	retryAfter string
	body       string
	took       time.Duration
	err        error
}

func request(client *http.Client, what, method, url, body string) answer {
	start := time.Now()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	a := answer{what: what, err: err}
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.retryAfter, a.body = resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}
	a.took = time.Since(start)
	return a
}

// TestCollectorAnswers503WhenRedisStalls freezes the collector's Redis with
// SIGSTOP (a hung server or a partition look the same to a client: the
// connection is open, nothing answers) and shows that every request, many
// at once, is answered 503 with Retry-After within 2 s, then that the
// collector accepts again once Redis resumes.
func TestCollectorAnswers503WhenRedisStalls(t *testing.T) {
	rs, err := embedded.RedisServer(context.Background(), t.TempDir(), freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	pid := rs.PID()
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = rs.Stop()
	})
	// The default QUEUE_TIMEOUT (500ms) is what is measured.
	col := testenv.StartProcess(t, binDir, "collector", []string{"REDIS_URL=" + rs.URL, "INGESTION_PORT=0", "HOST=127.0.0.1", "MAX_BACKLOG=1000000"})
	event := `{"site_id":"stall","event_type":"page_view","path":"/","user_id":"u"}`
	batch := "[" + strings.Repeat(event+",", 49) + event + "]"
	client := &http.Client{Timeout: 30 * time.Second}
	if a := request(client, "before", "POST", col.URL+"/event", event); a.status != 202 {
		t.Fatalf("POST /event before the stall: %+v", a)
	}

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid)
	const limit = 2 * time.Second
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		answers := make(chan answer, 200)
		fire := func(what, method, path, body string) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers <- request(client, what, method, col.URL+path, body)
			}()
		}
		for i := 0; i < 100; i++ {
			fire("POST /event", "POST", "/event", event)
		}
		for i := 0; i < 20; i++ {
			fire("POST /events", "POST", "/events", batch)
		}
		fire("GET /readyz", "GET", "/readyz", "")
		wg.Wait()
		close(answers)
		var longest time.Duration
		n := 0
		for a := range answers {
			n++
			longest = max(longest, a.took)
			if a.err != nil || a.status != 503 || a.took > limit {
				t.Fatalf("round %d: %s with Redis stopped: %+v; want 503 within %v", round, a.what, a, limit)
			}
			if a.what != "GET /readyz" && a.retryAfter == "" {
				t.Fatalf("round %d: %s answered 503 without Retry-After: %+v", round, a.what, a)
			}
		}
		t.Logf("round %d: %d concurrent requests with Redis stopped, all 503 (with Retry-After), the slowest in %v", round, n, longest.Round(time.Millisecond))
		if a := request(client, "healthz", "GET", col.URL+"/healthz", ""); a.status != 200 {
			t.Fatalf("/healthz with Redis stopped: %+v; the process is alive", a)
		}
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		for _, r := range []struct{ path, body string }{{"/event", event}, {"/events", batch}, {"/readyz", ""}} {
			method := "POST"
			if r.body == "" {
				method = "GET"
			}
			if a := request(client, r.path, method, col.URL+r.path, r.body); a.status != 202 && a.status != 200 {
				return fmt.Errorf("%s after SIGCONT: %d %s", r.path, a.status, a.body)
			}
		}
		return nil
	})
	col.Stop(t, 20*time.Second)
}
