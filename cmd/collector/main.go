// Command collector is the ingestion API (port 3000): it validates events and
// queues them in Redis.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "collector:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	command := &cli.App{
		Name:    "collector",
		Version: version.String(),
		Usage:   "accept analytics events over HTTP and queue them in Redis",
		Flags:   cfg.CollectorFlags(),
		Writer:  stdout,
		Action: func(c *cli.Context) error {
			if err := cfg.Validate(c.App.Flags); err != nil {
				return err
			}
			log, err := cfg.Logger(stdout, "collector")
			if err != nil {
				return err
			}
			rdb, err := app.ConnectRedis(c.Context, &cfg, log)
			if err != nil {
				return err
			}
			defer rdb.Close()
			ln, err := app.Listen(cfg.Host, cfg.IngestionPort, "--port or INGESTION_PORT")
			if err != nil {
				return err
			}
			app.TuneCollectorGC(getenv)
			return app.RunCollector(c.Context, &cfg, rdb, ln, log, nil)
		},
	}
	return command.RunContext(ctx, args)
}
