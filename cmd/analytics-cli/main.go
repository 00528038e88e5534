// Command analytics-cli prints stats, rebuilds rollups, and runs the whole
// pipeline in one process for a quick start (`analytics-cli serve`).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "analytics-cli:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	app := &cli.App{
		Name:   "analytics-cli",
		Usage:  "self-hosted website analytics: stats, maintenance, and a one-command quick start",
		Writer: stdout,
		Commands: []*cli.Command{
			statsCommand(&cfg, stdout),
			serveCommand(&cfg, stdout),
			rebuildCommand(&cfg, stdout),
			queueCommand(&cfg, stdout),
		},
	}
	return app.RunContext(ctx, args)
}
