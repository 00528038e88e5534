// Package ratelimit keeps one token bucket per key (a client, a site id)
// in a bounded, sharded map. State is per process: N collectors behind a
// load balancer allow up to N times the rate in all.
package ratelimit

import (
	"math"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Config is one limit: Rate tokens a second, up to Burst at once.
type Config struct {
	Rate  float64 // per second; 0 turns the limit off
	Burst int     // bucket size; at least 1
	// MaxKeys bounds the buckets kept (default DefaultMaxKeys). Buckets
	// full again are dropped first (a new bucket is full, so nothing is
	// lost); past MaxKeys the fullest of a sample of 16 is, so a client
	// that spent its bucket does not get a full one back by being evicted
	// while fuller buckets are kept.
	MaxKeys int
}

// DefaultMaxKeys is Config.MaxKeys's default: about 8 MB of address buckets.
const DefaultMaxKeys = 100_000

// maxShards bounds the shards, which spread the lock; minPerShard keeps
// each big enough that evicting the fullest of a shard is a choice (a
// shard of one bucket would evict whatever it holds, a spent one too).
const maxShards, minPerShard = 64, 16

// Limiter is a set of token buckets by key. Safe for concurrent use.
//
// A request may cost more than the burst (a batch of events): it is taken
// from a bucket holding at least the burst, and leaves the bucket in debt,
// so the long-run rate holds whatever the size of the requests.
type Limiter[K comparable] struct {
	rate    float64
	burst   float64
	idle    time.Duration // time an empty bucket takes to fill
	perShrd int
	shardOf func(K) uint32
	shards  []shard[K]
}

type shard[K comparable] struct {
	mu    sync.Mutex
	m     map[K]bucket
	swept time.Time
	_     [24]byte // keeps shards' locks on separate cache lines
}

// bucket holds tokens at the time at; below zero it is in debt.
type bucket struct {
	tokens float64
	at     time.Time
}

// Cost is what one request takes from one key's bucket.
type Cost[K comparable] struct {
	Key K
	N   int
}

// New returns a limiter, or nil when cfg.Rate is 0 (a nil *Limiter allows
// everything). shardOf spreads keys over the shards (any hash of the key).
func New[K comparable](cfg Config, shardOf func(K) uint32) *Limiter[K] {
	if cfg.Rate <= 0 {
		return nil
	}
	if cfg.Burst < 1 {
		cfg.Burst = 1
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	n := min(max(cfg.MaxKeys/minPerShard, 1), maxShards)
	l := &Limiter[K]{rate: cfg.Rate, burst: float64(cfg.Burst), shardOf: shardOf,
		perShrd: max(cfg.MaxKeys/n, 1), shards: make([]shard[K], n),
		idle: time.Duration(float64(cfg.Burst) / cfg.Rate * float64(time.Second))}
	for i := range l.shards {
		l.shards[i].m = map[K]bucket{}
	}
	return l
}

// tokensAt is what b holds at now: it refills at the rate up to the burst.
func (l *Limiter[K]) tokensAt(b bucket, now time.Time) float64 {
	if d := now.Sub(b.at); d > 0 {
		return math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
	}
	return b.tokens
}

// Allow takes n tokens from key's bucket at now. A request larger than the
// burst needs a full bucket and leaves it in debt. When the bucket has too
// few it takes none and returns how long until it will have them.
func (l *Limiter[K]) Allow(key K, n int, now time.Time) (ok bool, retry time.Duration) {
	if l == nil {
		return true, 0
	}
	costs := [1]Cost[K]{{key, n}}
	ok, _, retry = l.AllowAll(costs[:], now)
	return ok, retry
}

// AllowAll takes every cost at now, or none: when one key's bucket has too
// few tokens nothing is spent, refused is the index of the first such cost
// and retry how long until it will have them. The same key twice costs the
// sum. The shards involved are held together, so concurrent calls never
// see one half of another's spending.
func (l *Limiter[K]) AllowAll(costs []Cost[K], now time.Time) (ok bool, refused int, retry time.Duration) {
	if l == nil || len(costs) == 0 {
		return true, 0, 0
	}
	// A request nearly always names one or two keys: no allocation then.
	var idxArr, lockedArr [4]int
	idx := idxArr[:0]
	for _, c := range costs {
		idx = append(idx, int(l.shardOf(c.Key)%uint32(len(l.shards))))
	}
	locked := append(lockedArr[:0], idx...)
	if len(costs) > 1 {
		// Locks are taken in shard order so that two requests naming the
		// same shards in opposite orders cannot deadlock.
		sort.Ints(locked)
	}
	prev := -1
	for _, i := range locked {
		if i != prev {
			l.shards[i].mu.Lock()
			prev = i
		}
	}
	defer func() {
		prev := -1
		for _, i := range locked {
			if i != prev {
				l.shards[i].mu.Unlock()
				prev = i
			}
		}
	}()

	for i, c := range costs {
		n := float64(max(c.N, 1))
		for j := range i {
			if costs[j].Key == c.Key {
				n = -1 // counted with its first occurrence
				break
			}
		}
		if n < 0 {
			continue
		}
		for j := i + 1; j < len(costs); j++ {
			if costs[j].Key == c.Key {
				n += float64(max(costs[j].N, 1))
			}
		}
		tokens := l.burst
		if b, ok := l.shards[idx[i]].m[c.Key]; ok {
			tokens = l.tokensAt(b, now)
		}
		if need := math.Min(n, l.burst); tokens < need {
			return false, i, time.Duration(math.Ceil((need - tokens) / l.rate * float64(time.Second)))
		}
	}
	for i, c := range costs {
		s := &l.shards[idx[i]]
		b, ok := s.m[c.Key]
		if !ok {
			l.makeRoom(s, now)
			b = bucket{tokens: l.burst, at: now}
		}
		b.tokens = l.tokensAt(b, now) - float64(max(c.N, 1))
		if now.After(b.at) {
			b.at = now
		}
		s.m[c.Key] = b
	}
	return true, 0, 0
}

// makeRoom drops the shard's buckets that are full again (forgetting
// them loses nothing), at most once a second and at least every idle
// period; if the shard is still full, it drops the fullest bucket, the
// one whose client gains least by starting again from a full one.
func (l *Limiter[K]) makeRoom(s *shard[K], now time.Time) {
	since := now.Sub(s.swept)
	if since >= time.Second && (since >= l.idle || len(s.m) >= l.perShrd) {
		s.swept = now
		for k, b := range s.m {
			if l.tokensAt(b, now) >= l.burst {
				delete(s.m, k)
			}
		}
	}
	if len(s.m) < l.perShrd {
		return
	}
	// The fullest of a sample, as Redis approximates LRU: scanning the
	// whole shard cost 94 µs a new key at MaxKeys (BenchmarkAllowFlood),
	// which a flood of new addresses would pay on every request. Go starts
	// each map walk at a random place, so the sample is random; a spent
	// bucket is evicted only when every bucket sampled is as spent.
	var fullest K
	most := math.Inf(-1)
	n := 0
	for k, b := range s.m {
		if t := l.tokensAt(b, now); t > most {
			fullest, most = k, t
		}
		if n++; n == evictionSample || most >= l.burst {
			break
		}
	}
	delete(s.m, fullest)
}

// evictionSample is how many buckets makeRoom compares to pick the one
// to evict.
const evictionSample = 16

// Client is the key of a client address: an IPv6 address stands for its
// /64, the block one subscriber is given (so a client cannot take a fresh
// bucket per address), an IPv4-mapped one for its IPv4 address.
func Client(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if !a.Is6() {
		return a
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}

// Len is the number of buckets kept (for tests and metrics).
func (l *Limiter[K]) Len() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
