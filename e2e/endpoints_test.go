package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// runCLI runs analytics-cli with the data folder dir and nothing else
// configured, and returns its stdout, stderr and exit error.
func runCLI(t *testing.T, dir string, extraEnv []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "analytics-cli"), args...)
	cmd.Env = append(append(cleanEnv(), "DATA_DIR="+dir), extraEnv...)
	cmd.Dir = t.TempDir() // no .env from the repository
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// The commands find the servers serve started on ports of its choosing,
// through the file it keeps in its data folder while it runs.
func TestCommandsFindServesServers(t *testing.T) {
	t.Parallel()
	p := startServe(t)
	file := filepath.Join(p.dataDir, "serve.json")
	var e map[string]any
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("serve keeps no endpoints file: %v", err)
	}
	if err := json.Unmarshal(b, &e); err != nil || e["collector"] != p.collector || e["reporter"] != p.reporter || !strings.HasPrefix(e["redis_url"].(string), "redis://127.0.0.1:") {
		t.Fatalf("serve.json: %s (%v)", b, err)
	}
	if code := postEvent(t, p.collector, `{"site_id":"found.example","event_type":"page_view","path":"/","user_id":"u1"}`); code != 202 {
		t.Fatalf("POST /event: %d", code)
	}
	waitViews(t, p.reporter, "found.example", 1)

	// (The daemons add their counters to the fleet's every second.)
	testenv.Eventually(t, 30*time.Second, func() error {
		out, errOut, err := runCLI(t, p.dataDir, nil, "queue")
		if err != nil || !strings.Contains(out, "accepted       1") || !strings.Contains(errOut, "Using the Redis of `analytics-cli serve`") {
			return fmt.Errorf("queue: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		return nil
	})
	var out, errOut string
	out, errOut, err = runCLI(t, p.dataDir, nil, "stats", "--site", "found.example", "--json")
	if err != nil || !strings.Contains(out, `"total_views":1`) {
		t.Errorf("stats: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	out, errOut, err = runCLI(t, p.dataDir, nil, "rebuild", "--site", "found.example")
	if err != nil || !strings.Contains(out, "rebuilt found.example: 1 event on 1 day,") {
		t.Errorf("rebuild: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	// Into a pipe: no progress bar (its carriage returns), only the lines.
	if strings.ContainsAny(out+errOut, "\r\x1b") || strings.Contains(out, "[###") {
		t.Errorf("rebuild drew a progress bar into a pipe:\n%q", out)
	}
	// --data-dir points a command elsewhere than DATA_DIR (here empty).
	out, errOut, err = runCLI(t, t.TempDir(), nil, "stats", "--data-dir", p.dataDir, "--site", "found.example", "--json")
	if err != nil || !strings.Contains(out, `"total_views":1`) {
		t.Errorf("stats --data-dir: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	// Another Redis named by the user is used, and the command says so.
	other := testenv.RedisURL(t)
	_, errOut, err = runCLI(t, p.dataDir, []string{"REDIS_URL=" + other}, "queue")
	if err != nil || !strings.Contains(errOut, "Note: using the Redis your settings name") {
		t.Errorf("queue with REDIS_URL: %v\nstderr:\n%s", err, errOut)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("serve.json is still there after serve stopped: %v", err)
	}
}

// Run outside serve's folder, a command says where it looked for serve's
// servers and how to point it there, instead of only "MONGODB_URI:
// required"; a serve.json left by a serve that stopped is named as such;
// --data-dir finds a running serve (in TestCommandsFindServesServers).
func TestCommandsOutsideTheDataFolder(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{{"rebuild", "--site", "x"}, {"sites", "list"}, {"export", "--site", "x"}} {
		_, errOut, err := runCLI(t, empty, nil, args...)
		for _, want := range []string{"MONGODB_URI: required", "serve.json not found in " + empty, "--data-dir", "DATA_DIR"} {
			if err == nil || !strings.Contains(errOut, want) {
				t.Errorf("%s outside the data folder: %v; stderr lacks %q:\n%s", strings.Join(args, " "), err, want, errOut)
			}
		}
	}
	// A serve.json whose process is gone.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	stale := t.TempDir()
	if err := os.WriteFile(filepath.Join(stale, "serve.json"), []byte(fmt.Sprintf(`{"pid":%d,"command":"serve","redis_url":"redis://127.0.0.1:1/0","mongodb_uri":"mongodb://127.0.0.1:1/x"}`, gone.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCLI(t, stale, nil, "rebuild", "--site", "x")
	if err == nil || !strings.Contains(errOut, "no longer running (pid "+fmt.Sprint(gone.Process.Pid)+")") {
		t.Errorf("rebuild with a stale serve.json: %v\n%s", err, errOut)
	}
}

// `analytics-cli embedded` runs only the servers, for the separate daemons.
func TestEmbeddedServers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(binDir, "analytics-cli"), "embedded")
	cmd.Env = append(cleanEnv(), "DATA_DIR="+dir)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	})
	redisURL := testenv.WaitMatch(t, out, regexp.MustCompile(`export REDIS_URL=(\S+)`), 60*time.Second)
	mongoURI := testenv.WaitMatch(t, out, regexp.MustCompile(`export MONGODB_URI=(\S+)`), 60*time.Second)

	// The daemons run against them.
	env := []string{"REDIS_URL=" + redisURL, "MONGODB_URI=" + mongoURI, "INGESTION_PORT=0", "REPORTING_PORT=0", "LOG_FORMAT=json"}
	col := testenv.StartProcess(t, binDir, "collector", env)
	testenv.StartProcess(t, binDir, "processor", env)
	rep := testenv.StartProcess(t, binDir, "reporter", env)
	cURL, rURL := col.URL, rep.URL
	if code := postEvent(t, cURL, `{"site_id":"emb.example","event_type":"page_view","path":"/","user_id":"u1"}`); code != 202 {
		t.Fatalf("POST /event: %d", code)
	}
	waitViews(t, rURL, "emb.example", 1)
	// And the commands find them too.
	testenv.Eventually(t, 30*time.Second, func() error {
		if out, errOut, err := runCLI(t, dir, nil, "queue"); err != nil || !strings.Contains(out, "stored         1") {
			return fmt.Errorf("queue: %v\n%s\n%s", err, out, errOut)
		}
		return nil
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("embedded exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("embedded did not stop on SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, "serve.json")); !os.IsNotExist(err) {
		t.Errorf("serve.json is still there: %v", err)
	}
}

// A command that cannot reach Redis says so in one line, without the
// client library's own noise.
func TestQueueAgainstADeadRedis(t *testing.T) {
	t.Parallel()
	_, errOut, err := runCLI(t, t.TempDir(), []string{"REDIS_URL=redis://127.0.0.1:1/0"}, "queue")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if err == nil || len(lines) != 1 || !strings.Contains(lines[0], "cannot reach Redis at 127.0.0.1:1") {
		t.Errorf("queue against a dead Redis: %v, stderr:\n%s", err, errOut)
	}
}
