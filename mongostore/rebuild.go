package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/rollup"
)

// RebuildResult says what a rebuild found.
type RebuildResult struct {
	Events     int   // raw events read
	Days       int   // distinct UTC days they fall on
	Generation int64 // the rollup generation the site now reads from
	Elapsed    time.Duration
}

// RebuildProgress is called as a rebuild goes: events read of about total.
type RebuildProgress func(read, total int)

// Rebuild recomputes a site's rollups and user documents from its raw
// events, safely to interrupt at any point and invisibly to readers: it
// builds them under a new generation that no reader or processor uses, and
// switches the site to it with one write at the end. An interrupted rebuild
// leaves the site exactly as it was (plus garbage the next rebuild removes).
// Memory is bounded by chunk: events are read and applied chunk events at a
// time.
//
// fence must be the hold of the site's partition (redisqueue.HoldPartition):
// every write runs under a context from it, so no processor writes for the
// site meanwhile and the rebuild stops writing the moment its hold is no
// longer certain.
func (s *Store) Rebuild(ctx context.Context, siteID string, fence analytics.Fence, chunk int, progress RebuildProgress) (RebuildResult, error) {
	start := time.Now()
	var res RebuildResult
	if !s.cfg.StoreEvents {
		return res, analytics.Errorf(analytics.Invalid, "rebuild needs the raw events, but this store keeps only their ids (STORE_EVENTS=false)")
	}
	if err := analytics.ValidateSiteID(siteID); err != nil {
		return res, err
	}
	if err := s.Rebuildable(ctx, siteID); err != nil {
		return res, err
	}
	if chunk <= 0 {
		chunk = 500
	}
	// Every database operation of a write step runs under the fence's
	// deadline current when it starts (see op).
	write := func(f func(ctx context.Context) error) error {
		if analytics.Fenced(ctx, fence) {
			return analytics.Wrap(analytics.Unavailable, "rebuild cut off", analytics.ErrFenced)
		}
		if err := f(analytics.WithFence(ctx, fence)); err != nil {
			if analytics.Fenced(ctx, fence) {
				return analytics.Wrap(analytics.Unavailable, "rebuild cut off", analytics.ErrFenced)
			}
			return err
		}
		return nil
	}

	cur, started, err := s.generation(ctx, siteID)
	if err != nil {
		return res, err
	}
	gen := max(cur, started) + 1
	if err := write(func(ctx context.Context) error {
		octx, cancel := op(ctx)
		defer cancel()
		_, err := s.gens.UpdateOne(octx, bson.D{{Key: "_id", Value: siteID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "next", Value: gen}, {Key: "gen", Value: cur}}}},
			options.UpdateOne().SetUpsert(true))
		return classify("mongodb: start rebuild generation", err)
	}); err != nil {
		return res, err
	}

	srcs, err := s.rawSources(ctx, siteID, time.Time{}, time.Time{})
	if err != nil {
		return res, err
	}
	var total int64
	for _, src := range srcs {
		n, err := src.Coll.CountDocuments(ctx, src.Filter)
		if err != nil {
			return res, classify("mongodb: count events", err)
		}
		total += n
	}
	report := func() {
		if progress != nil {
			progress(res.Events, int(max(total, int64(res.Events))))
		}
	}
	report()

	gens := map[string]int64{siteID: gen}
	last := ""
	apply := func(cs []counted) error {
		return write(func(ctx context.Context) error {
			created := map[string]bool{}
			creator, err := s.ensureSights(ctx, cs, gens, func(k string) { created[k] = true })
			if err != nil {
				return err
			}
			byRollup := map[rollupRef][]counted{}
			for _, c := range cs {
				for _, p := range rollup.PeriodsOf(c.ev) {
					r := rollupRef{siteID, p, gen}
					byRollup[r] = append(byRollup[r], c)
				}
			}
			// A visitor counts in a sight at the first event of this chunk
			// that created its document; documents from earlier chunks were
			// counted then.
			first := func(r rollupRef, c counted, sg rollup.Sight) bool {
				k := sightKey(r.site, r.gen, sg, c.ev.Visitor())
				return created[k] && creator[k] == c.ek
			}
			return s.applyRollups(ctx, -1, byRollup, first, unguarded)
		})
	}

	// In time order (a site's months in order, each sorted): visit
	// dimensions attribute a visitor to their first event of a period, and
	// time order is the order the pipeline sees one browser's events in.
	evs := make([]analytics.Event, 0, chunk)
	eks := make([]string, 0, chunk)
	days := map[string]bool{}
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		for i := range evs {
			days[evs[i].Timestamp.UTC().Format(analytics.DateLayout)] = true
		}
		res.Days = len(days)
		cs := make([]counted, len(evs))
		for i := range evs {
			cs[i] = counted{ek: eks[i], ev: &evs[i]}
		}
		if err := apply(cs); err != nil {
			return err
		}
		res.Events += len(evs)
		report()
		evs, eks = evs[:0], eks[:0]
		return nil
	}
	err = s.eachRaw(ctx, srcs, chunk, func(doc *rawEvent) error {
		ek := doc.Entry
		if ek == "" {
			ek = "raw/" + doc.ID
		} else if later(ek, last) {
			last = ek
		}
		ev, err := doc.event()
		if err != nil {
			return err
		}
		evs = append(evs, ev)
		eks = append(eks, ek)
		if len(evs) == chunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if err := flush(); err != nil {
		return res, err
	}

	// Every document of the new generation gets the newest entry applied as
	// its watermark, so entries the processors replay after the rebuild
	// count only when they are newer.
	if err := write(func(ctx context.Context) error {
		colls, err := s.rollupColls(ctx)
		if err != nil {
			return err
		}
		for _, c := range colls {
			octx, cancel := op(ctx)
			_, err := c.UpdateMany(octx, bson.D{{Key: "site_id", Value: siteID}, {Key: "gen", Value: gen}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "wm", Value: last}}}})
			cancel()
			if err != nil {
				return classify("mongodb: set rebuild watermarks", err)
			}
		}
		return nil
	}); err != nil {
		return res, err
	}
	// The switch: one write, after which readers and processors use the
	// new generation.
	if err := write(func(ctx context.Context) error {
		octx, cancel := op(ctx)
		defer cancel()
		_, err := s.gens.UpdateOne(octx, bson.D{{Key: "_id", Value: siteID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "gen", Value: gen}}}})
		return classify("mongodb: switch rebuild generation", err)
	}); err != nil {
		return res, err
	}
	res.Generation = gen
	// Remove the generations nobody reads any more (earlier ones and those
	// of interrupted rebuilds). Failing here leaves garbage, not wrong
	// numbers; the next rebuild removes it.
	_ = write(func(ctx context.Context) error {
		old := bson.D{{Key: "site_id", Value: siteID}, {Key: "gen", Value: bson.D{{Key: "$ne", Value: gen}}}}
		colls, err := s.rollupColls(ctx)
		if err != nil {
			return err
		}
		for _, c := range append(colls, s.users) {
			octx, cancel := op(ctx)
			_, err := c.DeleteMany(octx, old)
			cancel()
			if err != nil {
				return err
			}
		}
		return nil
	})
	res.Elapsed = time.Since(start)
	return res, nil
}
