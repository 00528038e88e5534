package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/tty"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/redisqueue"
)

func rebuildCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var site string
	return &cli.Command{
		Name:  "rebuild",
		Usage: "recompute a site's event blocks from its raw events (repair; the upgrade from rollups)",
		Description: "Writes the site's event blocks anew from its raw events, compacts them, and switches readers to\n" +
			"them at the end: until then they see the old answers. While it runs it holds the site's queue\n" +
			"partition, so processors leave that partition's entries waiting in Redis and nothing is counted\n" +
			"twice or missed. Run it once per site after upgrading from a version with rollups.",
		UsageText: "analytics-cli rebuild --site site-abc-123",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "site", Required: true, Destination: &site, Usage: "site id"},
		}, cfg.RedisFlags()...), cfg.MongoFlags()...),
		Action: func(c *cli.Context) error {
			rdb, store, closeAll, err := openPipeline(c.Context, cfg, "rebuild")
			if err != nil {
				return err
			}
			defer closeAll()
			res, err := rebuildSite(c.Context, cfg, rdb, store, site, stdout)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "rebuilt %s: %s on %s, now generation %d, in %v\n",
				site, plural(res.Events, "event"), plural(res.Days, "day"), res.Generation, res.Elapsed.Round(1e6))
			return nil
		},
	}
}

// openPipeline connects a maintenance command to the pipeline's Redis and
// MongoDB; closeAll disconnects both.
func openPipeline(ctx context.Context, cfg *config.Config, name string) (redis.UniversalClient, *mongostore.Store, func(), error) {
	log, err := cfg.Logger(io.Discard, name)
	if err != nil {
		return nil, nil, nil, err
	}
	rdb, err := app.ConnectRedis(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := app.OpenStore(ctx, cfg)
	if err != nil {
		rdb.Close()
		return nil, nil, nil, err
	}
	return rdb, store, func() { store.Close(context.Background()); rdb.Close() }, nil
}

// rebuildSite rebuilds site's event blocks under a hold of its partition. A
// rebuild cut off (its hold's write deadline passed while the database was
// slow, or the database did not answer) left the site unchanged and is
// simply started again, a few times.
func rebuildSite(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, store *mongostore.Store, site string, stdout io.Writer) (mongostore.RebuildResult, error) {
	const attempts = 3
	var res mongostore.RebuildResult
	if err := store.Rebuildable(ctx, site); err != nil {
		return res, fmt.Errorf("rebuild of %s refused: %w", site, err)
	}
	for attempt := 1; ; attempt++ {
		hold, err := redisqueue.HoldPartition(ctx, rdb, app.Keys(cfg), site, "rebuild", cfg.LeaseTTL,
			func(p int, why string) {
				fmt.Fprintf(stdout, "waiting for partition %d: %s (at most %v)...\n", p, why, 2*cfg.LeaseTTL)
			})
		if err != nil {
			return res, err
		}
		fmt.Fprintf(stdout, "rebuilding %s from its raw events (readers keep seeing the old numbers until it is done)\n", site)
		bar := newProgressBar(tty.Or(stdout))
		res, err = store.Rebuild(ctx, site, hold, cfg.BatchSize, bar.update)
		bar.done()
		hold.Release(err == nil)
		if err == nil {
			return res, nil
		}
		if attempt == attempts || ctx.Err() != nil || analytics.KindOf(err) != analytics.Unavailable {
			if analytics.KindOf(err) == analytics.Invalid {
				return res, fmt.Errorf("rebuild of %s refused: %w", site, err)
			}
			return res, fmt.Errorf("rebuild of %s stopped; its stats are unchanged, run it again: %w", site, err)
		}
		fmt.Fprintf(stdout, "rebuild cut off (%v); its stats are unchanged; starting again (attempt %d of %d)\n",
			analytics.Message(err), attempt+1, attempts)
	}
}

// plural is "1 event", "2 events".
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// progressBar draws "[#####.....]  45%  45000/100000 events" on one line,
// redrawn at most ten times a second.
type progressBar struct {
	w    io.Writer
	last time.Time
	line string
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w} }

func (b *progressBar) update(read, total int) {
	if time.Since(b.last) < 100*time.Millisecond && read < total {
		return
	}
	b.last = time.Now()
	pct := 100
	if total > 0 {
		pct = read * 100 / total
	}
	const width = 30
	fill := pct * width / 100
	b.line = fmt.Sprintf("[%s%s] %3d%%  %d/%d events", strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, read, total)
	fmt.Fprintf(b.w, "\r%s", b.line)
}

func (b *progressBar) done() {
	if b.line != "" {
		fmt.Fprintln(b.w)
	}
}
