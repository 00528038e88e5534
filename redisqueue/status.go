package redisqueue

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter names kept in the Counters hash. The collectors and processors
// each add their deltas, so the hash holds the totals of the whole fleet.
const (
	CounterAccepted     = "accepted"      // events answered 2xx (queued)
	CounterRejected     = "rejected"      // events refused as invalid
	CounterUnavailable  = "unavailable"   // events answered 503 (not queued)
	CounterStored       = "stored"        // events stored for the first time
	CounterDuplicates   = "duplicates"    // events skipped: their id was stored before
	CounterExpired      = "expired"       // events skipped: older than their site's retention
	CounterRetried      = "retried"       // failed store/ack attempts that were retried
	CounterDeadLettered = "dead_lettered" // entries moved to the dead-letter stream
	CounterFenced       = "fenced"        // batches cut off by their lease's write deadline (replayed)
	CounterBots         = "bots"          // events from crawlers and headless browsers, dropped at the collector
	CounterTakeovers    = "takeovers"     // partition leases taken over from an owner that vanished without giving them back
	CounterForbidden    = "forbidden"     // requests refused 401/403 at the collector (origin, unregistered site, write key)
	CounterRateLimited  = "rate_limited"  // requests answered 429 by the collector's rate limits
	// CounterHintsIgnored: events whose ip and user_agent the collector
	// ignored (their request had no write key to speak for another browser).
	CounterHintsIgnored = "hints_ignored"
	CounterDisconnected = "disconnected" // requests whose client hung up before their events were queued
)

// CounterHelp explains the counters the daemons report, for the help text
// of their /metrics totals (metrics.AddCounters).
var CounterHelp = map[string]string{
	CounterAccepted:     "Events the collector queued and answered 2xx.",
	CounterRejected:     "Events the collector refused as invalid (400, 413, 415, or dropped inside a batch).",
	CounterUnavailable:  "Events the collector answered 503 because the queue was unavailable or too full.",
	CounterBots:         "Events from crawlers and headless browsers, answered 202 and dropped.",
	CounterStored:       "Events the processor stored for the first time.",
	CounterDuplicates:   "Events the processor skipped because their id was stored before (redelivery, client retry).",
	CounterRetried:      "Failed store, acknowledge or dead-letter attempts the processor retried.",
	CounterDeadLettered: "Entries the processor moved to the dead-letter stream because they can never be stored.",
	CounterFenced:       "Batches cut off by their lease's write deadline (replayed later).",
	CounterTakeovers:    "Partition leases this processor took over from an owner that vanished without giving them back (a crash, a kill, a network partition).",
	"forbidden":         "Events the collector refused with 403 (unregistered site, foreign origin, wrong write key).",
	"rate_limited":      "Events the collector refused with 429 by a per-IP or per-site rate limit.",
	"hints_ignored":     "Events whose ip and user_agent the collector ignored: their request carried no valid write key to speak for another browser.",
	CounterDisconnected: "Requests whose client hung up before their events were queued (not a queue failure; nothing was promised).",
}

// Counters is the hash of fleet-wide totals.
func (k Keys) Counters() string { return k.Prefix + "counters" }

// Reporters is the sorted set of the daemons that report counters: member
// a daemon's id, score the time of its last report (Unix ms). A daemon
// removes itself after its last report; one that stays, with an old
// score, stopped without it (see Status.Unreported).
func (k Keys) Reporters() string { return k.Prefix + "counters:reporters" }

// reportStale is how old a daemon's last report may be before it counts as
// stopped without its last one (it reports every second).
const reportStale = 5 * time.Second

// reporterID names this process among the reporters, for people reading
// `analytics-cli queue`.
func reporterID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%x", host, os.Getpid(), b)
}

// ReportCounters adds to the Counters hash what snapshot's totals gained
// since the last report, every interval until ctx ends and once more then.
// Reporting in deltas, in the background, keeps it off the request path.
//
// The totals are exact as long as every daemon makes its last report: one
// killed (SIGKILL, a crash, the OOM killer) takes up to an interval of its
// counts with it. So each report also stamps the daemon in Reporters, and
// the last one removes it: a daemon left there with an old stamp tells
// ReadStatus (and `analytics-cli queue`) that the totals read low.
//
// A counter's reported total advances only when its own HINCRBY succeeded,
// so when part of a report fails only the failed counters are sent again:
// nothing is added twice. (A report whose reply is lost after Redis applied
// it, a timeout mid-round-trip, is still sent again: the totals are for
// watching, and that case is rare and visible as a slight overcount.)
func ReportCounters(ctx context.Context, rdb redis.UniversalClient, k Keys, every time.Duration, snapshot func() map[string]int64) {
	last := map[string]int64{}
	id := reporterID()
	// Each report gets its own deadline so a stalled Redis never holds the
	// reporter (or a shutdown waiting for its last report) for long.
	timeout := every
	if timeout < time.Second {
		timeout = time.Second
	}
	flush := func(parent context.Context) {
		ctx, cancel := context.WithTimeout(parent, timeout)
		defer cancel()
		now := snapshot()
		pipe := rdb.Pipeline()
		type sent struct {
			name  string
			total int64
			cmd   *redis.IntCmd
		}
		var cmds []sent
		for name, v := range now {
			if d := v - last[name]; d != 0 {
				cmds = append(cmds, sent{name, v, pipe.HIncrBy(ctx, k.Counters(), name, d)})
			}
		}
		// Stamped even without deltas: a quiet daemon is not a dead one.
		pipe.ZAdd(ctx, k.Reporters(), redis.Z{Score: float64(time.Now().UnixMilli()), Member: id})
		_, _ = pipe.Exec(ctx)
		for _, c := range cmds {
			if c.cmd.Err() == nil {
				last[c.name] = c.total
			}
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flush(context.Background())
			complete := true
			for name, v := range snapshot() {
				complete = complete && last[name] == v
			}
			if complete { // else the stamp stays: these totals are short
				rctx, cancel := context.WithTimeout(context.Background(), timeout)
				_ = rdb.ZRem(rctx, k.Reporters(), id).Err()
				cancel()
			}
			return
		case <-t.C:
			flush(ctx)
		}
	}
}

// PartitionStatus describes one partition stream.
type PartitionStatus struct {
	Partition int
	Length    int64         // events not yet acknowledged (queued + pending)
	Pending   int64         // stream entries handed to the owner, not yet acknowledged (an entry holds the events of one request)
	Owner     string        // processor holding the lease, "" when none
	OldestAge time.Duration // age of the oldest entry, 0 when empty
}

// Status is the state of the queue.
type Status struct {
	Partitions  []PartitionStatus
	Backlog     int64
	OldestAge   time.Duration
	DeadLetters int64
	Processors  []string
	Counters    map[string]int64
	// Unreported are the daemons that stopped without their last counter
	// report (killed, crashed) or have not reached Redis for a while,
	// newest first: Counters are short by up to a second of what each
	// did last.
	Unreported []Reporter
}

// Reporter is a daemon that reports counters, as Reporters records it.
type Reporter struct {
	ID         string    // host:pid:random
	LastReport time.Time // when its last report reached Redis
}

// ReadStatus gathers the queue's state in two round trips.
func ReadStatus(ctx context.Context, rdb redis.UniversalClient, k Keys) (Status, error) {
	var st Status
	pipe := rdb.Pipeline()
	lens := make([]*redis.IntCmd, k.Partitions)
	surplus := make([]*redis.StringCmd, k.Partitions)
	pend := make([]*redis.XPendingCmd, k.Partitions)
	owners := make([]*redis.StringCmd, k.Partitions)
	oldest := make([]*redis.XMessageSliceCmd, k.Partitions)
	for p := 0; p < k.Partitions; p++ {
		lens[p] = pipe.XLen(ctx, k.Stream(p))
		surplus[p] = pipe.Get(ctx, k.Surplus(p))
		pend[p] = pipe.XPending(ctx, k.Stream(p), group)
		owners[p] = pipe.Get(ctx, k.Lease(p))
		oldest[p] = pipe.XRangeN(ctx, k.Stream(p), "-", "+", 1)
	}
	dead := pipe.XLen(ctx, k.DeadLetters())
	procs := pipe.ZRangeByScore(ctx, k.Processors(), &redis.ZRangeBy{Min: strconv.FormatInt(time.Now().Add(-time.Minute).UnixMilli(), 10), Max: "+inf"})
	counters := pipe.HGetAll(ctx, k.Counters())
	stale := pipe.ZRevRangeByScoreWithScores(ctx, k.Reporters(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(time.Now().Add(-reportStale).UnixMilli(), 10)})
	if _, err := pipe.Exec(ctx); err != nil && rdb.Ping(ctx).Err() != nil {
		// Per-command errors (a missing group, an unset lease) are expected;
		// only a connection failure fails the whole read.
		return st, unavailable("redis: queue status", err)
	}
	now := time.Now()
	for p := 0; p < k.Partitions; p++ {
		ps := PartitionStatus{Partition: p, Length: lens[p].Val() + surplusOf(surplus[p]), Owner: owners[p].Val()}
		if pend[p].Err() == nil {
			ps.Pending = pend[p].Val().Count
		}
		if msgs := oldest[p].Val(); len(msgs) > 0 {
			at, _ := QueuedAt(msgs[0].ID)
			ps.OldestAge = now.Sub(at)
			if ps.OldestAge > st.OldestAge {
				st.OldestAge = ps.OldestAge
			}
		}
		st.Backlog += ps.Length
		st.Partitions = append(st.Partitions, ps)
	}
	st.DeadLetters = dead.Val()
	st.Processors = procs.Val()
	sort.Strings(st.Processors)
	for _, z := range stale.Val() {
		id, _ := z.Member.(string)
		st.Unreported = append(st.Unreported, Reporter{ID: id, LastReport: time.UnixMilli(int64(z.Score))})
	}
	st.Counters = map[string]int64{}
	for name, v := range counters.Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		st.Counters[name] = n
	}
	return st, nil
}

// DeadLetter is one entry of the dead-letter stream: an event that could
// never be stored, with the reason.
type DeadLetter struct {
	ID        string    // entry id in the dead-letter stream
	Partition string    // partition the event came from
	Entry     string    // its entry id in that partition
	At        time.Time // when it was dead-lettered (zero when not recorded)
	Error     string    // why it could not be stored
	Event     string    // the event as queued (JSON)
}

// ReadDeadLetters returns up to limit dead letters, oldest first. It only
// reads: the dead-letter stream is never trimmed, so nothing is lost
// before someone has looked at it (and replayed it once the cause is fixed).
func ReadDeadLetters(ctx context.Context, rdb redis.UniversalClient, k Keys, limit int64) ([]DeadLetter, error) {
	msgs, err := rdb.XRangeN(ctx, k.DeadLetters(), "-", "+", limit).Result()
	if err != nil {
		return nil, unavailable("redis: read dead letters", err)
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		str := func(f string) string { s, _ := m.Values[f].(string); return s }
		d := DeadLetter{ID: m.ID, Partition: str("partition"), Entry: str("entry"), Error: str("error"), Event: str(field)}
		d.At, _ = time.Parse(time.RFC3339Nano, str("at"))
		out = append(out, d)
	}
	return out, nil
}

// QueuedAt is when the event of entry id (a stream entry id "ms-seq", or
// the "ms-seq-i" of an event in an entry of several) entered the queue:
// Redis stamps each entry with its clock when the collector appends it.
func QueuedAt(id string) (time.Time, bool) {
	msPart, _, _ := strings.Cut(id, "-")
	ms, err := strconv.ParseInt(msPart, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}
