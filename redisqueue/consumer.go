package redisqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
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

	mu    sync.Mutex
	owned []int // partitions held, in the order Fetch visits them
	next  int   // round-robin position in owned
	busy  int   // partition with a batch handed out and not acked, or -1

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var _ analytics.Consumer = (*Consumer)(nil)

// The scripts check the lease and act in one step, so a processor whose
// lease lapsed can never read entries of a partition another now owns.
var (
	readScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LEASELOST lease lost') end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local r = redis.call('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', ARGV[5], 'STREAMS', KEYS[2], '0')
if r and r[1] and #r[1][2] > 0 then return r[1][2] end
r = redis.call('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', ARGV[5], 'STREAMS', KEYS[2], '>')
if r and r[1] then return r[1][2] end
return {}
`)
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
)

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
	c := &Consumer{rdb: rdb, keys: keys, cfg: cfg, log: log, busy: -1, stop: stop, done: make(chan struct{})}
	c.maintain(ctx) // own partitions before the first Fetch
	go c.loop(loopCtx)
	return c, nil
}

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
func (c *Consumer) maintain(ctx context.Context) {
	ttl := c.cfg.LeaseTTL
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
		if held[p] && !c.isBusy(p) {
			c.drop(p)
			c.release(ctx, p)
			c.log.Info().Int("partition", p).Msg("partition given up for a maintenance job")
			continue
		}
		n, err := renewScript.Run(ctx, c.rdb, []string{c.keys.Lease(p)}, c.cfg.Name, ttl.Milliseconds()).Int()
		if err != nil {
			c.log.Warn().Err(err).Int("partition", p).Msg("lease renewal failed; will retry")
			continue
		}
		if n == 0 {
			c.log.Warn().Int("partition", p).Msg("lease lost to another processor")
			c.drop(p)
		}
	}

	owned := c.Owned()
	if len(owned) < share {
		for _, p := range rand.Perm(c.keys.Partitions) {
			if len(owned) >= share || contains(owned, p) || held[p] {
				continue
			}
			ok, err := c.rdb.SetNX(ctx, c.keys.Lease(p), c.cfg.Name, ttl).Result()
			if err != nil || !ok {
				continue
			}
			if err := c.ensureGroup(ctx, p); err != nil {
				c.log.Warn().Err(err).Int("partition", p).Msg("create consumer group")
				c.release(ctx, p)
				continue
			}
			c.mu.Lock()
			c.owned = append(c.owned, p)
			c.mu.Unlock()
			owned = append(owned, p)
			c.log.Info().Int("partition", p).Msg("partition taken")
		}
	}
	for len(owned) > share {
		c.mu.Lock()
		victim := -1
		for _, p := range c.owned {
			if p != c.busy {
				victim = p
				break
			}
		}
		c.mu.Unlock()
		if victim < 0 {
			break
		}
		c.drop(victim)
		c.release(ctx, victim)
		owned = c.Owned()
		c.log.Info().Int("partition", victim).Int("share", share).Msg("partition given back to balance load")
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

func (c *Consumer) isBusy(p int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.busy == p
}

func (c *Consumer) ensureGroup(ctx context.Context, p int) error {
	err := c.rdb.XGroupCreateMkStream(ctx, c.keys.Stream(p), group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

func (c *Consumer) drop(p int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, q := range c.owned {
		if q == p {
			c.owned = append(c.owned[:i], c.owned[i+1:]...)
			return
		}
	}
}

func (c *Consumer) release(ctx context.Context, p int) {
	_ = releaseScript.Run(ctx, c.rdb, []string{c.keys.Lease(p)}, c.cfg.Name).Err()
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
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return analytics.Batch{}, ctx.Err()
		case <-t.C:
		}
		if wait *= 2; wait > c.cfg.IdlePoll {
			wait = c.cfg.IdlePoll
		}
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
		entries, err := c.read(ctx, p, max)
		if err != nil {
			if ctx.Err() != nil {
				return analytics.Batch{}, ctx.Err()
			}
			lastErr = err
			continue
		}
		if len(entries) > 0 {
			c.mu.Lock()
			c.next = (start + i + 1) % max1(len(owned))
			c.busy = p
			c.mu.Unlock()
			return analytics.Batch{Partition: p, Entries: entries}, nil
		}
	}
	if lastErr != nil && len(owned) > 0 {
		return analytics.Batch{}, lastErr
	}
	return analytics.Batch{}, nil
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

func (c *Consumer) read(ctx context.Context, p, max int) ([]analytics.Entry, error) {
	keys := []string{c.keys.Lease(p), c.keys.Stream(p)}
	args := []any{c.cfg.Name, c.cfg.LeaseTTL.Milliseconds(), group, consumer, max}
	res, err := readScript.Run(ctx, c.rdb, keys, args...).Result()
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		if err := c.ensureGroup(ctx, p); err != nil {
			return nil, unavailable("redis: create consumer group", err)
		}
		res, err = readScript.Run(ctx, c.rdb, keys, args...).Result()
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "LEASELOST") {
			c.log.Warn().Int("partition", p).Msg("lease lost to another processor")
			c.drop(p)
			return nil, nil
		}
		return nil, unavailable("redis: read partition", err)
	}
	return parseEntries(res)
}

// parseEntries decodes the script's reply: a list of [id, [field, value]]
// pairs; a pending entry deleted meanwhile has no fields.
func parseEntries(res any) ([]analytics.Entry, error) {
	list, ok := res.([]any)
	if !ok {
		return nil, fmt.Errorf("redisqueue: unexpected reply %T", res)
	}
	out := make([]analytics.Entry, 0, len(list))
	for _, item := range list {
		pair, ok := item.([]any)
		if !ok || len(pair) < 1 {
			return nil, fmt.Errorf("redisqueue: unexpected entry %T", item)
		}
		id, _ := pair[0].(string)
		e := analytics.Entry{ID: id}
		var fields []any
		if len(pair) > 1 {
			fields, _ = pair[1].([]any)
		}
		for i := 0; i+1 < len(fields); i += 2 {
			if k, _ := fields[i].(string); k == field {
				v, _ := fields[i+1].(string)
				e.Raw = []byte(v)
			}
		}
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
		out = append(out, e)
	}
	return out, nil
}

// Ack implements analytics.Consumer. Acknowledged entries are deleted from
// the stream, so its length is the backlog.
func (c *Consumer) Ack(ctx context.Context, b analytics.Batch) error {
	if len(b.Entries) == 0 {
		return nil
	}
	ids := make([]string, len(b.Entries))
	for i, e := range b.Entries {
		ids[i] = e.ID
	}
	stream := c.keys.Stream(b.Partition)
	pipe := c.rdb.Pipeline()
	pipe.XAck(ctx, stream, group, ids...)
	pipe.XDel(ctx, stream, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable("redis: acknowledge entries", err)
	}
	c.mu.Lock()
	if c.busy == b.Partition {
		c.busy = -1
	}
	c.mu.Unlock()
	return nil
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
// processor can take it at once, and leaves the processors set. Safe twice.
func (c *Consumer) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.stop()
		<-c.done
		for _, p := range c.Owned() {
			c.release(ctx, p)
			c.drop(p)
		}
		_ = c.rdb.ZRem(ctx, c.keys.Processors(), c.cfg.Name).Err()
	})
	return nil
}
