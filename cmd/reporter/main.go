// Command reporter is the stats API (port 3001): GET /stats from rollups.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reporter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	command := &cli.App{
		Name:    "reporter",
		Version: version.String(),
		Usage:   "serve GET /stats (views, unique users, top paths) from MongoDB rollups",
		Flags:   cfg.ReporterFlags(),
		Writer:  stdout,
		Action: func(c *cli.Context) error {
			if err := cfg.Validate(c.App.Flags); err != nil {
				return err
			}
			log, err := cfg.Logger(stdout, "reporter")
			if err != nil {
				return err
			}
			app.TuneReporterMemory(getenv, cfg.BlockCacheMB<<20)
			store, err := app.OpenStore(c.Context, &cfg)
			if err != nil {
				return err
			}
			defer store.Close(context.Background())
			ln, err := app.Listen(cfg.Host, cfg.ReportingPort, "--port or REPORTING_PORT")
			if err != nil {
				return err
			}
			// Redis only feeds the dashboard's realtime line, so the
			// reporter starts without it and answers the rest.
			var rdb redis.UniversalClient
			if cfg.HasRedis() {
				if rdb, err = app.RedisClient(&cfg); err != nil {
					return err
				}
				defer rdb.Close()
			}
			return app.RunReporter(c.Context, &cfg, store, rdb, ln, log, nil)
		},
	}
	return command.RunContext(ctx, args)
}
