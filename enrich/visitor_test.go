package enrich

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// Redis sets key expiries against its own clock, so the tests use the real
// one and pick days around today.
func today() time.Time { return startOfDay(time.Now()) }

func TestSaltsAgreeAcrossCollectors(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	day := today()
	// Several collectors (Salts instances) race to create the same day's salt.
	const n = 8
	salts := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil)
			var err error
			if salts[i], err = s.Salt(ctx, day.Add(time.Duration(i)*time.Hour)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if string(salts[i]) != string(salts[0]) || len(salts[i]) != 32 {
			t.Fatalf("collector %d got salt %x, collector 0 got %x", i, salts[i], salts[0])
		}
	}

	// The key dies at the start of the day plus 48 h, whoever created it.
	key := prefix + "salt:" + day.Format(time.DateOnly)
	at, err := rdb.PExpireTime(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := day.Add(48 * time.Hour).UnixMilli(); at.Milliseconds() != want {
		t.Errorf("PEXPIRETIME %s = %d, want %d (start of day + 48 h)", key, at.Milliseconds(), want)
	}
}

func TestSaltsPerDay(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	s := NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil)
	todaySalt, err := s.Salt(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Salt(ctx, today().Add(23*time.Hour+59*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	yesterday, err := s.Salt(ctx, today().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	const site, ip, ua = "site-1", "203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"
	id := VisitorID(todaySalt, site, ip, ua)
	if VisitorID(again, site, ip, ua) != id {
		t.Error("the same visitor got two ids on one day")
	}
	if VisitorID(yesterday, site, ip, ua) == id {
		t.Error("the same visitor got the same id on two days")
	}
	if VisitorID(todaySalt, "site-2", ip, ua) == id {
		t.Error("the same visitor got the same id on two sites")
	}
	if VisitorID(todaySalt, site, "203.0.113.8", ua) == id || VisitorID(todaySalt, site, ip, ua+" ") == id {
		t.Error("two visitors got the same id")
	}
	// Another collector, with an empty cache, reads the same salt.
	other, err := NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil).Salt(ctx, time.Now())
	if err != nil || string(other) != string(todaySalt) {
		t.Errorf("second collector: salt %x, %v; want %x", other, err, todaySalt)
	}
}

func TestSaltExpired(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	s := NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil)
	old := today().Add(-48 * time.Hour)
	if _, err := s.Salt(ctx, old); !errors.Is(err, ErrSaltExpired) {
		t.Fatalf("Salt(%s) = %v, want ErrSaltExpired", old.Format(time.DateOnly), err)
	}
	if n, err := rdb.Exists(ctx, prefix+"salt:"+old.Format(time.DateOnly)).Result(); err != nil || n != 0 {
		t.Errorf("an expired day's salt was created (exists=%d, %v)", n, err)
	}

	// A cached salt stops being handed out when its day's 48 h have passed.
	now := time.Now()
	s = NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, func() time.Time { return now })
	if _, err := s.Salt(ctx, now); err != nil {
		t.Fatal(err)
	}
	now = today().Add(48 * time.Hour)
	if _, err := s.Salt(ctx, today()); !errors.Is(err, ErrSaltExpired) {
		t.Errorf("48 h after the day began: %v, want ErrSaltExpired", err)
	}
}

func TestSaltRedisDown(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil).Salt(ctx, time.Now()); err == nil || !strings.Contains(err.Error(), "enrich: salt") {
		t.Errorf("err = %v, want a wrapped Redis error", err)
	}
}

func TestVisitorIDIsHMAC(t *testing.T) {
	salt := []byte("0123456789abcdef0123456789abcdef")
	long := strings.Repeat("x", 600) // past the stack buffers
	for _, c := range [][3]string{
		{"site", "203.0.113.7", "Mozilla/5.0"},
		{"", "", ""},
		{"site", "2001:db8::1", long},
	} {
		m := hmac.New(sha256.New, salt)
		m.Write([]byte(c[0] + "\x00" + c[1] + "\x00" + c[2]))
		want := hex.EncodeToString(m.Sum(nil)[:16])
		if got := VisitorID(salt, c[0], c[1], c[2]); got != want {
			t.Errorf("VisitorID%q = %s, want %s", c, got, want)
		}
		if a, err := netip.ParseAddr(c[1]); err == nil {
			if got := visitorID(salt, c[0], a, c[2]); got != want {
				t.Errorf("visitorID%q = %s, want %s", c, got, want)
			}
		}
	}
	longKey := []byte(long)
	m := hmac.New(sha256.New, longKey)
	m.Write([]byte("s\x00i\x00u"))
	if got, want := VisitorID(longKey, "s", "i", "u"), hex.EncodeToString(m.Sum(nil)[:16]); got != want {
		t.Errorf("long key: %s, want %s", got, want)
	}
}

func BenchmarkVisitorID(b *testing.B) {
	salt := make([]byte, 32)
	ip := netip.MustParseAddr("203.0.113.7")
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	b.ReportAllocs()
	for b.Loop() {
		visitorID(salt, "example.com", ip, ua)
	}
}
