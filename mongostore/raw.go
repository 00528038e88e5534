package mongostore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
)

// Raw events live in one collection per site and UTC month of their
// timestamp, events_YYYY_MM_<site>, so retention deletes a month of a site
// by dropping its collection. On FerretDB v1.24 (SQLite) that is the only
// cheap delete: a delete statement scans the table with a JSON expression
// its _id index does not match (measured: one DeleteOne by _id took 39 ms
// at 10k stored events and 365 ms at 40k, a DeleteMany of 1,000 events 6.5 s
// at 40k), while dropping a collection takes under a millisecond. On
// MongoDB it costs nothing either way.
//
// Ids stay unique per site and month: a resent event carries its
// timestamp (the SDK, the collector's stamp kept in the queue, Segment's
// timestamp), so it meets its first copy in the same collection. The
// snippet sends no timestamp and Segment's sentAt correction moves it: such
// an event resent across a UTC month boundary would be counted twice
// (resends happen within seconds).
//
// Versions before kept every raw event in events. When that collection
// held events at the first Open of this version, the moment is remembered
// (legacyBefore): events with timestamps before it still go to events, so
// a resend of an event stored before the upgrade meets its first copy
// there; later ones go to the month collections. Readers (rebuild, export,
// forget) read events and the month collections.
const (
	rawPrefix    = "events_"
	legacyEvents = "events"
	metaColl     = "store_meta"
)

// rawCollName is the month collection of site's events at ts.
func rawCollName(site string, ts time.Time) string {
	return rawPrefix + ts.UTC().Format("2006_01") + "_" + site
}

// parseRawColl splits a month collection's name; ok is false for any
// other collection.
func parseRawColl(name string) (site string, month time.Time, ok bool) {
	rest, found := strings.CutPrefix(name, rawPrefix)
	if !found || len(rest) < len("2006_01_")+1 || rest[7] != '_' {
		return "", time.Time{}, false
	}
	m, err := time.Parse("2006_01", rest[:7])
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[8:], m, true
}

// rawColl is the collection an event's raw document goes to.
func (s *Store) rawColl(site string, ts time.Time) *mongo.Collection {
	if !s.cfg.StoreEvents || ts.Before(s.legacyBefore) {
		return s.events
	}
	return s.db.Collection(rawCollName(site, ts))
}

// detectLegacyEvents remembers, once per database, whether events held raw
// events of an earlier version and since when new ones go elsewhere.
func (s *Store) detectLegacyEvents(ctx context.Context) error {
	if !s.cfg.StoreEvents {
		return nil
	}
	meta := s.db.Collection(metaColl)
	var m struct {
		LegacyBefore time.Time `bson:"legacy_before"`
	}
	err := meta.FindOne(ctx, bson.D{{Key: "_id", Value: "raw_events"}}).Decode(&m)
	if errors.Is(err, mongo.ErrNoDocuments) {
		var before time.Time
		switch ferr := s.events.FindOne(ctx, bson.D{}).Err(); {
		case ferr == nil:
			before = s.now().UTC()
		case !errors.Is(ferr, mongo.ErrNoDocuments):
			return classify("mongodb: look for raw events of an earlier version", ferr)
		}
		// The first process to record it wins; the others read its answer.
		if _, err := meta.InsertOne(ctx, bson.D{{Key: "_id", Value: "raw_events"}, {Key: "legacy_before", Value: before}}); err != nil && !mongo.IsDuplicateKeyError(err) {
			return classify("mongodb: record the raw events layout", err)
		}
		err = meta.FindOne(ctx, bson.D{{Key: "_id", Value: "raw_events"}}).Decode(&m)
	}
	if err != nil {
		return classify("mongodb: read the raw events layout", err)
	}
	s.legacyBefore = m.LegacyBefore
	return nil
}

// rawMonth is one month collection of a site.
type rawMonth struct {
	site  string
	month time.Time
	coll  *mongo.Collection
}

// rawMonths lists the month collections, of site only unless site is "",
// oldest first.
func (s *Store) rawMonths(ctx context.Context, site string) ([]rawMonth, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, classify("mongodb: list collections", err)
	}
	var out []rawMonth
	for _, n := range names {
		if st, m, ok := parseRawColl(n); ok && (site == "" || st == site) {
			out = append(out, rawMonth{st, m, s.db.Collection(n)})
		}
	}
	slices.SortFunc(out, func(a, b rawMonth) int {
		if c := a.month.Compare(b.month); c != 0 {
			return c
		}
		return strings.Compare(a.site, b.site)
	})
	return out, nil
}

// RawSource is a collection holding raw events of a site, with the filter
// that selects them there.
type RawSource struct {
	Coll   *mongo.Collection
	Filter bson.D
}

// rawSources lists where site's raw events are: events (earlier versions,
// and events older than the upgrade), then its month collections, oldest
// first. from and to (zero: unbounded) skip months wholly outside
// [from, to).
func (s *Store) rawSources(ctx context.Context, site string, from, to time.Time) ([]RawSource, error) {
	if !s.cfg.StoreEvents {
		return nil, analytics.Errorf(analytics.Invalid, "this store keeps only the ids of raw events (STORE_EVENTS=false): there are no raw events to read")
	}
	var out []RawSource
	if !s.legacyBefore.IsZero() {
		out = append(out, RawSource{s.events, bson.D{{Key: "site_id", Value: site}}})
	}
	months, err := s.rawMonths(ctx, site)
	if err != nil {
		return nil, err
	}
	for _, m := range months {
		if (!from.IsZero() && !m.month.AddDate(0, 1, 0).After(from)) || (!to.IsZero() && !m.month.Before(to)) {
			continue
		}
		out = append(out, RawSource{m.coll, bson.D{}})
	}
	return out, nil
}

// eachRaw calls f with every raw event of srcs, each source in time order
// (chunk documents a round trip), stopping at f's first error.
func (s *Store) eachRaw(ctx context.Context, srcs []RawSource, chunk int, f func(*rawEvent) error) error {
	for _, src := range srcs {
		opts := options.Find().SetBatchSize(int32(chunk)).SetSort(bson.D{{Key: "timestamp", Value: 1}, {Key: "_id", Value: 1}})
		if !s.ferret {
			opts.SetAllowDiskUse(true) // a month of a big site sorted without an index
		}
		cur, err := src.Coll.Find(ctx, src.Filter, opts)
		if err != nil {
			return classify("mongodb: read events", err)
		}
		for cur.Next(ctx) {
			var doc rawEvent
			if err := cur.Decode(&doc); err != nil {
				cur.Close(context.Background())
				return classify("mongodb: decode event", err)
			}
			if err := f(&doc); err != nil {
				cur.Close(context.Background())
				return err
			}
		}
		err = cur.Err()
		cur.Close(context.Background())
		if err != nil {
			return classify("mongodb: read events", err)
		}
	}
	return nil
}

// RawCollections lists the collections of db that hold raw events (events
// and the month collections), for tools and tests that read them directly.
func RawCollections(ctx context.Context, db *mongo.Database) ([]string, error) {
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, classify("mongodb: list collections", err)
	}
	var out []string
	for _, n := range names {
		if _, _, ok := parseRawColl(n); ok || n == legacyEvents {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// EachEvent calls f with each raw event of site whose timestamp is in
// [from, to) (a zero bound is open), a month at a time, oldest first, each
// month in time order; it stops at f's first error and returns it. On
// FerretDB each month's events are sorted in memory.
func (s *Store) EachEvent(ctx context.Context, site string, from, to time.Time, f func(analytics.Event) error) error {
	srcs, err := s.rawSources(ctx, site, from, to)
	if err != nil {
		return err
	}
	return s.eachRaw(ctx, withRange(srcs, from, to), 500, func(d *rawEvent) error {
		ev, err := d.event()
		if err != nil {
			return err
		}
		return f(ev)
	})
}

// CountEvents counts the raw events EachEvent would give.
func (s *Store) CountEvents(ctx context.Context, site string, from, to time.Time) (int64, error) {
	srcs, err := s.rawSources(ctx, site, from, to)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, src := range withRange(srcs, from, to) {
		k, err := src.Coll.CountDocuments(ctx, src.Filter)
		if err != nil {
			return 0, classify("mongodb: count events", err)
		}
		n += k
	}
	return n, nil
}

// withRange adds a timestamp range to each source's filter.
func withRange(srcs []RawSource, from, to time.Time) []RawSource {
	var r bson.D
	if !from.IsZero() {
		r = append(r, bson.E{Key: "$gte", Value: from})
	}
	if !to.IsZero() {
		r = append(r, bson.E{Key: "$lt", Value: to})
	}
	if r == nil {
		return srcs
	}
	out := make([]RawSource, len(srcs))
	for i, src := range srcs {
		out[i] = RawSource{src.Coll, append(slices.Clip(src.Filter), bson.E{Key: "timestamp", Value: r})}
	}
	return out
}

// RawCollectionName is the collection a new raw event of site at ts goes
// to in a database without events of an earlier version (for tools that
// fill a store directly).
func RawCollectionName(site string, ts time.Time) string { return rawCollName(site, ts) }
