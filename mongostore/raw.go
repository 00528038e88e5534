package mongostore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
)

// Raw events go to the events collection (the contract's place for them)
// until retention is first turned on; from then on, to one collection per
// site and UTC month of their timestamp, events_YYYY_MM_<site>, so
// retention deletes a month of a site by dropping its collection. On
// FerretDB v1.24 (SQLite) that is the only cheap delete: a delete statement
// scans the table with a JSON expression its _id index does not match
// (measured: one DeleteOne by _id took 39 ms at 10k stored events and 365
// ms at 40k, a DeleteMany of 1,000 events 6.5 s at 40k), while dropping a
// collection takes under a millisecond. On MongoDB it costs nothing either
// way. Retention deletes what stays in events with one filtered delete per
// site when its horizon moves.
//
// Which collection an event goes to depends on its timestamp alone, so a
// resent event meets its first copy: store_meta's raw_events document holds
// the moment (legacy_before) from which timestamps go to the month
// collections, far in the future until retention is turned on, and then
// set once, switchDelay ahead, by the first retention pass. Every processor
// reads it again every layoutTTL, long before an event can carry a
// timestamp past it (the collector refuses timestamps more than an hour
// ahead). A resent event carries its timestamp (the SDK, the collector's
// stamp kept in the queue, Segment's timestamp); the snippet sends none: a
// beacon resent across a UTC month boundary after the switch would be
// counted twice (resends happen within seconds).
//
// Readers (rebuild, forget, export) read events and the month collections.
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
	if !s.cfg.StoreEvents || ts.Before(s.layout.get()) {
		return s.events
	}
	return s.db.Collection(rawCollName(site, ts))
}

// farFuture is legacy_before while retention has never been on: every raw
// event goes to events.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	// layoutTTL is how long a process trusts the legacy_before it read.
	layoutTTL = 30 * time.Second
	// switchDelay is how far ahead of the first retention pass the month
	// collections start: far more than layoutTTL, and than the hour a
	// timestamp may be ahead of its arrival.
	switchDelay = 2 * time.Hour
)

// rawLayout is legacy_before as this process last read it.
type rawLayout struct {
	mu     sync.Mutex
	before time.Time
	read   time.Time
}

func (l *rawLayout) get() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.before
}

// legacyBefore is the moment from which raw events go to the month
// collections, read again when older than layoutTTL.
func (s *Store) legacyBefore(ctx context.Context) (time.Time, error) {
	s.layout.mu.Lock()
	fresh := !s.layout.read.IsZero() && time.Since(s.layout.read) < layoutTTL
	before := s.layout.before
	s.layout.mu.Unlock()
	if fresh || !s.cfg.StoreEvents {
		return before, nil
	}
	return s.readLayout(ctx)
}

// readLayout reads legacy_before, recording it (far in the future) when the
// database has none yet; the first process to record it wins.
func (s *Store) readLayout(ctx context.Context) (time.Time, error) {
	meta := s.db.Collection(metaColl)
	var m struct {
		LegacyBefore time.Time `bson:"legacy_before"`
	}
	start := time.Now()
	err := meta.FindOne(ctx, bson.D{{Key: "_id", Value: "raw_events"}}).Decode(&m)
	if errors.Is(err, mongo.ErrNoDocuments) {
		if _, err := meta.InsertOne(ctx, bson.D{{Key: "_id", Value: "raw_events"}, {Key: "legacy_before", Value: farFuture}}); err != nil && !mongo.IsDuplicateKeyError(err) {
			return time.Time{}, classify("mongodb: record the raw events layout", err)
		}
		err = meta.FindOne(ctx, bson.D{{Key: "_id", Value: "raw_events"}}).Decode(&m)
	}
	if err != nil {
		return time.Time{}, classify("mongodb: read the raw events layout", err)
	}
	s.layout.mu.Lock()
	s.layout.before, s.layout.read = m.LegacyBefore.UTC(), start
	s.layout.mu.Unlock()
	return m.LegacyBefore.UTC(), nil
}

// startMonthCollections sets legacy_before switchDelay after now, once:
// retention is on, and from then raw events go to the month collections.
func (s *Store) startMonthCollections(ctx context.Context, now time.Time) error {
	return s.StartMonthCollections(ctx, now.Add(switchDelay))
}

// StartMonthCollections makes raw events with timestamps from at on go to
// the month collections, unless a moment was set before (the first one
// stands). Retention's first pass calls it, at least two hours ahead; a
// test or a tool filling a new store may choose an earlier moment.
func (s *Store) StartMonthCollections(ctx context.Context, at time.Time) error {
	if !s.cfg.StoreEvents {
		return nil
	}
	if _, err := s.readLayout(ctx); err != nil { // records farFuture on a new database
		return err
	}
	if _, err := s.db.Collection(metaColl).UpdateOne(ctx, bson.D{{Key: "_id", Value: "raw_events"}, {Key: "legacy_before", Value: farFuture}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "legacy_before", Value: at.UTC()}}}}); err != nil {
		return classify("mongodb: start the month collections of raw events", err)
	}
	_, err := s.readLayout(ctx)
	return err
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
	if before, err := s.legacyBefore(ctx); err != nil {
		return nil, err
	} else if !before.IsZero() {
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

// RawCollectionName is the month collection of site's raw events at ts
// (where they go once retention is on), for tools that fill a store
// directly.
func RawCollectionName(site string, ts time.Time) string { return rawCollName(site, ts) }
