package mongostore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
)

// RebuildResult says what a rebuild found.
type RebuildResult struct {
	Events     int   // raw events read
	Days       int   // distinct UTC days they fall on
	Generation int64 // the block generation the site now reads from
	Elapsed    time.Duration
}

// RebuildProgress is called as a rebuild goes: events read of about total.
type RebuildProgress func(read, total int)

// Rebuild recomputes a site's event blocks from its raw events (a repair,
// or the upgrade from the rollups of earlier versions), safely to interrupt
// at any point and invisibly to readers: it writes a new generation that no
// reader or processor uses, compacts it, and switches the site to it with
// one write at the end. An interrupted rebuild leaves the site exactly as
// it was (plus collections of an unused generation, dropped by the next
// rebuild). Memory is bounded by chunk: events are read and written chunk
// events at a time.
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

	// A generation never used before, recorded as started first so that
	// no later rebuild reuses it.
	var doc struct {
		Gen  int64 `bson:"gen"`
		Next int64 `bson:"next"`
	}
	_ = s.db.Collection(blockSitesColl).FindOne(ctx, bson.D{{Key: "_id", Value: siteID}}).Decode(&doc)
	old, gen := doc.Gen, max(doc.Gen, doc.Next)+1
	if err := write(func(ctx context.Context) error {
		octx, cancel := op(ctx)
		defer cancel()
		_, err := s.db.Collection(blockSitesColl).UpdateOne(octx, bson.D{{Key: "_id", Value: siteID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "next", Value: gen}}}, {Key: "$setOnInsert", Value: bson.D{{Key: "gen", Value: old}}}},
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

	days := map[string]bool{}
	hours := map[time.Time]bool{}
	cover := map[int]string{} // partition -> newest entry read
	w := &blockWrite{site: siteID}
	n, chunks := 0, 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		id := strconv.Itoa(chunks) + "-0"
		if err := write(func(ctx context.Context) error {
			hs, err := s.writeSiteBlocks(ctx, gen, -1, id, id, w, false)
			for _, h := range hs {
				hours[h] = true
			}
			return err
		}); err != nil {
			return err
		}
		res.Events += n
		res.Days = len(days)
		report()
		w.parts = nil
		n = 0
		chunks++
		return nil
	}
	err = s.eachRaw(ctx, srcs, chunk, func(doc *rawEvent) error {
		if p, id := splitEntryKey(doc.Entry); p >= 0 {
			if c, ok := cover[p]; !ok || analytics.ComparePositions(id, c) > 0 {
				cover[p] = id
			}
		}
		ev, err := doc.event()
		if err != nil {
			return err
		}
		days[ev.Timestamp.UTC().Format(analytics.DateLayout)] = true
		pos := uint64(0)
		if doc.Entry != "" {
			pos = queuePlace(doc.Entry)
		}
		w.add(&ev, pos)
		n++
		if n == chunk {
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
	// Every hour compacted before the switch, so readers of the new
	// generation read one document per hour.
	sorted := make([]time.Time, 0, len(hours))
	for h := range hours {
		sorted = append(sorted, h)
	}
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	for _, h := range sorted {
		if err := write(func(ctx context.Context) error { return s.compactHour(ctx, hourRef{siteID, gen, h}) }); err != nil {
			return res, err
		}
		s.compactor.done(hourRef{siteID, gen, h})
	}
	// The switch: one write, after which readers and processors use the
	// new generation.
	if err := write(func(ctx context.Context) error {
		octx, cancel := op(ctx)
		defer cancel()
		rebuilt := bson.D{}
		for p, id := range cover {
			rebuilt = append(rebuilt, bson.E{Key: "p" + strconv.Itoa(p), Value: id})
		}
		_, err := s.db.Collection(blockSitesColl).UpdateOne(octx, bson.D{{Key: "_id", Value: siteID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "gen", Value: gen}, {Key: "rebuilt", Value: rebuilt}}}})
		return classify("mongodb: switch rebuild generation", err)
	}); err != nil {
		return res, err
	}
	res.Generation = gen
	// Drop the generations nobody reads any more. Failing here leaves
	// garbage, not wrong numbers; the next rebuild removes it.
	_ = write(func(ctx context.Context) error { return s.dropGenerations(ctx, siteID, gen) })
	res.Elapsed = time.Since(start)
	return res, nil
}

// dropGenerations drops the block collections of site's generations other
// than keep.
func (s *Store) dropGenerations(ctx context.Context, site string, keep int64) error {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return classify("mongodb: list collections", err)
	}
	for _, n := range names {
		gen, ok := blockCollGen(n, site)
		if !ok || gen == keep {
			continue
		}
		octx, cancel := op(ctx)
		err := s.db.Collection(n).Drop(octx)
		cancel()
		if err != nil {
			return classify("mongodb: drop "+n, err)
		}
	}
	return nil
}

// blockCollGen parses a parts or blocks collection name of site.
func blockCollGen(name, site string) (int64, bool) {
	if !strings.HasSuffix(name, "_"+site) {
		return 0, false
	}
	rest, ok := strings.CutPrefix(name, partsPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(name, blocksPrefix); !ok {
			return 0, false
		}
	}
	g, tail, ok := strings.Cut(rest, "_")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(g, 10, 64)
	// The month between generation and site ("2026_03"): check its
	// shape, so another site whose id ends like this one's is not taken.
	date := strings.TrimSuffix(tail, "_"+site)
	if _, derr := time.Parse("2006_01", date); err != nil || derr != nil {
		return 0, false
	}
	return n, true
}
