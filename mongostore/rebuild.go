package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
)

// RebuildResult says what a rebuild found.
type RebuildResult struct {
	Events  int // raw events read
	Days    int // daily rollups written
	Users   int // distinct users all-time
	Elapsed time.Duration
}

// Rebuild recomputes a site's rollups and user documents from its raw
// events. The caller must keep processors off the site's partition meanwhile
// (analytics-cli rebuild holds the partition's lease). progress, if not nil,
// is called with the number of events read so far.
func (s *Store) Rebuild(ctx context.Context, siteID string, progress func(read int)) (RebuildResult, error) {
	start := time.Now()
	var res RebuildResult
	if !s.cfg.StoreEvents {
		return res, analytics.Errorf(analytics.Invalid, "rebuild needs the raw events, but this store keeps only their ids (STORE_EVENTS=false)")
	}
	if err := analytics.ValidateSiteID(siteID); err != nil {
		return res, err
	}
	type agg struct {
		delta
		users map[string]string // user -> first entry key
	}
	newAgg := func() *agg {
		return &agg{delta: delta{paths: map[string]int64{}, types: map[string]int64{}}, users: map[string]string{}}
	}
	days := map[string]*agg{}
	all := newAgg()
	earlier := func(a, b string) bool { // a before b, both entry keys of one partition
		_, ai := splitEntryKey(a)
		_, bi := splitEntryKey(b)
		return analytics.ComparePositions(ai, bi) < 0
	}
	add := func(a *agg, ev *analytics.Event, ek string) {
		a.events++
		a.types[escapeField(ev.EventType)]++
		if ev.EventType == analytics.PageView {
			a.views++
			if ev.Path != "" {
				a.paths[escapeField(ev.Path)]++
			}
		}
		if ev.UserID != "" {
			if first, ok := a.users[ev.UserID]; !ok || earlier(ek, first) {
				a.users[ev.UserID] = ek
			}
		}
		if a.last == "" || earlier(a.last, ek) {
			a.last = ek
		}
	}

	cur, err := s.events.Find(ctx, bson.D{{Key: "site_id", Value: siteID}})
	if err != nil {
		return res, classify("mongodb: read events", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var doc struct {
			EventType string    `bson:"event_type"`
			Path      string    `bson:"path"`
			UserID    string    `bson:"user_id"`
			Timestamp time.Time `bson:"timestamp"`
			Entry     string    `bson:"queue_entry"`
		}
		if err := cur.Decode(&doc); err != nil {
			return res, classify("mongodb: decode event", err)
		}
		ev := analytics.Event{SiteID: siteID, EventType: doc.EventType, Path: doc.Path, UserID: doc.UserID, Timestamp: doc.Timestamp}
		day := ev.Day()
		if days[day] == nil {
			days[day] = newAgg()
		}
		add(days[day], &ev, doc.Entry)
		add(all, &ev, doc.Entry)
		res.Events++
		if progress != nil && res.Events%10000 == 0 {
			progress(res.Events)
		}
	}
	if err := cur.Err(); err != nil {
		return res, classify("mongodb: read events", err)
	}
	if progress != nil {
		progress(res.Events)
	}

	// Replace the site's derived documents.
	if _, err := s.rollups.DeleteMany(ctx, bson.D{{Key: "site_id", Value: siteID}}); err != nil {
		return res, classify("mongodb: delete rollups", err)
	}
	if _, err := s.users.DeleteMany(ctx, bson.D{{Key: "site_id", Value: siteID}}); err != nil {
		return res, classify("mongodb: delete users", err)
	}
	s.mu.Lock()
	clear(s.creator)
	s.mu.Unlock()

	var users, rollups []any
	rollup := func(id, day string, a *agg) {
		a.uniques = int64(len(a.users))
		doc := bson.D{
			{Key: "_id", Value: id}, {Key: "site_id", Value: siteID},
			{Key: "views", Value: a.views}, {Key: "events", Value: a.events}, {Key: "uniques", Value: a.uniques},
			{Key: "paths", Value: a.paths}, {Key: "types", Value: a.types}, {Key: "wm", Value: all.last},
		}
		if day != "" {
			doc = append(doc, bson.E{Key: "day", Value: day})
		}
		rollups = append(rollups, doc)
	}
	for day, a := range days {
		rollup(dayRollupID(siteID, day), day, a)
		for u, ek := range a.users {
			users = append(users, bson.D{{Key: "_id", Value: dayUserID(siteID, day, u)}, {Key: "site_id", Value: siteID}, {Key: "entry", Value: ek}})
		}
	}
	if res.Events > 0 {
		rollup(allRollupID(siteID), "", all)
	}
	for u, ek := range all.users {
		users = append(users, bson.D{{Key: "_id", Value: allUserID(siteID, u)}, {Key: "site_id", Value: siteID}, {Key: "entry", Value: ek}})
	}
	for _, part := range []struct {
		name string
		docs []any
	}{{"users", users}, {"rollups", rollups}} {
		c := s.users
		if part.name == "rollups" {
			c = s.rollups
		}
		for len(part.docs) > 0 {
			n := min(len(part.docs), 1000)
			if _, err := c.InsertMany(ctx, part.docs[:n], options.InsertMany().SetOrdered(false)); err != nil {
				return res, classify("mongodb: insert "+part.name, err)
			}
			part.docs = part.docs[n:]
		}
	}
	res.Days = len(days)
	res.Users = len(all.users)
	res.Elapsed = time.Since(start)
	return res, nil
}
