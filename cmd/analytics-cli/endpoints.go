package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
)

// endpointsFile is what `serve` (and `embedded`) write under the data
// folder while they run, so the other commands find the servers they
// started on ports chosen at start, instead of another Redis.
const endpointsFile = "serve.json"

type endpoints struct {
	PID       int       `json:"pid"`
	Command   string    `json:"command"`
	Collector string    `json:"collector,omitempty"`
	Reporter  string    `json:"reporter,omitempty"`
	RedisURL  string    `json:"redis_url"`
	MongoURI  string    `json:"mongodb_uri"`
	Prefix    string    `json:"queue_prefix"`
	Started   time.Time `json:"started"`
}

// writeEndpoints writes e under dir; the returned func removes it (only if
// it is still this process's).
func writeEndpoints(dir string, e endpoints) (func(), error) {
	e.PID, e.Started = os.Getpid(), time.Now().UTC().Truncate(time.Second)
	b, _ := json.MarshalIndent(e, "", "  ")
	path := filepath.Join(dir, endpointsFile)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return func() {}, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return func() {}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return func() {}, err
	}
	return func() {
		if cur, ok := readEndpoints(dir); ok && cur.PID == e.PID {
			_ = os.Remove(path)
		}
	}, nil
}

// readEndpoints reads the file under dir; false when there is none or the
// process that wrote it is gone.
func readEndpoints(dir string) (endpoints, bool) {
	var e endpoints
	b, err := os.ReadFile(filepath.Join(dir, endpointsFile))
	if err != nil || json.Unmarshal(b, &e) != nil || e.PID <= 0 {
		return e, false
	}
	return e, alive(e.PID)
}

// needs says which servers a command talks to.
type needs struct{ redis, mongo, reporter, collector bool }

// useServe points a command without its own settings at the servers of
// the serve (or embedded) running from the data folder, and says so; a
// command that has its own settings and would act on other servers than
// that pipeline's says that instead. Notes go to w (stderr), so a
// command's output (--json) stays clean.
func useServe(c *cli.Context, cfg *config.Config, w io.Writer, n needs) {
	e, ok := readEndpoints(cfg.DataDir)
	if !ok {
		return
	}
	where := fmt.Sprintf("`analytics-cli %s` running from %s (pid %d)", e.Command, cfg.DataDir, e.PID)
	set := func(env, flag string) bool { return cfg.SetInEnv(env) || (flag != "" && c.IsSet(flag)) }
	if n.redis && e.RedisURL != "" {
		switch {
		case !cfg.HasRedis():
			cfg.RedisURL = e.RedisURL
			if !set("QUEUE_PREFIX", "queue-prefix") && e.Prefix != "" {
				cfg.Prefix = e.Prefix
			}
			fmt.Fprintf(w, "Using the Redis of %s: %s\n", where, e.RedisURL)
		case cfg.RedisURL != e.RedisURL:
			fmt.Fprintf(w, "Note: using the Redis your settings name (%s), not the one of %s (%s)\n", cfg.RedisDescription(), where, e.RedisURL)
		}
	}
	if n.mongo && e.MongoURI != "" {
		switch {
		case cfg.MongoURI == "":
			cfg.MongoURI = e.MongoURI
			fmt.Fprintf(w, "Using the MongoDB of %s: %s\n", where, e.MongoURI)
		case cfg.MongoURI != e.MongoURI:
			fmt.Fprintf(w, "Note: using MONGODB_URI from your settings, not the MongoDB of %s (%s)\n", where, e.MongoURI)
		}
	}
	if n.reporter && e.Reporter != "" && !set("REPORTER_URL", "reporter") {
		cfg.ReporterURL = e.Reporter
	}
	if n.collector && e.Collector != "" && !set("COLLECTOR_URL", "collector") {
		cfg.CollectorURL = e.Collector
	}
}
