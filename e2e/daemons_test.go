// Package e2e builds the real binaries and runs them as separate processes,
// as an operator would: collector, two processors and reporter against one
// Redis and one MongoDB.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/internal/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithBinaries(m, &binDir, "../cmd/collector", "../cmd/processor", "../cmd/reporter", "../cmd/analytics-cli"))
}

func TestSeparateDaemons(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	// The seed's variable names, exactly as its .env has them, plus the
	// test's own key prefix.
	redisURL := testenv.RedisURL(t)
	env := []string{
		"REDIS_URL=" + redisURL, "MONGODB_URI=" + testenv.MongoDB(t), "QUEUE_PREFIX=" + prefix,
		"INGESTION_PORT=0", "REPORTING_PORT=0", "HOST=127.0.0.1", "LEASE_TTL=2s",
	}
	col := testenv.StartProcess(t, binDir, "collector", env)
	p1 := testenv.StartProcess(t, binDir, "processor", env)
	p2 := testenv.StartProcess(t, binDir, "processor", env)
	rep := testenv.StartProcess(t, binDir, "reporter", env)

	for _, ev := range []string{
		`{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-001","timestamp":"2025-11-12T10:00:00Z"}`,
		`{"site_id":"site-abc-123","event_type":"page_view","path":"/blog/post-1","user_id":"user-002","timestamp":"2025-11-12T10:05:00Z"}`,
		`{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-001","timestamp":"2025-11-12T10:10:00Z"}`,
	} {
		resp, err := http.Post(col.URL+"/event", "application/json", strings.NewReader(ev))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("POST /event: %s", resp.Status)
		}
	}
	want := `{"site_id":"site-abc-123","date":"2025-11-12","total_views":3,"unique_users":2,"top_paths":[{"path":"/pricing","views":2},{"path":"/blog/post-1","views":1}]}`
	testenv.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(rep.URL + "/stats?site_id=site-abc-123&date=2025-11-12")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.TrimSpace(string(b)) != want {
			return fmt.Errorf("stats = %s", b)
		}
		return nil
	})
	for _, d := range []*testenv.Process{col, p1, p2, rep} {
		d.Stop(t, 20*time.Second)
	}
}

func TestStartupErrorsAreClear(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)
	redisURL := testenv.RedisURL(t)
	_, prefix := testenv.Redis(t)
	for _, tt := range []struct {
		name string
		bin  string
		args []string
		env  []string
		want []string
		not  string // must not appear (a flag the command lacks)
	}{
		{"collector without Redis", "collector", nil, []string{"REDIS_URL=redis://127.0.0.1:1/0", "INGESTION_PORT=0"}, []string{"cannot reach Redis at 127.0.0.1:1", "--redis-url"}, ""},
		{"reporter without MongoDB", "reporter", nil, []string{"MONGODB_URI=mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=500", "REPORTING_PORT=0"}, []string{"mongodb: cannot reach mongodb://127.0.0.1:1/x"}, ""},
		{"bad port", "collector", nil, []string{"INGESTION_PORT=abc"}, []string{`INGESTION_PORT="abc" is not a number`}, ""},
		{"collector port taken", "collector", nil, []string{"REDIS_URL=" + redisURL, "HOST=127.0.0.1", "INGESTION_PORT=" + busyPort}, []string{"listen on port " + busyPort, "choose another with --port or INGESTION_PORT"}, ""},
		{"reporter port taken", "reporter", nil, []string{"MONGODB_URI=" + testenv.MongoDB(t), "HOST=127.0.0.1", "REPORTING_PORT=" + busyPort}, []string{"choose another with --port or REPORTING_PORT"}, ""},
		{"serve port taken", "analytics-cli", []string{"serve"}, []string{"REDIS_URL=" + redisURL, "MONGODB_URI=" + testenv.MongoDB(t), "HOST=127.0.0.1", "REPORTING_PORT=0", "INGESTION_PORT=" + busyPort}, []string{"choose another with --ingestion-port or INGESTION_PORT"}, "--port "},
		// LEASE_TTL=0 used to panic in time.NewTicker and leave a partition held.
		{"processor lease ttl zero", "processor", nil, []string{"LEASE_TTL=0s", "REDIS_URL=redis://127.0.0.1:1/0"}, []string{"lease TTL 0s is out of range: use 1s to 10m0s (set LEASE_TTL or --lease-ttl)"}, "panic"},
		{"rebuild lease ttl zero", "analytics-cli", []string{"rebuild", "--site", "s"}, []string{"LEASE_TTL=0s", "REDIS_URL=redis://127.0.0.1:1/0"}, []string{"lease TTL 0s is out of range", "(set LEASE_TTL)"}, "panic"},
		{"collector queue timeout flag", "collector", []string{"--queue-timeout", "5ms"}, []string{"REDIS_URL=redis://127.0.0.1:1/0"}, []string{"queue timeout 5ms is out of range: use 10ms to 1m0s (set QUEUE_TIMEOUT or --queue-timeout)"}, ""},
		{"serve log format", "analytics-cli", []string{"serve"}, []string{"LOG_FORMAT=xml"}, []string{`log format "xml" is unknown: use json or console (set LOG_FORMAT or --log-format)`}, ""},
		{"reporter batch size", "reporter", nil, []string{"BATCH_SIZE=0"}, []string{"batch size 0 is out of range: use 1 to 10000 (set BATCH_SIZE)"}, "--batch-size"},
		{"queue partitions", "analytics-cli", []string{"queue", "--partitions", "0"}, []string{"REDIS_URL=redis://127.0.0.1:1/0"}, []string{"partitions 0 is out of range: use 1 to 1024 (set PARTITIONS or --partitions)"}, ""},
		{"collector sites mode", "collector", []string{"--sites-mode", "closed"}, []string{"REDIS_URL=redis://127.0.0.1:1/0"}, []string{`sites mode "closed" is unknown: use open or registered (set SITES_MODE or --sites-mode)`}, ""},
		{"collector negative rate", "collector", nil, []string{"RATE_LIMIT_IP=-1", "RATE_LIMIT_SITE_BURST=0"}, []string{"rate limit -1 is negative", "(set RATE_LIMIT_IP or --rate-limit-ip)", "burst 0 is below 1 (set RATE_LIMIT_SITE_BURST)"}, ""},
		{"collector registered without MongoDB", "collector", nil, []string{"REDIS_URL=" + redisURL, "QUEUE_PREFIX=" + prefix, "HOST=127.0.0.1", "INGESTION_PORT=0", "SITES_MODE=registered"}, []string{"SITES_MODE=registered: the collector reads the sites from MongoDB: set MONGODB_URI"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, tt.bin), tt.args...)
			cmd.Env = append(os.Environ(), tt.env...)
			cmd.Dir = t.TempDir() // no .env, no ./data
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exited 0; output %s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("err %v, output %s; want %q", err, out, w)
				}
			}
			if tt.not != "" && strings.Contains(string(out), tt.not) {
				t.Fatalf("output %s names %q", out, tt.not)
			}
		})
	}
}

func TestWarnsAboutAnEvictingRedis(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	rs, err := embedded.RedisServer(context.Background(), t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	opt, _ := redis.ParseURL(rs.URL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.ConfigSet(context.Background(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	col := testenv.StartProcess(t, binDir, "collector", []string{"REDIS_URL=" + rs.URL, "INGESTION_PORT=0", "HOST=127.0.0.1"})
	if out := col.Out.String(); !strings.Contains(out, `"level":"warn"`) || !strings.Contains(out, "EVICT queued events") || !strings.Contains(out, "allkeys-lru") {
		t.Fatalf("no loud warning about allkeys-lru:\n%s", out)
	}
	col.Stop(t, 10*time.Second)
}

func freePort(t *testing.T) int { return testenv.FreePort(t) }
