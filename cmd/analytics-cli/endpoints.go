package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/cmd/internal/app"
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
	e, why := findServe(dir)
	return e, why == ""
}

// findServe reads the file under dir; why says, when no running serve
// wrote it, what was found instead.
func findServe(dir string) (endpoints, string) {
	var e endpoints
	path := filepath.Join(dir, endpointsFile)
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return e, fmt.Sprintf("%s not found in %s", endpointsFile, dir)
	case err != nil:
		return e, fmt.Sprintf("%s cannot be read: %v", path, err)
	case json.Unmarshal(b, &e) != nil || e.PID <= 0:
		return e, fmt.Sprintf("%s is not a serve's endpoints file", path)
	case !alive(e.PID):
		return e, fmt.Sprintf("%s is left from a serve that is no longer running (pid %d)", path, e.PID)
	}
	return e, ""
}

// dataDirFlag points a command at the data folder of the serve whose
// servers it uses.
func dataDirFlag(cfg *config.Config) cli.Flag {
	return &cli.StringFlag{Name: "data-dir", Value: cfg.DataDir, Destination: &cfg.DataDir,
		Usage: "data folder of the running analytics-cli serve whose servers to use (env DATA_DIR)"}
}

// noServe is the advice for a command that found no running serve and has
// no settings of its own for a server it needs.
func noServe(why string) string {
	return "no running `analytics-cli serve` found (" + why + "): run this in the folder serve runs in, " +
		"point --data-dir (or DATA_DIR) at its data folder, or name your servers"
}

// needs says which servers a command talks to.
type needs struct{ redis, mongo, reporter, collector bool }

// useServe points a command without its own settings at the servers of
// the serve (or embedded) running from the data folder, and says so; a
// command that has its own settings and would act on other servers than
// that pipeline's says that instead. Notes go to w (stderr), so a
// command's output (--json) stays clean.
// With no running serve found, a command that needs MongoDB and has no
// MONGODB_URI fails here, saying where it looked; one that falls back on a
// default Redis or reporter says which, and hint is added to its error.
func useServe(c *cli.Context, cfg *config.Config, w io.Writer, n needs) (hint string, err error) {
	e, why := findServe(cfg.DataDir)
	if why != "" {
		if n.mongo && cfg.MongoURI == "" {
			return "", fmt.Errorf("MONGODB_URI: required; %s (MONGODB_URI or --mongodb-uri)", noServe(why))
		}
		var defaults []string
		if n.redis && !cfg.HasRedis() {
			defaults = append(defaults, "REDIS_URL")
			fmt.Fprintf(w, "Note: %s; using the Redis at %s (the default)\n", noServe(why), app.RedisDescription(cfg))
		}
		if n.reporter && !cfg.SetInEnv("REPORTER_URL") && !c.IsSet("reporter") {
			defaults = append(defaults, "REPORTER_URL")
		}
		if len(defaults) > 0 {
			hint = noServe(why) + " (" + strings.Join(defaults, ", ") + ")"
		}
		return hint, nil
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
			fmt.Fprintf(w, "Note: using the Redis your settings name (%s), not the one of %s (%s)\n", app.RedisDescription(cfg), where, e.RedisURL)
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
	return "", nil
}
