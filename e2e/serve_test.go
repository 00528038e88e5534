package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// serveProcess is `analytics-cli serve` running as a child process with
// its own data folder, so it starts its own redis-server child.
type serveProcess struct {
	cmd                 *exec.Cmd
	out                 *testenv.Buffer
	done                chan error
	dataDir             string
	collector, reporter string
	redisPID            int
}

// cleanEnv is the test's environment without anything that could point a
// command at another Redis or MongoDB.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_ADDRS", "MONGODB_URI", "DATA_DIR", "LOG_FORMAT", "LOG_LEVEL",
			"INGESTION_PORT", "REPORTING_PORT", "HOST", "QUEUE_PREFIX", "REPORTER_URL":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func startServe(t *testing.T) *serveProcess {
	t.Helper()
	p := &serveProcess{out: &testenv.Buffer{}, done: make(chan error, 1), dataDir: t.TempDir()}
	p.cmd = exec.Command(filepath.Join(binDir, "analytics-cli"), "serve")
	p.cmd.Env = append(cleanEnv(), "DATA_DIR="+p.dataDir, "MONGODB_URI="+testenv.MongoDB(t), "HOST=127.0.0.1",
		"INGESTION_PORT=0", "REPORTING_PORT=0", "LOG_FORMAT=json", "LEASE_TTL=2s")
	p.cmd.Dir = p.dataDir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("serve output:\n%s", p.out.String())
		}
	})
	p.collector = testenv.WaitMatch(t, p.out, regexp.MustCompile(`Collector\s+(http://\S+)`), 60*time.Second)
	p.reporter = testenv.WaitMatch(t, p.out, regexp.MustCompile(`Reporter\s+(http://\S+)`), 60*time.Second)
	pid := testenv.WaitMatch(t, p.out, regexp.MustCompile(`redis-server child \(pid (\d+)\)`), 10*time.Second)
	p.redisPID, _ = strconv.Atoi(pid)
	testenv.WaitHealthy(t, p.collector)
	testenv.WaitHealthy(t, p.reporter)
	return p
}

// wait returns serve's exit error, failing the test if it runs past d.
func (p *serveProcess) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		t.Fatalf("serve still running after %v", d)
		return nil
	}
}

func postEvent(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url+"/event", "application/json", strings.NewReader(body))
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func totalViews(url, site string) (int, error) {
	resp, err := http.Get(url + "/stats?site_id=" + site)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		TotalViews int `json:"total_views"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.TotalViews, nil
}

func waitViews(t *testing.T, url, site string, want int) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		n, err := totalViews(url, site)
		if err != nil || n != want {
			return fmt.Errorf("total_views %d (%v), want %d", n, err, want)
		}
		return nil
	})
}

// TestServeRestartsItsRedis kills serve's redis-server child with SIGKILL
// and shows serve starting it again (logged, in the JSON that LOG_FORMAT
// asks for) and the pipeline accepting and counting events again, without
// restarting serve; events accepted before the crash are still counted
// once.
func TestServeRestartsItsRedis(t *testing.T) {
	t.Parallel()
	p := startServe(t)
	ev := func(id string) string {
		return `{"id":"` + id + `","site_id":"restart","event_type":"page_view","path":"/` + id + `","user_id":"u-` + id + `"}`
	}
	if s := postEvent(t, p.collector, ev("before")); s != 202 {
		t.Fatalf("POST /event before the crash: %d", s)
	}
	waitViews(t, p.reporter, "restart", 1)

	if err := syscall.Kill(p.redisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// A client retries with the same id until it is accepted.
	testenv.Eventually(t, 60*time.Second, func() error {
		if s := postEvent(t, p.collector, ev("after")); s != 202 {
			return fmt.Errorf("POST /event after the crash: %d", s)
		}
		return nil
	})
	t.Logf("redis-server killed; an event accepted again %v later", time.Since(killed).Round(time.Millisecond))
	line := testenv.WaitMatch(t, p.out, regexp.MustCompile(`(\{[^\n]*redis-server died; restarted it[^\n]*\})`), 10*time.Second)
	var logged struct {
		Level string `json:"level"`
		PID   int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(line), &logged); err != nil || logged.Level != "warn" || logged.PID == 0 || logged.PID == p.redisPID {
		t.Fatalf("restart log line %s (%v): want JSON at warn with the new pid", line, err)
	}
	if err := syscall.Kill(logged.PID, 0); err != nil {
		t.Fatalf("the restarted redis-server %d is not running: %v", logged.PID, err)
	}
	waitViews(t, p.reporter, "restart", 2)
	if s := postEvent(t, p.collector, ev("later")); s != 202 {
		t.Fatalf("POST /event later: %d", s)
	}
	waitViews(t, p.reporter, "restart", 3)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM", err)
	}
	if err := syscall.Kill(logged.PID, 0); err == nil {
		t.Fatalf("redis-server %d outlived serve", logged.PID)
	}
}

// TestServeExitsWhenItsRedisCannotBeRestarted: a redis-server that cannot
// start again (here its AOF manifest is unreadable) makes serve exit
// non-zero with a clear message, so a supervisor notices, instead of the
// collector answering 503 forever.
func TestServeExitsWhenItsRedisCannotBeRestarted(t *testing.T) {
	t.Parallel()
	p := startServe(t)
	manifest := filepath.Join(p.dataDir, "redis", "appendonlydir", "appendonly.aof.manifest")
	if err := os.WriteFile(manifest, []byte("not a manifest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.redisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := p.wait(t, 90*time.Second)
	if err == nil {
		t.Fatalf("serve exited 0 with its Redis gone")
	}
	out := p.out.String()
	for _, want := range []string{"analytics-cli: embedded redis: redis-server on port", "could not be restarted 5 times in a row", "Invalid AOF manifest"} {
		if !strings.Contains(out, want) {
			t.Fatalf("serve exited (%v) without saying %q:\n%s", err, want, out)
		}
	}
	t.Logf("serve exited %v after its redis-server was killed: %v", time.Since(start).Round(time.Millisecond), err)
}
