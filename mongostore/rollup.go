package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/siteanalytics/analytics"
)

// Rollup documents of one (site, period), period being a UTC day or "all":
//
//	<scope>|<period>        main: totals, the leaders of each dimension, the
//	                        home counters (c.<dim>.<hash> of the first
//	                        ShardKeys values, keys), the (other) count of
//	                        each overflow shard, wm
//	<scope>|<period>|s<NN>  overflow shard NN, 1-16 (collection
//	                        rollup_shards): counters of
//	                        the values hashing to it (c.<dim>.<hash>), the
//	                        number of values (keys), the (other) count per
//	                        dimension (o.<dim>), wm. Values themselves are
//	                        kept only in the leaders: a batch knows the
//	                        values it counts.
//
// scope is the site id, or "<site>~<gen>" once a rebuild has switched the
// site to generation gen (see Rebuild). Every document has its own wm (the
// last queue entry applied to it) and is changed by compare-and-set on it.
// Writers are fenced (one writer per partition at a time, see the queue),
// which is what makes the compare-and-set safe on FerretDB, whose update is
// not atomic; on MongoDB it is a second line of defence.

type mainDoc struct {
	WM    string                      `bson:"wm"`
	C     map[string]map[string]int64 `bson:"c"` // home counters: dim -> hash -> count
	Keys  int                         `bson:"keys"`
	Top   map[string]string           `bson:"top"`   // dim -> leaders, see encodeTop
	Other map[string]map[string]int64 `bson:"other"` // shard -> dim -> count
}

type shardDoc struct {
	WM   string                      `bson:"wm"`
	C    map[string]map[string]int64 `bson:"c"` // dim -> hash -> count
	Keys int                         `bson:"keys"`
	O    map[string]int64            `bson:"o"` // dim -> count beyond capacity
}

// rollupRef names the documents of one (site, period) in one generation.
type rollupRef struct {
	site, period string // period: YYYY-MM-DD or "all"
	gen          int64
}

func scope(site string, gen int64) string {
	if gen == 0 {
		return site
	}
	return site + "~" + strconv.FormatInt(gen, 10)
}

func (r rollupRef) mainID() string { return scope(r.site, r.gen) + "|" + r.period }
func (r rollupRef) shardID(n int) string {
	return fmt.Sprintf("%s|%s|s%02d", scope(r.site, r.gen), r.period, n)
}

func (r rollupRef) base(id string) bson.D {
	d := bson.D{{Key: "_id", Value: id}, {Key: "site_id", Value: r.site}, {Key: "gen", Value: r.gen}}
	if r.period != allPeriod {
		d = append(d, bson.E{Key: "day", Value: r.period})
	}
	return d
}

const allPeriod = "all"

// counted is one event that counts, with the entry key that applies it.
type counted struct {
	ek string // entry key, "partition/id"
	ev *analytics.Event
}

// applyMode: the processor applies only entries newer than each document's
// watermark; a rebuild, the only writer of a fresh generation, applies all.
type applyMode int

const (
	guarded applyMode = iota
	unguarded
)

// maxCASRetries bounds the compare-and-set loop; with fenced writers it
// never retries at all.
const maxCASRetries = 10

// applyRollups adds the events to every rollup they touch: first each shard
// (collecting the counts its values reach), then each main document. A
// crash between the two is harmless: the retry finds the shards applied,
// reads the counts they reached, and applies the main documents.
func (s *Store) applyRollups(ctx context.Context, partition int, byRollup map[rollupRef][]counted, newUser func(r rollupRef, c counted) bool, mode applyMode) error {
	var refs []rollupRef
	for ref := range byRollup {
		refs = append(refs, ref)
	}
	// A fixed order of writes: the same batch always writes its documents in
	// the same sequence.
	sort.Slice(refs, func(i, j int) bool { return refs[i].mainID() < refs[j].mainID() })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, ref := range refs {
		g.Go(func() error { return s.applyRollup(gctx, partition, ref, byRollup[ref], newUser, mode) })
	}
	return g.Wait()
}

type shardItem struct {
	ek  string
	key analytics.Key
}

type shardResult struct {
	counts map[analytics.Key]int64 // count each tracked value of the batch reached
	other  map[string]int64        // the shard's (other) count per dimension
}

// newer reports whether the entry ek still has to be applied to a document
// whose watermark is wm.
func newer(partition int, ek, wm string) bool {
	if wm == "" {
		return true
	}
	wp, wid := splitEntryKey(wm)
	if wp != partition {
		return true
	}
	_, id := splitEntryKey(ek)
	return analytics.ComparePositions(id, wid) > 0
}

func later(a, b string) bool { // a after b, entry keys of one partition
	if b == "" {
		return true
	}
	_, ai := splitEntryKey(a)
	_, bi := splitEntryKey(b)
	return analytics.ComparePositions(ai, bi) > 0
}

// applyShard adds items to overflow shard n of ref; values beyond the
// shard's capacity are counted under (other).
func (s *Store) applyShard(ctx context.Context, partition int, ref rollupRef, n int, items []shardItem, mode applyMode) (shardResult, error) {
	id := ref.shardID(n)
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		var cur shardDoc
		err := s.shards.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&cur)
		exists := err == nil
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return shardResult{}, transientErr("mongodb: read rollup shard", err)
		}
		has := func(k analytics.Key) (int64, bool) {
			n, ok := cur.C[k.Dim][k.Hash()]
			return n, ok
		}
		inc := map[analytics.Key]int64{}
		other := map[string]int64{}
		keys := cur.Keys
		last := cur.WM
		for _, it := range items {
			if mode == guarded && !newer(partition, it.ek, cur.WM) {
				continue
			}
			if later(it.ek, last) {
				last = it.ek
			}
			if _, ok := has(it.key); ok || inc[it.key] > 0 {
				inc[it.key]++
				continue
			}
			if keys >= analytics.ShardKeys {
				other[it.key.Dim]++
				continue
			}
			keys++
			inc[it.key]++
		}
		res := shardResult{counts: map[analytics.Key]int64{}, other: map[string]int64{}}
		for _, it := range items {
			if n, ok := has(it.key); ok {
				res.counts[it.key] = n
			}
		}
		for d, n := range cur.O {
			res.other[d] = n
		}
		if len(inc) == 0 && len(other) == 0 {
			return res, nil // applied before
		}
		for k, n := range inc {
			res.counts[k] += n
		}
		for d, n := range other {
			res.other[d] += n
		}
		if !exists {
			doc := append(ref.base(id), bson.E{Key: "c", Value: counterDoc(inc)},
				bson.E{Key: "keys", Value: keys}, bson.E{Key: "o", Value: other}, bson.E{Key: "wm", Value: last})
			octx, cancel := op(ctx)
			_, err := s.shards.InsertOne(octx, doc)
			cancel()
			if mongo.IsDuplicateKeyError(err) {
				continue
			}
			if err != nil {
				return shardResult{}, transientErr("mongodb: insert rollup shard", err)
			}
			return res, nil
		}
		incs := bson.D{{Key: "keys", Value: keys - cur.Keys}}
		incs = appendCounterIncs(incs, inc)
		for d, n := range other {
			incs = append(incs, bson.E{Key: "o." + d, Value: n})
		}
		set := bson.D{{Key: "wm", Value: last}}
		octx, cancel := op(ctx)
		r, err := s.shards.UpdateOne(octx, bson.D{{Key: "_id", Value: id}, {Key: "wm", Value: cur.WM}},
			bson.D{{Key: "$inc", Value: incs}, {Key: "$set", Value: set}})
		cancel()
		if err != nil {
			return shardResult{}, transientErr("mongodb: update rollup shard", err)
		}
		if r.MatchedCount == 1 {
			return res, nil
		}
	}
	return shardResult{}, analytics.Errorf(analytics.Unavailable, "mongodb: rollup %q kept changing under a concurrent writer", id)
}

// applyRollup adds the events cs to one rollup: its main document, which
// also holds the home counters (the first ShardKeys distinct values), and the
// overflow shards of values that arrived after the home was full. The
// overflow shards are written first and report the absolute counts their
// values reached; the main document last, with a compare-and-set on its
// watermark. A value is in the home counters exactly when it was first seen
// while they had room, which never changes (they only fill up), so a retry
// routes every item the same way; a crash between the writes is harmless.
func (s *Store) applyRollup(ctx context.Context, partition int, ref rollupRef, cs []counted, newUser func(rollupRef, counted) bool, mode applyMode) error {
	id := ref.mainID()
	var items []shardItem
	for _, c := range cs {
		for _, k := range c.ev.Keys() {
			items = append(items, shardItem{c.ek, k})
		}
	}
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		if err := s.stage("rollup"); err != nil {
			return err
		}
		var cur mainDoc
		err := s.rollups.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "wm", Value: 1}, {Key: "top", Value: 1}, {Key: "c", Value: 1}, {Key: "keys", Value: 1}})).Decode(&cur)
		exists := err == nil
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return transientErr("mongodb: read rollup", err)
		}
		var t analytics.Totals
		last := cur.WM
		for _, c := range cs {
			if mode == guarded && !newer(partition, c.ek, cur.WM) {
				continue
			}
			t.Add(c.ev, newUser(ref, c))
			if later(c.ek, last) {
				last = c.ek
			}
		}
		if t.Events == 0 {
			return nil // applied before, overflow shards included
		}
		has := func(k analytics.Key) (int64, bool) {
			n, ok := cur.C[k.Dim][k.Hash()]
			return n, ok
		}
		inc := map[analytics.Key]int64{}
		keys := cur.Keys
		overflow := map[int][]shardItem{}
		for _, it := range items {
			_, present := has(it.key)
			if mode == guarded && !newer(partition, it.ek, cur.WM) {
				if !present {
					overflow[1+it.key.Shard()] = append(overflow[1+it.key.Shard()], it) // where it went when applied
				}
				continue
			}
			if present || inc[it.key] > 0 {
				inc[it.key]++
				continue
			}
			if keys < analytics.ShardKeys {
				keys++
				inc[it.key]++
				continue
			}
			overflow[1+it.key.Shard()] = append(overflow[1+it.key.Shard()], it)
		}
		reached := map[string]map[string]int64{} // dim -> value -> count
		reach := func(k analytics.Key, n int64) {
			if reached[k.Dim] == nil {
				reached[k.Dim] = map[string]int64{}
			}
			reached[k.Dim][k.Value] = n
		}
		for _, it := range items {
			if n, ok := has(it.key); ok {
				reach(it.key, n+inc[it.key])
			} else if n := inc[it.key]; n > 0 {
				reach(it.key, n)
			}
		}
		others, err := s.applyOverflow(ctx, partition, ref, overflow, mode, reach)
		if err != nil {
			return err
		}
		top := bson.M{}
		for _, dim := range []string{analytics.DimPath, analytics.DimType} {
			top[dim] = encodeTop(analytics.MergeTop(decodeTop(cur.Top[dim]), reached[dim], analytics.TopKeys))
		}
		if !exists {
			other := bson.M{}
			for n, o := range others {
				other[strconv.Itoa(n)] = o
			}
			doc := append(ref.base(id),
				bson.E{Key: "views", Value: t.Views}, bson.E{Key: "events", Value: t.Events}, bson.E{Key: "uniques", Value: t.Uniques},
				bson.E{Key: "c", Value: counterDoc(inc)}, bson.E{Key: "keys", Value: keys},
				bson.E{Key: "top", Value: top}, bson.E{Key: "other", Value: other}, bson.E{Key: "wm", Value: last})
			octx, cancel := op(ctx)
			_, err := s.rollups.InsertOne(octx, doc)
			cancel()
			if mongo.IsDuplicateKeyError(err) {
				continue
			}
			return transientErr("mongodb: insert rollup", err)
		}
		incs := bson.D{{Key: "views", Value: t.Views}, {Key: "events", Value: t.Events}, {Key: "uniques", Value: t.Uniques}}
		if keys != cur.Keys {
			incs = append(incs, bson.E{Key: "keys", Value: keys - cur.Keys})
		}
		incs = appendCounterIncs(incs, inc)
		set := bson.D{{Key: "wm", Value: last}, {Key: "top", Value: top}}
		for n, o := range others {
			// Absolute values read from the shard: setting them again is
			// harmless, which keeps the retry after a crash exact.
			set = append(set, bson.E{Key: "other." + strconv.Itoa(n), Value: o})
		}
		octx, cancel := op(ctx)
		r, err := s.rollups.UpdateOne(octx, bson.D{{Key: "_id", Value: id}, {Key: "wm", Value: cur.WM}},
			bson.D{{Key: "$inc", Value: incs}, {Key: "$set", Value: set}})
		cancel()
		if err != nil {
			return transientErr("mongodb: update rollup", err)
		}
		if r.MatchedCount == 1 {
			return nil
		}
	}
	return analytics.Errorf(analytics.Unavailable, "mongodb: rollup %q kept changing under a concurrent writer", id)
}

// applyOverflow applies the overflow items to their shards, a few at a time,
// calls reach with the count each value reached, and returns each shard's
// (other) counts.
func (s *Store) applyOverflow(ctx context.Context, partition int, ref rollupRef, overflow map[int][]shardItem, mode applyMode, reach func(analytics.Key, int64)) (map[int]map[string]int64, error) {
	if len(overflow) == 0 {
		return nil, nil
	}
	shards := make([]int, 0, len(overflow))
	for n := range overflow {
		shards = append(shards, n)
	}
	sort.Ints(shards)
	results := make([]shardResult, len(shards))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, n := range shards {
		g.Go(func() error {
			if err := s.stage("rollup"); err != nil {
				return err
			}
			r, err := s.applyShard(gctx, partition, ref, n, overflow[n], mode)
			results[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	others := map[int]map[string]int64{}
	for i, n := range shards {
		for k, c := range results[i].counts {
			reach(k, c)
		}
		others[n] = results[i].other
	}
	return others, nil
}

// encodeTop stores leaders as one JSON string, [["/a",12],["/b",7]], rather
// than an array of documents: FerretDB decodes every document of a
// collection on each update, and one string costs it a fraction of a
// hundred small documents.
func encodeTop(top []analytics.Ranked) string {
	pairs := make([][2]any, len(top))
	for i, r := range top {
		pairs[i] = [2]any{r.Value, r.Count}
	}
	b, _ := json.Marshal(pairs) // strings and integers always encode
	return string(b)
}

// decodeTop undoes encodeTop; an empty or unreadable value is no leaders
// (the next write rebuilds them from the counts it reaches).
func decodeTop(s string) []analytics.Ranked {
	if s == "" {
		return nil
	}
	var pairs [][2]json.RawMessage
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil
	}
	out := make([]analytics.Ranked, 0, len(pairs))
	for _, p := range pairs {
		var r analytics.Ranked
		if json.Unmarshal(p[0], &r.Value) == nil && json.Unmarshal(p[1], &r.Count) == nil {
			out = append(out, r)
		}
	}
	return out
}

// counterDoc is the c field of a new rollup document: dim -> hash -> count.
func counterDoc(inc map[analytics.Key]int64) bson.M {
	c := bson.M{}
	for k, n := range inc {
		m, _ := c[k.Dim].(bson.M)
		if m == nil {
			m = bson.M{}
			c[k.Dim] = m
		}
		m[k.Hash()] = n
	}
	return c
}

// appendCounterIncs adds to an $inc the counters of inc, as c.<dim>.<hash>.
func appendCounterIncs(incs bson.D, inc map[analytics.Key]int64) bson.D {
	for k, n := range inc {
		incs = append(incs, bson.E{Key: "c." + k.Dim + "." + k.Hash(), Value: n})
	}
	return incs
}
