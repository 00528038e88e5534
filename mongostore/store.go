// Package mongostore keeps events and their compact event blocks in
// MongoDB (or FerretDB), and hands the blocks to the query engine.
//
// Collections:
//   - events_YYYY_MM_<site>: one document per event, _id = event id, one
//     collection per site and UTC month of the timestamp (so retention
//     drops a month whole, see raw.go); events holds those of earlier
//     versions. The ledger of what is stored, and the source of rebuild,
//     export and forget.
//   - bparts_<gen>_YYYY_MM_DD_<site>, blocks_<gen>_YYYY_MM_<site>,
//     block_manifests, block_sites: the event blocks, as parts per batch
//     and (site, UTC hour), then compacted per hour (see blocks.go).
//   - retention: each site's retention horizon (see retention.go).
//   - sites, tokens and settings (see registry.go).
//
// Exactly-once without transactions: a raw event is stored once by _id and
// records the queue entry that stored it; a batch writes the events it
// stored first as parts with deterministic _ids, so a redelivered batch
// rewrites the same parts. One fenced writer per partition (see the queue)
// keeps two processors from writing for one site at the same time.
//
// Every read is by _id (FerretDB v1.24 uses its primary key for exactly
// that and scans for any other filter), plus scans of raw events by
// rebuild, forget and export; MongoDB 6.0+ and FerretDB v1.24 run them all.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
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
	// BlockCache bounds the bytes of decoded event blocks a reader keeps
	// (see Blocks); 0 means DefaultBlockCache.
	BlockCache int
}

// DefaultConfig returns the settings used when none are given.
func DefaultConfig() Config { return Config{StoreEvents: true, BlockCache: DefaultBlockCache} }

// Store is the MongoDB implementation of analytics.Store.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	events *mongo.Collection
	cfg    Config
	now    func() time.Time

	hz horizonCache // retention horizons (see retention.go)

	// layout says where raw events go: to events before its time, to the
	// month collections from it (see raw.go).
	layout rawLayout

	// ferret is set when the server is FerretDB (buildInfo says so).
	ferret bool

	compactor compactor   // hours to compact (see blocks.go)
	cache     *blockCache // decoded blocks for readers (see read.go)

	// hook, when set by a test, runs before each write stage ("blocks")
	// and can fail it, to simulate a crash between writes.
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
	client, database, err := connect(uri, cfg.Database)
	if err != nil {
		return nil, err
	}
	cfg.Database = database
	s := &Store{client: client, db: client.Database(cfg.Database), cfg: cfg, now: time.Now, cache: newBlockCache(cfg.BlockCache)}
	s.events = s.db.Collection("events")
	if !cfg.StoreEvents {
		s.events = s.db.Collection("event_ids")
	}
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
