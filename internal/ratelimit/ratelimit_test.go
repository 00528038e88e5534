package ratelimit

import (
	"fmt"
	"net/netip"
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
	// n tokens at once; more than the burst takes the whole burst.
	if ok, retry := l.Allow("c", 2, t0); !ok || retry != 0 {
		t.Fatal("2 of 3 refused")
	}
	if ok, retry := l.Allow("c", 2, t0); ok || retry != 500*time.Millisecond {
		t.Fatalf("2 with 1 left: %v, %v", ok, retry)
	}
	if ok, _ := l.Allow("d", 1000, t0); !ok {
		t.Fatal("a request larger than the burst, on a full bucket, refused")
	}
	if ok, retry := l.Allow("d", 1000, t0); ok || retry != 1500*time.Millisecond {
		t.Fatalf("again at once: %v, %v; want the whole burst's refill time", ok, retry)
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
