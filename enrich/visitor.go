package enrich

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// SaltLifetime is how long a day's salt exists, counted from the start of
// that UTC day: the day itself, plus a day for events that arrive late or
// from other time zones' midnights. After it the salt is gone from Redis
// and nobody can link the day's visitor ids to an address again.
const SaltLifetime = 48 * time.Hour

const saltBytes = 32

// ErrSaltExpired is returned for a day whose salt's lifetime has passed.
var ErrSaltExpired = errors.New("enrich: the salt of that day has expired")

// SaltStore keeps each day's salt where every collector finds it (Redis:
// redisqueue.SaltStore).
type SaltStore interface {
	// GetOrSet stores salt under key, to be deleted at expires, unless the
	// key holds one already, and returns the one the key holds after: the
	// first collector to set a day's salt wins, and everyone reads the
	// winner.
	GetOrSet(ctx context.Context, key string, salt []byte, expires time.Time) ([]byte, error)
}

// Salts hands out the random salt of each UTC day, the key of cookieless
// visitor ids. A SaltStore shared by the collectors keeps it so every
// collector uses the same salt for the same day; a copy is cached in
// memory. Safe for concurrent use.
type Salts struct {
	store  SaltStore
	prefix string
	now    func() time.Time

	mu    sync.Mutex
	cache map[int64][]byte // by Unix second of the day's start
}

// NewSalts returns Salts kept in store under prefix+"salt:YYYY-MM-DD" (the
// prefix lets tests and several pipelines share one Redis; "" in
// production). now is the clock; nil means time.Now.
func NewSalts(store SaltStore, prefix string, now func() time.Time) *Salts {
	if now == nil {
		now = time.Now
	}
	return &Salts{store: store, prefix: prefix, now: now, cache: make(map[int64][]byte)}
}

// Salt returns the 32-byte salt of the UTC day that contains day, creating
// it when no collector has yet. It returns ErrSaltExpired (and creates
// nothing) for a day that began SaltLifetime or more ago, and the store's
// error, wrapped, when the store cannot be reached. The slice must not be changed.
func (s *Salts) Salt(ctx context.Context, day time.Time) ([]byte, error) {
	start := startOfDay(day)
	expires := start.Add(SaltLifetime)
	now := s.now()
	if !now.Before(expires) {
		return nil, fmt.Errorf("%w: %s (salts live %v from the start of their day)", ErrSaltExpired, start.Format(time.DateOnly), SaltLifetime)
	}
	s.mu.Lock()
	salt, ok := s.cache[start.Unix()]
	s.mu.Unlock()
	if ok {
		return salt, nil
	}

	var fresh [saltBytes]byte
	_, _ = rand.Read(fresh[:]) // never fails
	key := s.prefix + "salt:" + start.Format(time.DateOnly)
	// The expiry is absolute, so the salt dies at the same moment whoever
	// created it.
	b, err := s.store.GetOrSet(ctx, key, fresh[:], expires)
	if err != nil {
		return nil, fmt.Errorf("enrich: salt %s: %w", key, err)
	}
	if len(b) != saltBytes {
		return nil, fmt.Errorf("enrich: salt %s: want %d bytes, the store has %d", key, saltBytes, len(b))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.cache { // drop expired days; at most three are live
		if !now.Before(time.Unix(k, 0).Add(SaltLifetime)) {
			delete(s.cache, k)
		}
	}
	s.cache[start.Unix()] = b
	return b, nil
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// VisitorID derives a cookieless visitor id: HMAC-SHA256 keyed by the day's
// salt over site, ip and ua separated by NUL bytes, the first 16 bytes in
// hex (32 characters). The same browser on the same site gets the same id
// all day, another site or another day gets an unrelated one, and once the
// salt is deleted the id cannot be traced back to the address.
func VisitorID(salt []byte, site, ip, ua string) string {
	var buf [256]byte
	msg := append(buf[:0], site...)
	msg = append(msg, 0)
	msg = append(msg, ip...)
	msg = append(msg, 0)
	msg = append(msg, ua...)
	return hmacID(salt, msg)
}

// visitorID is VisitorID with ip as an address, written without
// allocating its string.
func visitorID(salt []byte, site string, ip netip.Addr, ua string) string {
	var buf [256]byte
	msg := append(buf[:0], site...)
	msg = append(msg, 0)
	if ip.IsValid() {
		msg = ip.AppendTo(msg)
	}
	msg = append(msg, 0)
	msg = append(msg, ua...)
	return hmacID(salt, msg)
}

// hmacID is HMAC-SHA256 (RFC 2104) written out over sha256.Sum256 with
// stack buffers: crypto/hmac allocates two hash states per call, and the
// collector computes one id per event.
func hmacID(key, msg []byte) string {
	const block = 64
	var k [block]byte
	if len(key) > block {
		sum := sha256.Sum256(key)
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}
	var ibuf [block + 512]byte
	in := ibuf[:block]
	for i := range k {
		in[i] = k[i] ^ 0x36
	}
	in = append(in, msg...)
	inner := sha256.Sum256(in)
	var obuf [block + sha256.Size]byte
	for i := range k {
		obuf[i] = k[i] ^ 0x5c
	}
	copy(obuf[block:], inner[:])
	sum := sha256.Sum256(obuf[:])
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}
