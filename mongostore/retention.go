package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
)

// Retention deletes raw events older than their site's retention period;
// rollups and first-sight documents are kept, so the stats of old days stay
// as they were.
//
// Deleting a raw event must not let its id be counted again: the raw
// document is what recognises a duplicate. So each site has a horizon in
// the retention collection ({_id: site, before: <time>}): Apply refuses
// (counts as expired, stores nothing) every new event whose timestamp is
// before it, and retention deletes only below a horizon that every
// processor has had time to see (RaiseHorizons, then a wait, then
// DeleteExpired). An event deleted by retention has a timestamp before the
// horizon, and so does every later copy of it (a resend carries the same
// timestamp; a redelivered queue entry is the same entry): it is refused,
// never counted twice.
//
// Horizons are month starts (see HorizonFor): raw events are deleted a
// month of a site at a time, by dropping its collection (see raw.go).
const retentionColl = "retention"

// sitesColl is the registry of sites (managed by `analytics-cli sites`):
// {_id: site, retention_days: N, ...}; retention reads only retention_days.
const sitesColl = "sites"

// HorizonTTL is how long Apply trusts the horizons it read: a horizon
// raised now is obeyed by every Apply that starts later than this.
const HorizonTTL = 5 * time.Second

// horizonCache holds the horizons Apply checks events against.
type horizonCache struct {
	mu     sync.Mutex
	read   time.Time
	before map[string]time.Time
}

// horizons returns every site's horizon, read again when older than
// HorizonTTL. An error is transient: the batch is retried.
func (s *Store) horizons(ctx context.Context) (map[string]time.Time, error) {
	s.hz.mu.Lock()
	defer s.hz.mu.Unlock()
	if s.hz.before != nil && time.Since(s.hz.read) < HorizonTTL {
		return s.hz.before, nil
	}
	start := time.Now()
	m, err := s.Horizons(ctx)
	if err != nil {
		return nil, err
	}
	s.hz.before, s.hz.read = m, start
	return m, nil
}

// Horizons reads every site's retention horizon: raw events before it may
// have been deleted, and new events before it are refused.
func (s *Store) Horizons(ctx context.Context) (map[string]time.Time, error) {
	cur, err := s.db.Collection(retentionColl).Find(ctx, bson.D{})
	if err != nil {
		return nil, transientErr("mongodb: read retention horizons", err)
	}
	defer cur.Close(context.Background())
	m := map[string]time.Time{}
	for cur.Next(ctx) {
		var d struct {
			Site   string    `bson:"_id"`
			Before time.Time `bson:"before"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, transientErr("mongodb: decode retention horizon", err)
		}
		m[d.Site] = d.Before
	}
	if err := cur.Err(); err != nil {
		return nil, transientErr("mongodb: read retention horizons", err)
	}
	return m, nil
}

// Horizon returns the site's retention horizon, or the zero time when
// retention never deleted anything of it.
func (s *Store) Horizon(ctx context.Context, site string) (time.Time, error) {
	var d struct {
		Before time.Time `bson:"before"`
	}
	err := s.db.Collection(retentionColl).FindOne(ctx, bson.D{{Key: "_id", Value: site}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, classify("mongodb: read retention horizon", err)
	}
	return d.Before, nil
}

// expired returns the entries of idx whose event is before its site's
// horizon and that are not this entry's own earlier, interrupted attempt
// (its raw document stored under this entry: that one must be finished),
// and those of them that are duplicates of an event still stored.
func (s *Store) expired(ctx context.Context, b analytics.Batch, idx []int) (map[int]bool, map[int]bool, error) {
	hz, err := s.horizons(ctx)
	if err != nil || len(hz) == 0 {
		return nil, nil, err
	}
	exp := map[int]bool{}
	dup := map[int]bool{}
	for _, i := range idx {
		ev := &b.Entries[i].Event
		h, ok := hz[ev.SiteID]
		if !ok || !ev.Timestamp.Before(h) {
			continue
		}
		// Rare (events older than the retention period): one lookup by _id
		// each, under the id and the site-scoped id.
		own, stored := false, false
		for _, id := range []string{rawID(ev, false), rawID(ev, true)} {
			var d struct {
				Site  string `bson:"site_id"`
				Entry string `bson:"queue_entry"`
			}
			err := s.rawColl(ev.SiteID, ev.Timestamp).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
			if errors.Is(err, mongo.ErrNoDocuments) {
				continue
			}
			if err != nil {
				return nil, nil, transientErr("mongodb: read event", err)
			}
			if d.Site == ev.SiteID {
				stored = true
				own = own || d.Entry == entryKey(b.Partition, b.Entries[i].ID)
			}
		}
		switch {
		case own:
		case stored:
			dup[i] = true
		default:
			exp[i] = true
		}
	}
	return exp, dup, nil
}

// RetentionDays reads each registered site's retention_days from the sites
// collection (0: the default applies). A missing collection is no site.
func (s *Store) RetentionDays(ctx context.Context) (map[string]int, error) {
	cur, err := s.db.Collection(sitesColl).Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "retention_days", Value: 1}}))
	if err != nil {
		return nil, classify("mongodb: read sites", err)
	}
	defer cur.Close(context.Background())
	m := map[string]int{}
	for cur.Next(ctx) {
		var d struct {
			Site string `bson:"_id"`
			Days int    `bson:"retention_days"`
		}
		if err := cur.Decode(&d); err != nil {
			continue // a site document retention cannot read keeps the default
		}
		if d.Days > 0 {
			m[d.Site] = d.Days
		}
	}
	return m, classify("mongodb: read sites", cur.Err())
}

// RetentionPolicy says how many days of raw events sites keep.
type RetentionPolicy struct {
	// Default applies to every site without a retention of its own; 0
	// keeps raw events forever.
	Default int
	// Sites are per-site retentions (from the sites collection), days > 0.
	Sites map[string]int
}

// Days returns the retention of site, 0 for forever.
func (p RetentionPolicy) Days(site string) int {
	if d, ok := p.Sites[site]; ok && d > 0 {
		return d
	}
	return p.Default
}

// HorizonFor returns the horizon a retention of days gives at now: the
// start of the UTC month of the day days days before today; zero for 0
// days. Raw events are deleted a month at a time (a collection dropped, see
// raw.go), each once all of it is older than the retention: an event is
// kept at least days days and at most a month longer.
func HorizonFor(days int, now time.Time) time.Time {
	if days <= 0 {
		return time.Time{}
	}
	y, m, d := now.UTC().Date()
	t := time.Date(y, m, d-days, 0, 0, 0, 0, time.UTC)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// RaiseHorizons moves each site's horizon up to what its retention gives at
// now (retention_days in the sites collection, else defaultDays; 0 keeps
// forever), never down: a longer retention cannot bring deleted events
// back. It reports whether any site has a horizon. Sites are those with
// rollups and the registered ones.
//
// Because a horizon never goes back down, a wrong clock would do lasting
// harm: now is bounded by the database server's clock (a processor whose
// clock runs ahead raises no further than the server's time gives), and a
// horizon later than the newest stored event plus a day (events arrive in
// real time, so a clock is wrong, or the store holds only old imports) is
// not raised: the other sites' are, and the error, of kind Invalid, names
// each refused site and date so the caller can log it loudly.
func (s *Store) RaiseHorizons(ctx context.Context, defaultDays int, now time.Time) (bool, error) {
	srv, err := s.ServerTime(ctx)
	if err != nil {
		return false, err
	}
	if now.After(srv) {
		now = srv
	}
	days, err := s.RetentionDays(ctx)
	if err != nil {
		return false, err
	}
	p := RetentionPolicy{Default: defaultDays, Sites: days}
	on := defaultDays > 0
	for _, d := range days {
		on = on || d > 0
	}
	if on {
		// Raw events have gone to events until now: from a moment ahead,
		// to the month collections, which retention drops whole.
		if err := s.startMonthCollections(ctx, now); err != nil {
			return false, err
		}
	}
	sites, err := s.Sites(ctx)
	if err != nil {
		return false, err
	}
	for site := range p.Sites {
		sites = append(sites, site)
	}
	cur, err := s.Horizons(ctx)
	if err != nil {
		return false, err
	}
	reached := map[time.Time]bool{} // horizon -> some event is later than a day before it
	var refused []string
	for _, site := range sites {
		h := HorizonFor(p.Days(site), now)
		if h.IsZero() || !h.After(cur[site]) {
			continue
		}
		ok, seen := reached[h]
		if !seen {
			if ok, err = s.eventsSince(ctx, h.Add(-24*time.Hour)); err != nil {
				return false, err
			}
			reached[h] = ok
		}
		if !ok {
			refused = append(refused, fmt.Sprintf("%s (%s)", site, h.Format(analytics.DateLayout)))
			continue
		}
		_, err := s.db.Collection(retentionColl).UpdateOne(ctx, bson.D{{Key: "_id", Value: site}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "before", Value: h}, {Key: "raised_at", Value: now}}}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return false, classify("mongodb: raise retention horizon", err)
		}
		cur[site] = h
	}
	if len(refused) > 0 {
		return len(cur) > 0, analytics.Errorf(analytics.Invalid,
			"retention horizons refused for %s: no stored event is later than a day before them, so a clock is wrong or every event is older "+
				"(the database server's clock reads %s); nothing of these sites is deleted and no new event of theirs refused. "+
				"Check the clocks of the database server and the processors; a horizon, once raised, never goes back down",
			strings.Join(refused, ", "), srv.UTC().Format(time.RFC3339))
	}
	return len(cur) > 0, nil
}

// ServerTime returns the database server's clock: hello's localTime, which
// MongoDB and FerretDB both send. Retention takes its horizons from it, so
// one processor's wrong clock cannot move them.
func (s *Store) ServerTime(ctx context.Context) (time.Time, error) {
	var r struct {
		LocalTime time.Time `bson:"localTime"`
	}
	if err := s.db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&r); err != nil {
		return time.Time{}, classify("mongodb: read the server's clock (hello)", err)
	}
	if r.LocalTime.IsZero() {
		return time.Time{}, analytics.Errorf(analytics.Unavailable, "mongodb: the server's hello reply has no localTime: retention cannot check its clock")
	}
	return r.LocalTime.UTC(), nil
}

// eventsSince reports whether any raw event has a timestamp at or after t:
// a month collection holding a later month answers at once; only the
// month of t is searched with a filter. A store keeping only ids
// (STORE_EVENTS=false) has no timestamps to check: true.
func (s *Store) eventsSince(ctx context.Context, t time.Time) (bool, error) {
	if !s.cfg.StoreEvents {
		return true, nil
	}
	months, err := s.rawMonths(ctx, "")
	if err != nil {
		return false, err
	}
	filter := bson.D{{Key: "timestamp", Value: bson.D{{Key: "$gte", Value: t}}}}
	found := func(c *mongo.Collection) (bool, error) {
		err := c.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil
		}
		return err == nil, classify("mongodb: look for recent events", err)
	}
	for i := len(months) - 1; i >= 0 && months[i].month.AddDate(0, 1, 0).After(t); i-- {
		if ok, err := found(months[i].coll); ok || err != nil {
			return ok, err
		}
	}
	if before, err := s.legacyBefore(ctx); err != nil || !before.After(t) {
		return false, err
	}
	return found(s.events)
}

// DeleteExpired deletes the raw events before their site's horizon (read
// now: call it only once every processor has seen them, see
// RaiseHorizons). Each month collection wholly before its site's horizon
// is dropped, one at a time, with progress called after each (it may pause
// to spread the load); months says how many. Raw events in the events
// collection of earlier versions are deleted with one filtered delete per
// site whose horizon moved since the last time (on FerretDB a full scan of
// that collection each); legacy says how many. Nothing counts the events
// of a dropped month: on FerretDB a count scans the collection (3.2 s at
// 50,000 events) while the drop takes milliseconds.
func (s *Store) DeleteExpired(ctx context.Context, progress func(months int) error) (months int, legacy int64, err error) {
	if !s.cfg.StoreEvents {
		return 0, 0, nil // only ids are kept: they are the duplicate check
	}
	hz, err := s.Horizons(ctx)
	if err != nil || len(hz) == 0 {
		return 0, 0, err
	}
	colls, err := s.rawMonths(ctx, "")
	if err != nil {
		return 0, 0, err
	}
	for _, m := range colls {
		h, ok := hz[m.site]
		if !ok || m.month.AddDate(0, 1, 0).After(h) {
			continue
		}
		if err := m.coll.Drop(ctx); err != nil {
			return months, legacy, classify("mongodb: drop expired events", err)
		}
		months++
		if progress != nil {
			if err := progress(months); err != nil {
				return months, legacy, err
			}
		}
	}
	if before, err := s.legacyBefore(ctx); err != nil {
		return months, legacy, err
	} else if before.IsZero() {
		return months, 0, nil
	}
	rc := s.db.Collection(retentionColl)
	for site, h := range hz {
		var d struct {
			Legacy time.Time `bson:"legacy_deleted_before"`
		}
		if err := rc.FindOne(ctx, bson.D{{Key: "_id", Value: site}}).Decode(&d); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return months, legacy, classify("mongodb: read retention horizon", err)
		}
		if !d.Legacy.Before(h) {
			continue
		}
		r, err := s.events.DeleteMany(ctx, bson.D{{Key: "site_id", Value: site}, {Key: "timestamp", Value: bson.D{{Key: "$lt", Value: h}}}})
		if err != nil {
			return months, legacy, classify("mongodb: delete expired events", err)
		}
		if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: site}}, bson.D{{Key: "$set", Value: bson.D{{Key: "legacy_deleted_before", Value: h}}}}); err != nil {
			return months, legacy, classify("mongodb: record retention progress", err)
		}
		legacy += r.DeletedCount
		if progress != nil {
			if err := progress(months); err != nil {
				return months, legacy, err
			}
		}
	}
	return months, legacy, nil
}
