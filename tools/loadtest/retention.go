package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/processor"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/retention"
)

// retentionLoad measures what retention costs: a store of -n events (the
// spread workload: 20 sites, 400 days from 2025-01-01 in time order, 2,500
// events a day), then -rounds rounds of the processor's events/s on -m new
// events without retention and with a retention pass deleting the next
// -months months of every site beside it (at its default pace); then a
// pass deleting as many more months at full speed, and one that finds
// nothing to delete (the steady state).
func retentionLoad(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, out io.Writer) error {
	n := fs.Int("n", 1000000, "events stored first")
	m := fs.Int("m", 50000, "events processed in each phase")
	months := fs.Int("months", 2, "months of every site each deleting pass deletes")
	rounds := fs.Int("rounds", 3, "rounds of a phase without and one with a retention pass")
	pg := fs.String("pg", "", "run embedded FerretDB on this PostgreSQL URL instead of SQLite")
	direct := fs.Bool("direct", true, "fill with raw events only, inserted straight into their collections (no rollups: retention deletes raw events only), instead of through Apply")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rdb, store, stop, err := queueAndStore(ctx, getenv, *pg, out)
	defer stop()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if *direct {
		err = fillRaw(ctx, store, *n, out)
	} else {
		err = fill(ctx, store, 0, *n, spread, out)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "filled %d events in %v\n", *n, time.Since(t0).Round(time.Second))

	keys := redisqueue.Keys{Prefix: fmt.Sprintf("loadtest:%d:", time.Now().UnixNano()), Partitions: 8}
	pub := redisqueue.NewPublisher(rdb, keys, redisqueue.PublisherConfig{})
	defer pub.Close()
	consumer, err := redisqueue.NewConsumer(ctx, rdb, keys, redisqueue.DefaultConsumerConfig(), zerolog.Nop())
	if err != nil {
		return err
	}
	defer consumer.Close(context.Background())
	p := processor.New(consumer, store, zerolog.Nop(), processor.Config{})
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = p.Run(pctx) }()
	next := 0
	phase := func() (float64, error) {
		for i := next; i < next+*m; i += 1000 {
			evs := make([]analytics.Event, 0, 1000)
			for j := i; j < min(i+1000, next+*m); j++ {
				evs = append(evs, synthetic(j))
			}
			if err := pub.Publish(ctx, evs); err != nil {
				return 0, err
			}
		}
		next += *m
		t0 := time.Now()
		for p.Counters.Stored.Load() < int64(next) {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			time.Sleep(10 * time.Millisecond)
		}
		return float64(*m) / time.Since(t0).Seconds(), nil
	}
	// A first phase gives the 20 sites rollups (retention knows sites by
	// them; the direct fill wrote raw events only).
	if _, err := phase(); err != nil {
		return err
	}
	// Retention keeping everything from the month after the first gone
	// ones: days counted back from today (RETENTION_DAYS).
	gone := 0
	retentionDays := func() int {
		gone += *months
		first := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, gone, 0)
		now := time.Now().UTC()
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		return int(today.Sub(first) / (24 * time.Hour))
	}
	var without, with []float64
	for round := 1; round <= *rounds; round++ {
		a, err := phase()
		if err != nil {
			return err
		}
		// The job as the processors run it (pausing three times as long as
		// each drop took), minus the wait before deleting; in a fresh
		// interval each round.
		rc := retention.DefaultConfig()
		rc.Wait, rc.DefaultDays = 0, retentionDays()
		job := redisqueue.NewJob(rdb, keys, fmt.Sprintf("retention-%d", round), "loadtest", time.Minute)
		rn := retention.New(store, job, zerolog.Nop(), rc)
		type passResult struct {
			n   int
			err error
			at  time.Duration
		}
		done := make(chan passResult, 1)
		tr := time.Now()
		go func() { n, err := rn.Pass(ctx); done <- passResult{n, err, time.Since(tr)} }()
		b, err := phase()
		if err != nil {
			return err
		}
		r := <-done
		if r.err != nil {
			return r.err
		}
		without, with = append(without, a), append(with, b)
		fmt.Fprintf(out, "round %d: processor %6.0f events/s without retention, %6.0f with a pass beside it (it dropped %d site-months, about %d events, in %v)\n",
			round, a, b, r.n, r.n*(*n/(20*400))*30, r.at.Round(time.Millisecond))
	}
	mean := func(l []float64) float64 {
		t := 0.0
		for _, v := range l {
			t += v
		}
		return t / float64(len(l))
	}
	fmt.Fprintf(out, "processor: %.0f events/s without, %.0f with retention deleting beside it: %.2fx\n", mean(without), mean(with), mean(with)/mean(without))
	cancel()
	if _, err := store.RaiseHorizons(ctx, retentionDays(), time.Now()); err != nil {
		return err
	}
	t0 = time.Now()
	k, _, err := store.DeleteExpired(ctx, nil)
	if err != nil {
		return err
	}
	el := time.Since(t0)
	fmt.Fprintf(out, "full-speed pass: dropped %d site-months in %v\n", k, el.Round(time.Millisecond))
	t0 = time.Now()
	if _, _, err = store.DeleteExpired(ctx, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "steady-state pass (nothing to delete): %v\n", time.Since(t0).Round(time.Millisecond))
	return nil
}

// fillRaw inserts the raw documents of the spread workload's first n
// events straight into their site-month collections, 1,000 at a time, as a
// store where retention has long been on keeps them.
func fillRaw(ctx context.Context, store *mongostore.Store, n int, out io.Writer) error {
	if err := store.StartMonthCollections(ctx, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return err
	}
	t0 := time.Now()
	for i := 0; i < n; i += 1000 {
		groups := map[string][]any{}
		for j := i; j < min(i+1000, n); j++ {
			ev := spread(j)
			c := mongostore.RawCollectionName(ev.SiteID, ev.Timestamp)
			groups[c] = append(groups[c], bson.D{{Key: "_id", Value: ev.ID}, {Key: "site_id", Value: ev.SiteID}, {Key: "event_type", Value: ev.EventType},
				{Key: "timestamp", Value: ev.Timestamp}, {Key: "created_at", Value: ev.Timestamp}, {Key: "queue_entry", Value: fmt.Sprintf("0/%d-0", j+1)},
				{Key: "path", Value: ev.Path}, {Key: "user_id", Value: ev.UserID}, {Key: "source", Value: ev.Source}, {Key: "browser", Value: ev.Browser},
				{Key: "os", Value: ev.OS}, {Key: "device", Value: ev.Device}, {Key: "country", Value: ev.Country}})
		}
		for c, docs := range groups {
			if _, err := store.Database().Collection(c).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
				return err
			}
		}
		if (i+1000)%100000 == 0 {
			fmt.Fprintf(out, "  ... %d stored (%.0f events/s)\n", i+1000, float64(i+1000)/time.Since(t0).Seconds())
		}
	}
	return nil
}
