package mongostore

import (
	"context"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
)

// ForgetResult says what Forget deleted.
type ForgetResult struct {
	Events int64 // raw events
	Users  int64 // first-sight documents (the only other documents naming a visitor)
}

// Forget deletes every raw event of user on site and every first-sight
// document of that visitor (in every rollup generation). It does not
// change the rollups: they hold counts, not visitor ids; a rebuild (see
// Rebuildable) recomputes them without the visitor. On FerretDB each of
// the site's raw collections and the users collection is scanned once.
func (s *Store) Forget(ctx context.Context, site, user string) (ForgetResult, error) {
	var res ForgetResult
	if err := analytics.ValidateSiteID(site); err != nil {
		return res, err
	}
	if user == "" {
		return res, analytics.Errorf(analytics.Invalid, "user: required")
	}
	var srcs []RawSource
	if s.cfg.StoreEvents { // else only ids are kept: nothing there names the visitor
		var err error
		if srcs, err = s.rawSources(ctx, site, time.Time{}, time.Time{}); err != nil {
			return res, err
		}
	}
	for _, src := range srcs {
		r, err := src.Coll.DeleteMany(ctx, append(append(bson.D{}, src.Filter...), bson.E{Key: "user_id", Value: user}))
		if err != nil {
			return res, classify("mongodb: delete the visitor's events", err)
		}
		res.Events += r.DeletedCount
	}
	// First-sight ids are "<scope>|<period>|<visitor>" (see sightKey):
	// neither scope nor period holds '|', so the visitor is what follows
	// the second one.
	cur, err := s.users.Find(ctx, bson.D{{Key: "site_id", Value: site}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return res, classify("mongodb: read first-sight documents", err)
	}
	var ids []string
	for cur.Next(ctx) {
		id, _ := cur.Current.Lookup("_id").StringValueOK()
		if _, rest, ok := strings.Cut(id, "|"); ok {
			if _, v, ok := strings.Cut(rest, "|"); ok && v == user {
				ids = append(ids, id)
			}
		}
	}
	err = cur.Err()
	cur.Close(context.Background())
	if err != nil {
		return res, classify("mongodb: read first-sight documents", err)
	}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		r, err := s.users.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids[:n]}}}})
		if err != nil {
			return res, classify("mongodb: delete the visitor's first-sight documents", err)
		}
		res.Users += r.DeletedCount
		ids = ids[n:]
	}
	// Forget what this process remembers of them too.
	s.mu.Lock()
	s.creator, s.older = map[string]string{}, nil
	s.mu.Unlock()
	return res, nil
}

// Rebuildable returns an error of kind Invalid when a rebuild of site
// would lose counts: retention deleted (or may have deleted) its raw
// events before its horizon, and a rebuild recomputes every day from the
// raw events left.
func (s *Store) Rebuildable(ctx context.Context, site string) error {
	h, err := s.Horizon(ctx, site)
	if err != nil {
		return err
	}
	if !h.IsZero() {
		return analytics.Errorf(analytics.Invalid, "retention deleted the raw events of %s before %s, so a rebuild would lose the counts of those days; its rollups are left as they are",
			site, h.Format(analytics.DateLayout))
	}
	return nil
}
