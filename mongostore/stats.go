package mongostore

import (
	"context"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// Stats implements analytics.StatsReader: the seed's /stats numbers,
// computed by the engine from the blocks of the day asked (a UTC day), or
// of all time. Its cost follows the range asked, never the whole history.
func (s *Store) Stats(ctx context.Context, q analytics.StatsQuery) (analytics.Stats, error) {
	out := analytics.Stats{SiteID: q.SiteID, TopPaths: []analytics.PathViews{}}
	var from, to time.Time
	if q.Date != "" {
		date := q.Date
		out.Date = &date
		d, err := time.Parse(analytics.DateLayout, q.Date)
		if err != nil {
			return out, analytics.Errorf(analytics.Invalid, "date: %q is not a date in YYYY-MM-DD format", q.Date)
		}
		from, to = d, d.AddDate(0, 0, 1)
	} else {
		first, err := s.DataSince(ctx, q.SiteID)
		if err != nil || first.IsZero() {
			return out, err
		}
		from, to = first, s.now().UTC().Add(2*time.Hour)
	}
	return StatsOf(ctx, engine.New(s), q, from, to)
}

// StatsOf answers q (its site and limit) for [from, to) with e.
func StatsOf(ctx context.Context, e engine.Answerer, q analytics.StatsQuery, from, to time.Time) (analytics.Stats, error) {
	out := analytics.Stats{SiteID: q.SiteID, TopPaths: []analytics.PathViews{}}
	if q.Date != "" {
		date := q.Date
		out.Date = &date
	}
	base := engine.Query{Site: q.SiteID, From: from, To: to}
	tot := base
	tot.Metrics = []string{engine.Visitors, engine.Pageviews}
	res, err := e.Query(ctx, tot)
	if err != nil {
		return out, err
	}
	out.UniqueUsers = int64(res.Rows[0].Metrics[0].(float64))
	out.TotalViews = int64(res.Rows[0].Metrics[1].(float64))
	if out.TotalViews == 0 {
		return out, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = analytics.DefaultTopPaths
	}
	top := base
	top.Metrics = []string{engine.Pageviews}
	top.Dimensions = []string{engine.EventPage}
	top.Filter = &engine.Filter{Op: engine.OpIs, Dim: engine.EventName, Values: []string{"pageview"}}
	top.Limit = limit
	res, err = e.Query(ctx, top)
	if err != nil {
		return out, err
	}
	for _, r := range res.Rows {
		out.TopPaths = append(out.TopPaths, analytics.PathViews{Path: r.Dimensions[0], Views: int64(r.Metrics[0].(float64))})
	}
	return out, nil
}

// DataSince returns the first UTC month the site has event blocks in;
// zero when it has none.
func (s *Store) DataSince(ctx context.Context, site string) (time.Time, error) {
	bs, err := s.readBlockSite(ctx, site)
	return bs.since(), err
}

func (bs blockSite) since() time.Time {
	var first time.Time
	for k, v := range bs.Versions {
		m, err := time.Parse("v2006_01", k)
		if err != nil || v == 0 {
			continue
		}
		if first.IsZero() || m.Before(first) {
			first = m
		}
	}
	return first
}

// Sites lists the sites that have event blocks, sorted.
func (s *Store) Sites(ctx context.Context) ([]string, error) {
	cur, err := s.db.Collection(blockSitesColl).Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, classify("mongodb: list sites", err)
	}
	defer cur.Close(context.Background())
	var sites []string
	for cur.Next(ctx) {
		if id, ok := cur.Current.Lookup("_id").StringValueOK(); ok {
			sites = append(sites, id)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, classify("mongodb: list sites", err)
	}
	sort.Strings(sites)
	return sites, nil
}
