package redisqueue

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// Ack implements analytics.Consumer. Acknowledged entries are deleted from
// the stream, so its length is the backlog. The acknowledgement and the
// deletion are one script, which also checks the lease: a processor that
// lost its partition cannot acknowledge what the new owner will replay.
func (c *Consumer) Ack(ctx context.Context, b analytics.Batch) error {
	if len(b.Entries) == 0 {
		return nil
	}
	// The stream entries the batch completes: those of one event, and those
	// of several whose last event it holds (the others' last events come in
	// a later batch, which acknowledges them).
	args := make([]any, 4, len(b.Entries)+4)
	args[0], args[1], args[2] = c.cfg.Name, group, ""
	var several []any
	var done []string
	c.mu.Lock()
	var ends map[string]int
	if l := c.parts[b.Partition]; l != nil {
		ends = l.ends
	}
	for i, e := range b.Entries {
		_, end := ends[e.ID]
		switch {
		case end:
			several = append(several, entryOf(e.ID), ends[e.ID])
			done = append(done, e.ID)
		case strings.Count(e.ID, "-") == 1:
			args = append(args, e.ID)
		case i == len(b.Entries)-1:
			args[2] = e.ID // the batch ends inside an entry
		}
	}
	c.mu.Unlock()
	args[3] = len(args) - 4
	args = append(args, several...)
	actx, cancel := context.WithTimeout(ctx, c.cfg.LeaseTTL/3)
	defer cancel()
	keys := []string{c.keys.Lease(b.Partition), c.keys.Stream(b.Partition), c.keys.Surplus(b.Partition), c.keys.Acked(b.Partition)}
	err := ackScript.Run(actx, c.rdb, keys, args...).Err()
	if err != nil && strings.HasPrefix(err.Error(), "LEASELOST") {
		c.lose(b.Partition)
		return ErrFenced
	}
	if err != nil {
		return unavailable("redis: acknowledge entries", err)
	}
	c.mu.Lock()
	if l := c.parts[b.Partition]; l != nil {
		l.busy, l.unclean = false, false
		for _, id := range done {
			delete(l.ends, id)
		}
	}
	c.mu.Unlock()
	return nil
}

// Drop implements analytics.Consumer: the batch stays unacknowledged and
// will be handed out again, first, by the next Fetch of its partition.
func (c *Consumer) Drop(b analytics.Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.parts[b.Partition]; l != nil {
		l.rest = append(slices.Clip(b.Entries), l.rest...)
		l.busy = false
	}
}

// DeadLetter implements analytics.Consumer.
func (c *Consumer) DeadLetter(ctx context.Context, partition int, e analytics.Entry, reason error) error {
	err := c.rdb.XAdd(ctx, &redis.XAddArgs{Stream: c.keys.DeadLetters(), Values: []any{
		"partition", partition, "entry", e.ID, field, e.Raw, "error", reason.Error(),
		"at", time.Now().UTC().Format(time.RFC3339Nano),
	}}).Err()
	return unavailable("redis: dead-letter entry", err)
}
