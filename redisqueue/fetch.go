package redisqueue

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/retry"
)

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
		if l := c.parts[p]; l != nil {
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
	l := c.parts[p]
	if l == nil || l.busy || time.Now().Before(l.readyAt) {
		return false
	}
	l.busy = true
	return true
}

func (c *Consumer) unclaim(p int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.parts[p]; l != nil {
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
	l := c.parts[p]
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
		if l := c.parts[p]; l != nil && l.cursor == "0" {
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
	if l = c.parts[p]; l == nil { // lost while reading: the next owner replays
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
	if l := c.parts[p]; l != nil && len(l.rest) > 0 {
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
		raws, err := splitArray([]byte(v))
		if err != nil || len(raws) == 0 {
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

// The processor reads queue entries with JSON v2 (github.com/go-json-
// experiment/json) at less than half encoding/json's CPU time (decoding was
// a tenth of a processor's), but only where both read alike: v2 is held to
// exact field names and no unknown ones, valid UTF-8, no duplicate names and
// strict RFC 3339 times, which is all the collector writes. Anything else
// (an entry written by something else) is read again by encoding/json, so
// every entry is read as encoding/json reads it.
var strictOptions = []json.Options{json.RejectUnknownMembers(true)}

// splitArray splits a JSON array into its elements.
func splitArray(data []byte) ([][]byte, error) {
	var vals []jsontext.Value
	if err := json.Unmarshal(data, &vals, strictOptions...); err == nil {
		out := make([][]byte, len(vals))
		for i, v := range vals {
			out[i] = v
		}
		return out, nil
	}
	var raws []stdjson.RawMessage
	if err := stdjson.Unmarshal(data, &raws); err != nil {
		return nil, err
	}
	out := make([][]byte, len(raws))
	for i, r := range raws {
		out[i] = r
	}
	return out, nil
}

// decodeEvent reads an event as encoding/json does.
func decodeEvent(data []byte, ev *analytics.Event) error {
	if err := json.Unmarshal(data, ev, strictOptions...); err == nil {
		return nil
	}
	*ev = analytics.Event{}
	return stdjson.Unmarshal(data, ev)
}

func decodeEntry(e *analytics.Entry) {
	switch {
	case e.Raw == nil:
		e.Err = errors.New("entry has no event (deleted or written by something else)")
	default:
		if err := decodeEvent(e.Raw, &e.Event); err != nil {
			e.Err = fmt.Errorf("entry is not a valid event: %w", err)
		} else if e.Event.ID == "" || e.Event.SiteID == "" || e.Event.EventType == "" {
			e.Err = errors.New("entry lacks id, site_id or event_type")
		}
	}
}
