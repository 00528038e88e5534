// Package redisqueue is the queue on Redis Streams: the collector's Publisher
// (group commit: concurrent publishes share one pipelined round trip) and the
// processor's Consumer (partitions owned under renewed leases, takeover that
// replays pending entries first, dead letters).
//
// It works with any go-redis UniversalClient: a plain server, Sentinel or
// Cluster. Every key of a partition carries the partition number as its hash
// tag, so the scripts that touch a partition's stream and lease together run
// on one Cluster node.
package redisqueue

import (
	"context"
	"hash/fnv"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// DefaultPartitions is the number of stream partitions when none is set.
const DefaultPartitions = 8

// Keys names the Redis keys of one queue. Prefix lets several queues (or
// tests) share a server.
type Keys struct {
	Prefix     string
	Partitions int
}

// Stream is the stream of partition p.
func (k Keys) Stream(p int) string { return k.Prefix + "events:{" + strconv.Itoa(p) + "}" }

// Lease is the key whose value names the owner of partition p.
func (k Keys) Lease(p int) string { return k.Stream(p) + ":lease" }

// Fence is the key each lease renewal of partition p sets to live two TTLs.
// A new owner waits until it is gone before writing; a clean release (no
// write possibly in flight) deletes it.
func (k Keys) Fence(p int) string { return k.Stream(p) + ":fence" }

// Hold is the key a maintenance job sets to ask processors to give
// partition p up and leave it alone until the key is gone.
func (k Keys) Hold(p int) string { return k.Stream(p) + ":hold" }

// Surplus is the counter of how many more events than entries partition
// p's stream holds: an entry holds the events of one request for the
// partition, so the backlog in events is the stream's length plus this.
// Entries of one event leave it alone, so a single event costs one XADD.
func (k Keys) Surplus(p int) string { return k.Stream(p) + ":surplus" }

// Handed is the id of the last event handed out of an entry of several
// whose other events were still to come: a new owner replays the pending
// entries up to it as its first batch, so the batch in flight at a takeover
// is replayed as it was (any other cut would be as correct, the store being
// idempotent, but less plain to follow).
func (k Keys) Handed(p int) string { return k.Stream(p) + ":handed" }

// Acked is the id of the last acknowledged event of an entry of several
// whose other events are still to come (the entry stays pending until its
// last one is acknowledged): a new owner replays that entry from the event
// after it, so an event acknowledged is never handed out again.
func (k Keys) Acked(p int) string { return k.Stream(p) + ":acked" }

// DeadLetters is the stream of entries that could never be stored.
func (k Keys) DeadLetters() string { return k.Prefix + "deadletter" }

// Processors is the sorted set of live processors, scored by last heartbeat.
func (k Keys) Processors() string { return k.Prefix + "processors" }

// Meta holds the queue's settings, so a daemon started with a different
// partition count is refused instead of splitting a site across streams.
func (k Keys) Meta() string { return k.Prefix + "meta" }

// Partition returns the partition of a site: all events of a site go through
// one partition, in order, which the exactly-once rollups rely on.
func (k Keys) Partition(siteID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(siteID))
	return int(h.Sum32() % uint32(k.Partitions))
}

// group is the consumer group of every partition stream. consumer is the one
// consumer name inside it: the lease, not the name, says who owns a
// partition, so a new owner finds the old owner's pending entries under the
// same name and replays them with a plain XREADGROUP from 0.
//
// An entry's field e holds one event as a JSON object, or, with field n
// (their number, at least 2), several as a JSON array: the events of one
// Publish call for one partition, in order.
const (
	group    = "processors"
	consumer = "owner"
	field    = "e"
	count    = "n"
)

// CheckMeta records the partition count on first use and refuses a different
// one later.
func CheckMeta(ctx context.Context, rdb redis.UniversalClient, k Keys) error {
	if k.Partitions < 1 || k.Partitions > 1024 {
		return analytics.Errorf(analytics.Invalid, "partitions: %d, must be 1-1024", k.Partitions)
	}
	if _, err := rdb.HSetNX(ctx, k.Meta(), "partitions", k.Partitions).Result(); err != nil {
		return unavailable("redis: record queue settings", err)
	}
	got, err := rdb.HGet(ctx, k.Meta(), "partitions").Int()
	if err != nil {
		return unavailable("redis: read queue settings", err)
	}
	if got != k.Partitions {
		return analytics.Errorf(analytics.Invalid,
			"partitions: this queue (%s) was created with %d partitions, not %d; set PARTITIONS=%d "+
				"(to change it, stop the collectors, let the processors drain the queue, then delete %s)",
			k.Meta(), got, k.Partitions, got, k.Meta())
	}
	return nil
}

func unavailable(msg string, err error) error {
	if err == nil {
		return nil
	}
	return analytics.Wrap(analytics.Unavailable, msg, err)
}

// Ping checks that Redis answers.
type Ping struct{ RDB redis.UniversalClient }

// Ping implements analytics.Pinger.
func (p Ping) Ping(ctx context.Context) error {
	return unavailable("redis: ping", p.RDB.Ping(ctx).Err())
}

// Backlog returns the number of events in the partition streams: queued
// and not yet acknowledged (acknowledged entries are deleted).
func Backlog(ctx context.Context, rdb redis.UniversalClient, k Keys) (int64, error) {
	pipe := rdb.Pipeline()
	lens := make([]*redis.IntCmd, k.Partitions)
	surplus := make([]*redis.StringCmd, k.Partitions)
	for p := range lens {
		lens[p] = pipe.XLen(ctx, k.Stream(p))
		surplus[p] = pipe.Get(ctx, k.Surplus(p))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return 0, unavailable("redis: backlog", err)
	}
	var n int64
	for p := range lens {
		n += lens[p].Val() + surplusOf(surplus[p])
	}
	return n, nil
}

// surplusOf reads a Surplus counter; absent is 0.
func surplusOf(c *redis.StringCmd) int64 {
	n, _ := c.Int64()
	return max(n, 0)
}
