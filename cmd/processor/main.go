// Command processor moves events from Redis into MongoDB. Run as many as you
// like: they share the partitions.
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
		fmt.Fprintln(os.Stderr, "processor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	command := &cli.App{
		Name:    "processor",
		Version: version.String(),
		Usage:   "store queued events in MongoDB and keep the rollups",
		Flags:   cfg.ProcessorFlags(),
		Writer:  stdout,
		Action: func(c *cli.Context) error {
			if err := cfg.Validate(c.App.Flags); err != nil {
				return err
			}
			log, err := cfg.Logger(stdout, "processor")
			if err != nil {
				return err
			}
			rdb, err := app.ConnectRedis(c.Context, &cfg, log)
			if err != nil {
				return err
			}
			defer rdb.Close()
			store, err := app.OpenStore(c.Context, &cfg)
			if err != nil {
				return err
			}
			defer store.Close(context.Background())
			explicit := c.IsSet(config.FlagPort) || cfg.SetInEnv("PROCESSOR_PORT")
			ln, err := app.ListenDefault(cfg.Host, cfg.ProcessorPort, explicit, "--port or PROCESSOR_PORT", log)
			if err != nil {
				return err
			}
			return app.RunProcessor(c.Context, &cfg, rdb, store, log, nil, ln)
		},
	}
	return command.RunContext(ctx, args)
}
