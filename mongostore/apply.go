package mongostore

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
)

// dupKey is MongoDB's duplicate key error code.
const dupKey = 11000

// Apply implements analytics.Store.
//
// Order matters for crash safety: raw events first, then user documents,
// then the rollups. Each step is idempotent and records which entry did it,
// so a retry after a crash at any point reaches the same end state.
func (s *Store) Apply(ctx context.Context, b analytics.Batch) (analytics.ApplyResult, error) {
	var res analytics.ApplyResult
	now := s.now().UTC()

	// 1. Raw events. An insert that hits an existing _id is this entry's own
	// earlier attempt (counted) or a true duplicate sent twice (skipped).
	var docs []any
	var idx []int // batch index of each doc
	for i, e := range b.Entries {
		if e.Err != nil {
			continue
		}
		docs = append(docs, s.rawDoc(b.Partition, e, now))
		idx = append(idx, i)
	}
	if len(docs) == 0 {
		return res, nil
	}
	failed := map[int]error{}
	var dups []int
	_, err := s.events.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || transient(err) {
			return res, classify("mongodb: insert events", err)
		}
		for _, we := range bwe.WriteErrors {
			i := idx[we.Index]
			if we.Code == dupKey {
				dups = append(dups, i)
			} else {
				failed[i] = analytics.Wrap(analytics.Invalid, "mongodb: insert event", errors.New(we.Message))
			}
		}
	}
	dupIDs := make([]string, len(dups))
	for j, i := range dups {
		dupIDs[j] = b.Entries[i].Event.ID
	}
	creators, err := s.creators(ctx, s.events, dupIDs)
	if err != nil {
		return res, err
	}
	duplicate := map[int]bool{}
	for j, i := range dups {
		if creators[dupIDs[j]] != entryKey(b.Partition, b.Entries[i].ID) {
			duplicate[i] = true
		}
	}
	var counted []int
	for _, i := range idx {
		switch {
		case failed[i] != nil:
			res.Failed = append(res.Failed, analytics.EntryFailed{Index: i, Err: failed[i]})
		case duplicate[i]:
			res.Duplicates++
		default:
			counted = append(counted, i)
		}
	}
	res.Stored = len(counted)
	if len(counted) == 0 {
		return res, nil
	}

	// 2. User documents: the first entry that creates one is the one that
	// counts the user.
	if err := s.stage("users"); err != nil {
		return res, err
	}
	userCreator, err := s.ensureUsers(ctx, b, counted)
	if err != nil {
		return res, err
	}

	// 3. Rollups, each a compare-and-set on its watermark.
	if err := s.applyRollups(ctx, b, counted, userCreator); err != nil {
		return res, err
	}
	return res, nil
}

func (s *Store) rawDoc(partition int, e analytics.Entry, now time.Time) bson.D {
	ev := &e.Event
	if !s.cfg.StoreEvents {
		return bson.D{{Key: "_id", Value: ev.ID}, {Key: "site_id", Value: ev.SiteID}, {Key: "queue_entry", Value: entryKey(partition, e.ID)}}
	}
	d := bson.D{
		{Key: "_id", Value: ev.ID},
		{Key: "site_id", Value: ev.SiteID},
		{Key: "event_type", Value: ev.EventType},
		{Key: "timestamp", Value: ev.Timestamp},
		{Key: "created_at", Value: now},
		{Key: "queue_entry", Value: entryKey(partition, e.ID)},
	}
	if ev.Path != "" {
		d = append(d, bson.E{Key: "path", Value: ev.Path})
	}
	if ev.UserID != "" {
		d = append(d, bson.E{Key: "user_id", Value: ev.UserID})
	}
	if len(ev.Props) > 0 {
		d = append(d, bson.E{Key: "props", Value: ev.Props})
	}
	return d
}

// userKeys returns the user document ids an event touches.
func userKeys(ev *analytics.Event) (day, all string) {
	return dayUserID(ev.SiteID, ev.Day(), ev.UserID), allUserID(ev.SiteID, ev.UserID)
}

// ensureUsers makes sure a user document exists for every (site, day, user)
// and (site, user) in the counted entries and returns, for each key, the
// entry that created it. Keys remembered from earlier batches cost nothing;
// new ones are inserted; existing ones are looked up once.
func (s *Store) ensureUsers(ctx context.Context, b analytics.Batch, counted []int) (map[string]string, error) {
	out := map[string]string{}
	var docs []any
	var keys []string
	s.mu.Lock()
	for _, i := range counted {
		ev := &b.Entries[i].Event
		if ev.UserID == "" {
			continue
		}
		d, a := userKeys(ev)
		for _, k := range [2]string{d, a} {
			if _, seen := out[k]; seen {
				continue
			}
			if c, ok := s.creator[k]; ok {
				out[k] = c
				continue
			}
			ek := entryKey(b.Partition, b.Entries[i].ID)
			out[k] = ek
			keys = append(keys, k)
			docs = append(docs, bson.D{{Key: "_id", Value: k}, {Key: "site_id", Value: ev.SiteID}, {Key: "entry", Value: ek}})
		}
	}
	s.mu.Unlock()
	if len(docs) == 0 {
		return out, nil
	}
	var existing []string
	_, err := s.users.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || transient(err) {
			return nil, classify("mongodb: insert users", err)
		}
		for _, we := range bwe.WriteErrors {
			if we.Code != dupKey {
				return nil, classify("mongodb: insert users", errors.New(we.Message))
			}
			existing = append(existing, keys[we.Index])
		}
	}
	creators, err := s.creators(ctx, s.users, existing)
	if err != nil {
		return nil, err
	}
	for k, c := range creators {
		out[k] = c
	}
	s.remember(out)
	return out, nil
}

// remember caches user creators. The cache is cleared when full: simple, and
// a cold key costs only one lookup.
func (s *Store) remember(m map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.creator)+len(m) > s.cfg.UserCache {
		clear(s.creator)
	}
	for k, v := range m {
		s.creator[k] = v
	}
}

// creators looks up the creating entry of existing documents, one FindOne by
// _id each (a few at a time): on FerretDB a $in scans the collection while a
// lookup by _id uses its primary key.
func (s *Store) creators(ctx context.Context, c *mongo.Collection, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	field := "entry"
	if c == s.events {
		field = "queue_entry"
	}
	var mu sync.Mutex
	err := forEach(ids, 8, func(id string) error {
		var doc bson.M
		err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: field, Value: 1}})).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			// It existed a moment ago; only a concurrent delete (a rebuild)
			// explains this. Retry the batch.
			return analytics.Errorf(analytics.Unavailable, "mongodb: %s %q vanished during apply", c.Name(), id)
		}
		if err != nil {
			return classify("mongodb: read "+c.Name(), err)
		}
		v, _ := doc[field].(string)
		mu.Lock()
		out[id] = v
		mu.Unlock()
		return nil
	})
	return out, err
}
