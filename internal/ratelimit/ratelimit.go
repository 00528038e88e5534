// Package ratelimit keeps one token bucket (golang.org/x/time/rate) per key
// (a client address, a site id) in a bounded, sharded map. State is per
// process: N collectors behind a load balancer allow up to N times the
// rate in all.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config is one limit: Rate tokens a second, up to Burst at once.
type Config struct {
	Rate  float64 // per second; 0 turns the limit off
	Burst int     // bucket size; at least 1
	// MaxKeys bounds the buckets kept (default DefaultMaxKeys). Buckets
	// idle long enough to be full again are dropped first (a new bucket is
	// full, so nothing is lost); past MaxKeys an arbitrary one is, which
	// gives that key a full bucket again.
	MaxKeys int
}

// DefaultMaxKeys is Config.MaxKeys's default: about 20 MB of buckets.
const DefaultMaxKeys = 100_000

const shards = 64

// Limiter is a set of token buckets by key. Safe for concurrent use.
type Limiter[K comparable] struct {
	limit   rate.Limit
	burst   int
	idle    time.Duration // time an empty bucket takes to fill
	perShrd int
	shardOf func(K) uint32
	shards  [shards]shard[K]
}

type shard[K comparable] struct {
	mu    sync.Mutex
	m     map[K]*bucket
	swept time.Time
	_     [24]byte // keeps shards' locks on separate cache lines
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
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
	l := &Limiter[K]{limit: rate.Limit(cfg.Rate), burst: cfg.Burst, shardOf: shardOf,
		perShrd: max(cfg.MaxKeys/shards, 1),
		idle:    time.Duration(float64(cfg.Burst) / cfg.Rate * float64(time.Second))}
	for i := range l.shards {
		l.shards[i].m = map[K]*bucket{}
	}
	return l
}

// Allow takes n tokens (at most Burst: a request larger than the bucket
// takes all of it) from key's bucket at now. When the bucket has too few it
// takes none and returns how long until it will have them.
func (l *Limiter[K]) Allow(key K, n int, now time.Time) (ok bool, retry time.Duration) {
	if l == nil {
		return true, 0
	}
	n = min(max(n, 1), l.burst)
	s := &l.shards[l.shardOf(key)%shards]
	s.mu.Lock()
	b := s.m[key]
	if b == nil {
		l.makeRoom(s, now)
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		s.m[key] = b
	}
	b.seen = now
	ok = b.lim.AllowN(now, n)
	var tokens float64
	if !ok {
		tokens = b.lim.TokensAt(now)
	}
	s.mu.Unlock()
	if ok {
		return true, 0
	}
	secs := (float64(n) - tokens) / float64(l.limit)
	return false, time.Duration(math.Ceil(secs * float64(time.Second)))
}

// makeRoom drops the shard's buckets that have been idle long enough to be
// full again, at most once a second and at least every idle period; if the
// shard is still full, it drops one bucket.
func (l *Limiter[K]) makeRoom(s *shard[K], now time.Time) {
	since := now.Sub(s.swept)
	if since >= time.Second && (since >= l.idle || len(s.m) >= l.perShrd) {
		s.swept = now
		for k, b := range s.m {
			if now.Sub(b.seen) >= l.idle {
				delete(s.m, k)
			}
		}
	}
	if len(s.m) >= l.perShrd {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
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
