package mongostore

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/rollup"
)

var _ rollup.Reader = (*Store)(nil)

// snapshotDoc is the part of a main rollup document a snapshot reads: the
// counters per value (c, u) stay behind, the leaders hold what answers need.
type snapshotDoc struct {
	Views   int64                       `bson:"views"`
	Events  int64                       `bson:"events"`
	Uniques int64                       `bson:"uniques"`
	VDays   int64                       `bson:"vdays"`
	H       string                      `bson:"h"`
	Top     map[string]string           `bson:"top"`
	Other   map[string]map[string]int64 `bson:"other"`  // shard -> dim -> count
	OtherU  map[string]map[string]int64 `bson:"otheru"` // shard -> dim -> visitors
	OtherV  map[string]string           `bson:"otherv"` // shard -> visit counters, see otherVisits
	HLL     []byte                      `bson:"hll"`
	Visits  int64                       `bson:"visits"`
	Bounces int64                       `bson:"bounces"`
	VDur    int64                       `bson:"vdur"`
	VViews  int64                       `bson:"vviews"`
}

var snapshotProjection = bson.D{{Key: "views", Value: 1}, {Key: "events", Value: 1}, {Key: "uniques", Value: 1}, {Key: "vdays", Value: 1},
	{Key: "h", Value: 1}, {Key: "top", Value: 1}, {Key: "other", Value: 1}, {Key: "otheru", Value: 1}, {Key: "hll", Value: 1},
	{Key: "otherv", Value: 1}, {Key: "visits", Value: 1}, {Key: "bounces", Value: 1}, {Key: "vdur", Value: 1}, {Key: "vviews", Value: 1}}

// Rollups implements rollup.Reader: one read of the site's generation, then
// one read by _id per period, a few at a time, each in its own period's
// collection (see collections.go). If a rebuild switched generations
// between the reads, they are done again in the new one, so every snapshot
// comes from the same generation. (One $in query for all periods was tried:
// on FerretDB it decodes the whole collection in Go and was slower than the
// lookups it replaced.)
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
	var missing atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	opts := options.FindOne().SetProjection(snapshotProjection)
	for i, p := range periods {
		out[i].Period = p
		g.Go(func() error {
			var doc snapshotDoc
			id := rollupRef{site: site, period: p, gen: gen}.mainID()
			err := s.readMain(gctx, p, id, opts, &doc)
			if errors.Is(err, mongo.ErrNoDocuments) {
				missing.Add(1)
				return nil
			}
			if err != nil {
				return analytics.Wrap(analytics.Unavailable, "mongodb: read rollup", err)
			}
			out[i] = doc.snapshot(p)
			return nil
		})
	}
	return out, int(missing.Load()), g.Wait()
}

func (d *snapshotDoc) snapshot(period string) rollup.Snapshot {
	sn := rollup.Snapshot{Period: period, Views: d.Views, Events: d.Events, Visitors: d.Uniques, VisitorDays: d.VDays, Sketch: d.HLL,
		Top: map[string][]rollup.Ranked{}, Other: map[string]rollup.Counter{},
		VisitCounts: rollup.VisitCounts{Visits: d.Visits, Bounces: d.Bounces, Duration: d.VDur, VisitViews: d.VViews}}
	if rollup.IsDay(period) {
		sn.VisitorDays = d.Uniques
	}
	for h, b := range decodeHours(d.H) {
		sn.Hours[h] = rollup.Bucket{Views: b[0], Events: b[1], Visitors: b[2],
			VisitCounts: rollup.VisitCounts{Visits: b[3], Bounces: b[4], Duration: b[5], VisitViews: b[6]}}
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
		ov := decodeOtherVisits(d.OtherV[k])
		for dim := range ov {
			o := sn.Other[dim]
			o.VisitCounts.Add(ov.get(dim))
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

// Sites lists the sites that have any rollup (every site with a stored
// event has an all-time one in the rollups collection), sorted. It reads
// one small collection: month and all-time documents, a few per site.
func (s *Store) Sites(ctx context.Context) ([]string, error) {
	ctx, cancel := op(ctx)
	defer cancel()
	var sites []string
	if err := s.rollups.Distinct(ctx, "site_id", bson.D{}).Decode(&sites); err != nil {
		return nil, classify("mongodb: list sites", err)
	}
	sort.Strings(sites)
	return sites, nil
}
