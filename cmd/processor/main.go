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
		Flags:   flags(&cfg),
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

// flags are the processor's flags, writing into cfg.
func flags(cfg *config.Config) []cli.Flag {
	return append(append(append([]cli.Flag{
		&cli.IntFlag{Name: config.FlagPort, Value: cfg.ProcessorPort, Destination: &cfg.ProcessorPort, Usage: "HTTP port of /healthz, /readyz and /metrics; 0 picks a free one (env PROCESSOR_PORT)"},
		&cli.StringFlag{Name: "host", Value: cfg.Host, Destination: &cfg.Host, Usage: "interface to listen on; empty means all (env HOST)"},
		cfg.MetricsPortFlag(), cfg.MetricsHostFlag(),
		&cli.IntFlag{Name: "batch-size", Value: cfg.BatchSize, Destination: &cfg.BatchSize, Usage: "entries per batch (env BATCH_SIZE)"},
		&cli.IntFlag{Name: "workers", Value: cfg.Workers, Destination: &cfg.Workers, Usage: "batches (of different partitions) stored at once, 1-64 (env PROCESSOR_WORKERS)"},
		&cli.IntFlag{Name: "retention-days", Value: cfg.RetentionDays, Destination: &cfg.RetentionDays, Usage: "days of raw events kept for sites without a retention of their own; 0 keeps them forever (env RETENTION_DAYS)"},
		&cli.DurationFlag{Name: "lease-ttl", Value: cfg.LeaseTTL, Destination: &cfg.LeaseTTL, Usage: "how long a dead processor's partitions wait before takeover (env LEASE_TTL)"},
		&cli.BoolFlag{Name: "store-events", Value: cfg.StoreEvents, Destination: &cfg.StoreEvents, Usage: "keep raw events (needed by rebuild) (env STORE_EVENTS)"},
	}, cfg.RedisFlags()...), cfg.MongoFlags()...), cfg.LogFlags()...)
}
