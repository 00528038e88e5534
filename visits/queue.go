package visits

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/redisqueue"
)

// Queue returns a publisher that annotates events and appends them to pub's
// streams in one script call: the call commits the visitors' states and
// appends the entries only if every state is still the one the annotations
// were made from, so an event is queued exactly with the annotation its
// state was committed for, and a request costs Redis one round trip instead
// of two (annotate, then publish). On a Redis Cluster, where a visitor's
// key and a stream do not share a hash slot, and for requests of more than
// queueMaxEvents events, it annotates and then publishes.
func (a *Annotator) Queue(pub *redisqueue.Publisher) analytics.Publisher {
	return &queue{a: a, pub: pub}
}

// queueMaxEvents bounds the requests annotated and queued in one script
// call; larger ones are annotated, then published. A script's arguments are
// copied into Lua and back, which for a request's entry of 100 events
// (30 KB) cost Redis 110 µs more than the XADD itself (4.3x); for a single
// event it is a few µs, less than the round trip it saves.
const queueMaxEvents = 10

type queue struct {
	a   *Annotator
	pub *redisqueue.Publisher
}

// Publish implements analytics.Publisher with Publish's promise: nil means
// the events are in Redis; an Unavailable error past the publisher's
// timeout means they may be.
func (q *queue) Publish(ctx context.Context, events []analytics.Event) error {
	if len(events) == 0 {
		return nil
	}
	r := newRequest(ctx, events)
	if len(r.order) == 0 || q.a.cluster || len(events) > queueMaxEvents {
		if len(r.order) > 0 {
			if err := q.a.Annotate(ctx, events); err != nil {
				return err
			}
		}
		return q.pub.Publish(ctx, events)
	}
	if err := q.pub.Admit(); err != nil {
		return err
	}
	ctx, cancel := q.pub.Bound(ctx)
	defer cancel()
	r.ctx, r.queue = ctx, q.pub
	if err := q.a.send(r); err != nil {
		return err
	}
	for i, j := range r.order {
		events[j].Visit = r.visits[i]
	}
	return nil
}

// queueEntries encodes the events of the requests to be queued, each with
// the annotation just made (the caller's events are read only).
func queueEntries(live []*annotateReq) ([]redisqueue.Entry, error) {
	var out []redisqueue.Entry
	for _, r := range live {
		if r.queue == nil {
			continue
		}
		visits := make([]*analytics.Visit, len(r.all))
		for i, j := range r.order {
			visits[j] = r.visits[i]
		}
		es, err := r.queue.Entries(r.all, visits)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// commitQueue checks every visitor's state (KEYS[1..n], n = ARGV[2]) is
// the one read (ARGV[1+2i], its version); only if all are, it writes the new ones
// (ARGV[2+2i], "" to leave it, each living ARGV[1] ms) and appends the
// entries: for each, its stream and surplus keys after the visitors', and
// its event count and value after the visitors' arguments, as
// redisqueue.Publisher appends them (fields n and e; an entry of several
// events adds all but one to the surplus). It answers the indexes of the
// stale keys: empty when everything was written.
var commitQueue = redis.NewScript(`
local ttl, n, stale = ARGV[1], tonumber(ARGV[2]), {}
for i = 1, n do
  if redis.call('GETRANGE', KEYS[i], 0, 15) ~= ARGV[1 + 2 * i] then
    stale[#stale + 1] = i
  end
end
if #stale > 0 then
  return stale
end
for i = 1, n do
  if ARGV[2 + 2 * i] ~= '' then
    redis.call('SET', KEYS[i], ARGV[2 + 2 * i], 'PX', ttl)
  end
end
local a = 3 + 2 * n
for k = n + 1, #KEYS, 2 do
  local c = ARGV[a]
  if c == '1' then
    redis.call('XADD', KEYS[k], '*', 'e', ARGV[a + 1])
  else
    redis.call('XADD', KEYS[k], '*', 'n', c, 'e', ARGV[a + 1])
    redis.call('INCRBY', KEYS[k + 1], tonumber(c) - 1)
  end
  a = a + 2
end
return stale
`)
