package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/visits"
)

func forgetCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var site, user string
	var noRebuild bool
	return &cli.Command{
		Name:  "forget",
		Usage: "delete a visitor's raw events, their rows in the event blocks and their visit state",
		Description: "For data-subject requests. Holding the site's queue partition (as rebuild does), deletes the\n" +
			"visitor's raw events, rewrites every hour of the site's event blocks that holds them without them\n" +
			"(their old documents deleted), and deletes their visit state in Redis: the stats stop counting them\n" +
			"at once, and no stored block keeps a byte of them. Also after retention deleted raw events.\n" +
			"Not erased: the dashboard's realtime counters in Redis (expire within 35 minutes), events of the\n" +
			"visitor still queued in Redis (run forget again once `analytics-cli queue` shows no backlog), and\n" +
			"backups and exports made before.",
		UsageText: "analytics-cli forget --site site-abc-123 --user user-001",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "site", Required: true, Destination: &site, Usage: "site id"},
			&cli.StringFlag{Name: "user", Required: true, Destination: &user, Usage: "the visitor's user_id"},
			&cli.BoolFlag{Name: "no-rebuild", Destination: &noRebuild, Hidden: true, Usage: "accepted for scripts of earlier versions; nothing is rebuilt any more"},
		}, cfg.RedisFlags()...), cfg.MongoFlags()...),
		Action: func(c *cli.Context) error {
			rdb, store, closeAll, err := openPipeline(c.Context, cfg, "forget")
			if err != nil {
				return err
			}
			defer closeAll()
			hold, err := redisqueue.HoldPartition(c.Context, rdb, app.Keys(cfg), site, "forget", cfg.LeaseTTL,
				func(p int, why string) {
					fmt.Fprintf(stdout, "waiting for partition %d: %s (at most %v)...\n", p, why, 2*cfg.LeaseTTL)
				})
			if err != nil {
				return fmt.Errorf("forget %s on %s: %w", user, site, err)
			}
			res, err := store.Forget(c.Context, site, user, hold)
			hold.Release(err == nil)
			if err != nil {
				return fmt.Errorf("forget %s on %s: %w (run it again: what was deleted stays deleted)", user, site, err)
			}
			ann := visits.New(rdb, cfg.Prefix, cfg.VisitTimeout)
			key := ann.Key(site, user)
			ann.Close()
			if err := rdb.Del(c.Context, key).Err(); err != nil {
				return fmt.Errorf("forget %s on %s: delete the visit state in Redis: %w", user, site, err)
			}
			fmt.Fprintf(stdout, "deleted %s of %s on %s, %s of the event blocks (%s rewritten), and their visit state in Redis\n",
				plural(res.Events, "raw event"), user, site, plural(res.Rows, "row"), plural(res.Hours, "hour"))
			if noRebuild {
				fmt.Fprintln(stdout, "(--no-rebuild is no longer needed: forget rewrites the blocks itself)")
			}
			return nil
		},
	}
}
