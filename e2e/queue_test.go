package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/testenv"
)

func cli(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "analytics-cli"), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("analytics-cli %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestQueueShowsAndListsDeadLetters: `queue` warns about waiting dead
// letters and says what to do; `queue deadletters` shows each with its
// partition, time, error and event, and neither removes any.
func TestQueueShowsAndListsDeadLetters(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	env := []string{"REDIS_URL=" + testenv.RedisURL(t), "QUEUE_PREFIX=" + prefix, "PARTITIONS=8"}
	out := cli(t, env, "queue")
	if !strings.Contains(out, "Dead letters    0") || strings.Contains(out, "Warning") {
		t.Fatalf("queue with no dead letters:\n%s", out)
	}
	if out := cli(t, env, "queue", "deadletters"); !strings.Contains(out, "No dead letters.") {
		t.Fatalf("queue deadletters with none:\n%s", out)
	}

	ctx := context.Background()
	for i := 0; i < 3; i++ {
		// The fields the processor writes when it dead-letters an entry.
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "deadletter", Values: []any{
			"partition", 3, "entry", fmt.Sprintf("1764000000000-%d", i),
			"e", fmt.Sprintf(`{"id":"ev-%d","site_id":"s","event_type":"page_view"}`, i),
			"error", fmt.Sprintf("mongodb: insert events: cause number %d", i), "at", "2026-11-25T10:00:0" + fmt.Sprint(i) + "Z",
		}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	out = cli(t, env, "queue")
	for _, want := range []string{"Dead letters    3", "Warning: 3 events could not be stored", "analytics-cli queue deadletters", "analytics-cli queue replay"} {
		if !strings.Contains(out, want) {
			t.Fatalf("queue output lacks %q:\n%s", want, out)
		}
	}
	out = cli(t, env, "queue", "deadletters", "--limit", "2")
	for _, want := range []string{"2 of 3 dead letter(s)", "partition 3, entry 1764000000000-0, dead-lettered 2026-11-25T10:00:00Z",
		"error: mongodb: insert events: cause number 0", `event: {"id":"ev-0","site_id":"s","event_type":"page_view"}`,
		"cause number 1", "analytics-cli queue replay"} {
		if !strings.Contains(out, want) {
			t.Fatalf("queue deadletters output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cause number 2") {
		t.Fatalf("--limit 2 listed a third:\n%s", out)
	}
	if n := rdb.XLen(ctx, prefix+"deadletter").Val(); n != 3 {
		t.Fatalf("%d dead letters left after listing them, want 3", n)
	}
}
