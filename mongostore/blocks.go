package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
	"github.com/siteanalytics/analytics/enrich"
)

// Event blocks: the events in the compact form answers are computed from
// (package block, package engine).
//
// For each queue batch, the events it stored first are written as one part
// per (site, UTC hour): an immutable document whose _id is
// "<hour>|p<partition>|<first entry>|<last entry>" of the batch, so a
// redelivered batch writes the identical part under the same _id, and a
// resent event (a duplicate) is in no part. Parts go to a collection per
// site and UTC month, bparts_<gen>_YYYY_MM_<site>: a batch of one site
// writes one InsertMany per month it touches.
//
// Once an hour is closed, the processor compacts it: its parts merge into
// one document (or a few, at block.MaxRows rows each) in the site's month
// collection, blocks_<gen>_YYYY_MM_<site>, with _id "<hour>|c<nanos>|<i>".
// When every hour of a closed month is compacted, its parts collection is
// dropped whole: on FerretDB v1.24 dropping a collection costs under a
// millisecond where deleting documents scans the table. Until then the
// compacted parts stay beside the compacted hours, unlisted: readers only
// read what the manifest lists.
//
// Which documents make up an hour is said by the site's manifest of the
// month (block_manifests, _id "<site>|<gen>|YYYY_MM", field h<DDHH>: the
// list of _ids); block_sites holds each site's generation and a version
// per month that every change of that month's manifest increments, so a
// reader reads a manifest again only when it changed. Every read is by
// _id: FerretDB v1.24 uses its primary key for a filter of exactly {_id}
// and scans the collection for any other.
//
// A compaction swaps an hour's list in one update, after the compacted
// document is written: a reader sees the parts or the compacted document,
// never both or neither (a reader that finds a listed document gone reads
// the manifest again). One writer at a time per site: the processor owning
// the site's partition, under its lease, and rebuild and forget under the
// same fence.
//
// A rebuild writes a new generation and switches the site to it with one
// update at the end, then drops the old generation's collections.
const (
	partsPrefix    = "bparts_"
	blocksPrefix   = "blocks_"
	manifestsColl  = "block_manifests"
	blockSitesColl = "block_sites"
	hourKeyLayout  = "2006010215"
)

// compactAfter is how long after an hour ends, and after the last part
// this process wrote to it, before the hour is compacted. A batch is
// redelivered (and its part written again) within a lease period of its
// owner's end; compacting only well after that keeps a redelivered part
// from coming back beside the compacted document that holds it.
var compactAfter = 10 * time.Minute

func partsCollName(gen int64, site string, t time.Time) string {
	return partsPrefix + strconv.FormatInt(gen, 10) + "_" + t.UTC().Format("2006_01") + "_" + site
}

func blocksCollName(gen int64, site string, month time.Time) string {
	return blocksPrefix + strconv.FormatInt(gen, 10) + "_" + month.UTC().Format("2006_01") + "_" + site
}

func manifestID(site string, gen int64, month time.Time) string {
	return site + "|" + strconv.FormatInt(gen, 10) + "|" + month.UTC().Format("2006_01")
}

func hourField(hour time.Time) string { return "h" + hour.UTC().Format("0215") }

func monthField(month time.Time) string { return "v" + month.UTC().Format("2006_01") }

// partID is the _id of the part a batch writes of a month, hour being
// its first hour.
func partID(hour time.Time, partition int, first, last string) string {
	return hour.UTC().Format(hourKeyLayout) + "|p" + strconv.Itoa(partition) + "|" + first + "|" + last
}

// parsePartID undoes partID (with or without the "|<i>" of a part's
// second and later documents); ok is false for a compacted document's _id.
func parsePartID(id string) (partition int, first, last string, ok bool) {
	f := strings.Split(id, "|")
	if (len(f) != 4 && len(f) != 5) || !strings.HasPrefix(f[1], "p") {
		return 0, "", "", false
	}
	p, err := strconv.Atoi(f[1][1:])
	return p, f[2], f[3], err == nil
}

// fieldHour is the hour of hour field f of month's manifest.
func fieldHour(month time.Time, f string) time.Time {
	h, err := time.Parse("0215", f[1:])
	if err != nil {
		return month
	}
	return time.Date(month.Year(), month.Month(), h.Day(), h.Hour(), 0, 0, 0, time.UTC)
}

// idHour is the hour an _id of a part or compacted document is of.
func idHour(id string) (time.Time, bool) {
	k, _, _ := strings.Cut(id, "|")
	t, err := time.Parse(hourKeyLayout, k)
	return t, err == nil
}

// partDoc is a part or a compacted hour as stored.
type partDoc struct {
	ID   string    `bson:"_id"`
	Hour time.Time `bson:"hour"`
	Rows int       `bson:"rows"`
	Data []byte    `bson:"d"`
}

// blockSite is a site's block_sites document.
type blockSite struct {
	Gen      int64
	Versions map[string]int64 // monthField -> version
	// Rebuilt is, per partition, the newest queue entry whose events the
	// rebuild that made Gen read from the raw events: a redelivered entry up
	// to it is in the blocks already.
	Rebuilt map[int]string
}

func (s *Store) readBlockSite(ctx context.Context, site string) (blockSite, error) {
	var doc bson.M
	err := s.db.Collection(blockSitesColl).FindOne(ctx, bson.D{{Key: "_id", Value: site}}).Decode(&doc)
	bs := blockSite{Versions: map[string]int64{}, Rebuilt: map[int]string{}}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return bs, nil
	}
	if err != nil {
		return bs, transientErr("mongodb: read block site", err)
	}
	for k, v := range doc {
		n, _ := asInt64(v)
		switch {
		case k == "gen":
			bs.Gen = n
		case strings.HasPrefix(k, "v"):
			bs.Versions[k] = n
		case k == "rebuilt":
			if d, ok := v.(bson.D); ok {
				for _, e := range d {
					if p, err := strconv.Atoi(strings.TrimPrefix(e.Key, "p")); err == nil {
						bs.Rebuilt[p], _ = e.Value.(string)
					}
				}
			} else if d, ok := v.(bson.M); ok {
				for k, e := range d {
					if p, err := strconv.Atoi(strings.TrimPrefix(k, "p")); err == nil {
						bs.Rebuilt[p], _ = e.(string)
					}
				}
			}
		}
	}
	return bs, nil
}

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		return int64(x), true
	}
	return 0, false
}

// manifest is one month of a site's hours: hourField -> _ids, and for
// compacted hours the entries of each partition whose parts they merged
// (coverField -> partition -> [first, last]).
type manifest map[string][]string

func coverField(hourField string) string { return "c" + hourField[1:] }

// covered reports whether the parts a compaction merged into hour field f
// include the part of partition p for the batch first..last.
func (m manifest) covered(f string, p int, first, last string) bool {
	c := m[coverField(f)+"/"+strconv.Itoa(p)]
	return len(c) == 2 && analytics.ComparePositions(c[0], first) <= 0 && analytics.ComparePositions(last, c[1]) <= 0
}

func (s *Store) readManifest(ctx context.Context, site string, gen int64, month time.Time) (manifest, error) {
	var doc bson.M
	err := s.db.Collection(manifestsColl).FindOne(ctx, bson.D{{Key: "_id", Value: manifestID(site, gen, month)}}).Decode(&doc)
	m := manifest{}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return m, nil
	}
	if err != nil {
		return nil, transientErr("mongodb: read block manifest", err)
	}
	strs := func(v any) (out []string) {
		a, _ := v.(bson.A)
		for _, x := range a {
			if id, ok := x.(string); ok {
				out = append(out, id)
			}
		}
		return out
	}
	for k, v := range doc {
		switch {
		case strings.HasPrefix(k, "h"):
			m[k] = strs(v)
		case strings.HasPrefix(k, "c"):
			// Covers are sub-documents: "p<partition>" -> [first, last].
			switch d := v.(type) {
			case bson.M:
				for p, r := range d {
					m[k+"/"+strings.TrimPrefix(p, "p")] = strs(r)
				}
			case bson.D:
				for _, e := range d {
					m[k+"/"+strings.TrimPrefix(e.Key, "p")] = strs(e.Value)
				}
			}
		}
	}
	return m, nil
}

// blockWrite is what a batch writes for one site: a part per UTC month
// (one document however many hours the batch's events spread over), and
// the hours each holds rows of.
type blockWrite struct {
	site  string
	parts map[time.Time]*monthPart
}

type monthPart struct {
	events []*analytics.Event
	pos    []uint64
	hours  map[time.Time]bool
	first  time.Time // the earliest hour
}

// queuePlace is the Block.Pos of the event an entry key (entryKey) names:
// a redelivery of the entry, whatever its batch, gives the same.
func queuePlace(ek string) uint64 { return block.Hash("q|" + ek) }

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func (w *blockWrite) add(ev *analytics.Event, pos uint64) {
	if w.parts == nil {
		w.parts = map[time.Time]*monthPart{}
	}
	h := ev.Timestamp.UTC().Truncate(time.Hour)
	m := monthOf(h)
	p := w.parts[m]
	if p == nil {
		p = &monthPart{hours: map[time.Time]bool{}, first: h}
		w.parts[m] = p
	}
	p.events = append(p.events, ev)
	p.pos = append(p.pos, pos)
	p.hours[h] = true
	if h.Before(p.first) {
		p.first = h
	}
}

// blocks builds the part's blocks (more than one only past block.MaxRows).
func (p *monthPart) blocks() []*block.Block {
	var out []*block.Block
	b := block.NewBuilder(p.first)
	for i, ev := range p.events {
		if b.Full() {
			out = append(out, b.Block())
			b = block.NewBuilder(p.first)
		}
		b.AddEventAt(ev, p.pos[i])
	}
	return append(out, b.Block())
}

// writeBlocks writes the parts of the events cs (those this batch stored
// first) and lists them in the manifests. replay says the batch was
// applied before (some of its events were already stored by it): parts an
// earlier delivery wrote under a different grouping are then removed.
func (s *Store) writeBlocks(ctx context.Context, b analytics.Batch, cs []counted, replay bool) error {
	if len(cs) == 0 || len(b.Entries) == 0 {
		return nil
	}
	first, last := b.Entries[0].ID, b.Entries[len(b.Entries)-1].ID
	var sites []string
	bySite := map[string][]counted{}
	for _, c := range cs {
		if _, ok := bySite[c.ev.SiteID]; !ok {
			sites = append(sites, c.ev.SiteID)
		}
		bySite[c.ev.SiteID] = append(bySite[c.ev.SiteID], c)
	}
	// Sites are independent: their parts are written side by side, except
	// on FerretDB (see writers); then all their manifests and versions, in
	// two commands (each of a site after its parts, as a reader needs).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.writers())
	lists := make([][]manifestAdd, len(sites))
	for i, site := range sites {
		g.Go(func() error {
			bs, err := s.readBlockSite(gctx, site)
			if err != nil {
				return err
			}
			w := &blockWrite{site: site}
			for _, c := range bySite[site] {
				// A rebuild read the raw events of entries up to its
				// cover: a redelivery of one of them is in the blocks
				// already.
				if cover, ok := bs.Rebuilt[b.Partition]; ok {
					if _, id := splitEntryKey(c.ek); analytics.ComparePositions(id, cover) <= 0 {
						continue
					}
				}
				w.add(c.ev, queuePlace(c.ek))
			}
			if len(w.parts) == 0 {
				return nil
			}
			lists[i], err = s.writeSiteParts(gctx, bs.Gen, b.Partition, first, last, w, replay)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return s.listParts(ctx, slices.Concat(lists...))
}

// writers is how many sites' blocks a batch writes at once. FerretDB's
// SQLite backend takes one writer at a time and makes the others wait
// with sleeps: written side by side, a batch of 100 events over 7 sites
// took 130 ms instead of 42 ms one site after another.
func (s *Store) writers() int {
	if s.ferret {
		return 1
	}
	return 8
}

// writeSiteBlocks writes w's parts under generation gen, lists them in the
// manifests, and returns the hours written.
func (s *Store) writeSiteBlocks(ctx context.Context, gen int64, partition int, first, last string, w *blockWrite, replay bool) ([]time.Time, error) {
	adds, err := s.writeSiteParts(ctx, gen, partition, first, last, w, replay)
	if err != nil {
		return nil, err
	}
	if err := s.listParts(ctx, adds); err != nil {
		return nil, err
	}
	var hours []time.Time
	for _, a := range adds {
		hours = append(hours, a.hours...)
	}
	return hours, nil
}

// manifestAdd is a part written and not yet listed: its ids go under the
// fields of its hours in its site's month manifest.
type manifestAdd struct {
	site  string
	gen   int64
	month time.Time
	hours []time.Time
	ids   []string
}

// listParts lists written parts in their month manifests, then moves the
// months' versions on, so readers read those manifests again: one command
// each for every site of a batch (on FerretDB a command costs more than
// the small update it carries). Then the hours are due for compaction.
func (s *Store) listParts(ctx context.Context, adds []manifestAdd) error {
	if len(adds) == 0 {
		return nil
	}
	if err := s.stage("manifest"); err != nil {
		return transientErr("mongodb: manifest", err)
	}
	manifests := make([]mongo.WriteModel, len(adds))
	versions := make([]mongo.WriteModel, len(adds))
	for i, a := range adds {
		var set bson.D
		for _, h := range a.hours {
			set = append(set, bson.E{Key: hourField(h), Value: bson.D{{Key: "$each", Value: a.ids}}})
		}
		manifests[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: manifestID(a.site, a.gen, a.month)}}).
			SetUpdate(bson.D{{Key: "$addToSet", Value: set}}).SetUpsert(true)
		versions[i] = versionUpdate(a.site, a.gen, a.month)
	}
	if err := s.bulk(ctx, manifestsColl, manifests); err != nil {
		return transientErr("mongodb: update block manifests", err)
	}
	if err := s.bulk(ctx, blockSitesColl, versions); err != nil {
		return transientErr("mongodb: update block sites", err)
	}
	now := s.now()
	for _, a := range adds {
		s.compactor.wrote(a.site, a.gen, a.hours, now)
	}
	return nil
}

// versionUpdate moves site's version of month on.
func versionUpdate(site string, gen int64, month time.Time) mongo.WriteModel {
	return mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: site}}).
		SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: monthField(month), Value: int64(1)}}}, {Key: "$setOnInsert", Value: bson.D{{Key: "gen", Value: gen}}}}).
		SetUpsert(true)
}

// bulk applies models to coll in order, in one command.
func (s *Store) bulk(ctx context.Context, coll string, models []mongo.WriteModel) error {
	octx, cancel := op(ctx)
	defer cancel()
	_, err := s.db.Collection(coll).BulkWrite(octx, models, options.BulkWrite().SetOrdered(true))
	return err
}

// writeSiteParts writes w's parts under generation gen and returns what
// the manifests are to list of them (listParts).
func (s *Store) writeSiteParts(ctx context.Context, gen int64, partition int, first, last string, w *blockWrite, replay bool) ([]manifestAdd, error) {
	// On a redelivery, the month manifests say which hours a compaction
	// already merged this batch's part into (skip them). A part an earlier
	// delivery wrote under other batch bounds stays: its rows and this
	// part's share queue places (Block.Pos), and readers keep one of each.
	var adds []manifestAdd
	for month, p := range w.parts {
		var m manifest
		if replay {
			var err error
			if m, err = s.readManifest(ctx, w.site, gen, month); err != nil {
				return nil, err
			}
		}
		// The part is listed under every hour it has rows of, except those
		// a compaction already merged it into.
		var hours []time.Time
		for h := range p.hours {
			if m == nil || !m.covered(hourField(h), partition, first, last) {
				hours = append(hours, h)
			}
		}
		if len(hours) == 0 {
			continue
		}
		var docs []any
		var ids []string
		for i, blk := range p.blocks() {
			id := partID(p.first, partition, first, last)
			if i > 0 {
				id += "|" + strconv.Itoa(i)
			}
			ids = append(ids, id)
			docs = append(docs, partDoc{ID: id, Hour: p.first, Rows: blk.Len(), Data: block.Encode(blk)})
		}
		if err := s.insertParts(ctx, s.db.Collection(partsCollName(gen, w.site, month)), docs); err != nil {
			return nil, err
		}
		adds = append(adds, manifestAdd{site: w.site, gen: gen, month: month, hours: hours, ids: ids})
	}
	return adds, nil
}

// insertParts inserts part documents; one that exists already (this
// batch's earlier delivery) is replaced, which writes the same bytes.
func (s *Store) insertParts(ctx context.Context, c *mongo.Collection, docs []any) error {
	octx, cancel := op(ctx)
	_, err := c.InsertMany(octx, docs, options.InsertMany().SetOrdered(false))
	cancel()
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return transientErr("mongodb: insert event parts", err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != dupKey {
			return transientErr("mongodb: insert event parts", errors.New(we.Message))
		}
		d := docs[we.Index].(partDoc)
		octx, cancel := op(ctx)
		_, err := c.ReplaceOne(octx, bson.D{{Key: "_id", Value: d.ID}}, d)
		cancel()
		if err != nil {
			return transientErr("mongodb: rewrite event part", err)
		}
	}
	return nil
}

// updateManifest applies update to a month's manifest and moves the
// month's version on, so readers read the manifest again.
func (s *Store) updateManifest(ctx context.Context, site string, gen int64, month time.Time, update bson.D) error {
	octx, cancel := op(ctx)
	_, err := s.db.Collection(manifestsColl).UpdateOne(octx, bson.D{{Key: "_id", Value: manifestID(site, gen, month)}}, update, options.UpdateOne().SetUpsert(true))
	cancel()
	if err != nil {
		return transientErr("mongodb: update block manifest", err)
	}
	err = s.bulk(ctx, blockSitesColl, []mongo.WriteModel{versionUpdate(site, gen, month)})
	if err != nil {
		return transientErr("mongodb: update block site", err)
	}
	return nil
}

// covers returns, per partition, the entries the documents ids of hour
// field f cover: those of earlier compactions and of the parts.
func (m manifest) covers(f string, ids []string) map[int][2]string {
	out := map[int][2]string{}
	widen := func(p int, first, last string) {
		c, ok := out[p]
		if !ok {
			out[p] = [2]string{first, last}
			return
		}
		if analytics.ComparePositions(first, c[0]) < 0 {
			c[0] = first
		}
		if analytics.ComparePositions(last, c[1]) > 0 {
			c[1] = last
		}
		out[p] = c
	}
	prefix := coverField(f) + "/"
	for k, c := range m {
		if p, err := strconv.Atoi(strings.TrimPrefix(k, prefix)); err == nil && strings.HasPrefix(k, prefix) && len(c) == 2 {
			widen(p, c[0], c[1])
		}
	}
	for _, id := range ids {
		if p, first, last, ok := parsePartID(id); ok {
			widen(p, first, last)
		}
	}
	return out
}

// errPartGone is returned internally when a listed document vanished
// between reading the manifest and reading it (a compaction or rebuild
// meanwhile); the read starts again.
var errPartGone = errors.New("mongostore: listed event part vanished")

// fetchParts reads the documents ids of site's hour, decoding each.
func (s *Store) fetchParts(ctx context.Context, site string, gen int64, ids []string) ([]*block.Block, error) {
	out := make([]*block.Block, len(ids))
	// By collection: many documents of one month's compacted hours (a
	// reader's first load of a range) are read with one scan of that
	// collection, which holds little else; a few, by _id each (FerretDB
	// uses its primary key for exactly that).
	byColl := map[string][]int{}
	for i, id := range ids {
		h, ok := idHour(id)
		if !ok {
			return nil, analytics.Errorf(analytics.Internal, "mongodb: block manifest of %s lists %q, which is no block id", site, id)
		}
		name := partsCollName(gen, site, h)
		if !isPart(id) {
			name = blocksCollName(gen, site, h)
		}
		byColl[name] = append(byColl[name], i)
	}
	decode := func(i int, d *partDoc) error {
		b, err := block.Decode(d.Data)
		if err != nil {
			return analytics.Wrap(analytics.Internal, fmt.Sprintf("mongodb: event block %s of %s", ids[i], site), err)
		}
		renameFormer(b)
		out[i] = b
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for name, idx := range byColl {
		c := s.db.Collection(name)
		if len(idx) >= scanAtLeast && strings.HasPrefix(name, blocksPrefix) {
			want := make(map[string]int, len(idx))
			for _, i := range idx {
				want[ids[i]] = i
			}
			g.Go(func() error {
				cur, err := c.Find(gctx, bson.D{}, options.Find().SetBatchSize(64))
				if err != nil {
					return transientErr("mongodb: read event blocks", err)
				}
				defer cur.Close(context.Background())
				for cur.Next(gctx) {
					id, _ := cur.Current.Lookup("_id").StringValueOK()
					i, ok := want[id]
					if !ok {
						continue // replaced or another generation's leftover
					}
					var d partDoc
					if err := cur.Decode(&d); err != nil {
						return transientErr("mongodb: decode event block", err)
					}
					delete(want, id)
					if err := decode(i, &d); err != nil {
						return err
					}
				}
				if err := cur.Err(); err != nil {
					return transientErr("mongodb: read event blocks", err)
				}
				if len(want) > 0 {
					return errPartGone
				}
				return nil
			})
			continue
		}
		for _, i := range idx {
			g.Go(func() error {
				var d partDoc
				err := c.FindOne(gctx, bson.D{{Key: "_id", Value: ids[i]}}).Decode(&d)
				if errors.Is(err, mongo.ErrNoDocuments) {
					return errPartGone
				}
				if err != nil {
					return transientErr("mongodb: read event block", err)
				}
				return decode(i, &d)
			})
		}
	}
	return out, g.Wait()
}

// scanAtLeast is how many documents of one month's compacted hours a read
// needs before it scans the collection instead of reading each by _id
// (measured on FerretDB v1.24: 720 lookups of 50 KB documents took 5 s, a
// scan of the same collection about 1 s).
const scanAtLeast = 48

// compactor remembers the hours this process wrote parts to, for
// compaction once they are closed.
type compactor struct {
	mu      sync.Mutex
	pending map[hourRef]time.Time // hour -> when this process last wrote to it
	scanned map[string]bool       // sites whose manifests were scanned for hours to compact
}

type hourRef struct {
	site string
	gen  int64
	hour time.Time
}

func (c *compactor) wrote(site string, gen int64, hours []time.Time, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[hourRef]time.Time{}
	}
	for _, h := range hours {
		c.pending[hourRef{site, gen, h}] = now
	}
}

// due returns up to n hours ready to compact, oldest first.
func (c *compactor) due(now time.Time, n int) []hourRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []hourRef
	for r, last := range c.pending {
		if now.Sub(last) >= compactAfter && now.Sub(r.hour.Add(time.Hour)) >= compactAfter {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b hourRef) int { return a.hour.Compare(b.hour) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func (c *compactor) done(r hourRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, r)
}

// compactDue compacts up to n hours this process wrote to that are ready,
// and, the first time it sees a site, looks for hours of the site's last
// two months that another process left uncompacted.
func (s *Store) compactDue(ctx context.Context, sites []string, n int) error {
	now := s.now()
	for _, site := range sites {
		s.compactor.mu.Lock()
		seen := s.compactor.scanned[site]
		if s.compactor.scanned == nil {
			s.compactor.scanned = map[string]bool{}
		}
		s.compactor.scanned[site] = true
		s.compactor.mu.Unlock()
		if !seen {
			if err := s.findUncompacted(ctx, site, now); err != nil {
				return err
			}
		}
	}
	for _, r := range s.compactor.due(now, n) {
		if err := s.compactHour(ctx, r); err != nil {
			return err
		}
		s.compactor.done(r)
	}
	return nil
}

// findUncompacted queues the hours of site's current and previous month
// that hold more than one document or any part.
func (s *Store) findUncompacted(ctx context.Context, site string, now time.Time) error {
	bs, err := s.readBlockSite(ctx, site)
	if err != nil {
		return err
	}
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, month := range []time.Time{this.AddDate(0, -1, 0), this} {
		m, err := s.readManifest(ctx, site, bs.Gen, month)
		if err != nil {
			return err
		}
		for f, ids := range m {
			needs := len(ids) > 1
			for _, id := range ids {
				if _, _, _, part := parsePartID(id); part {
					needs = true
				}
			}
			if !needs {
				continue
			}
			h, err := time.Parse("0215", f[1:])
			if err != nil {
				continue
			}
			hour := time.Date(month.Year(), month.Month(), h.Day(), h.Hour(), 0, 0, 0, time.UTC)
			s.compactor.mu.Lock()
			r := hourRef{site, bs.Gen, hour}
			if s.compactor.pending == nil {
				s.compactor.pending = map[hourRef]time.Time{}
			}
			if _, ok := s.compactor.pending[r]; !ok {
				s.compactor.pending[r] = now.Add(-compactAfter)
			}
			s.compactor.mu.Unlock()
		}
	}
	return nil
}

// compactHour merges an hour's documents into compacted ones in the
// month's collection and swaps the manifest's list to them; the parts
// collection of the hour's day is dropped once all its hours are
// compacted and the day is over.
func (s *Store) compactHour(ctx context.Context, r hourRef) error {
	month := time.Date(r.hour.Year(), r.hour.Month(), 1, 0, 0, 0, 0, time.UTC)
	m, err := s.readManifest(ctx, r.site, r.gen, month)
	if err != nil {
		return err
	}
	f := hourField(r.hour)
	ids := m[f]
	if len(ids) == 0 {
		return nil
	}
	hasPart := false
	for _, id := range ids {
		if _, _, _, part := parsePartID(id); part {
			hasPart = true
		}
	}
	if len(ids) > 1 || hasPart {
		parts, err := s.fetchParts(ctx, r.site, r.gen, ids)
		if errors.Is(err, errPartGone) {
			return nil // changed meanwhile: a later pass compacts it
		}
		if err != nil {
			return err
		}
		merged := block.Merge(r.hour, parts)
		if err := s.swapHour(ctx, r.site, r.gen, month, m, f, ids, merged); err != nil {
			return err
		}
		// Compacted documents this one replaces are deleted (rare: late
		// events after a compaction); parts go with their day's collection.
		for _, id := range ids {
			if _, _, _, part := parsePartID(id); !part {
				octx, cancel := op(ctx)
				_, err := s.db.Collection(blocksCollName(r.gen, r.site, month)).DeleteOne(octx, bson.D{{Key: "_id", Value: id}})
				cancel()
				if err != nil {
					return transientErr("mongodb: delete replaced event block", err)
				}
			}
		}
	}
	return s.dropCompactedMonth(ctx, r.site, r.gen, month, m, f)
}

// swapHour writes blocks, the new content of hour field f of month (whose
// manifest m listed ids), as compacted documents, then points the manifest
// at them in one update, keeping what ids covered (see manifest.covers).
// The documents of ids are the caller's to delete.
func (s *Store) swapHour(ctx context.Context, site string, gen int64, month time.Time, m manifest, f string, ids []string, blocks []*block.Block) error {
	hour := fieldHour(month, f)
	stamp := strconv.FormatInt(s.now().UnixNano(), 10)
	newIDs := make([]string, len(blocks))
	docs := make([]any, len(blocks))
	for i, b := range blocks {
		newIDs[i] = hour.Format(hourKeyLayout) + "|c" + stamp + "|" + strconv.Itoa(i)
		docs[i] = partDoc{ID: newIDs[i], Hour: hour, Rows: b.Len(), Data: block.Encode(b)}
	}
	if len(docs) > 0 {
		if err := s.insertParts(ctx, s.db.Collection(blocksCollName(gen, site, month)), docs); err != nil {
			return err
		}
	}
	set := bson.D{{Key: f, Value: newIDs}}
	for p, c := range m.covers(f, ids) {
		set = append(set, bson.E{Key: coverField(f) + ".p" + strconv.Itoa(p), Value: bson.A{c[0], c[1]}})
	}
	return s.updateManifest(ctx, site, gen, month, bson.D{{Key: "$set", Value: set}})
}

// dropCompactedMonth drops a month's parts collection once the month is
// over (by compactAfter) and none of its hours lists a part. m is the
// month's manifest as read before compacting hour field done.
func (s *Store) dropCompactedMonth(ctx context.Context, site string, gen int64, month time.Time, m manifest, done string) error {
	if s.now().Sub(month.AddDate(0, 1, 0)) < compactAfter {
		return nil
	}
	for f, ids := range m {
		if f == done || !strings.HasPrefix(f, "h") {
			continue
		}
		for _, id := range ids {
			if isPart(id) {
				return nil
			}
		}
	}
	octx, cancel := op(ctx)
	defer cancel()
	return classify("mongodb: drop compacted parts", s.db.Collection(partsCollName(gen, site, month)).Drop(octx))
}

// Compact compacts every closed hour of site (ended compactAfter ago) that
// still lists parts or several documents, whoever wrote them: what the
// processors do a few hours at a time, at once (for rebuilds, tests and
// load tools). fence is the hold of the site's partition, or nil where no
// processor runs.
func (s *Store) Compact(ctx context.Context, site string, fence analytics.Fence) (hours int, err error) {
	if fence != nil {
		ctx = analytics.WithFence(ctx, fence)
	}
	bs, err := s.readBlockSite(ctx, site)
	if err != nil {
		return 0, err
	}
	now := s.now()
	for k := range bs.Versions {
		month, err := time.Parse("v2006_01", k)
		if err != nil {
			continue
		}
		m, err := s.readManifest(ctx, site, bs.Gen, month)
		if err != nil {
			return hours, err
		}
		var todo []time.Time
		for f, ids := range m {
			if !strings.HasPrefix(f, "h") || (len(ids) < 2 && (len(ids) == 0 || !isPart(ids[0]))) {
				continue
			}
			if h := fieldHour(month, f); now.Sub(h.Add(time.Hour)) >= compactAfter {
				todo = append(todo, h)
			}
		}
		slices.SortFunc(todo, func(a, b time.Time) int { return a.Compare(b) })
		for _, h := range todo {
			if err := s.compactHour(ctx, hourRef{site, bs.Gen, h}); err != nil {
				return hours, err
			}
			s.compactor.done(hourRef{site, bs.Gen, h})
			hours++
		}
	}
	return hours, nil
}

// renameFormer gives the browser, OS and device values of a block written
// before 2026-12-07 their names of today (enrich.CurrentName): what is
// stored keeps its former names, with no rebuild, and every answer and
// filter uses one name for each.
func renameFormer(b *block.Block) {
	for _, c := range []block.Col{block.Browser, block.OS, block.Device} {
		for i, v := range b.Dicts[c] {
			b.Dicts[c][i] = enrich.CurrentName(v)
		}
	}
}
