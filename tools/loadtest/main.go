// Command loadtest measures the hot paths against real servers and prints
// figures with a baseline taken in the same run, because shared machines are
// noisy and only ratios travel:
//
//	loadtest ingest  -url http://127.0.0.1:3000 -c 50 -n 100000 [-batch 100]
//	loadtest process -n 100000            (REDIS_URL, MONGODB_URI or embedded)
//	loadtest stats   -sizes 10000,1000000 (MONGODB_URI or embedded FerretDB)
//	loadtest paths   -sizes 100,10000,100000 (distinct paths per site-day; MONGODB_URI or embedded FerretDB)
//	loadtest dashboard -n 1000000      (time to the dashboard drawn in Chromium; MONGODB_URI or embedded FerretDB)
//	loadtest retention -n 1000000      (processor events/s with retention deleting beside it; a pass's cost)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: loadtest ingest|process|stats|paths|dashboard|retention|queries [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "ingest":
		return ingest(ctx, fs, args[1:], stdout)
	case "process":
		return process(ctx, fs, args[1:], getenv, stdout)
	case "stats":
		return statsLatency(ctx, fs, args[1:], getenv, stdout)
	case "paths":
		return pathsLoad(ctx, fs, args[1:], getenv, stdout)
	case "dashboard":
		return dashboardLoad(ctx, fs, args[1:], getenv, stdout)
	case "retention":
		return retentionLoad(ctx, fs, args[1:], getenv, stdout)
	case "queries":
		return queriesLoad(ctx, fs, args[1:], getenv, stdout)
	}
	return fmt.Errorf("unknown command %q: use ingest, process, stats, paths, dashboard, retention or queries", args[0])
}
