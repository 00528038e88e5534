package mongostore

import (
	"context"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/rollup"
)

var _ rollup.Reader = (*Store)(nil)

// snapshotDoc is the part of a main rollup document a snapshot reads: the
// counters per value (c, u) stay behind, the leaders hold what answers need.
type snapshotDoc struct {
	ID      string                      `bson:"_id"`
	Views   int64                       `bson:"views"`
	Events  int64                       `bson:"events"`
	Uniques int64                       `bson:"uniques"`
	VDays   int64                       `bson:"vdays"`
	H       string                      `bson:"h"`
	Top     map[string]string           `bson:"top"`
	Other   map[string]map[string]int64 `bson:"other"`  // shard -> dim -> count
	OtherU  map[string]map[string]int64 `bson:"otheru"` // shard -> dim -> visitors
	HLL     []byte                      `bson:"hll"`
}

var snapshotProjection = bson.D{{Key: "views", Value: 1}, {Key: "events", Value: 1}, {Key: "uniques", Value: 1}, {Key: "vdays", Value: 1},
	{Key: "h", Value: 1}, {Key: "top", Value: 1}, {Key: "other", Value: 1}, {Key: "otheru", Value: 1}, {Key: "hll", Value: 1}}

// Rollups implements rollup.Reader: one read of the site's generation, then
// one query for every period's main document ({_id: {$in: [...]}}, an index
// lookup per id on MongoDB; on FerretDB v1.24, which answers any lookup,
// even by _id, by scanning the collection, one scan instead of one per
// period). If a rebuild switched generations between the reads, they are
// done again in the new one, so every snapshot comes from the same
// generation.
func (s *Store) Rollups(ctx context.Context, site string, periods []string) ([]rollup.Snapshot, error) {
	if err := analytics.ValidateSiteID(site); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		gen, _, err := s.generation(ctx, site)
		if err != nil {
			return nil, err
		}
		out, missing, err := s.readSnapshots(ctx, site, gen, periods)
		if err != nil {
			return nil, err
		}
		if missing == 0 || attempt == 3 {
			return out, nil
		}
		now, _, err := s.generation(ctx, site)
		if err != nil {
			return nil, err
		}
		if now == gen {
			return out, nil
		}
	}
}

func (s *Store) readSnapshots(ctx context.Context, site string, gen int64, periods []string) ([]rollup.Snapshot, int, error) {
	out := make([]rollup.Snapshot, len(periods))
	at := make(map[string][]int, len(periods)) // _id -> indexes in out
	ids := make([]string, 0, len(periods))
	for i, p := range periods {
		out[i].Period = p
		id := rollupRef{site: site, period: p, gen: gen}.mainID()
		if at[id] == nil {
			ids = append(ids, id)
		}
		at[id] = append(at[id], i)
	}
	if len(ids) == 0 {
		return out, 0, nil
	}
	cur, err := s.rollups.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, options.Find().SetProjection(snapshotProjection))
	if err != nil {
		return nil, 0, analytics.Wrap(analytics.Unavailable, "mongodb: read rollups", err)
	}
	defer cur.Close(context.Background())
	found := 0
	for cur.Next(ctx) {
		var doc snapshotDoc
		if err := cur.Decode(&doc); err != nil {
			return nil, 0, analytics.Wrap(analytics.Internal, "mongodb: decode rollup", err)
		}
		for _, i := range at[doc.ID] {
			out[i] = doc.snapshot(periods[i])
			found++
		}
	}
	if err := cur.Err(); err != nil {
		return nil, 0, analytics.Wrap(analytics.Unavailable, "mongodb: read rollups", err)
	}
	return out, len(periods) - found, nil
}

func (d *snapshotDoc) snapshot(period string) rollup.Snapshot {
	sn := rollup.Snapshot{Period: period, Views: d.Views, Events: d.Events, Visitors: d.Uniques, VisitorDays: d.VDays, Sketch: d.HLL,
		Top: map[string][]rollup.Ranked{}, Other: map[string]rollup.Counter{}}
	if rollup.IsDay(period) {
		sn.VisitorDays = d.Uniques
	}
	for h, b := range decodeHours(d.H) {
		sn.Hours[h] = rollup.Bucket{Views: b[0], Events: b[1], Visitors: b[2]}
	}
	for dim, t := range d.Top {
		sn.Top[dim] = decodeTop(t)
	}
	for n := 1; n <= rollup.Shards; n++ {
		k := strconv.Itoa(n)
		for dim, c := range d.Other[k] {
			o := sn.Other[dim]
			o.Count += c
			sn.Other[dim] = o
		}
		for dim, c := range d.OtherU[k] {
			o := sn.Other[dim]
			o.Visitors += c
			sn.Other[dim] = o
		}
	}
	for dim, o := range sn.Other {
		if o == (rollup.Counter{}) {
			delete(sn.Other, dim)
		}
	}
	return sn
}
