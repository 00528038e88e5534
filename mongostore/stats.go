package mongostore

import (
	"context"
	"errors"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
)

// Stats implements analytics.StatsReader with one read by _id, so its cost
// depends on the number of distinct paths, never on the number of events.
func (s *Store) Stats(ctx context.Context, q analytics.StatsQuery) (analytics.Stats, error) {
	out := analytics.Stats{SiteID: q.SiteID, TopPaths: []analytics.PathViews{}}
	id := allRollupID(q.SiteID)
	if q.Date != "" {
		date := q.Date
		out.Date = &date
		id = dayRollupID(q.SiteID, q.Date)
	}
	var doc rollupDoc
	opts := options.FindOne().SetProjection(bson.D{{Key: "views", Value: 1}, {Key: "uniques", Value: 1}, {Key: "paths", Value: 1}})
	err := s.rollups.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return out, nil
	}
	if err != nil {
		return out, classify("mongodb: read stats", err)
	}
	out.TotalViews = doc.Views
	out.UniqueUsers = doc.Uniques
	out.TopPaths = topPaths(doc.Paths, q.Limit)
	return out, nil
}

// topPaths returns the limit most viewed paths, ties broken by path so the
// answer is the same every time.
func topPaths(paths map[string]int64, limit int) []analytics.PathViews {
	all := make([]analytics.PathViews, 0, len(paths))
	for p, n := range paths {
		if n > 0 {
			all = append(all, analytics.PathViews{Path: unescapeField(p), Views: n})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Views != all[j].Views {
			return all[i].Views > all[j].Views
		}
		return all[i].Path < all[j].Path
	})
	if limit <= 0 {
		limit = analytics.DefaultTopPaths
	}
	if len(all) > limit {
		all = all[:limit]
	}
	return all
}
