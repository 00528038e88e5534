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
	"github.com/siteanalytics/analytics/rollup"
	"github.com/siteanalytics/analytics/sketch"
)

// Rollup documents of one (site, period), period being a UTC day or "all":
//
//	<scope>|<period>        main: totals (h: per hour on days), hll, the leaders of each dimension, the
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
	WM   string                      `bson:"wm"`
	CU   string                      `bson:"cu"` // home counters, see counterMap
	C    map[string]map[string]int64 `bson:"c"`  // home counts of earlier versions: dim -> hash -> count
	Keys int                         `bson:"keys"`
	Top  map[string]string           `bson:"top"` // dim -> leaders, see encodeTop
	H    string                      `bson:"h"`   // hours of a day, see hours
	HLL  []byte                      `bson:"hll"` // distinct-visitor sketch (day and month)
}

type shardDoc struct {
	WM   string                      `bson:"wm"`
	CU   string                      `bson:"cu"` // see counterMap
	C    map[string]map[string]int64 `bson:"c"`  // counts of earlier versions
	Keys int                         `bson:"keys"`
	O    map[string]int64            `bson:"o"`  // dim -> count beyond capacity
	OU   map[string]int64            `bson:"ou"` // dim -> visitors beyond capacity
	OV   string                      `bson:"ov"` // dim -> visit counters beyond capacity, see otherVisits
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
	switch {
	case rollup.IsDay(r.period):
		d = append(d, bson.E{Key: "day", Value: r.period})
	case r.period != allPeriod:
		// Not "day": a day field in the rollups collection marks the day
		// documents of an earlier version (see detectLegacyDays).
		d = append(d, bson.E{Key: "month", Value: r.period})
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

// firstFunc reports whether counted event c is the first of its visitor in
// a sight of rollup r (see rollup.Of).
type firstFunc func(r rollupRef, c counted, sight rollup.Sight) bool

// applyRollups adds the events to every rollup they touch: first each shard
// (collecting the counts its values reach), then each main document. A
// crash between the two is harmless: the retry finds the shards applied,
// reads the counts they reached, and applies the main documents.
func (s *Store) applyRollups(ctx context.Context, partition int, byRollup map[rollupRef][]counted, first firstFunc, mode applyMode) error {
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
		g.Go(func() error { return s.applyRollup(gctx, partition, ref, byRollup[ref], first, mode) })
	}
	return g.Wait()
}

// shardItem is what one entry adds to one per-value counter.
type shardItem struct {
	ek  string
	key rollup.Key
	c   rollup.Counter
}

type shardResult struct {
	counts map[rollup.Key]rollup.Counter // counters each tracked value of the batch reached
	other  map[string]rollup.Counter     // the shard's (other) counters per dimension
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

// counterMap holds the per-value counters of a rollup document, stored as
// one JSON string {"<dim>.<hash>": [count, visitors, visits, bounces,
// visit seconds, visit page views], ...} (trailing zeros left out; earlier
// versions wrote the first two) and rewritten
// whole by each update, rather than as a sub-document with a field per
// value: FerretDB keeps a type schema beside every field and re-parses the
// whole document for each write, so hundreds of small fields cost it many
// times what one string does (measured: most of a batch's rollup time). The
// write is still exactly once: it is a compare-and-set on the watermark,
// by the partition's one fenced writer, like the rest of the document.
type counterMap map[string]cell

// cell is one value's counters in a counterMap.
type cell [6]int64

func cellOf(c rollup.Counter) cell {
	return cell{c.Count, c.Visitors, c.Visits, c.Bounces, c.Duration, c.VisitViews}
}

func (v cell) counter() rollup.Counter {
	return rollup.Counter{Count: v[0], Visitors: v[1], VisitCounts: rollup.VisitCounts{Visits: v[2], Bounces: v[3], Duration: v[4], VisitViews: v[5]}}
}

// encode writes m as JSON, keys in order, each cell without its trailing
// zeros (but at least two numbers).
func (m counterMap) encode() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := make([]byte, 0, 32*len(m)+2)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k) // dimension names and hex digits: plain ASCII
		b = append(b, ':', '[')
		v := m[k]
		n := len(v)
		for n > 2 && v[n-1] == 0 {
			n--
		}
		for j := 0; j < n; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, v[j], 10)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	return string(b)
}

// decodeCounters reads cu, or the c sub-document earlier versions wrote.
func decodeCounters(cu string, c map[string]map[string]int64) (counterMap, error) {
	m := counterMap{}
	if cu != "" {
		if err := json.Unmarshal([]byte(cu), &m); err != nil {
			return nil, analytics.Wrap(analytics.Internal, "mongodb: unreadable rollup counters", err)
		}
	}
	for dim, hs := range c {
		for h, n := range hs {
			m[dim+"."+h] = cell{n}
		}
	}
	return m, nil
}

func (m counterMap) get(k rollup.Key) (rollup.Counter, bool) {
	v, ok := m[k.Dim+"."+k.Hash()]
	return v.counter(), ok
}

// add adds inc to m and returns m encoded.
func (m counterMap) add(inc map[rollup.Key]rollup.Counter) string {
	for k, c := range inc {
		f := k.Dim + "." + k.Hash()
		v := m[f].counter()
		v.Add(c)
		m[f] = cellOf(v)
	}
	return m.encode()
}

// otherVisits are the visit counters of the values beyond a document's
// capacity, per dimension, stored as one JSON string {"<dim>": [visits,
// bounces, seconds, page views]} and set whole by each compare-and-set
// update.
type otherVisits map[string][4]int64

func decodeOtherVisits(s string) otherVisits {
	m := otherVisits{}
	if s != "" {
		_ = json.Unmarshal([]byte(s), &m) // unreadable: the other counters still hold
	}
	return m
}

func (m otherVisits) get(dim string) rollup.VisitCounts {
	v := m[dim]
	return rollup.VisitCounts{Visits: v[0], Bounces: v[1], Duration: v[2], VisitViews: v[3]}
}

func (m otherVisits) encode() string {
	b, _ := json.Marshal(m) // strings and integers always encode
	return string(b)
}

// otherVisitsOf encodes the visit counters of other.
func otherVisitsOf(other map[string]rollup.Counter) string {
	m := otherVisits{}
	for d, c := range other {
		if c.VisitCounts != (rollup.VisitCounts{}) {
			m[d] = [4]int64{c.Visits, c.Bounces, c.Duration, c.VisitViews}
		}
	}
	return m.encode()
}

// applyShard adds items to overflow shard n of ref; values beyond the
// shard's capacity are counted under (other).
func (s *Store) applyShard(ctx context.Context, partition int, ref rollupRef, n int, items []shardItem, mode applyMode) (shardResult, error) {
	id := ref.shardID(n)
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		var cur shardDoc
		coll := s.shardColl(ref.period)
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&cur)
		exists := err == nil
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return shardResult{}, transientErr("mongodb: read rollup shard", err)
		}
		if !exists {
			if copied, err := s.adoptLegacy(ctx, ref.period, s.shards, coll, id); err != nil || copied {
				if err != nil {
					return shardResult{}, err
				}
				continue
			}
		}
		cm, err := decodeCounters(cur.CU, cur.C)
		if err != nil {
			return shardResult{}, err
		}
		inc := map[rollup.Key]rollup.Counter{}
		other := map[string]rollup.Counter{}
		keys := cur.Keys
		last := cur.WM
		for _, it := range items {
			if mode == guarded && !newer(partition, it.ek, cur.WM) {
				continue
			}
			if later(it.ek, last) {
				last = it.ek
			}
			_, present := cm.get(it.key)
			if c, ok := inc[it.key]; present || ok {
				c.Add(it.c)
				inc[it.key] = c
				continue
			}
			if keys >= rollup.ShardKeys {
				o := other[it.key.Dim]
				o.Add(it.c)
				other[it.key.Dim] = o
				continue
			}
			keys++
			inc[it.key] = it.c
		}
		res := shardResult{counts: map[rollup.Key]rollup.Counter{}, other: map[string]rollup.Counter{}}
		for _, it := range items {
			if c, ok := cm.get(it.key); ok {
				res.counts[it.key] = c
			}
		}
		for d, n := range cur.O {
			res.other[d] = rollup.Counter{Count: n, Visitors: cur.OU[d]}
		}
		for d, n := range cur.OU {
			if _, ok := cur.O[d]; !ok {
				res.other[d] = rollup.Counter{Visitors: n}
			}
		}
		for d := range decodeOtherVisits(cur.OV) {
			o := res.other[d]
			o.VisitCounts = decodeOtherVisits(cur.OV).get(d)
			res.other[d] = o
		}
		if len(inc) == 0 && len(other) == 0 {
			return res, nil // applied before
		}
		for k, c := range inc {
			r := res.counts[k]
			r.Add(c)
			res.counts[k] = r
		}
		for d, c := range other {
			r := res.other[d]
			r.Add(c)
			res.other[d] = r
		}
		if !exists {
			o, ou := otherDocs(other)
			doc := append(ref.base(id), bson.E{Key: "cu", Value: cm.add(inc)},
				bson.E{Key: "keys", Value: keys}, bson.E{Key: "o", Value: o}, bson.E{Key: "ou", Value: ou},
				bson.E{Key: "ov", Value: otherVisitsOf(res.other)}, bson.E{Key: "wm", Value: last})
			octx, cancel := op(ctx)
			_, err := coll.InsertOne(octx, doc)
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
		for d, c := range other {
			incs = append(incs, bson.E{Key: "o." + d, Value: c.Count}, bson.E{Key: "ou." + d, Value: c.Visitors})
		}
		set := bson.D{{Key: "wm", Value: last}, {Key: "cu", Value: cm.add(inc)}}
		if ov := otherVisitsOf(res.other); ov != cur.OV && (ov != "{}" || cur.OV != "") {
			set = append(set, bson.E{Key: "ov", Value: ov})
		}
		update := bson.D{{Key: "$inc", Value: incs}, {Key: "$set", Value: set}}
		if cur.C != nil {
			update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "c", Value: ""}}})
		}
		octx, cancel := op(ctx)
		r, err := coll.UpdateOne(octx, s.casFilter(id, cur.WM), update)
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

func otherDocs(other map[string]rollup.Counter) (bson.M, bson.M) {
	o, ou := bson.M{}, bson.M{}
	for d, c := range other {
		o[d] = c.Count
		ou[d] = c.Visitors
	}
	return o, ou
}

// applyRollup adds the events cs to one rollup: its main document, which
// also holds the home counters (the first ShardKeys distinct values), and the
// overflow shards of values that arrived after the home was full. What each
// event adds is rollup.Of's to say; this only routes and persists it. The
// overflow shards are written first and report the absolute counters their
// values reached; the main document last, with a compare-and-set on its
// watermark. A value is in the home counters exactly when it was first seen
// while they had room, which never changes (they only fill up), so a retry
// routes every item the same way; a crash between the writes is harmless.
func (s *Store) applyRollup(ctx context.Context, partition int, ref rollupRef, cs []counted, first firstFunc, mode applyMode) error {
	id := ref.mainID()
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		if err := s.stage("rollup"); err != nil {
			return err
		}
		var cur mainDoc
		coll := s.mainColl(ref.period)
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "wm", Value: 1}, {Key: "top", Value: 1}, {Key: "cu", Value: 1}, {Key: "c", Value: 1},
				{Key: "h", Value: 1}, {Key: "keys", Value: 1}, {Key: "hll", Value: 1}})).Decode(&cur)
		exists := err == nil
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return transientErr("mongodb: read rollup", err)
		}
		if !exists {
			if copied, err := s.adoptLegacy(ctx, ref.period, s.rollups, coll, id); err != nil || copied {
				if err != nil {
					return err
				}
				continue
			}
		}
		cm, err := decodeCounters(cur.CU, cur.C)
		if err != nil {
			return err
		}
		var sum rollup.Sum
		var items, before []shardItem
		last := cur.WM
		for _, c := range cs {
			d := rollup.Of(c.ev, ref.period, func(sg rollup.Sight) bool { return first(ref, c, sg) })
			fresh := mode == unguarded || newer(partition, c.ek, cur.WM)
			for _, kd := range d.Keys {
				it := shardItem{c.ek, kd.Key, kd.Counter}
				if fresh {
					items = append(items, it)
				} else {
					before = append(before, it)
				}
			}
			if !fresh {
				continue
			}
			sum.Add(d)
			if later(c.ek, last) {
				last = c.ek
			}
		}
		if sum.Events == 0 {
			return nil // applied before, overflow shards included
		}
		inc := map[rollup.Key]rollup.Counter{}
		keys := cur.Keys
		overflow := map[int][]shardItem{}
		for _, it := range before {
			if _, present := cm.get(it.key); !present {
				overflow[1+it.key.Shard()] = append(overflow[1+it.key.Shard()], it) // where it went when applied
			}
		}
		for _, it := range items {
			_, present := cm.get(it.key)
			if c, ok := inc[it.key]; present || ok {
				c.Add(it.c)
				inc[it.key] = c
				continue
			}
			if keys < rollup.ShardKeys {
				keys++
				inc[it.key] = it.c
				continue
			}
			overflow[1+it.key.Shard()] = append(overflow[1+it.key.Shard()], it)
		}
		reached := map[string]map[string]rollup.Counter{} // dim -> value -> counters
		reach := func(k rollup.Key, c rollup.Counter) {
			if reached[k.Dim] == nil {
				reached[k.Dim] = map[string]rollup.Counter{}
			}
			reached[k.Dim][k.Value] = c
		}
		for _, its := range [2][]shardItem{before, items} {
			for _, it := range its {
				if c, ok := cm.get(it.key); ok {
					c.Add(inc[it.key])
					reach(it.key, c)
				} else if c, ok := inc[it.key]; ok {
					reach(it.key, c)
				}
			}
		}
		others, err := s.applyOverflow(ctx, partition, ref, overflow, mode, reach)
		if err != nil {
			return err
		}
		set := bson.D{{Key: "wm", Value: last}}
		top := bson.M{}
		for dim, changed := range reached {
			t := encodeTop(rollup.MergeTop(dim, decodeTop(cur.Top[dim]), changed, rollup.TopKeys))
			top[dim] = t
			if t != cur.Top[dim] {
				set = append(set, bson.E{Key: "top." + dim, Value: t})
			}
		}
		var hll []byte
		if ref.period != allPeriod && len(sum.NewVisitors) > 0 {
			if hll, err = sketch.Add(cur.HLL, sum.NewVisitors); err != nil {
				// An unreadable sketch only costs approximate answers
				// their precision: start it again.
				if hll, err = sketch.Add(nil, sum.NewVisitors); err != nil {
					return analytics.Wrap(analytics.Internal, "rollup sketch", err)
				}
			}
			set = append(set, bson.E{Key: "hll", Value: hll})
		}
		if !exists {
			other, otheru, otherv := bson.M{}, bson.M{}, bson.M{}
			for n, o := range others {
				other[strconv.Itoa(n)], otheru[strconv.Itoa(n)] = otherDocs(o)
				otherv[strconv.Itoa(n)] = otherVisitsOf(o)
			}
			doc := append(ref.base(id),
				bson.E{Key: "views", Value: sum.Views}, bson.E{Key: "events", Value: sum.Events}, bson.E{Key: "uniques", Value: sum.Visitors},
				bson.E{Key: "vdays", Value: sum.VisitorDays}, bson.E{Key: "cu", Value: cm.add(inc)}, bson.E{Key: "keys", Value: keys},
				bson.E{Key: "top", Value: top}, bson.E{Key: "other", Value: other}, bson.E{Key: "otheru", Value: otheru}, bson.E{Key: "wm", Value: last})
			if sum.VisitCounts != (rollup.VisitCounts{}) {
				doc = append(doc, bson.E{Key: "visits", Value: sum.Visits}, bson.E{Key: "bounces", Value: sum.Bounces},
					bson.E{Key: "vdur", Value: sum.Duration}, bson.E{Key: "vviews", Value: sum.VisitViews})
			}
			if len(others) > 0 {
				doc = append(doc, bson.E{Key: "otherv", Value: otherv})
			}
			if hll != nil {
				doc = append(doc, bson.E{Key: "hll", Value: hll})
			}
			if rollup.IsDay(ref.period) {
				doc = append(doc, bson.E{Key: "h", Value: addHours("", &sum)})
			}
			octx, cancel := op(ctx)
			_, err := coll.InsertOne(octx, doc)
			cancel()
			if mongo.IsDuplicateKeyError(err) {
				continue
			}
			return transientErr("mongodb: insert rollup", err)
		}
		incs := bson.D{{Key: "views", Value: sum.Views}, {Key: "events", Value: sum.Events}, {Key: "uniques", Value: sum.Visitors},
			{Key: "vdays", Value: sum.VisitorDays}}
		if keys != cur.Keys {
			incs = append(incs, bson.E{Key: "keys", Value: keys - cur.Keys})
		}
		if sum.VisitCounts != (rollup.VisitCounts{}) {
			incs = append(incs, bson.E{Key: "visits", Value: sum.Visits}, bson.E{Key: "bounces", Value: sum.Bounces},
				bson.E{Key: "vdur", Value: sum.Duration}, bson.E{Key: "vviews", Value: sum.VisitViews})
		}
		set = append(set, bson.E{Key: "cu", Value: cm.add(inc)})
		if rollup.IsDay(ref.period) {
			set = append(set, bson.E{Key: "h", Value: addHours(cur.H, &sum)})
		}
		for n, o := range others {
			// Absolute values read from the shard: setting them again is
			// harmless, which keeps the retry after a crash exact.
			od, oud := otherDocs(o)
			set = append(set, bson.E{Key: "other." + strconv.Itoa(n), Value: od}, bson.E{Key: "otheru." + strconv.Itoa(n), Value: oud},
				bson.E{Key: "otherv." + strconv.Itoa(n), Value: otherVisitsOf(o)})
		}
		update := bson.D{{Key: "$inc", Value: incs}, {Key: "$set", Value: set}}
		if cur.C != nil {
			update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "c", Value: ""}}})
		}
		octx, cancel := op(ctx)
		r, err := coll.UpdateOne(octx, s.casFilter(id, cur.WM), update)
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

// hours are the buckets of a day, stored as one JSON string of 24
// [views, events, visitors, visits, bounces, visit seconds, visit page
// views] (for the reason counterMap gives; earlier versions wrote the first
// three).
type hours [24][7]int64

func decodeHours(h string) hours {
	var out hours
	if h != "" {
		_ = json.Unmarshal([]byte(h), &out) // unreadable: the totals still hold
	}
	return out
}

// addHours returns the day's hours h with the batch's added.
func addHours(h string, sum *rollup.Sum) string {
	out := decodeHours(h)
	for i, b := range sum.Hours {
		out[i][0] += b.Views
		out[i][1] += b.Events
		out[i][2] += b.Visitors
		out[i][3] += b.Visits
		out[i][4] += b.Bounces
		out[i][5] += b.Duration
		out[i][6] += b.VisitViews
	}
	enc, _ := json.Marshal(out)
	return string(enc)
}

// applyOverflow applies the overflow items to their shards, a few at a time,
// calls reach with the counters each value reached, and returns each shard's
// (other) counters.
func (s *Store) applyOverflow(ctx context.Context, partition int, ref rollupRef, overflow map[int][]shardItem, mode applyMode, reach func(rollup.Key, rollup.Counter)) (map[int]map[string]rollup.Counter, error) {
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
	others := map[int]map[string]rollup.Counter{}
	for i, n := range shards {
		for k, c := range results[i].counts {
			reach(k, c)
		}
		others[n] = results[i].other
	}
	return others, nil
}

// encodeTop stores leaders as one JSON string, [["/a",12,3],["/b",7,2]]
// (value, count, visitors, and then visits, bounces, visit seconds and
// visit page views when any is not zero), rather than an array of documents: FerretDB
// decodes every document of a collection on each update, and one string
// costs it a fraction of a hundred small documents.
func encodeTop(top []rollup.Ranked) string {
	rows := make([][]any, len(top))
	for i, r := range top {
		row := []any{r.Value, r.Count, r.Visitors}
		if r.VisitCounts != (rollup.VisitCounts{}) {
			row = append(row, r.Visits, r.Bounces, r.Duration, r.VisitViews)
		}
		rows[i] = row
	}
	b, _ := json.Marshal(rows) // strings and integers always encode
	return string(b)
}

// decodeTop undoes encodeTop (and reads the [value, count] pairs of earlier
// versions); an empty or unreadable value is no leaders (the next write
// rebuilds them from the counts it reaches).
func decodeTop(s string) []rollup.Ranked {
	if s == "" {
		return nil
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil
	}
	out := make([]rollup.Ranked, 0, len(rows))
	for _, row := range rows {
		var r rollup.Ranked
		if len(row) < 2 || json.Unmarshal(row[0], &r.Value) != nil || json.Unmarshal(row[1], &r.Count) != nil {
			continue
		}
		if len(row) > 2 && json.Unmarshal(row[2], &r.Visitors) != nil {
			continue
		}
		if len(row) > 6 && (json.Unmarshal(row[3], &r.Visits) != nil || json.Unmarshal(row[4], &r.Bounces) != nil ||
			json.Unmarshal(row[5], &r.Duration) != nil || json.Unmarshal(row[6], &r.VisitViews) != nil) {
			continue
		}
		out = append(out, r)
	}
	return out
}
