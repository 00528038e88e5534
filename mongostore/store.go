// Package mongostore keeps events and rollups in MongoDB (or FerretDB) and
// answers stats by reading rollups by _id.
//
// Collections:
//   - events:  one document per event, _id = event id; the source of truth
//     for `analytics-cli rebuild`.
//   - users:   one document per (site, day, user) and per (site, user),
//     remembering the queue entry that created it.
//   - rollups: one document per (site, day) and per site all-time with
//     views, events, unique users, views per path and counts per event type,
//     plus wm, the last queue entry applied to it.
//
// Exactly-once without transactions: an entry changes a rollup only when it
// is newer than the rollup's wm, and the change is a compare-and-set on wm,
// so a redelivered batch never counts twice and, because a partition has one
// owner that applies its entries in order, a crash never skips one.
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
}

// DefaultConfig returns the settings used when none are given.
func DefaultConfig() Config { return Config{StoreEvents: true, UserCache: 1 << 20} }

// Store is the MongoDB implementation of analytics.Store.
type Store struct {
	client  *mongo.Client
	db      *mongo.Database
	events  *mongo.Collection
	users   *mongo.Collection
	rollups *mongo.Collection
	cfg     Config
	now     func() time.Time

	mu      sync.Mutex
	creator map[string]string // user key -> queue entry that created it

	// hook, when set by a test, runs before each write stage ("users",
	// "rollup") and can fail it, to simulate a crash between writes.
	hook func(stage string) error
}

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
	if uri == "" {
		return nil, analytics.Errorf(analytics.Invalid, "MONGODB_URI: required, e.g. mongodb://localhost:27017/analytics")
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") {
		return nil, analytics.Errorf(analytics.Invalid, "MONGODB_URI: %q is not a mongodb:// or mongodb+srv:// URI", redact(uri))
	}
	if cfg.Database == "" {
		cfg.Database = strings.TrimPrefix(u.Path, "/")
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if cfg.UserCache <= 0 {
		cfg.UserCache = DefaultConfig().UserCache
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		return nil, analytics.Wrap(analytics.Invalid, "MONGODB_URI: "+redact(uri), err)
	}
	s := &Store{client: client, db: client.Database(cfg.Database), cfg: cfg, now: time.Now, creator: map[string]string{}}
	s.events = s.db.Collection("events")
	if !cfg.StoreEvents {
		s.events = s.db.Collection("event_ids")
	}
	s.users = s.db.Collection("users")
	s.rollups = s.db.Collection("rollups")
	if err := s.Ping(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, analytics.Wrap(analytics.Unavailable, "mongodb: cannot reach "+redact(uri)+" (is it running? check MONGODB_URI)", errors.Unwrap(err))
	}
	if err := s.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// ensureIndexes creates the indexes one at a time: FerretDB v1.24 panics on a
// CreateIndexes call listing several indexes that already exist.
func (s *Store) ensureIndexes(ctx context.Context) error {
	idx := []struct {
		c    *mongo.Collection
		keys bson.D
	}{
		{s.events, bson.D{{Key: "site_id", Value: 1}, {Key: "timestamp", Value: 1}}},
		{s.events, bson.D{{Key: "site_id", Value: 1}, {Key: "user_id", Value: 1}}},
		{s.users, bson.D{{Key: "site_id", Value: 1}}},
		{s.rollups, bson.D{{Key: "site_id", Value: 1}}},
	}
	for _, ix := range idx {
		if _, err := ix.c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys}); err != nil {
			return classify("mongodb: create index on "+ix.c.Name(), err)
		}
	}
	return nil
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

// classify marks err Unavailable when retrying can help (network, timeouts,
// server selection, write concern), Invalid otherwise.
func classify(msg string, err error) error {
	if err == nil {
		return nil
	}
	if transient(err) {
		return analytics.Wrap(analytics.Unavailable, msg, err)
	}
	return analytics.Wrap(analytics.Invalid, msg, err)
}

func transient(err error) bool {
	var se mongo.ServerError
	var we mongo.WriteException
	var bwe mongo.BulkWriteException
	switch {
	case mongo.IsNetworkError(err), mongo.IsTimeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, mongo.ErrClientDisconnected):
		return true
	case errors.As(err, &we) && we.WriteConcernError != nil, errors.As(err, &bwe) && bwe.WriteConcernError != nil:
		return true
	case errors.As(err, &se) && se.HasErrorLabel("RetryableWriteError"):
		return true
	case strings.Contains(err.Error(), "server selection"):
		return true
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

// Key encoding: rollup and user ids join parts with '|', which site_id never
// contains; the user id comes last so any character in it is safe.
func dayRollupID(site, day string) string { return site + "|" + day }
func allRollupID(site string) string      { return site + "|all" }
func dayUserID(site, day, user string) string {
	return site + "|" + day + "|" + user
}
func allUserID(site, user string) string { return site + "||" + user }

// entryKey is what raw and user documents record as their creator: the
// partition and the entry id, so the same id from another partition never
// passes for this entry.
func entryKey(partition int, id string) string { return fmt.Sprintf("%d/%s", partition, id) }

// Field names in rollup maps: '.' and a leading '$' mean something in update
// paths, so they are escaped (with '%' itself escaped first).
var fieldEscaper = strings.NewReplacer("%", "%25", ".", "%2E", "$", "%24")
var fieldUnescaper = strings.NewReplacer("%2E", ".", "%24", "$", "%25", "%")

func escapeField(s string) string {
	if s == "" {
		return "%"
	}
	return fieldEscaper.Replace(s)
}

func unescapeField(s string) string {
	if s == "%" {
		return ""
	}
	return fieldUnescaper.Replace(s)
}

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
