// Package realtime keeps the last half hour of each site in Redis, one
// minute at a time, for the dashboard's "last 30 minutes" line.
//
// The rollups cannot answer it: their finest bucket is the hour, and a
// sliding 30-minute window of distinct visitors needs per-minute sets. So
// the processor, after a batch is stored, adds its events here: per (site,
// UTC minute of the event) a hash of page views and events and a Redis
// set of visitor ids, all expiring a few minutes after they leave the window.
// Memory follows the window's traffic: a site's sets hold each visitor of
// the last 35 minutes once per minute they were active in (about 70 bytes
// each), so 10,000 visitors a minute keep about 20 MB.
//
// The numbers are what the pipeline stored, never counted twice: a batch is
// recorded only when every event in it was stored for the first time, so a
// batch redelivered after a crash (whose events are then duplicates) adds
// nothing. The price is that such a batch's fresh events are missing from
// the realtime line; the headline numbers, from the rollups, are exact.
// Visitors are exact: the union of the window's sets, counted in Redis by
// one script.
package realtime

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// Window is how many minutes the realtime line covers.
const Window = analytics.RealtimeWindow

var _ analytics.RealtimeReader = (*Store)(nil)

// keep is how long a minute's keys live after the minute ends.
const keep = (Window + 5) * time.Minute

// Store reads and writes the per-minute counters.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// New returns a store under the queue's key prefix.
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix, now: time.Now}
}

// SetClock replaces time.Now, for tests.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// The keys of a site's minute share a hash slot ({site}), so one PFCOUNT
// script can read a window's sets on a Redis Cluster too.
func (s *Store) counts(site string, minute int64) string {
	return s.prefix + "rt:{" + site + "}:" + strconv.FormatInt(minute, 10)
}

func (s *Store) visitors(site string, minute int64) string {
	return s.prefix + "rtv:{" + site + "}:" + strconv.FormatInt(minute, 10)
}

type bucket struct {
	site     string
	minute   int64
	views    int64
	events   int64
	visitors []any
}

// Record adds stored events. Events older than the window, or more than a
// minute ahead of this clock, are not in any window and are skipped.
func (s *Store) Record(ctx context.Context, events []analytics.Event) error {
	now := s.now().Unix() / 60
	buckets := map[string]*bucket{}
	var order []*bucket
	for i := range events {
		e := &events[i]
		m := e.Timestamp.Unix() / 60
		if m <= now-Window || m > now+1 {
			continue
		}
		if m > now {
			m = now
		}
		k := e.SiteID + "|" + strconv.FormatInt(m, 10)
		b := buckets[k]
		if b == nil {
			b = &bucket{site: e.SiteID, minute: m}
			buckets[k] = b
			order = append(order, b)
		}
		b.events++
		if e.EventType == analytics.PageView {
			b.views++
		}
		if v := e.Visitor(); v != "" {
			b.visitors = append(b.visitors, v)
		}
	}
	if len(order) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, b := range order {
			expire := time.Unix((b.minute+1)*60, 0).Add(keep)
			ck, vk := s.counts(b.site, b.minute), s.visitors(b.site, b.minute)
			p.HIncrBy(ctx, ck, "e", b.events)
			if b.views > 0 {
				p.HIncrBy(ctx, ck, "v", b.views)
			}
			p.ExpireAt(ctx, ck, expire)
			if len(b.visitors) > 0 {
				p.SAdd(ctx, vk, b.visitors...)
				p.ExpireAt(ctx, vk, expire)
			}
		}
		return nil
	})
	if err != nil {
		return analytics.Errorf(analytics.Unavailable, "realtime: redis: %v", err)
	}
	return nil
}

// Minute is one minute of the window (the reader's contract's type).
type Minute = analytics.RealtimeMinute

// Summary is a site's last minutes (the reader's contract's type).
type Summary = analytics.RealtimeSummary

// union counts the distinct members of the sets KEYS without sending
// them to the client.
var union = redis.NewScript(`return #redis.call('SUNION', unpack(KEYS))`)

// Read sums the last minutes (1 to Window, the current one included) of
// site; Series has one row per minute, oldest first.
func (s *Store) Read(ctx context.Context, site string, minutes int) (Summary, error) {
	if minutes < 1 || minutes > Window {
		return Summary{}, fmt.Errorf("realtime: %d minutes; 1 to %d", minutes, Window)
	}
	now := s.now().Unix() / 60
	sum := Summary{Minutes: minutes, Series: make([]Minute, minutes)}
	hashes := make([]*redis.SliceCmd, minutes)
	vkeys := make([]string, minutes)
	var count *redis.Cmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range minutes {
			m := now - int64(minutes-1-i)
			sum.Series[i].Minute = time.Unix(m*60, 0).UTC()
			hashes[i] = p.HMGet(ctx, s.counts(site, m), "v", "e")
			vkeys[i] = s.visitors(site, m)
		}
		count = union.Eval(ctx, p, vkeys)
		return nil
	})
	if err != nil {
		return Summary{}, analytics.Errorf(analytics.Unavailable, "realtime: redis: %v", err)
	}
	for i, h := range hashes {
		vals := h.Val()
		sum.Series[i].Pageviews = number(vals[0])
		sum.Series[i].Events = number(vals[1])
		sum.Pageviews += sum.Series[i].Pageviews
		sum.Events += sum.Series[i].Events
	}
	if sum.Visitors, err = count.Int64(); err != nil {
		return Summary{}, analytics.Errorf(analytics.Unavailable, "realtime: redis: %v", err)
	}
	return sum, nil
}

func number(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
