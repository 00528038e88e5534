package mongostore

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/rollup"
)

// Stats implements analytics.StatsReader with two small reads by _id (the
// site's generation, then one main rollup document holding the totals and
// the leading paths), so its cost depends neither on the number of events
// nor on the number of distinct paths.
func (s *Store) Stats(ctx context.Context, q analytics.StatsQuery) (analytics.Stats, error) {
	out := analytics.Stats{SiteID: q.SiteID, TopPaths: []analytics.PathViews{}}
	period := allPeriod
	if q.Date != "" {
		date := q.Date
		out.Date = &date
		period = q.Date
	}
	var doc struct {
		Views   int64                       `bson:"views"`
		Uniques int64                       `bson:"uniques"`
		Top     map[string]string           `bson:"top"`
		Other   map[string]map[string]int64 `bson:"other"` // shard -> dim -> count
	}
	opts := options.FindOne().SetProjection(bson.D{{Key: "views", Value: 1}, {Key: "uniques", Value: 1},
		{Key: "top." + rollup.Path, Value: 1}, {Key: "other", Value: 1}})
	gen, _, err := s.generation(ctx, q.SiteID)
	for attempt := 0; ; attempt++ {
		if err != nil {
			return out, analytics.Wrap(analytics.Unavailable, "mongodb: read stats", err)
		}
		ref := rollupRef{site: q.SiteID, period: period, gen: gen}
		err = s.readMain(ctx, period, ref.mainID(), opts, &doc)
		if !errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		// A rebuild may have switched generations and removed the old one
		// between the two reads: read again in the new one.
		now, _, gerr := s.generation(ctx, q.SiteID)
		if gerr != nil || now == gen || attempt == 3 {
			return out, nil
		}
		gen, err = now, gerr
	}
	if err != nil {
		return out, analytics.Wrap(analytics.Unavailable, "mongodb: read stats", err)
	}
	out.TotalViews = doc.Views
	out.UniqueUsers = doc.Uniques
	var other int64
	for _, o := range doc.Other {
		other += o[rollup.Path]
	}
	out.TopPaths, out.Truncated = topPaths(decodeTop(doc.Top[rollup.Path]), other, q.Limit)
	return out, nil
}

// topPaths returns the limit most viewed paths, the real paths in rank
// order and then, when paths beyond the rollups' capacity had views, their
// "(other)" row last, as breakdowns do: it sums a long tail, so ranking it
// by its count put it above the real top path of a busy day.
func topPaths(top []rollup.Ranked, other int64, limit int) ([]analytics.PathViews, bool) {
	if limit <= 0 {
		limit = analytics.DefaultTopPaths
	}
	out := make([]analytics.PathViews, 0, min(limit, len(top)+1))
	for _, r := range top {
		if len(out) == limit {
			break
		}
		if r.Count > 0 && r.Value != rollup.Other {
			out = append(out, analytics.PathViews{Path: r.Value, Views: r.Count})
		}
	}
	if other > 0 && len(out) < limit {
		out = append(out, analytics.PathViews{Path: rollup.Other, Views: other})
	}
	return out, other > 0
}
