package redisqueue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Ownership: the consumer's background loop keeps a heartbeat, renews the
// leases of the partitions it owns, takes free ones up to its fair share and
// gives back the ones above it or wanted by a maintenance job.

func (c *Consumer) loop(ctx context.Context) {
	renewEvery(ctx, c.cfg.LeaseTTL, c.done, func() bool { c.maintain(ctx); return true })
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
		c.mu.Lock()
		l := c.parts[p]
		c.mu.Unlock()
		if l == nil {
			continue
		}
		lost, err := l.renew(ctx)
		if err != nil {
			c.log.Warn().Err(err).Int("partition", p).Msg("lease renewal failed; will retry")
			continue
		}
		if lost {
			c.log.Warn().Int("partition", p).Msg("lease lost to another processor")
			c.lose(p)
		}
	}

	owned := c.Owned()
	if len(owned) < share {
		for _, p := range rand.Perm(c.keys.Partitions) {
			if len(owned) >= share || contains(owned, p) || held[p] {
				continue
			}
			l, wait, err := acquireLease(ctx, c.rdb, c.keys, p, c.cfg.Name, ttl)
			if err != nil || l == nil {
				continue
			}
			if err := c.ensureGroup(ctx, p); err != nil {
				c.log.Warn().Err(err).Int("partition", p).Msg("create consumer group")
				l.release(ctx, true)
				continue
			}
			// A previous owner cut off mid-write may still have writes in
			// flight: wait until its fence key is gone.
			c.mu.Lock()
			c.owned = append(c.owned, p)
			c.parts[p] = &partition{lease: l, readyAt: time.Now().Add(wait), cursor: "0", ends: map[string]int{}}
			c.mu.Unlock()
			owned = append(owned, p)
			if wait > 0 {
				// Only an owner that never gave the partition back leaves
				// its fence key behind.
				c.takeovers.Add(1)
			}
			c.log.Info().Int("partition", p).Int64("waits_ms", wait.Milliseconds()).Msg("partition taken")
		}
	}
	for len(owned) > share {
		victim := -1
		c.mu.Lock()
		for _, p := range c.owned {
			if c.parts[p].idle() {
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
	l := c.parts[p]
	c.mu.Unlock()
	if l != nil {
		l.renewed(sent)
	}
}

// lose forgets p at once and ends every write context of it.
func (c *Consumer) lose(p int) {
	c.mu.Lock()
	l := c.parts[p]
	c.removeLocked(p)
	c.mu.Unlock()
	if l != nil {
		l.lose()
	}
}

// giveUp releases p unless a batch of it is in hand, or an entry of it is
// partly handed out; the check and the removal happen under one lock, so
// Fetch can never read a partition that is being given away.
func (c *Consumer) giveUp(ctx context.Context, p int) bool {
	c.mu.Lock()
	l := c.parts[p]
	if l == nil || !l.idle() {
		c.mu.Unlock()
		return false
	}
	c.removeLocked(p)
	c.mu.Unlock()
	l.release(ctx, !l.unclean)
	return true
}

func (c *Consumer) removeLocked(p int) {
	delete(c.parts, p)
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

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
