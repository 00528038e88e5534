package mongostore

import (
	"context"
	"errors"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/sites"
)

// Registry keeps the registered sites (collection sites) and the
// reporter's tokens (collection tokens). Documents:
//
//	sites:  {_id: site id, domains: [host, ...], key_hash: hex SHA-256 of the write key,
//	         public: bool, retention_days: int (0: RETENTION_DAYS), created_at: date}
//	tokens: {_id: name, hash: hex SHA-256 of the token, site: site id ("" for all), created_at: date}
//	settings: {_id: "reporter_access", closed: bool, changed_at: date}
//
// Both are small and read whole (sites.Registry caches them), so every
// query is a plain find, insert, replace or delete by _id.
type Registry struct {
	client   *mongo.Client
	owned    bool // Close disconnects client
	sites    *mongo.Collection
	tokens   *mongo.Collection
	settings *mongo.Collection
}

var _ sites.Source = (*Registry)(nil)

// OpenRegistry connects to uri for the registry alone (the collector's
// need) and checks that the server answers; errors are Unavailable when it
// does not.
func OpenRegistry(ctx context.Context, uri string) (*Registry, error) {
	client, database, err := connect(uri, "")
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, analytics.Wrap(analytics.Unavailable, "mongodb: cannot reach "+redact(uri)+" (is it running? check MONGODB_URI)", err)
	}
	r := newRegistry(client.Database(database))
	r.client, r.owned = client, true
	return r, nil
}

// Registry returns the registry in the store's database, on its
// connection.
func (s *Store) Registry() *Registry { return newRegistry(s.db) }

func newRegistry(db *mongo.Database) *Registry {
	return &Registry{client: db.Client(), sites: db.Collection("sites"), tokens: db.Collection("tokens"), settings: db.Collection("settings")}
}

// Close disconnects when OpenRegistry made the connection. Safe twice.
func (r *Registry) Close(ctx context.Context) error {
	if !r.owned {
		return nil
	}
	if err := r.client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
		return err
	}
	return nil
}

type siteDoc struct {
	ID            string    `bson:"_id"`
	Domains       []string  `bson:"domains"`
	KeyHash       string    `bson:"key_hash"`
	Public        bool      `bson:"public"`
	RetentionDays int       `bson:"retention_days"`
	CreatedAt     time.Time `bson:"created_at"`
}

func toSiteDoc(s sites.Site) siteDoc {
	d := siteDoc{ID: s.ID, Domains: s.Domains, KeyHash: s.KeyHash, Public: s.Public, RetentionDays: s.RetentionDays, CreatedAt: s.Created.UTC()}
	if d.Domains == nil {
		d.Domains = []string{}
	}
	return d
}

func (d siteDoc) site() sites.Site {
	return sites.Site{ID: d.ID, Domains: d.Domains, KeyHash: d.KeyHash, Public: d.Public, RetentionDays: d.RetentionDays, Created: d.CreatedAt}
}

type tokenDoc struct {
	Name      string    `bson:"_id"`
	Hash      string    `bson:"hash"`
	Site      string    `bson:"site"`
	CreatedAt time.Time `bson:"created_at"`
}

// AddSite registers s; an error of kind Invalid when its id is registered
// already.
func (r *Registry) AddSite(ctx context.Context, s sites.Site) error {
	_, err := r.sites.InsertOne(ctx, toSiteDoc(s))
	if mongo.IsDuplicateKeyError(err) {
		return analytics.Errorf(analytics.Invalid, "site %q is registered already (change it with `analytics-cli sites update`)", s.ID)
	}
	return classify("mongodb: add site", err)
}

// GetSite returns the site id; NotFound when it is not registered.
func (r *Registry) GetSite(ctx context.Context, id string) (sites.Site, error) {
	var d siteDoc
	err := r.sites.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return sites.Site{}, analytics.Errorf(analytics.NotFound, "site %q is not registered (see `analytics-cli sites list`)", id)
	}
	if err != nil {
		return sites.Site{}, classify("mongodb: read site", err)
	}
	return d.site(), nil
}

// LoadSites returns every registered site, sorted by id.
func (r *Registry) LoadSites(ctx context.Context) ([]sites.Site, error) {
	return loadAll(ctx, r.sites, "sites", siteDoc.site, func(s sites.Site) string { return s.ID })
}

// UpdateSite replaces the registered site s.ID with s; NotFound when it is
// not registered.
func (r *Registry) UpdateSite(ctx context.Context, s sites.Site) error {
	res, err := r.sites.ReplaceOne(ctx, bson.D{{Key: "_id", Value: s.ID}}, toSiteDoc(s))
	if err != nil {
		return classify("mongodb: update site", err)
	}
	if res.MatchedCount == 0 {
		return analytics.Errorf(analytics.NotFound, "site %q is not registered (see `analytics-cli sites list`)", s.ID)
	}
	return nil
}

// RemoveSite unregisters site id (its events and stats stay); NotFound
// when it is not registered.
func (r *Registry) RemoveSite(ctx context.Context, id string) error {
	return deleteByID(ctx, r.sites, id, "site", "analytics-cli sites list")
}

// AddToken stores t; Invalid when a token of that name exists. It closes
// the reporter first (see SetReporterClosed), so a failure between the two
// leaves it closed, never open with a token.
func (r *Registry) AddToken(ctx context.Context, t sites.Token) error {
	if err := r.SetReporterClosed(ctx, true); err != nil {
		return err
	}
	_, err := r.tokens.InsertOne(ctx, tokenDoc{Name: t.Name, Hash: t.Hash, Site: t.Site, CreatedAt: t.Created.UTC()})
	if mongo.IsDuplicateKeyError(err) {
		return analytics.Errorf(analytics.Invalid, "a token named %q exists already (revoke it, or choose another --name)", t.Name)
	}
	return classify("mongodb: add token", err)
}

// LoadTokens returns every token, sorted by name.
func (r *Registry) LoadTokens(ctx context.Context) ([]sites.Token, error) {
	return loadAll(ctx, r.tokens, "tokens", tokenDoc.token, func(t sites.Token) string { return t.Name })
}

func (d tokenDoc) token() sites.Token {
	return sites.Token{Name: d.Name, Hash: d.Hash, Site: d.Site, Created: d.CreatedAt}
}

// RevokeToken deletes the token called name; NotFound when there is none.
// It marks the reporter closed first: tokens made before the mark existed
// must not open the reporter when the last of them goes either.
func (r *Registry) RevokeToken(ctx context.Context, name string) error {
	n, err := r.tokens.CountDocuments(ctx, bson.D{{Key: "_id", Value: name}})
	if err != nil {
		return classify("mongodb: read token", err)
	}
	if n > 0 {
		if err := r.SetReporterClosed(ctx, true); err != nil {
			return err
		}
	}
	return deleteByID(ctx, r.tokens, name, "token", "analytics-cli tokens list")
}

const reporterAccessID = "reporter_access"

type reporterAccessDoc struct {
	ID        string    `bson:"_id"`
	Closed    bool      `bson:"closed"`
	ChangedAt time.Time `bson:"changed_at"`
}

// LoadReporterAccess reads whether the reporter is closed without tokens;
// open (the zero value) when it was never set.
func (r *Registry) LoadReporterAccess(ctx context.Context) (sites.ReporterAccess, error) {
	var d reporterAccessDoc
	err := r.settings.FindOne(ctx, bson.D{{Key: "_id", Value: reporterAccessID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return sites.ReporterAccess{}, nil
	}
	if err != nil {
		return sites.ReporterAccess{}, classify("mongodb: read the reporter's access mode", err)
	}
	return sites.ReporterAccess{Closed: d.Closed, Changed: d.ChangedAt}, nil
}

// SetReporterClosed records whether the reporter wants a token even when
// none exists. Setting what is already set changes nothing (its Changed
// time stays).
func (r *Registry) SetReporterClosed(ctx context.Context, closed bool) error {
	cur, err := r.LoadReporterAccess(ctx)
	if err != nil {
		return err
	}
	if cur.Closed == closed && !cur.Changed.IsZero() {
		return nil
	}
	d := reporterAccessDoc{ID: reporterAccessID, Closed: closed, ChangedAt: time.Now().UTC().Truncate(time.Millisecond)}
	_, err = r.settings.ReplaceOne(ctx, bson.D{{Key: "_id", Value: reporterAccessID}}, d, options.Replace().SetUpsert(true))
	return classify("mongodb: write the reporter's access mode", err)
}

// loadAll reads every document of c (the what of errors) as D, and
// returns them as T, sorted by key.
func loadAll[D, T any](ctx context.Context, c *mongo.Collection, what string, conv func(D) T, key func(T) string) ([]T, error) {
	var docs []D
	cur, err := c.Find(ctx, bson.D{})
	if err == nil {
		err = cur.All(ctx, &docs)
	}
	if err != nil {
		return nil, classify("mongodb: read "+what, err)
	}
	out := make([]T, len(docs))
	for i, d := range docs {
		out[i] = conv(d)
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out, nil
}

// deleteByID deletes the document id of c; NotFound (naming what and where
// to list them) when there is none.
func deleteByID(ctx context.Context, c *mongo.Collection, id, what, list string) error {
	res, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return classify("mongodb: remove "+what, err)
	}
	if res.DeletedCount == 0 {
		return analytics.Errorf(analytics.NotFound, "%s %q does not exist (see `%s`)", what, id, list)
	}
	return nil
}
