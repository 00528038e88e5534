package redisqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/retry"
)

// ConsumerConfig tunes partition ownership.
type ConsumerConfig struct {
	// Name identifies this processor in leases; unique per process.
	Name string
	// LeaseTTL is how long a lease lives without renewal: the longest a dead
	// processor's partitions wait before another takes them over.
	LeaseTTL time.Duration
	// IdlePoll is the longest wait between polls of an idle queue.
	IdlePoll time.Duration
}

// DefaultConsumerConfig returns the settings used when none are given.
func DefaultConsumerConfig() ConsumerConfig {
	host, _ := os.Hostname()
	return ConsumerConfig{
		Name:     fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16)),
		LeaseTTL: 10 * time.Second,
		IdlePoll: 100 * time.Millisecond,
	}
}

// Consumer hands out batches from the partitions it owns. A background loop
// keeps a heartbeat, renews its leases, takes free partitions up to its fair
// share (partitions / live processors) and gives back the ones above it, so
// processors started side by side share the work.
type Consumer struct {
	rdb  redis.UniversalClient
	keys Keys
	cfg  ConsumerConfig
	log  zerolog.Logger

	mu     sync.Mutex
	owned  []int          // partitions held, in the order Fetch visits them
	leases map[int]*lease // state of each owned partition
	next   int            // round-robin position in owned

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	takeovers atomic.Int64
}

var _ analytics.Consumer = (*Consumer)(nil)

// lease is what a consumer knows about one partition it owns.
type lease struct {
	// until is the local write deadline: the moment the last successful
	// renewal was sent plus the TTL minus a safety margin. Until then the
	// key cannot have expired, whatever the clocks of Redis and of this
	// process do (only elapsed time is compared, on this machine).
	until time.Time
	// readyAt is when the partition may first be read: a partition taken
	// over from an expired lease waits until the previous owner's fence key
	// is gone (more than a TTL past its write deadline), so whatever it had
	// in flight has landed before this one writes.
	readyAt time.Time
	// busy: a batch is handed out (or being read) and not acknowledged.
	busy bool
	// unclean: a batch was handed out and never acknowledged, so writes of
	// it may still be in flight; such a partition is given back without the
	// clean mark and its next owner waits a full TTL.
	unclean bool
	// lost ends every write context of the partition when the lease is
	// known lost.
	lost     context.Context
	loseThis context.CancelCauseFunc

	// A stream entry may hold more events than a batch takes: its events
	// are handed out over several batches, and the entry is acknowledged
	// with the batch that holds its last one. cursor is the last stream
	// entry read ("0" before the first: a new owner starts with the
	// pending entries); rest are the events read and not handed out yet;
	// ends maps the id of the last event of each entry of several events
	// read and not acknowledged to how many the entry holds.
	cursor string
	rest   []analytics.Entry
	ends   map[string]int
}

// idle reports whether l can be given back without a replay: no batch in
// hand and no entry partly handed out (its next owner would hand out its
// first events again; the store would count them once, but why redo them).
func (l *lease) idle() bool { return !l.busy && len(l.rest) == 0 }

// The scripts check the lease and act in one step, so a processor whose
// lease lapsed can never read entries of a partition another now owns.
var (
	//
	// It reads entries after ARGV[6] (the reader's cursor) holding about
	// ARGV[5] events (never fewer than one entry): first those handed out
	// before and not acknowledged (a new owner's replay), else new ones. An
	// entry's size is its n field (1 without). As acknowledged entries are
	// deleted, the entries after the cursor that are not pending are
	// exactly the ones '>' hands out next, so XRANGE measures them first
	// and no more than fit are handed out; while the partition's Surplus
	// is 0 every entry holds one event and the count is the budget.
	readScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LEASELOST lease lost') end
if redis.call('EXISTS', KEYS[3]) == 1 then return redis.error_reply('HELD partition held by a maintenance job') end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[4], ARGV[1], 'PX', 2 * tonumber(ARGV[2]))
local budget = tonumber(ARGV[5])
local function size(e)
  local f = e[2]
  if f then
    for i = 1, #f - 1, 2 do
      if f[i] == 'n' then return tonumber(f[i + 1]) or 1 end
    end
  end
  return 1
end
local r = redis.call('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', budget, 'STREAMS', KEYS[2], ARGV[6])
if r and r[1] and #r[1][2] > 0 then
  local out, n = {}, 0
  for _, e in ipairs(r[1][2]) do
    local s = size(e)
    if #out > 0 and n + s > budget then break end
    out[#out + 1] = e
    n = n + s
  end
  return out
end
local count = budget
if (tonumber(redis.call('GET', KEYS[5])) or 0) > 0 then
  count = 0
  local n, from, chunk = 0, '-', math.min(budget, 8)
  if ARGV[6] ~= '0' then from = '(' .. ARGV[6] end
  while n < budget do
    local es = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', chunk)
    for _, e in ipairs(es) do
      local s = size(e)
      if count > 0 and n + s > budget then return redis.call('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', count, 'STREAMS', KEYS[2], '>')[1][2] end
      count, n = count + 1, n + s
      if n >= budget then break end
    end
    if #es < chunk then break end
    from = '(' .. es[#es][1]
    chunk = math.max(1, math.min(256, math.floor((budget - n) * count / n) + 1))
  end
  if count == 0 then return {} end
end
r = redis.call('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', count, 'STREAMS', KEYS[2], '>')
if r and r[1] then return r[1][2] end
return {}
`)
	// Every renewal also sets the partition's fence key to live two TTLs:
	// while it exists, a writer that lost the lease may still be inside its
	// write deadline, or have a write in flight.
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', 2 * tonumber(ARGV[2]))
return 1
`)
	// releaseScript gives a lease back. ARGV[2] = "1" marks the release
	// clean (no write of the releaser can still be in flight): the fence key
	// goes too, which spares the next owner its wait.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
  return 1
end
return 0
`)
	// acquireScript takes a free lease. It returns -1 when someone holds it,
	// else how many milliseconds the new owner must wait before it writes:
	// what is left of the previous owner's fence key (its last renewal plus
	// two TTLs, so past the previous owner's write deadline by more than a
	// TTL), 0 after a clean release or when the partition was never owned.
	acquireScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
local wait = redis.call('PTTL', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', 2 * tonumber(ARGV[2]))
if wait < 0 then return 0 end
return wait
`)
	// ackScript acknowledges and deletes entries in one atomic step, and only
	// while the caller holds the lease. ARGV[4] entries of one event follow,
	// then pairs of an entry of several and its count: those are deleted
	// one by one, so the Surplus loses only what was really deleted (an
	// entry acknowledged twice counts once). ARGV[3] is the batch's last
	// event when the batch ended inside an entry, kept in Acked, else "".
	ackScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LEASELOST lease lost') end
local last = 4 + tonumber(ARGV[4])
for i = 5, last, 500 do
  local j = math.min(i + 499, last)
  redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, i, j))
  redis.call('XDEL', KEYS[2], unpack(ARGV, i, j))
end
local gone = 0
for i = last + 1, #ARGV - 1, 2 do
  redis.call('XACK', KEYS[2], ARGV[2], ARGV[i])
  if redis.call('XDEL', KEYS[2], ARGV[i]) == 1 then gone = gone + tonumber(ARGV[i + 1]) - 1 end
end
if gone > 0 then redis.call('DECRBY', KEYS[3], gone) end
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3]) else redis.call('DEL', KEYS[4]) end
return 1
`)
)

// ErrFenced ends the write context of a batch whose partition lease is no
// longer certainly held. The batch must be dropped, unacknowledged.
var ErrFenced = analytics.ErrFenced

// margin is the part of the TTL a writer never uses: it covers a renewal
// that is slow to come back and the flight time of the last write.
func margin(ttl time.Duration) time.Duration { return ttl / 4 }

// NewConsumer checks the queue settings, joins the processors and starts the
// ownership loop. Close stops it and gives the partitions back.
func NewConsumer(ctx context.Context, rdb redis.UniversalClient, keys Keys, cfg ConsumerConfig, log zerolog.Logger) (*Consumer, error) {
	def := DefaultConsumerConfig()
	if cfg.Name == "" {
		cfg.Name = def.Name
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = def.LeaseTTL
	}
	if cfg.IdlePoll <= 0 {
		cfg.IdlePoll = def.IdlePoll
	}
	if err := CheckMeta(ctx, rdb, keys); err != nil {
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	c := &Consumer{rdb: rdb, keys: keys, cfg: cfg, log: log, leases: map[int]*lease{}, stop: stop, done: make(chan struct{})}
	c.maintain(ctx) // own partitions before the first Fetch
	go c.loop(loopCtx)
	return c, nil
}

// Takeovers is how many partitions this consumer took over from an owner
// that vanished without giving them back (its lease expired).
func (c *Consumer) Takeovers() int64 { return c.takeovers.Load() }

// Owned returns the partitions this consumer holds now.
func (c *Consumer) Owned() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.owned...)
}

func (c *Consumer) loop(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.maintain(ctx)
		}
	}
}

// maintain is one round of heartbeat, renewal, takeover and give-back.
// Every Redis call has a deadline of a third of the TTL, so a hung Redis
// cannot stall the loop past the moment the write deadlines expire anyway.
func (c *Consumer) maintain(parent context.Context) {
	ttl := c.cfg.LeaseTTL
	ctx, cancel := context.WithTimeout(parent, ttl/3)
	defer cancel()
	now := time.Now()
	pipe := c.rdb.Pipeline()
	pipe.ZAdd(ctx, c.keys.Processors(), redis.Z{Score: float64(now.UnixMilli()), Member: c.cfg.Name})
	pipe.ZRemRangeByScore(ctx, c.keys.Processors(), "-inf", fmt.Sprint(now.Add(-ttl).UnixMilli()))
	members := pipe.ZRange(ctx, c.keys.Processors(), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		c.log.Warn().Err(err).Msg("heartbeat failed; will retry")
		return
	}
	share := fairShare(c.keys.Partitions, members.Val(), c.cfg.Name)

	held, err := c.held(ctx)
	if err != nil {
		c.log.Warn().Err(err).Msg("read partition holds; will retry")
		return
	}
	for _, p := range c.Owned() {
		if held[p] && c.giveUp(ctx, p) {
			c.log.Info().Int("partition", p).Msg("partition given up for a maintenance job")
			continue
		}
		sent := time.Now()
		n, err := renewScript.Run(ctx, c.rdb, []string{c.keys.Lease(p), c.keys.Fence(p)}, c.cfg.Name, ttl.Milliseconds()).Int()
		if err != nil {
			// The write deadline was not moved on: if renewals keep
			// failing, writes stop before the key can expire.
			c.log.Warn().Err(err).Int("partition", p).Msg("lease renewal failed; will retry")
			continue
		}
		if n == 0 {
			c.log.Warn().Int("partition", p).Msg("lease lost to another processor")
			c.lose(p)
			continue
		}
		c.renewed(p, sent)
	}

	owned := c.Owned()
	if len(owned) < share {
		for _, p := range rand.Perm(c.keys.Partitions) {
			if len(owned) >= share || contains(owned, p) || held[p] {
				continue
			}
			sent := time.Now()
			wait, err := acquireScript.Run(ctx, c.rdb, []string{c.keys.Lease(p), c.keys.Fence(p)}, c.cfg.Name, ttl.Milliseconds()).Int64()
			if err != nil || wait < 0 {
				continue
			}
			if err := c.ensureGroup(ctx, p); err != nil {
				c.log.Warn().Err(err).Int("partition", p).Msg("create consumer group")
				c.release(ctx, p, true)
				continue
			}
			// A previous owner cut off mid-write may still have writes in
			// flight: wait until its fence key is gone.
			l := &lease{until: sent.Add(ttl - margin(ttl)), readyAt: time.Now().Add(time.Duration(wait) * time.Millisecond),
				cursor: "0", ends: map[string]int{}}
			l.lost, l.loseThis = context.WithCancelCause(context.Background())
			c.mu.Lock()
			c.owned = append(c.owned, p)
			c.leases[p] = l
			c.mu.Unlock()
			owned = append(owned, p)
			if wait > 0 {
				// Only an owner that never gave the partition back leaves
				// its fence key behind.
				c.takeovers.Add(1)
			}
			c.log.Info().Int("partition", p).Int64("waits_ms", wait).Msg("partition taken")
		}
	}
	for len(owned) > share {
		victim := -1
		c.mu.Lock()
		for _, p := range c.owned {
			if c.leases[p].idle() {
				victim = p
				break
			}
		}
		c.mu.Unlock()
		if victim < 0 || !c.giveUp(ctx, victim) {
			break
		}
		owned = c.Owned()
		c.log.Info().Int("partition", victim).Int("share", share).Msg("partition given back to balance load")
	}
}

// renewed moves p's write deadline on after a renewal sent at sent.
func (c *Consumer) renewed(p int, sent time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.leases[p]; l != nil {
		if u := sent.Add(c.cfg.LeaseTTL - margin(c.cfg.LeaseTTL)); u.After(l.until) {
			l.until = u
		}
	}
}

// lose forgets p at once and ends every write context of it.
func (c *Consumer) lose(p int) {
	c.mu.Lock()
	l := c.leases[p]
	c.removeLocked(p)
	c.mu.Unlock()
	if l != nil {
		l.loseThis(ErrFenced)
	}
}

// giveUp releases p unless a batch of it is in hand, or an entry of it is
// partly handed out; the check and the removal happen under one lock, so
// Fetch can never read a partition that is being given away.
func (c *Consumer) giveUp(ctx context.Context, p int) bool {
	c.mu.Lock()
	l := c.leases[p]
	if l == nil || !l.idle() {
		c.mu.Unlock()
		return false
	}
	c.removeLocked(p)
	c.mu.Unlock()
	l.loseThis(ErrFenced)
	c.release(ctx, p, !l.unclean)
	return true
}

func (c *Consumer) removeLocked(p int) {
	delete(c.leases, p)
	for i, q := range c.owned {
		if q == p {
			c.owned = append(c.owned[:i], c.owned[i+1:]...)
			return
		}
	}
}

// fairShare is how many partitions the processor called self should own:
// partitions / live processors, the remainder going one each to the first
// processors by name, so 4 partitions over 3 processors split 2, 1, 1.
func fairShare(partitions int, live []string, self string) int {
	if len(live) == 0 {
		return partitions
	}
	names := append([]string(nil), live...)
	sort.Strings(names)
	idx := sort.SearchStrings(names, self)
	share := partitions / len(names)
	if idx < partitions%len(names) {
		share++
	}
	return share
}

// held returns the partitions a maintenance job asked for.
func (c *Consumer) held(ctx context.Context) (map[int]bool, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, c.keys.Partitions)
	for p := range cmds {
		cmds[p] = pipe.Exists(ctx, c.keys.Hold(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := map[int]bool{}
	for p, cmd := range cmds {
		if cmd.Val() > 0 {
			out[p] = true
		}
	}
	return out, nil
}

func (c *Consumer) ensureGroup(ctx context.Context, p int) error {
	err := c.rdb.XGroupCreateMkStream(ctx, c.keys.Stream(p), group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

func (c *Consumer) release(ctx context.Context, p int, clean bool) {
	mark := "0"
	if clean {
		mark = "1"
	}
	_ = releaseScript.Run(ctx, c.rdb, []string{c.keys.Lease(p), c.keys.Fence(p)}, c.cfg.Name, mark).Err()
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Fetch implements analytics.Consumer. It visits the owned partitions in
// turn; in each, entries handed out before but never acknowledged come first.
// While every partition is empty it polls, backing off to IdlePoll.
func (c *Consumer) Fetch(ctx context.Context, max int) (analytics.Batch, error) {
	wait := time.Millisecond
	for {
		b, err := c.fetchOnce(ctx, max)
		if err != nil || len(b.Entries) > 0 {
			return b, err
		}
		// Jittered, so idle processors do not poll Redis in step.
		t := time.NewTimer(retry.Jitter(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return analytics.Batch{}, ctx.Err()
		case <-t.C:
		}
		wait = retry.Next(wait, c.cfg.IdlePoll)
	}
}

func (c *Consumer) fetchOnce(ctx context.Context, max int) (analytics.Batch, error) {
	c.mu.Lock()
	owned := append([]int(nil), c.owned...)
	start := c.next
	c.mu.Unlock()
	var lastErr error
	for i := range owned {
		p := owned[(start+i)%len(owned)]
		if !c.claim(p) {
			continue
		}
		entries, err := c.take(ctx, p, max)
		if err != nil || len(entries) == 0 {
			c.unclaim(p)
			if err != nil {
				if ctx.Err() != nil {
					return analytics.Batch{}, ctx.Err()
				}
				lastErr = err
			}
			continue
		}
		c.mu.Lock()
		c.next = (start + i + 1) % max1(len(owned))
		if l := c.leases[p]; l != nil {
			l.unclean = true // until acknowledged
		}
		c.mu.Unlock()
		return analytics.Batch{Partition: p, Entries: entries}, nil
	}
	if lastErr != nil && len(owned) > 0 {
		return analytics.Batch{}, lastErr
	}
	return analytics.Batch{}, nil
}

// claim marks p busy if it is owned, not busy, and past its takeover wait.
func (c *Consumer) claim(p int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.leases[p]
	if l == nil || l.busy || time.Now().Before(l.readyAt) {
		return false
	}
	l.busy = true
	return true
}

func (c *Consumer) unclaim(p int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.leases[p]; l != nil {
		l.busy = false
	}
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// take returns up to max events of p: those of entries read before and not
// handed out yet, else those of entries read now (never both, so a read
// that finds the partition held or lost has nothing in hand). The caller
// has claimed p, so nothing else touches its lease state meanwhile.
func (c *Consumer) take(ctx context.Context, p, max int) ([]analytics.Entry, error) {
	c.mu.Lock()
	l := c.leases[p]
	if l == nil {
		c.mu.Unlock()
		return nil, nil
	}
	out := l.rest[:min(max, len(l.rest)):min(max, len(l.rest))]
	l.rest = l.rest[len(out):]
	cursor := l.cursor
	c.mu.Unlock()
	if len(out) > 0 {
		return c.handOut(ctx, p, out)
	}
	var handed, acked string
	if cursor == "0" {
		// A new owner: which events of a pending entry were stored and
		// acknowledged already, and where did the batch in flight end?
		if v, err := c.rdb.MGet(ctx, c.keys.Acked(p), c.keys.Handed(p)).Result(); err == nil && len(v) == 2 {
			acked, _ = v[0].(string)
			handed, _ = v[1].(string)
		}
	}
	raw, err := c.read(ctx, p, max, cursor)
	if err == nil && len(raw) == 0 && cursor == "0" {
		// Nothing was pending: no replay to shape. "0-0" reads the same
		// but spares the next reads the look at Handed.
		c.mu.Lock()
		if l := c.leases[p]; l != nil && l.cursor == "0" {
			l.cursor = "0-0"
		}
		c.mu.Unlock()
	}
	if err != nil || len(raw) == 0 {
		return nil, err
	}
	entries, ends, err := parseEntries(raw)
	if err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(entries, func(e analytics.Entry) bool { return e.ID == acked }); i >= 0 {
		entries = entries[i+1:]
	}
	n := min(max, len(entries))
	if i := slices.IndexFunc(entries[:n], func(e analytics.Entry) bool { return e.ID == handed }); i >= 0 {
		n = i + 1
	}
	c.mu.Lock()
	if l = c.leases[p]; l == nil { // lost while reading: the next owner replays
		c.mu.Unlock()
		return nil, nil
	}
	l.cursor = raw[len(raw)-1].ID
	for id, n := range ends {
		l.ends[id] = n
	}
	l.rest = entries[n:]
	c.mu.Unlock()
	if n == 0 {
		return nil, nil
	}
	return c.handOut(ctx, p, entries[:n:n])
}

// handOut records, when the batch ends inside an entry of several, the id
// of its last event in Keys.Handed, and returns the batch. Failing to record
// it is no loss: it only shapes a new owner's first batch.
func (c *Consumer) handOut(ctx context.Context, p int, batch []analytics.Entry) ([]analytics.Entry, error) {
	c.mu.Lock()
	var next string
	if l := c.leases[p]; l != nil && len(l.rest) > 0 {
		next = l.rest[0].ID
	}
	c.mu.Unlock()
	last := batch[len(batch)-1].ID
	if next != "" && entryOf(next) == entryOf(last) {
		_ = c.rdb.Set(ctx, c.keys.Handed(p), last, 0).Err()
	}
	return batch, nil
}

// entryOf is the stream entry id of an event's entry id: "a-b" of "a-b-i".
func entryOf(id string) string {
	if i := strings.IndexByte(id, '-'); i >= 0 {
		if j := strings.IndexByte(id[i+1:], '-'); j >= 0 {
			return id[:i+1+j]
		}
	}
	return id
}

// read runs the read script for about max events after cursor.
func (c *Consumer) read(ctx context.Context, p, max int, cursor string) ([]redis.XMessage, error) {
	keys := []string{c.keys.Lease(p), c.keys.Stream(p), c.keys.Hold(p), c.keys.Fence(p), c.keys.Surplus(p)}
	args := []any{c.cfg.Name, c.cfg.LeaseTTL.Milliseconds(), group, consumer, max, cursor}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.LeaseTTL/3)
	defer cancel()
	sent := time.Now()
	res, err := readScript.Run(rctx, c.rdb, keys, args...).Result()
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		if err := c.ensureGroup(rctx, p); err != nil {
			return nil, unavailable("redis: create consumer group", err)
		}
		sent = time.Now()
		res, err = readScript.Run(rctx, c.rdb, keys, args...).Result()
	}
	if err != nil {
		switch {
		case strings.HasPrefix(err.Error(), "LEASELOST"):
			c.log.Warn().Int("partition", p).Msg("lease lost to another processor")
			c.lose(p)
			return nil, nil
		case strings.HasPrefix(err.Error(), "HELD"):
			c.unclaim(p)
			if c.giveUp(ctx, p) {
				c.log.Info().Int("partition", p).Msg("partition given up for a maintenance job")
			}
			return nil, nil
		}
		return nil, unavailable("redis: read partition", err)
	}
	// The script renewed the lease: that moves the write deadline on too.
	c.renewed(p, sent)
	return streamEntries(res)
}

// WriteContext implements analytics.Consumer. The context ends with cause
// ErrFenced at the partition's local write deadline, or at once when the
// lease is known lost. A deadline cannot move, so callers ask again for
// each write attempt; renewals in between give the next one more time.
func (c *Consumer) WriteContext(ctx context.Context, b analytics.Batch) (context.Context, context.CancelFunc) {
	c.mu.Lock()
	l := c.leases[b.Partition]
	var until time.Time
	var lost context.Context
	if l != nil {
		until, lost = l.until, l.lost
	}
	c.mu.Unlock()
	if l == nil {
		return fencedOut(ctx)
	}
	return fencedContext(ctx, until, lost, c.cfg.LeaseTTL)
}

// fencedContext is the write context of a writer whose local deadline is
// until and whose lease is known lost when lost ends: it ends, with cause
// ErrFenced, at whichever comes first. A write that would have less than a
// tenth of the TTL is not started at all.
func fencedContext(ctx context.Context, until time.Time, lost context.Context, ttl time.Duration) (context.Context, context.CancelFunc) {
	if time.Until(until) < ttl/10 || lost.Err() != nil {
		return fencedOut(ctx)
	}
	cctx, cancelLost := context.WithCancelCause(ctx)
	wctx, cancelDeadline := context.WithDeadlineCause(cctx, until, ErrFenced)
	stop := context.AfterFunc(lost, func() { cancelLost(ErrFenced) })
	return wctx, func() { stop(); cancelDeadline(); cancelLost(nil) }
}

// fencedOut is a write context that has already ended with ErrFenced.
func fencedOut(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	cancel(ErrFenced)
	return wctx, func() {}
}

// streamEntries reads the script's reply: a list of [id, [field, value]]
// pairs; a pending entry deleted meanwhile has no fields.
func streamEntries(res any) ([]redis.XMessage, error) {
	list, ok := res.([]any)
	if !ok {
		return nil, fmt.Errorf("redisqueue: unexpected reply %T", res)
	}
	out := make([]redis.XMessage, 0, len(list))
	for _, item := range list {
		pair, ok := item.([]any)
		if !ok || len(pair) < 1 {
			return nil, fmt.Errorf("redisqueue: unexpected entry %T", item)
		}
		m := redis.XMessage{Values: map[string]any{}}
		m.ID, _ = pair[0].(string)
		var fields []any
		if len(pair) > 1 {
			fields, _ = pair[1].([]any)
		}
		for i := 0; i+1 < len(fields); i += 2 {
			if k, _ := fields[i].(string); k != "" {
				m.Values[k] = fields[i+1]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// parseEntries turns stream entries into one analytics.Entry per event. An
// entry of one event keeps the stream entry's id; the i-th event of an
// entry of several is "<entry id>-i", and ends maps the id of its last
// event (of the whole entry, when it cannot be read) to their number.
func parseEntries(msgs []redis.XMessage) (out []analytics.Entry, ends map[string]int, err error) {
	out = make([]analytics.Entry, 0, len(msgs))
	ends = map[string]int{}
	for _, m := range msgs {
		v, ok := m.Values[field].(string)
		n, _ := strconv.Atoi(fmt.Sprint(m.Values[count]))
		if n < 2 {
			e := analytics.Entry{ID: m.ID}
			if ok {
				e.Raw = []byte(v)
			}
			decodeEntry(&e)
			out = append(out, e)
			continue
		}
		var raws []json.RawMessage
		if err := json.Unmarshal([]byte(v), &raws); err != nil || len(raws) == 0 {
			id := m.ID + "-0"
			ends[id] = n
			out = append(out, analytics.Entry{ID: id, Raw: []byte(v), Err: fmt.Errorf("entry of %d events is not a JSON array of events: %v", n, err)})
			continue
		}
		for i, raw := range raws {
			e := analytics.Entry{ID: m.ID + "-" + strconv.Itoa(i), Raw: raw}
			decodeEntry(&e)
			out = append(out, e)
		}
		ends[out[len(out)-1].ID] = n
	}
	return out, ends, nil
}

// decodeEntry decodes e.Raw into e.Event, or says in e.Err why it cannot.
func decodeEntry(e *analytics.Entry) {
	switch {
	case e.Raw == nil:
		e.Err = errors.New("entry has no event (deleted or written by something else)")
	default:
		if err := json.Unmarshal(e.Raw, &e.Event); err != nil {
			e.Err = fmt.Errorf("entry is not a valid event: %w", err)
		} else if e.Event.ID == "" || e.Event.SiteID == "" || e.Event.EventType == "" {
			e.Err = errors.New("entry lacks id, site_id or event_type")
		}
	}
}

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
	if l := c.leases[b.Partition]; l != nil {
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
	if l := c.leases[b.Partition]; l != nil {
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
	if l := c.leases[b.Partition]; l != nil {
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

// Close stops the ownership loop, gives every partition back so another
// processor can take it at once (at once only when no batch of it was left
// unacknowledged), and leaves the processors set. Safe twice.
func (c *Consumer) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.stop()
		<-c.done
		c.mu.Lock()
		leases := c.leases
		c.leases, c.owned = map[int]*lease{}, nil
		c.mu.Unlock()
		// A hung Redis must not hold the shutdown: the leases expire anyway.
		ctx, cancel := context.WithTimeout(ctx, c.cfg.LeaseTTL)
		defer cancel()
		for p, l := range leases {
			l.loseThis(ErrFenced)
			c.release(ctx, p, !l.unclean)
		}
		_ = c.rdb.ZRem(ctx, c.keys.Processors(), c.cfg.Name).Err()
	})
	return nil
}
