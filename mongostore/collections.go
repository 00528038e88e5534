package mongostore

import (
	"context"
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics/rollup"
)

// Day rollups live in one collection per UTC month (rollups_days_YYYY_MM,
// and rollup_shards_days_YYYY_MM for their overflow shards); month and
// all-time rollups in rollups and rollup_shards. FerretDB v1.24 answers
// every lookup, even by _id, by scanning the collection (SQLite: its _id
// index is never used; PostgreSQL: lookups are containment tests), so a
// lookup's cost follows the size of its collection: with a collection per
// month, reading or updating a day's rollup costs the same after years of
// history as on the first day (measured: a 30-day query at 100k events took
// 126 ms with every day in one collection). On MongoDB each is an index
// lookup either way.
const (
	dayRollupsPrefix = "rollups_days_"
	dayShardsPrefix  = "rollup_shards_days_"
)

func monthSuffix(day string) string {
	return strings.ReplaceAll(day[:len(rollup.MonthLayout)], "-", "_")
}

// mainColl and shardColl are the collections of a period's main and
// overflow documents.
func (s *Store) mainColl(period string) *mongo.Collection {
	if rollup.IsDay(period) {
		return s.db.Collection(dayRollupsPrefix + monthSuffix(period))
	}
	return s.rollups
}

func (s *Store) shardColl(period string) *mongo.Collection {
	if rollup.IsDay(period) {
		return s.db.Collection(dayShardsPrefix + monthSuffix(period))
	}
	return s.shards
}

// rollupColls lists every rollup collection: for a rebuild's watermarks
// and clean-up.
func (s *Store) rollupColls(ctx context.Context) ([]*mongo.Collection, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, classify("mongodb: list collections", err)
	}
	out := []*mongo.Collection{s.rollups, s.shards}
	for _, n := range names {
		if strings.HasPrefix(n, dayRollupsPrefix) || strings.HasPrefix(n, dayShardsPrefix) {
			out = append(out, s.db.Collection(n))
		}
	}
	return out, nil
}

// Versions before day rollups had collections of their own kept them in
// rollups and rollup_shards. When such documents exist (checked once, at
// Open), a day document missing from its month's collection is looked for
// there: reads find it, and the first write copies it over.
func (s *Store) detectLegacyDays(ctx context.Context) error {
	err := s.rollups.FindOne(ctx, bson.D{{Key: "day", Value: bson.D{{Key: "$regex", Value: `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`}}}}).Err()
	switch {
	case err == nil:
		s.legacyDays = true
	case !errors.Is(err, mongo.ErrNoDocuments):
		return classify("mongodb: look for day rollups of an earlier version", err)
	}
	return nil
}

// readMain decodes into v the main rollup document id of period, looking
// for a day in its earlier version's place too (see detectLegacyDays).
func (s *Store) readMain(ctx context.Context, period, id string, opts *options.FindOneOptionsBuilder, v any) error {
	err := s.mainColl(period).FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Decode(v)
	if errors.Is(err, mongo.ErrNoDocuments) && s.legacyDays && rollup.IsDay(period) {
		err = s.rollups.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Decode(v)
	}
	return err
}

// legacyDoc returns the earlier version's document id of a day period from
// legacy (rollups or rollup_shards), or nil.
func (s *Store) legacyDoc(ctx context.Context, period string, legacy *mongo.Collection, id string) (bson.Raw, error) {
	if !s.legacyDays || !rollup.IsDay(period) {
		return nil, nil
	}
	raw, err := legacy.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, transientErr("mongodb: read earlier rollup", err)
	}
	return raw, nil
}

// adoptLegacy copies an earlier version's day document into its month's
// collection before the first write to it; true when it did (read again).
func (s *Store) adoptLegacy(ctx context.Context, period string, legacy, to *mongo.Collection, id string) (bool, error) {
	raw, err := s.legacyDoc(ctx, period, legacy, id)
	if raw == nil || err != nil {
		return false, err
	}
	octx, cancel := op(ctx)
	defer cancel()
	if _, err := to.InsertOne(octx, raw); err != nil && !mongo.IsDuplicateKeyError(err) {
		return false, transientErr("mongodb: copy earlier rollup", err)
	}
	return true, nil
}
