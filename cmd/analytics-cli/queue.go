package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/daemon"
	"github.com/siteanalytics/analytics/redisqueue"
)

func queueCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var limit int64
	return &cli.Command{
		Name:  "queue",
		Usage: "show the queue: backlog, oldest waiting event, owners, dead letters, fleet counters",
		Flags: cfg.RedisFlags(),
		Action: func(c *cli.Context) error {
			rdb, err := connectQuietly(c, cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			st, err := redisqueue.ReadStatus(c.Context, rdb, daemon.Keys(cfg))
			if err != nil {
				return err
			}
			return printQueue(stdout, st)
		},
		Subcommands: []*cli.Command{{
			Name:  "replay",
			Usage: "queue dead-lettered events again (after fixing their cause) and remove them from the dead letters",
			Flags: append([]cli.Flag{
				&cli.Int64Flag{Name: "limit", Value: 1000, Destination: &limit, Usage: "most entries to replay"},
			}, cfg.RedisFlags()...),
			Action: func(c *cli.Context) error {
				rdb, err := connectQuietly(c, cfg)
				if err != nil {
					return err
				}
				defer rdb.Close()
				keys := daemon.Keys(cfg)
				if err := redisqueue.CheckMeta(c.Context, rdb, keys); err != nil {
					return err
				}
				pub := redisqueue.NewPublisher(rdb, keys, redisqueue.DefaultPublisherConfig())
				defer pub.Close()
				res, err := redisqueue.ReplayDeadLetters(c.Context, rdb, keys, pub, limit)
				fmt.Fprintf(stdout, "replayed %d dead letters; %d are not events and stay\n", res.Replayed, res.Kept)
				return err
			},
		}},
	}
}

// connectQuietly opens Redis for a one-off command: no logs, just errors.
func connectQuietly(c *cli.Context, cfg *config.Config) (redis.UniversalClient, error) {
	return daemon.ConnectRedis(c.Context, cfg, zerolog.Nop())
}

func printQueue(w io.Writer, st redisqueue.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Backlog\t%d events\n", st.Backlog)
	fmt.Fprintf(tw, "Oldest waiting\t%s\n", age(st.OldestAge))
	fmt.Fprintf(tw, "Dead letters\t%d\n", st.DeadLetters)
	fmt.Fprintf(tw, "Processors\t%d %s\n", len(st.Processors), strings.Join(st.Processors, ", "))
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Partition\tBacklog\tPending\tOldest\tOwner")
	for _, p := range st.Partitions {
		owner := p.Owner
		if owner == "" {
			owner = "-"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\n", p.Partition, p.Length, p.Pending, age(p.OldestAge), owner)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Totals since the queue was created")
	for _, name := range []string{redisqueue.CounterAccepted, redisqueue.CounterRejected, redisqueue.CounterUnavailable,
		redisqueue.CounterStored, redisqueue.CounterDuplicates, redisqueue.CounterRetried, redisqueue.CounterDeadLettered} {
		fmt.Fprintf(tw, "  %s\t%d\n", strings.ReplaceAll(name, "_", " "), st.Counters[name])
	}
	return tw.Flush()
}

func age(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}
