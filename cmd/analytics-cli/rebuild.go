package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/daemon"
	"github.com/siteanalytics/analytics/redisqueue"
)

func rebuildCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var site string
	return &cli.Command{
		Name:  "rebuild",
		Usage: "recompute a site's rollups from its raw events (repair, migrations)",
		Description: "While it runs it holds the site's queue partition, so processors leave that partition's\n" +
			"entries waiting in Redis and nothing is counted twice or missed.",
		UsageText: "analytics-cli rebuild --site site-abc-123",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "site", Required: true, Destination: &site, Usage: "site id"},
		}, cfg.RedisFlags()...), cfg.MongoFlags()...),
		Action: func(c *cli.Context) error {
			log, err := cfg.Logger(io.Discard, "rebuild")
			if err != nil {
				return err
			}
			rdb, err := daemon.ConnectRedis(c.Context, cfg, log)
			if err != nil {
				return err
			}
			defer rdb.Close()
			store, err := daemon.OpenStore(c.Context, cfg)
			if err != nil {
				return err
			}
			defer store.Close(context.Background())
			release, err := redisqueue.HoldPartition(c.Context, rdb, daemon.Keys(cfg), site, "rebuild", cfg.LeaseTTL,
				func(p int) {
					fmt.Fprintf(stdout, "waiting for partition %d: a processor holds it (at most %v)...\n", p, cfg.LeaseTTL)
				})
			if err != nil {
				return err
			}
			defer release()
			fmt.Fprintf(stdout, "rebuilding %s: reading raw events...\n", site)
			res, err := store.Rebuild(c.Context, site, func(n int) {
				fmt.Fprintf(stdout, "  %d events read\n", n)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "rebuilt %s: %d events, %d days, %d unique users, in %v\n",
				site, res.Events, res.Days, res.Users, res.Elapsed.Round(1e6))
			return nil
		},
	}
}
