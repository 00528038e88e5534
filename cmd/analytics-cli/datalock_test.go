package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// One process per data folder. Two serves started together on one empty
// folder with embedded servers: one runs, the other exits at once naming
// it, before starting a second redis-server on the same AOF or a second
// FerretDB on the same SQLite files. While serve runs, embedded, backup
// and restore refuse the folder the same way.
func TestOneServePerDataFolder(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := map[string]string{"DATA_DIR": data, "LOG_FORMAT": "json", "LOG_LEVEL": "warn"}
	getenv := func(k string) string { return env[k] }
	args := []string{"analytics-cli", "serve", "--host", "127.0.0.1", "--ingestion-port", "0", "--reporting-port", "0"}

	type racer struct {
		out    *testenv.Buffer
		done   chan error
		cancel context.CancelFunc
	}
	racers := make([]*racer, 2)
	for i := range racers {
		ctx, cancel := context.WithCancel(context.Background())
		r := &racer{out: &testenv.Buffer{}, done: make(chan error, 1), cancel: cancel}
		racers[i] = r
		go func() { r.done <- run(ctx, args, getenv, r.out) }()
	}
	t.Cleanup(func() {
		for _, r := range racers {
			r.cancel()
		}
		for _, r := range racers {
			select {
			case <-r.done:
			case <-time.After(60 * time.Second):
				t.Errorf("a serve did not stop within 60s")
			}
		}
	})
	// The loser exits quickly; the winner runs on.
	var loser, winner *racer
	var lost error
	start := time.Now()
	select {
	case lost = <-racers[0].done:
		loser, winner = racers[0], racers[1]
	case lost = <-racers[1].done:
		loser, winner = racers[1], racers[0]
	case <-time.After(90 * time.Second):
		t.Fatalf("two serves on one data folder both still run after 90s:\n%s\n---\n%s", racers[0].out, racers[1].out)
	}
	loser.done <- lost
	took := time.Since(start)
	want := fmt.Sprintf("in use by `analytics-cli serve` (pid %d", os.Getpid())
	if lost == nil || !strings.Contains(lost.Error(), want) || !strings.Contains(lost.Error(), "DATA_DIR") {
		t.Fatalf("second serve: %v; want an error naming the running one (%q)\n%s", lost, want, loser.out)
	}
	if strings.Contains(loser.out.String(), "Analytics is running") {
		t.Fatalf("the second serve said it was running:\n%s", loser.out)
	}
	url := testenv.WaitMatch(t, winner.out, regexp.MustCompile(`Collector\s+(http://\S+)`), 90*time.Second)
	testenv.WaitHealthy(t, url)
	t.Logf("second serve refused after %v: %v", took, lost)

	// The winner's collector and reporter are in the loser's message once
	// the winner has written them.
	p := &pipeline{env: env}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"serve", []string{"serve", "--host", "127.0.0.1", "--ingestion-port", "0", "--reporting-port", "0"}},
		{"embedded", []string{"embedded"}},
		{"backup", []string{"backup", "-o", filepath.Join(dir, "b.tar.gz")}},
		{"restore", []string{"restore", filepath.Join(dir, "b.tar.gz")}},
	} {
		start := time.Now()
		_, err := runCLI(t, p, tc.args...)
		if err == nil || !strings.Contains(err.Error(), want) || time.Since(start) > 10*time.Second {
			t.Fatalf("%s while serve runs: %v after %v; want an error naming it (%q)", tc.name, err, time.Since(start), want)
		}
		if tc.name == "serve" && !strings.Contains(err.Error(), ", collector "+url) {
			t.Fatalf("a second serve does not name the running one's collector %s: %v", url, err)
		}
	}
}
