package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/visits"
)

func forgetCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var site, user string
	var noRebuild bool
	return &cli.Command{
		Name:  "forget",
		Usage: "delete a visitor's raw events and visitor documents, and recompute the site's rollups without them",
		Description: "For data-subject requests. Deletes the visitor's raw events, every document naming the visitor\n" +
			"(first-sight documents) and their visit state in Redis, then rebuilds the site's rollups from the raw\n" +
			"events left (holding its queue partition, as rebuild does), so the stats no longer count them.\n" +
			"When retention has deleted raw events of the site, a rebuild would lose those days: the rollups are\n" +
			"then left as they are (they hold counts, never visitor ids) and the command says so.\n" +
			"Not erased: the dashboard's realtime counters in Redis (expire within 35 minutes), events of the\n" +
			"visitor still queued in Redis (run forget again once `analytics-cli queue` shows no backlog), and\n" +
			"backups and exports made before.",
		UsageText: "analytics-cli forget --site site-abc-123 --user user-001 [--no-rebuild]",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "site", Required: true, Destination: &site, Usage: "site id"},
			&cli.StringFlag{Name: "user", Required: true, Destination: &user, Usage: "the visitor's user_id"},
			&cli.BoolFlag{Name: "no-rebuild", Destination: &noRebuild, Usage: "delete only; leave the rollups' counts as they are"},
		}, cfg.RedisFlags()...), cfg.MongoFlags()...),
		Action: func(c *cli.Context) error {
			rdb, store, closeAll, err := openPipeline(c.Context, cfg, "forget")
			if err != nil {
				return err
			}
			defer closeAll()
			res, err := store.Forget(c.Context, site, user)
			if err != nil {
				return fmt.Errorf("forget %s on %s: %w", user, site, err)
			}
			ann := visits.New(rdb, cfg.Prefix, cfg.VisitTimeout)
			key := ann.Key(site, user)
			ann.Close()
			if err := rdb.Del(c.Context, key).Err(); err != nil {
				return fmt.Errorf("forget %s on %s: delete the visit state in Redis: %w", user, site, err)
			}
			fmt.Fprintf(stdout, "deleted %s and %s of %s on %s, and their visit state in Redis\n",
				plural(res.Events, "raw event"), plural(res.Users, "visitor document"), user, site)
			if noRebuild {
				fmt.Fprintf(stdout, "rollups not rebuilt (--no-rebuild): the stats still count %s\n", user)
				return nil
			}
			if err := store.Rebuildable(c.Context, site); err != nil {
				fmt.Fprintf(stdout, "rollups not rebuilt: %v\nThe stats still count %s (as numbers only: no rollup names a visitor).\n", err, user)
				return nil
			}
			r, err := rebuildSite(c.Context, cfg, rdb, store, site, stdout)
			if err != nil {
				return fmt.Errorf("%w (the visitor's documents are deleted; run forget again to retry the rebuild)", err)
			}
			fmt.Fprintf(stdout, "rebuilt %s without them: %s on %s\n", site, plural(r.Events, "event"), plural(r.Days, "day"))
			return nil
		},
	}
}
