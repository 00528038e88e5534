package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// TestServeMetrics: serve's one registry holds all three stages; after a
// known workload its /metrics (parsed with the Prometheus text parser)
// and `analytics-cli queue` agree with each other and with the workload.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	opt, err := redis.ParseURL(p.env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	testenv.SendWorkload(t, p.collector, rdb, redisqueue.Keys{Prefix: p.env["QUEUE_PREFIX"]}.Stream(5))
	testenv.Eventually(t, 60*time.Second, func() error {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"analytics-cli", "queue"}, p.getenv, &out); err != nil {
			return err
		}
		totals, err := testenv.QueueTotals(out.String())
		if err != nil {
			return err
		}
		page, err := testenv.Scrape(p.reporter + "/metrics")
		if err != nil {
			return err
		}
		return testenv.CheckWorkload(totals, page)
	})
	// The collector's port answers the same registry.
	page, err := testenv.Scrape(p.collector + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := page.Sum("analytics_stored_total"); got != 9 {
		t.Errorf("the collector's port says %v stored, want 9", got)
	}
}

// With --metrics-port, serve answers /metrics there only.
func TestServeMetricsPort(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	p := startPipeline(t, "--metrics-port", fmt.Sprint(port))
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	testenv.WaitMatch(t, p.out, regexp.MustCompile(`Metrics\s+(`+regexp.QuoteMeta(url)+`)`), 10*time.Second)
	for _, main := range []string{p.collector, p.reporter} {
		resp, err := http.Get(main + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s/metrics: %s with METRICS_PORT set, want 404", main, resp.Status)
		}
	}
	page, err := testenv.Scrape(url)
	if err != nil {
		t.Fatal(err)
	}
	if got := page.Sum("analytics_http_request_duration_seconds", "route", "unmatched", "code", "404"); got != 2 {
		t.Errorf("%v unmatched 404s counted, want 2", got)
	}
}
