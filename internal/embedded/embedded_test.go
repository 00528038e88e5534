package embedded_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/internal/testenv"
)

func freePort(t *testing.T) int { return testenv.FreePort(t) }

// startRedis starts a redis-server child and a supervisor of it; the
// returned channels carry every restart report and the supervisor's result.
func startRedis(t *testing.T, dir string) (*embedded.Server, *redis.Client, chan embedded.Restart, chan error) {
	t.Helper()
	s, err := embedded.RedisServer(context.Background(), dir, freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	opt, _ := redis.ParseURL(s.URL)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	reports := make(chan embedded.Restart, 100)
	result := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { result <- s.Supervise(ctx, 5, func(r embedded.Restart) { reports <- r }) }()
	return s, rdb, reports, result
}

func TestSuperviseRestartsAKilledRedisWithItsData(t *testing.T) {
	t.Parallel()
	s, rdb, reports, result := startRedis(t, t.TempDir())
	ctx := context.Background()
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "q", Values: []any{"e", "queued before the crash"}}).Err(); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		old := s.PID()
		if old == 0 {
			t.Fatal("no pid for a redis-server child")
		}
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-reports:
			if r.Err != nil || r.PID == 0 || r.PID == old || s.PID() != r.PID || !strings.Contains(r.Exit.Error(), "killed") {
				t.Fatalf("round %d: restart report %+v (old pid %d, now %d)", round, r, old, s.PID())
			}
			t.Logf("round %d: redis-server %d killed, %d answering %v later", round, old, r.PID, r.Downtime.Round(time.Millisecond))
		case err := <-result:
			t.Fatalf("round %d: supervisor gave up: %v", round, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no restart within 30s", round)
		}
		n, err := rdb.XLen(ctx, "q").Result()
		if err != nil || n != 1 {
			t.Fatalf("round %d: after the restart the stream holds %d entries (%v), want the 1 queued before", round, n, err)
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Supervise after Stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Supervise still running 15s after Stop")
	}
	if len(reports) != 0 {
		t.Fatalf("Stop was taken for a crash: %+v", <-reports)
	}
}

func TestSuperviseGivesUpWhenRedisCannotStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _, reports, result := startRedis(t, dir)
	// A manifest redis-server cannot read makes every restart fail at once.
	manifest := filepath.Join(dir, "appendonlydir", "appendonly.aof.manifest")
	if err := os.WriteFile(manifest, []byte("not a manifest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err == nil || !strings.Contains(err.Error(), "could not be restarted") || !strings.Contains(err.Error(), "Invalid AOF manifest") {
			t.Fatalf("Supervise returned %v; want why it gave up, with the end of redis.log", err)
		}
		t.Logf("gave up: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("Supervise did not give up within 60s")
	}
	failed := 0
	for len(reports) > 0 {
		if r := <-reports; r.Err != nil {
			failed++
		}
	}
	if failed == 0 || failed > 5 {
		t.Fatalf("%d failed attempts reported, want 1-5", failed)
	}
}

func TestSuperviseIsANoOpForInProcessServers(t *testing.T) {
	m, err := embedded.Miniredis()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if m.PID() != 0 {
		t.Fatalf("miniredis PID %d", m.PID())
	}
	if err := m.Supervise(context.Background(), 5, nil); err != nil {
		t.Fatal(err)
	}
}
