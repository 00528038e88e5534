package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// TestMetricsOfSeparateDaemons sends a known workload through the real
// binaries and checks, parsed with the Prometheus text parser, the exact
// counters on the collector's and the processor's /metrics, the requests
// by route and status, the drained queue, and that `analytics-cli queue`
// shows the same totals.
func TestMetricsOfSeparateDaemons(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	env := []string{
		"REDIS_URL=" + testenv.RedisURL(t), "MONGODB_URI=" + testenv.MongoDB(t), "QUEUE_PREFIX=" + prefix,
		"INGESTION_PORT=0", "REPORTING_PORT=0", "HOST=127.0.0.1",
	}
	col := testenv.StartProcess(t, binDir, "collector", env)
	proc := testenv.StartProcess(t, binDir, "processor", env)
	rep := testenv.StartProcess(t, binDir, "reporter", env)
	if proc.URL == "" {
		t.Fatalf("the processor logged no URL:\n%s", proc.Out.String())
	}
	testenv.WaitHealthy(t, proc.URL)

	testenv.SendWorkload(t, col.URL, rdb, redisqueue.Keys{Prefix: prefix}.Stream(3))
	testenv.Eventually(t, 60*time.Second, func() error {
		totals, err := testenv.QueueTotals(cli(t, env, "queue"))
		if err != nil {
			return err
		}
		var pages []testenv.Metrics
		for _, d := range []*testenv.Process{col, proc} {
			m, err := testenv.Scrape(d.URL + "/metrics")
			if err != nil {
				return err
			}
			pages = append(pages, m)
		}
		return testenv.CheckWorkload(totals, pages...)
	})

	// Each daemon reports its own requests, the reporter's by pattern.
	for _, path := range []string{"/stats?site_id=metrics.example", "/sites/metrics.example", "/sites/other.example"} {
		getStatus(t, rep.URL+path, http.StatusOK)
	}
	m, err := testenv.Scrape(rep.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for route, want := range map[string]float64{"/stats": 1, "/sites/:site_id": 2} {
		if got := m.Sum("analytics_http_request_duration_seconds", "server", "reporter", "route", route, "code", "200"); got != want {
			t.Errorf("reporter %s: %v requests, want %v", route, got, want)
		}
	}
	if m["go_goroutines"] == nil || m["process_resident_memory_bytes"] == nil {
		t.Error("the reporter exports no Go runtime or process metrics")
	}
	for _, d := range []*testenv.Process{col, proc, rep} {
		d.Stop(t, 20*time.Second)
	}
}

// getStatus gets url and fails unless it answers want; it returns the body.
func getStatus(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s %s, want %d", url, resp.Status, b, want)
	}
	return string(b)
}

// METRICS_PORT moves /metrics off each daemon's main port.
func TestMetricsPort(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	base := []string{
		"REDIS_URL=" + testenv.RedisURL(t), "MONGODB_URI=" + testenv.MongoDB(t), "QUEUE_PREFIX=" + prefix,
		"INGESTION_PORT=0", "REPORTING_PORT=0", "HOST=127.0.0.1",
	}
	for _, bin := range []string{"collector", "processor", "reporter"} {
		t.Run(bin, func(t *testing.T) {
			port := freePort(t)
			d := testenv.StartProcess(t, binDir, bin, append(base, fmt.Sprintf("METRICS_PORT=%d", port)))
			getStatus(t, d.URL+"/metrics", http.StatusNotFound)
			getStatus(t, d.URL+"/healthz", http.StatusOK)
			m, err := testenv.Scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
			if err != nil {
				t.Fatal(err)
			}
			if m["go_goroutines"] == nil {
				t.Fatalf("the metrics port serves no Go runtime metrics")
			}
			// The main port's 404 was counted, under no raw path.
			if got := m.Sum("analytics_http_request_duration_seconds", "server", bin, "route", "unmatched", "code", "404"); got != 1 {
				t.Errorf("%v unmatched 404s counted, want 1", got)
			}
			d.Stop(t, 20*time.Second)
		})
	}
}

// The processor's /readyz says whether its Redis and its database answer:
// it turns 503 when Redis goes away while /healthz stays 200.
func TestProcessorReadiness(t *testing.T) {
	t.Parallel()
	rs, err := embedded.RedisServer(context.Background(), t.TempDir(), freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	proc := testenv.StartProcess(t, binDir, "processor", []string{"REDIS_URL=" + rs.URL, "MONGODB_URI=" + testenv.MongoDB(t), "HOST=127.0.0.1"})
	var ready struct {
		Ready  bool
		Checks map[string]string
	}
	if err := json.Unmarshal([]byte(getStatus(t, proc.URL+"/readyz", http.StatusOK)), &ready); err != nil {
		t.Fatal(err)
	}
	if !ready.Ready || ready.Checks["redis"] != "ok" || ready.Checks["mongodb"] != "ok" {
		t.Fatalf("readyz: %+v", ready)
	}
	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(proc.URL + "/readyz")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"redis":`) || strings.Contains(string(b), `"redis":"ok"`) {
			return fmt.Errorf("readyz with Redis stopped: %s %s", resp.Status, b)
		}
		return nil
	})
	getStatus(t, proc.URL+"/healthz", http.StatusOK)
	proc.Kill()
}
