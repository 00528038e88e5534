package ratelimit

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func strShard(s string) uint32 {
	h := uint32(0)
	for i := 0; i < len(s); i++ {
		h = h*31 + uint32(s[i])
	}
	return h
}

func TestOffIsNil(t *testing.T) {
	l := New(Config{Rate: 0, Burst: 5}, strShard)
	if l != nil {
		t.Fatal("a rate of 0 made a limiter")
	}
	if ok, _ := l.Allow("x", 1000, time.Now()); !ok || l.Len() != 0 {
		t.Fatal("a nil limiter refused")
	}
}

// TestBucket: a burst, then a refusal with the time until enough tokens
// are back, then acceptance once they are; keys do not share buckets.
func TestBucket(t *testing.T) {
	l := New(Config{Rate: 2, Burst: 3}, strShard)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Allow("a", 1, t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow("a", 1, t0)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("over the burst: %v, retry %v; want false, 500ms", ok, retry)
	}
	if ok, _ := l.Allow("b", 1, t0); !ok {
		t.Fatal("another key refused")
	}
	if ok, _ := l.Allow("a", 1, t0.Add(499*time.Millisecond)); ok {
		t.Fatal("taken before the retry time")
	}
	if ok, _ := l.Allow("a", 1, t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused at the retry time")
	}
	// n tokens at once; more than the burst needs a full bucket and leaves
	// it in debt.
	if ok, retry := l.Allow("c", 2, t0); !ok || retry != 0 {
		t.Fatal("2 of 3 refused")
	}
	if ok, retry := l.Allow("c", 2, t0); ok || retry != 500*time.Millisecond {
		t.Fatalf("2 with 1 left: %v, %v", ok, retry)
	}
	if ok, _ := l.Allow("d", 1000, t0); !ok {
		t.Fatal("a request larger than the burst, on a full bucket, refused")
	}
	if ok, retry := l.Allow("d", 1000, t0); ok || retry != 500*time.Second {
		t.Fatalf("again at once: %v, %v; want the time to repay the debt and refill the burst", ok, retry)
	}
}

// TestBounded: the buckets kept never exceed MaxKeys, whatever the number
// of keys, and idle ones (full again) are dropped.
func TestBounded(t *testing.T) {
	l := New(Config{Rate: 10, Burst: 10, MaxKeys: 640}, func(a netip.Addr) uint32 { b := a.As4(); return uint32(b[3]) ^ uint32(b[2])<<8 })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Allow(a, 1, t0.Add(time.Duration(i)*time.Microsecond))
		if n := l.Len(); i%997 == 0 && n > 640 {
			t.Fatalf("%d buckets after %d keys", n, i+1)
		}
	}
	if n := l.Len(); n > 640 {
		t.Fatalf("%d buckets", n)
	}
	// Past the idle time (1s: a bucket of 10 at 10/s), one new key per
	// shard sweeps its shard clean.
	later := t0.Add(time.Minute)
	for i := range 64 * 50 {
		l.Allow(netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), 1, later)
	}
	if n := l.Len(); n > 64*50 {
		t.Fatalf("%d buckets after the idle sweep, want at most the %d new ones", n, 64*50)
	}
}

// BenchmarkAllow is the limiter on the collector's hot path: one address
// (or site) of many, from every core.
func BenchmarkAllow(b *testing.B) {
	l := New(Config{Rate: 1e9, Burst: 1 << 30}, func(a netip.Addr) uint32 { b := a.As16(); return uint32(b[15]) | uint32(b[14])<<8 })
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i>>8, i&255))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if ok, _ := l.Allow(addrs[i&4095], 1, time.Now()); !ok {
				b.Fatal("refused")
			}
			i++
		}
	})
}

// TestBatchCostsEveryEvent: a batch larger than the burst is taken from a
// full bucket and leaves it in debt, so batches of 1000 against a rate of
// 10/s and a burst of 100 get through at 10/s in the long run, not at one
// burst per refill (which was 10 times the rate).
func TestBatchCostsEveryEvent(t *testing.T) {
	l := New(Config{Rate: 10, Burst: 100}, strShard)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const seconds = 1000
	taken := 0
	for step := 0; step <= seconds*10; step++ {
		if ok, _ := l.Allow("site", 1000, t0.Add(time.Duration(step)*100*time.Millisecond)); ok {
			taken += 1000
		}
	}
	// The rate over the span, plus the first full bucket, plus the one batch
	// the last debt let through.
	if limit := 10*seconds + 100 + 1000; taken > limit {
		t.Fatalf("%d events taken in %d s at 10/s (burst 100): %.1f times the rate", taken, seconds, float64(taken)/(10*seconds))
	}
	if taken < 10*seconds-1000 {
		t.Fatalf("%d events taken in %d s at 10/s: the debt is repaid too slowly", taken, seconds)
	}
	// In debt, one more event waits until the debt is repaid.
	l2 := New(Config{Rate: 10, Burst: 100}, strShard)
	if ok, _ := l2.Allow("s", 1000, t0); !ok {
		t.Fatal("a batch on a full bucket refused")
	}
	if ok, retry := l2.Allow("s", 1, t0); ok || retry != 90100*time.Millisecond {
		t.Fatalf("one event after a batch of 1000 on a bucket of 100: %v, retry %v; want false, 90.1s", ok, retry)
	}
}

// TestEvictionKeepsSpentBuckets: when the buckets kept reach MaxKeys, the
// one evicted is the fullest, so a client that emptied its bucket is not
// handed a full one by a flood of new keys.
func TestEvictionKeepsSpentBuckets(t *testing.T) {
	l := New(Config{Rate: 1, Burst: 10, MaxKeys: 640}, func(string) uint32 { return 0 }) // one shard of 10
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if ok, _ := l.Allow("attacker", 10, t0); !ok {
		t.Fatal("first burst refused")
	}
	for i := range 1000 {
		l.Allow(fmt.Sprintf("new-%d", i), 1, t0)
	}
	if ok, _ := l.Allow("attacker", 1, t0); ok {
		t.Fatal("the emptied bucket was evicted and came back full")
	}
	if n := l.Len(); n > 640 {
		t.Fatalf("%d buckets kept", n)
	}

	// However small MaxKeys is, and whatever shard the keys fall in.
	small := New(Config{Rate: 1, Burst: 10, MaxKeys: 10}, strShard)
	small.Allow("attacker", 10, t0)
	for i := range 1000 {
		small.Allow(fmt.Sprintf("new-%d", i), 1, t0)
	}
	if ok, _ := small.Allow("attacker", 1, t0); ok || small.Len() > 10 {
		t.Fatalf("MaxKeys 10: the emptied bucket came back full (or %d buckets kept)", small.Len())
	}
}

// TestAllowAllSpendsNothingWhenOneIsRefused: a request whose second key is
// over its limit spends nothing of the first key's tokens.
func TestAllowAllSpendsNothingWhenOneIsRefused(t *testing.T) {
	l := New(Config{Rate: 1, Burst: 10}, strShard)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if ok, _ := l.Allow("b", 10, t0); !ok {
		t.Fatal("b's burst refused")
	}
	ok, refused, retry := l.AllowAll([]Cost[string]{{"a", 5}, {"b", 1}}, t0)
	if ok || refused != 1 || retry != time.Second {
		t.Fatalf("AllowAll(a 5, b 1) with b empty: %v, refused %d, retry %v; want false, 1, 1s", ok, refused, retry)
	}
	if ok, _ := l.Allow("a", 10, t0); !ok {
		t.Fatal("a's tokens were spent by a refused request")
	}
	// The same key twice costs the sum.
	if ok, _ := l.Allow("c", 5, t0); !ok {
		t.Fatal("c 5 refused")
	}
	if ok, _, _ := l.AllowAll([]Cost[string]{{"c", 3}, {"c", 3}}, t0); ok {
		t.Fatal("c 3 + c 3 taken from a bucket of 5")
	}
	if ok, _, _ := l.AllowAll([]Cost[string]{{"c", 5}, {"d", 6}}, t0); !ok {
		t.Fatal("c 5 + d 6 refused")
	}
}

// TestAllowAllConcurrent: racers spending from two shared keys at one
// instant never take more than the two bursts, and never leave one key
// spent for a request the other refused.
func TestAllowAllConcurrent(t *testing.T) {
	l := New(Config{Rate: 1, Burst: 1000}, strShard)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var taken atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				costs := []Cost[string]{{"x", 1}, {"y", 1}}
				if (g+i)%2 == 1 {
					costs[0], costs[1] = costs[1], costs[0]
				}
				if ok, _, _ := l.AllowAll(costs, t0); ok {
					taken.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := taken.Load(); n != 1000 {
		t.Fatalf("%d requests of x and y taken from bursts of 1000, want 1000", n)
	}
	for _, k := range []string{"x", "y"} {
		if ok, _ := l.Allow(k, 1, t0); ok {
			t.Fatalf("%s has tokens left after 1000 taken", k)
		}
	}
}

// TestClientGroupsIPv6By64: the addresses of one IPv6 /64 (what one
// subscriber gets) are one client; IPv4 and IPv4-mapped addresses are
// their own.
func TestClientGroupsIPv6By64(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:fffe")
	if Client(a) != Client(b) {
		t.Fatalf("Client(%v) = %v, Client(%v) = %v; want one client", a, Client(a), b, Client(b))
	}
	if c := netip.MustParseAddr("2001:db8:1:3::1"); Client(c) == Client(a) {
		t.Fatal("another /64 is the same client")
	}
	if v4, mapped := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("::ffff:203.0.113.7"); Client(v4) != v4 || Client(mapped) != v4 {
		t.Fatalf("Client(203.0.113.7) = %v, Client(::ffff:203.0.113.7) = %v", Client(v4), Client(mapped))
	}
}

// BenchmarkAllowFlood is the worst case of eviction: every request a new
// key, with the limiter at MaxKeys and no bucket full again, so each new
// key scans its shard for the fullest.
func BenchmarkAllowFlood(b *testing.B) {
	l := New(Config{Rate: 1, Burst: 10}, func(a netip.Addr) uint32 { b := a.As16(); return uint32(b[15]) | uint32(b[14])<<8 })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range DefaultMaxKeys {
		l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5, t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l.Allow(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 5, t0)
	}
}
