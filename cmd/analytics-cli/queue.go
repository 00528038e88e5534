package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/redisqueue"
)

func queueCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var limit, listLimit int64
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
			st, err := redisqueue.ReadStatus(c.Context, rdb, app.Keys(cfg))
			if err != nil {
				return err
			}
			return printQueue(stdout, st)
		},
		Subcommands: []*cli.Command{{
			Name:  "deadletters",
			Usage: "list dead-lettered events (oldest first) with why they could not be stored",
			Flags: append([]cli.Flag{
				&cli.Int64Flag{Name: "limit", Value: 20, Destination: &listLimit, Usage: "most entries to list"},
			}, cfg.RedisFlags()...),
			Action: func(c *cli.Context) error {
				if listLimit < 1 {
					return fmt.Errorf("--limit %d: list at least 1 entry", listLimit)
				}
				rdb, err := connectQuietly(c, cfg)
				if err != nil {
					return err
				}
				defer rdb.Close()
				keys := app.Keys(cfg)
				st, err := redisqueue.ReadStatus(c.Context, rdb, keys)
				if err != nil {
					return err
				}
				dl, err := redisqueue.ReadDeadLetters(c.Context, rdb, keys, listLimit)
				if err != nil {
					return err
				}
				return printDeadLetters(stdout, dl, st.DeadLetters)
			},
		}, {
			Name:  "replay",
			Usage: "queue dead-lettered events again (after fixing their cause) and remove them from the dead letters",
			Flags: append([]cli.Flag{
				&cli.Int64Flag{Name: "limit", Value: 1000, Destination: &limit, Usage: "most entries to replay"},
				cfg.QueueTimeoutFlag(),
			}, cfg.RedisFlags()...),
			Action: func(c *cli.Context) error {
				rdb, err := connectQuietly(c, cfg)
				if err != nil {
					return err
				}
				defer rdb.Close()
				keys := app.Keys(cfg)
				if err := redisqueue.CheckMeta(c.Context, rdb, keys); err != nil {
					return err
				}
				pc := redisqueue.DefaultPublisherConfig()
				pc.Timeout = cfg.QueueTimeout
				pub := redisqueue.NewPublisher(rdb, keys, pc)
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
	return app.ConnectRedis(c.Context, cfg, zerolog.Nop())
}

func printQueue(w io.Writer, st redisqueue.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Backlog\t%d events\n", st.Backlog)
	fmt.Fprintf(tw, "Oldest waiting\t%s\n", age(st.OldestAge))
	fmt.Fprintf(tw, "Dead letters\t%d\n", st.DeadLetters)
	fmt.Fprintf(tw, "Processors\t%d %s\n", len(st.Processors), strings.Join(st.Processors, ", "))
	tw.Flush()
	if st.DeadLetters > 0 {
		fmt.Fprintf(w, "\n%s\n", deadLetterWarning(st.DeadLetters))
	}
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
	for _, name := range counterNames(st.Counters) {
		fmt.Fprintf(tw, "  %s\t%d\n", strings.ReplaceAll(name, "_", " "), st.Counters[name])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Unreported) > 0 {
		fmt.Fprintf(w, "\n%s\n", unreportedNote(st.Unreported))
	}
	return nil
}

// unreportedNote says which totals are approximate after a daemon stopped
// without its last counter report, and why, so a collector's "accepted"
// below the processors' "stored" is not read as loss.
func unreportedNote(rs []redisqueue.Reporter) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Note: the totals are approximate: %s stopped without its last report (killed or crashed), or cannot reach Redis:\n",
		plural(len(rs), "daemon"))
	const show = 5
	for i, r := range rs {
		if i == show {
			fmt.Fprintf(&b, "  ... and %d more\n", len(rs)-show)
			break
		}
		fmt.Fprintf(&b, "  %s, last report %s\n", r.ID, r.LastReport.UTC().Format(time.RFC3339))
	}
	b.WriteString("  Each daemon reports its counts every second, so each of these may have taken up to a second of them with it:\n" +
		"  accepted, rejected, unavailable, bots, forbidden, rate limited and disconnected (collectors), stored, duplicates,\n" +
		"  expired, retried, dead lettered, fenced and takeovers (processors) may read low by that much, for good.\n" +
		"  Events are not lost for it: a 2xx event is counted once in the database (analytics-cli stats); Backlog and\n" +
		"  Dead letters above are exact. Rarely a report whose reply was lost is added twice, reading high.")
	return b.String()
}

// counterNames are the fleet counters to print: the usual ones (0 when
// none was reported yet), then any other the hash holds, sorted, so a
// counter a daemon starts reporting shows here (and on /metrics, from the
// same snapshot) without a change to this command.
func counterNames(counters map[string]int64) []string {
	names := []string{redisqueue.CounterAccepted, redisqueue.CounterRejected, redisqueue.CounterUnavailable, redisqueue.CounterBots,
		redisqueue.CounterForbidden, redisqueue.CounterRateLimited, redisqueue.CounterDisconnected, redisqueue.CounterStored, redisqueue.CounterDuplicates, redisqueue.CounterExpired, redisqueue.CounterRetried, redisqueue.CounterDeadLettered, redisqueue.CounterFenced,
		redisqueue.CounterTakeovers}
	var more []string
	for name := range counters {
		if !slices.Contains(names, name) {
			more = append(more, name)
		}
	}
	slices.Sort(more)
	return append(names, more...)
}

func age(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

// deadLetterWarning tells the user what waiting dead letters mean and what
// to do about them.
func deadLetterWarning(n int64) string {
	return fmt.Sprintf("Warning: %s could not be stored and wait in the dead-letter stream (they are kept, never trimmed).\n"+
		"  See why with `analytics-cli queue deadletters`, fix the cause, then run `analytics-cli queue replay`.", plural(n, "event"))
}

func printDeadLetters(w io.Writer, dl []redisqueue.DeadLetter, total int64) error {
	if total == 0 {
		_, err := fmt.Fprintln(w, "No dead letters.")
		return err
	}
	fmt.Fprintf(w, "%d of %d dead letter(s), oldest first:\n", len(dl), total)
	for _, d := range dl {
		at := "-"
		if !d.At.IsZero() {
			at = d.At.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "\n%s  partition %s, entry %s, dead-lettered %s\n", d.ID, orDash(d.Partition), orDash(d.Entry), at)
		fmt.Fprintf(w, "  error: %s\n", orDash(d.Error))
		fmt.Fprintf(w, "  event: %s\n", orDash(d.Event))
	}
	_, err := fmt.Fprintf(w, "\nOnce the cause is fixed, `analytics-cli queue replay` queues them again.\n")
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
