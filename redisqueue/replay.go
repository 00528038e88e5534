package redisqueue

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
)

// ReplayResult counts what a dead-letter replay did.
type ReplayResult struct {
	Replayed int // entries queued again and removed from the dead letters
	Kept     int // entries that are still not events; left in place
}

// ReplayDeadLetters queues up to limit dead-lettered events again (after the
// cause is fixed) and removes them from the dead-letter stream. Entries that
// do not hold a valid event stay. A replayed event keeps its id, so one that
// was in fact stored before is not counted twice.
func ReplayDeadLetters(ctx context.Context, rdb redis.UniversalClient, k Keys, pub analytics.Publisher, limit int64) (ReplayResult, error) {
	var res ReplayResult
	msgs, err := rdb.XRangeN(ctx, k.DeadLetters(), "-", "+", limit).Result()
	if err != nil {
		return res, unavailable("redis: read dead letters", err)
	}
	for _, m := range msgs {
		raw, _ := m.Values[field].(string)
		e := analytics.Entry{Raw: []byte(raw)}
		decodeEntry(&e)
		if e.Err != nil {
			res.Kept++
			continue
		}
		ev := e.Event
		if ev.Timestamp.IsZero() {
			ev.Timestamp = time.Now().UTC()
		}
		if err := pub.Publish(ctx, []analytics.Event{ev}); err != nil {
			return res, err
		}
		if err := rdb.XDel(ctx, k.DeadLetters(), m.ID).Err(); err != nil {
			return res, unavailable("redis: remove replayed dead letter", err)
		}
		res.Replayed++
	}
	return res, nil
}
