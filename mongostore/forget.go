package mongostore

import (
	"context"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
)

// ForgetResult says what Forget deleted.
type ForgetResult struct {
	Events int64 // raw events
	Rows   int64 // rows of event blocks
	Hours  int   // hours whose blocks were rewritten
}

// Forget deletes every raw event of user on site and every row of them in
// the site's event blocks: each hour holding one is rewritten without
// them and its old documents deleted, so no byte of the visitor stays in
// any block, and the stats stop counting them at once (no rebuild).
//
// fence must be the hold of the site's partition (redisqueue.HoldPartition),
// as for Rebuild: no processor writes for the site meanwhile. On FerretDB
// each of the site's raw collections is scanned once, and every block of
// the site read.
func (s *Store) Forget(ctx context.Context, site, user string, fence analytics.Fence) (ForgetResult, error) {
	var res ForgetResult
	if err := analytics.ValidateSiteID(site); err != nil {
		return res, err
	}
	if user == "" {
		return res, analytics.Errorf(analytics.Invalid, "user: required")
	}
	if fence != nil {
		ctx = analytics.WithFence(ctx, fence)
	}
	var srcs []RawSource
	if s.cfg.StoreEvents { // else only ids are kept: nothing there names the visitor
		var err error
		if srcs, err = s.rawSources(ctx, site, time.Time{}, time.Time{}); err != nil {
			return res, err
		}
	}
	for _, src := range srcs {
		octx, cancel := op(ctx)
		r, err := src.Coll.DeleteMany(octx, append(append(bson.D{}, src.Filter...), bson.E{Key: "user_id", Value: user}))
		cancel()
		if err != nil {
			return res, classify("mongodb: delete the visitor's events", err)
		}
		res.Events += r.DeletedCount
	}
	visitor := block.Hash(user)
	bs, err := s.readBlockSite(ctx, site)
	if err != nil {
		return res, err
	}
	for k := range bs.Versions {
		month, err := time.Parse("v2006_01", k)
		if err != nil {
			continue
		}
		m, err := s.readManifest(ctx, site, bs.Gen, month)
		if err != nil {
			return res, err
		}
		// The documents holding the visitor anywhere, then every hour that
		// lists one of them, rewritten without the visitor; then those
		// documents go.
		listed := map[string]bool{}
		for f, ids := range m {
			if strings.HasPrefix(f, "h") {
				for _, id := range ids {
					listed[id] = true
				}
			}
		}
		var all []string
		for id := range listed {
			all = append(all, id)
		}
		blocks, err := s.fetchParts(ctx, site, bs.Gen, all)
		if err != nil {
			return res, err
		}
		holds := map[string]bool{}
		for i, b := range blocks {
			if slices.Contains(b.Visitors, visitor) {
				holds[all[i]] = true
			}
		}
		if len(holds) == 0 {
			continue
		}
		for f, ids := range m {
			if !strings.HasPrefix(f, "h") || !slices.ContainsFunc(ids, func(id string) bool { return holds[id] }) {
				continue
			}
			n, err := s.forgetHour(ctx, site, bs.Gen, month, m, f, ids, visitor)
			if err != nil {
				return res, err
			}
			res.Rows += int64(n)
			res.Hours++
		}
		for id := range holds {
			c := s.db.Collection(blocksCollName(bs.Gen, site, month))
			if isPart(id) {
				c = s.db.Collection(partsCollName(bs.Gen, site, month))
			}
			octx, cancel := op(ctx)
			_, err := c.DeleteOne(octx, bson.D{{Key: "_id", Value: id}})
			cancel()
			if err != nil {
				return res, classify("mongodb: delete the visitor's old event block", err)
			}
		}
	}
	return res, nil
}

// forgetHour rewrites the documents ids of hour field f without the rows
// of visitor, returning how many rows it removed.
func (s *Store) forgetHour(ctx context.Context, site string, gen int64, month time.Time, m manifest, f string, ids []string, visitor uint64) (int, error) {
	parts, err := s.fetchParts(ctx, site, gen, ids)
	if err != nil {
		return 0, err
	}
	hour := fieldHour(month, f)
	lo := hour.UnixMilli()
	removed := 0
	bld := block.NewBuilder(hour)
	var kept []*block.Block
	props := map[string]string{}
	for _, p := range parts {
		for r := range p.Len() {
			if ms := p.Millis(r); ms < lo || ms >= lo+3600_000 {
				continue // another hour's row of a part spanning several
			}
			v := p.Visitors[p.Visitor[r]]
			if v == visitor {
				removed++
				continue
			}
			if bld.Full() {
				kept = append(kept, bld.Block())
				bld = block.NewBuilder(hour)
			}
			var vals [block.NumCols]string
			for c := range block.NumCols {
				vals[c] = p.Value(c, r)
			}
			clear(props)
			for i, k := range p.PropKeys {
				if x := p.Props[i][r]; x != 0 {
					props[k] = p.PropDicts[i][x]
				}
			}
			var pos uint64
			if p.Pos != nil {
				pos = p.Pos[r]
			}
			bld.Add(p.Millis(r), v, vals, props, pos)
		}
	}
	if bld.Len() > 0 {
		kept = append(kept, bld.Block())
	}
	merged := block.Merge(hour, kept)
	if err := s.swapHour(ctx, site, gen, month, m, f, ids, merged); err != nil {
		return 0, err
	}
	return removed, nil
}

// Rebuildable returns an error of kind Invalid when a rebuild of site
// would lose counts: retention deleted (or may have deleted) its raw
// events before its horizon, and a rebuild recomputes every hour from the
// raw events left.
func (s *Store) Rebuildable(ctx context.Context, site string) error {
	h, err := s.Horizon(ctx, site)
	if err != nil {
		return err
	}
	if !h.IsZero() {
		return analytics.Errorf(analytics.Invalid, "retention deleted the raw events of %s before %s, so a rebuild would lose the counts of those days; its event blocks are left as they are",
			site, h.Format(analytics.DateLayout))
	}
	return nil
}
