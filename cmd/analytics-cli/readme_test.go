package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// readmeImports are the packages a README fragment (a Go block that is not
// a whole program) may use, by the name it uses them under.
var readmeImports = map[string]string{
	"context": "context", "log": "log", "http": "net/http", "time": "time", "fmt": "fmt",
	"sdk": "github.com/siteanalytics/analytics/sdk",
}

// readmeProgram makes a Go block of the README a program: a whole program
// as it is, a fragment inside main with the imports it uses. Its collector
// is the test's.
func readmeProgram(block, collector string) string {
	block = strings.ReplaceAll(block, "http://localhost:3000", collector)
	if strings.HasPrefix(block, "package main") {
		return block
	}
	var imports []string
	for name, path := range readmeImports {
		if regexp.MustCompile(`\b` + name + `\.`).MatchString(block) {
			imports = append(imports, fmt.Sprintf("%q", path))
		}
	}
	sort.Strings(imports)
	return "package main\n\nimport (\n" + strings.Join(imports, "\n") + "\n)\n\nfunc main() {\n" + block + "\n}\n"
}

// TestReadmeGoBlocks compiles and runs every Go block of the README
// against the real pipeline, and checks what the Segment example sent.
func TestReadmeGoBlocks(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d Go blocks in the README; the SDK and the Segment examples are expected", len(blocks))
	}
	p := startPipeline(t)
	for i, b := range blocks {
		dir := t.TempDir()
		file := filepath.Join(dir, "main.go")
		if err := os.WriteFile(file, []byte(readmeProgram(b[1], p.collector)), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b[1], "signal.NotifyContext") {
			readmeServer(t, p, file)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		// Run from this module so the program builds with its dependencies.
		cmd := exec.CommandContext(ctx, "go", "run", file)
		// A program that outlives the deadline (go run's child keeps the
		// output open) must not hold the test: stop waiting soon after.
		cmd.WaitDelay = 10 * time.Second
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README Go block %d does not run: %v\n%s\n--- block:\n%s", i+1, err, out, b[1])
		}
	}
	// The Segment example: one page view of /pricing by user-001 from the
	// newsletter, and an order.
	today := time.Now().UTC().Format("2006-01-02")
	testenv.Eventually(t, 30*time.Second, func() error {
		st, raw := getStats(t, p.reporter, "my-shop", today)
		if st.TotalViews != 1 || st.UniqueUsers != 1 || len(st.TopPaths) != 1 || st.TopPaths[0].Path != "/pricing" {
			return fmt.Errorf("/stats = %s", raw)
		}
		return nil
	})
	got := getJSON(t, p.reporter+"/api/v1/stats/breakdown?site_id=my-shop&period=day&date="+today+"&property=event:name&metrics=events")["results"]
	want := []any{map[string]any{"name": "Order Completed", "events": 1.0}, map[string]any{"name": "page_view", "events": 1.0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events by name %v, want %v", got, want)
	}
}

// readmeServer runs the README's web server example: 10 requests, then
// SIGTERM, which it must survive with every page view delivered and exit
// within its shutdown deadline.
func readmeServer(t *testing.T, p *pipeline, file string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, file).CombinedOutput(); err != nil {
		t.Fatalf("the README's server does not build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ADDR="+addr, "COLLECTOR_URL="+p.collector)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	testenv.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/readme-0")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	for i := 1; i < 10; i++ {
		resp, err := http.Get(fmt.Sprintf("http://%s/readme-%d", addr, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the README's server exited with %v after SIGTERM:\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the README's server did not stop within 15 s of SIGTERM:\n%s", out.String())
	}
	t.Logf("the README's server stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	testenv.Eventually(t, 30*time.Second, func() error {
		st, raw := getStats(t, p.reporter, "site-abc-123", time.Now().UTC().Format("2006-01-02"))
		n := 0
		for _, tp := range st.TopPaths {
			if strings.HasPrefix(tp.Path, "/readme-") {
				n += int(tp.Views)
			}
		}
		if n != 10 {
			return fmt.Errorf("%d of the 10 page views the server saw before SIGTERM are counted: %s", n, raw)
		}
		return nil
	})
}
