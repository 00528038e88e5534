// Package mongostore keeps events and rollups in MongoDB (or FerretDB) and
// answers stats by reading rollups by _id.
//
// Collections:
//   - events_YYYY_MM_<site>: one document per event, _id = event id, one
//     collection per site and UTC month of the timestamp (so retention
//     drops a month whole, see raw.go); events holds those of earlier
//     versions. The source of truth for `analytics-cli rebuild`.
//   - retention: each site's retention horizon (see retention.go).
//   - users:   first-sight documents: one per (site, period, visitor) and per
//     (site, day, hour or page or event type, visitor), remembering the queue
//     entry that created it (see sightKey).
//   - rollups: per (site, day), (site, month) and site all-time a main
//     document (totals, hours, leaders of each dimension, counters of the
//     first values, the visitor sketch); rollup_shards: up to rollup.Shards
//     overflow counter documents of each; each with wm, the last queue entry
//     applied to it; rollup_generations: each rebuilt site's generation.
//
// What the rollups count is package rollup's to say; this package persists
// it.
//
// Exactly-once without transactions: an entry changes a rollup document
// only when it is newer than the document's wm, and the change is a
// compare-and-set on wm, so a redelivered batch never counts twice and,
// because a partition has one fenced writer that applies its entries in
// order, a crash never skips one. Rollups are bounded: see rollup.go.
//
// Every query is plain CRUD by _id (plus inserts and one find by site_id in
// rebuild), which MongoDB 6.0+ and FerretDB v1.24 both run.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"

	"github.com/siteanalytics/analytics"
)

// DefaultDatabase is used when the URI names none.
const DefaultDatabase = "analytics"

// Config tunes the store.
type Config struct {
	// Database overrides the database named in the URI.
	Database string
	// StoreEvents keeps each raw event. When false only its id is kept (to
	// recognise duplicates) and rebuild is not possible.
	StoreEvents bool
	// UserCache bounds the number of user keys remembered in memory to spare
	// a lookup for returning users.
	UserCache int
	// BlockCache bounds the bytes of decoded event blocks a reader keeps
	// (see Blocks); 0 means DefaultBlockCache.
	BlockCache int
}

// DefaultConfig returns the settings used when none are given.
func DefaultConfig() Config { return Config{StoreEvents: true, UserCache: 1 << 20} }

// Store is the MongoDB implementation of analytics.Store.
type Store struct {
	client  *mongo.Client
	db      *mongo.Database
	events  *mongo.Collection
	users   *mongo.Collection
	rollups *mongo.Collection // main rollup documents: what /stats reads
	shards  *mongo.Collection // rollup counter shards: what the processor updates
	gens    *mongo.Collection // each rebuilt site's rollup generation
	cfg     Config
	now     func() time.Time

	mu      sync.Mutex
	creator map[string]string // first-sight key -> queue entry that created it (see remember)
	older   map[string]string // the previous generation of creator

	hz horizonCache // retention horizons (see retention.go)

	compactor compactor // hours to compact (see blocks.go)

	cache *blockCache // decoded blocks for readers (see read.go)

	// layout says where raw events go: to events before its time, to the
	// month collections from it (see raw.go).
	layout rawLayout

	// legacyDays: rollups holds day documents of an earlier version (see
	// detectLegacyDays).
	legacyDays bool

	// ferret is set when the server is FerretDB (buildInfo says so); see
	// casFilter.
	ferret bool

	// hook, when set by a test, runs before each write stage ("users",
	// "rollup") and can fail it, to simulate a crash between writes.
	hook func(stage string) error
}

// SetStageHook makes the store call h before each of its write stages
// ("users", then "rollup" once per rollup document); an error from h fails
// the stage. It exists for fault-injection tests (a crash between writes,
// two writers meeting at the same write) and must be set before use.
func (s *Store) SetStageHook(h func(stage string) error) { s.hook = h }

func (s *Store) stage(name string) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(name)
}

var _ analytics.Store = (*Store)(nil)

// Open connects to uri, checks that the server answers and creates the
// indexes. Errors are of kind Unavailable when the server cannot be reached.
func Open(ctx context.Context, uri string, cfg Config) (*Store, error) {
	if cfg.UserCache <= 0 {
		cfg.UserCache = DefaultConfig().UserCache
	}
	client, database, err := connect(uri, cfg.Database)
	if err != nil {
		return nil, err
	}
	cfg.Database = database
	s := &Store{client: client, db: client.Database(cfg.Database), cfg: cfg, now: time.Now, creator: map[string]string{}, cache: newBlockCache(cfg.BlockCache)}
	s.events = s.db.Collection("events")
	if !cfg.StoreEvents {
		s.events = s.db.Collection("event_ids")
	}
	s.users = s.db.Collection("users")
	s.rollups = s.db.Collection("rollups")
	// Separate collections keep the reads /stats makes away from the bulk
	// of the counters: FerretDB v1.24 on SQLite finds even a document by
	// _id by scanning its collection.
	s.shards = s.db.Collection("rollup_shards")
	s.gens = s.db.Collection("rollup_generations")
	if err := s.Ping(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, analytics.Wrap(analytics.Unavailable, "mongodb: cannot reach "+redact(uri)+" (is it running? check MONGODB_URI)", errors.Unwrap(err))
	}
	var info bson.M
	if err := s.db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err == nil {
		_, s.ferret = info["ferretdbVersion"]
	}
	if err := s.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if _, err := s.legacyBefore(ctx); err != nil { // where raw events go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := s.detectLegacyDays(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// connect checks uri and makes a client for it (without dialing), and
// returns the database to use: database, else the URI's path, else
// DefaultDatabase.
func connect(uri, database string) (*mongo.Client, string, error) {
	if uri == "" {
		return nil, "", analytics.Errorf(analytics.Invalid, "MONGODB_URI: required, e.g. mongodb://localhost:27017/analytics")
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") {
		return nil, "", analytics.Errorf(analytics.Invalid, "MONGODB_URI: %q is not a mongodb:// or mongodb+srv:// URI", redact(uri))
	}
	if database == "" {
		database = strings.TrimPrefix(u.Path, "/")
	}
	if database == "" {
		database = DefaultDatabase
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		return nil, "", analytics.Wrap(analytics.Invalid, "MONGODB_URI: "+redact(uri), err)
	}
	return client, database, nil
}

// casFilter selects the rollup document id if its watermark is still wm:
// the compare-and-set that makes a second writer's update miss. On FerretDB
// it is {_id} alone: FerretDB v1.24 (SQLite) uses its primary key only for a
// filter that is exactly {_id: <string>} and scans the whole collection for
// any other, which made every rollup update cost as much as reading every
// rollup; and its update is not atomic, so the wm condition never protected
// anything there that the read before it did not (fencing does: one writer
// per partition, see the queue). On MongoDB the condition stays, as a
// second line of defence behind the fence.
func (s *Store) casFilter(id, wm string) bson.D {
	if s.ferret {
		return bson.D{{Key: "_id", Value: id}}
	}
	return bson.D{{Key: "_id", Value: id}, {Key: "wm", Value: wm}}
}

// ensureIndexes creates the secondary indexes (by site, for rebuild and its
// clean-up) one at a time: FerretDB v1.24 panics on a CreateIndexes call
// listing several indexes that already exist.
//
// On FerretDB it drops them instead. FerretDB v1.24 (SQLite) answers every
// query but a lookup by _id by scanning, so they never speed a read up;
// and it keeps each as an expression over the document's JSON text, so
// every insert and update parsed each document once more per index: on the
// rollups, re-parsing a large document on every batch (measured: a third of
// the processor's CPU).
func (s *Store) ensureIndexes(ctx context.Context) error {
	idx := []struct {
		c    *mongo.Collection
		keys bson.D
		name string
	}{
		{s.events, bson.D{{Key: "site_id", Value: 1}, {Key: "timestamp", Value: 1}}, "site_id_1_timestamp_1"},
		{s.events, bson.D{{Key: "site_id", Value: 1}, {Key: "user_id", Value: 1}}, "site_id_1_user_id_1"},
		{s.users, bson.D{{Key: "site_id", Value: 1}}, "site_id_1"},
		{s.rollups, bson.D{{Key: "site_id", Value: 1}}, "site_id_1"},
		{s.shards, bson.D{{Key: "site_id", Value: 1}}, "site_id_1"},
	}
	for _, ix := range idx {
		if s.ferret {
			if err := ix.c.Indexes().DropOne(ctx, ix.name); err != nil && !indexNotFound(err) {
				return classify("mongodb: drop index "+ix.name+" on "+ix.c.Name(), err)
			}
			continue
		}
		if _, err := ix.c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys}); err != nil {
			return classify("mongodb: create index on "+ix.c.Name(), err)
		}
	}
	return nil
}

// indexNotFound reports the error of dropping an index (or from a
// collection) that does not exist.
func indexNotFound(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 27 || ce.Code == 26) // IndexNotFound, NamespaceNotFound
}

// Database returns the database the store uses.
func (s *Store) Database() *mongo.Database { return s.db }

// Ping implements analytics.Pinger.
func (s *Store) Ping(ctx context.Context) error {
	return classify("mongodb: ping", s.client.Ping(ctx, nil))
}

// Close disconnects. Safe to call twice.
func (s *Store) Close(ctx context.Context) error {
	err := s.client.Disconnect(ctx)
	if errors.Is(err, mongo.ErrClientDisconnected) {
		return nil
	}
	return err
}

// classify says whether retrying err can help. Errors are transient
// (Unavailable: retry with backoff, never acknowledge) unless they carry a
// server code on an explicit list of permanent causes (Invalid: retrying the
// same input fails again), or the driver refused the document itself for its
// size. An error the code does not know is a server fault until proven
// otherwise: dead-lettering on it would throw events away.
func classify(msg string, err error) error {
	if err == nil {
		return nil
	}
	if permanent(err) {
		return analytics.Wrap(analytics.Invalid, msg, err)
	}
	return analytics.Wrap(analytics.Unavailable, msg, err)
}

// transientErr wraps err as Unavailable whatever it is: for the steps after
// an entry's raw document is stored, which must never dead-letter it. An
// error that already has a kind keeps it only when it is Unavailable.
func transientErr(msg string, err error) error {
	if err == nil {
		return nil
	}
	return analytics.Wrap(analytics.Unavailable, msg, err)
}

// Permanent server error codes: the input itself is what the server refuses.
var permanentCodes = map[int32]string{
	2:     "BadValue",
	9:     "FailedToParse",
	14:    "TypeMismatch",
	52:    "DollarPrefixedFieldName",
	53:    "InvalidIdField",
	55:    "InvalidDBRef",
	56:    "EmptyFieldName",
	57:    "DottedFieldName",
	121:   "DocumentValidationFailure",
	10334: "BSONObjectTooLarge",
	17419: "update result document too large",
	17280: "KeyTooLong",
	40352: "EmptyFieldPath",
}

func permanentCode(code int32) bool {
	_, ok := permanentCodes[code]
	return ok
}

func permanent(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// The driver refuses a document over the server's limit before sending.
	if errors.Is(err, driver.ErrDocumentTooLarge) {
		return true
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		if we.WriteConcernError != nil || len(we.WriteErrors) == 0 {
			return false
		}
		for _, e := range we.WriteErrors {
			if !permanentCode(int32(e.Code)) {
				return false
			}
		}
		return true
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		if bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			return false
		}
		for _, e := range bwe.WriteErrors {
			if !permanentCode(int32(e.Code)) {
				return false
			}
		}
		return true
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return permanentCode(ce.Code) && !ce.HasErrorLabel("RetryableWriteError")
	}
	return false
}

func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// entryKey is what raw and user documents record as their creator: the
// partition and the entry id, so the same id from another partition never
// passes for this entry.
func entryKey(partition int, id string) string { return fmt.Sprintf("%d/%s", partition, id) }

// splitEntryKey undoes entryKey; an empty or foreign key gives partition -1.
func splitEntryKey(k string) (int, string) {
	p, id, ok := strings.Cut(k, "/")
	if !ok {
		return -1, ""
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return -1, ""
	}
	return n, id
}
