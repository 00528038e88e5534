package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/siteanalytics/analytics"
)

// dupKey is MongoDB's duplicate key error code.
const dupKey = 11000

// Apply implements analytics.Store.
//
// Order matters for crash safety: raw events first, then the event parts
// of the events this batch stored first (see blocks.go). Each step is
// idempotent and the raw documents record which entry stored them, so a
// retry after a crash at any point reaches the same end state.
//
// Only the raw insert can refuse an entry for good (Failed), and then its
// raw document was not stored. Once an entry's raw document is stored every
// later error is transient: the entry is retried, never dead-lettered, so a
// dead-lettered event is never half counted and replaying it counts it once.
func (s *Store) Apply(ctx context.Context, b analytics.Batch) (analytics.ApplyResult, error) {
	var res analytics.ApplyResult
	now := s.now().UTC()
	// Where raw events go (events, or from legacy_before the month
	// collections) is read again every layoutTTL.
	if _, err := s.legacyBefore(ctx); err != nil {
		return res, err
	}

	// 1. Raw events. An insert that hits an existing _id is this entry's own
	// earlier attempt (counted), a true duplicate sent twice by the same
	// site (skipped), or another site's event with the same id: ids are
	// scoped to the site, so that one is stored under "<site>/<id>".
	idx := make([]int, 0, len(b.Entries))
	for i, e := range b.Entries {
		if e.Err == nil {
			idx = append(idx, i)
		}
	}
	// Events before their site's retention horizon are refused: their raw
	// copy may be deleted already, so storing one could count it twice.
	expired, expiredDup, err := s.expired(ctx, b, idx)
	if err != nil {
		return res, err
	}
	if len(expired)+len(expiredDup) > 0 {
		res.Expired, res.Duplicates = len(expired), len(expiredDup)
		idx = slices.DeleteFunc(idx, func(i int) bool { return expired[i] || expiredDup[i] })
	}
	if len(idx) == 0 {
		return res, nil
	}
	failed, duplicate, replay, err := s.insertRaw(ctx, b, idx, now)
	if err != nil {
		return res, err
	}
	var cs []counted
	for _, i := range idx {
		switch {
		case failed[i] != nil:
			res.Failed = append(res.Failed, analytics.EntryFailed{Index: i, Err: failed[i]})
		case duplicate[i]:
			res.Duplicates++
		default:
			cs = append(cs, counted{ek: entryKey(b.Partition, b.Entries[i].ID), ev: &b.Entries[i].Event})
		}
	}
	res.Stored = len(cs)
	if len(cs) == 0 {
		return res, nil
	}

	// 2. The events this batch stored first, as event parts.
	if err := s.stage("blocks"); err != nil {
		return res, transientErr("mongodb: blocks", err)
	}
	if err := s.writeBlocks(ctx, b, cs, replay); err != nil {
		return res, err
	}
	// 3. Closed hours of the batch's sites, compacted a few at a time.
	sites := make([]string, 0, 2)
	for _, c := range cs {
		if !slices.Contains(sites, c.ev.SiteID) {
			sites = append(sites, c.ev.SiteID)
		}
	}
	if err := s.compactDue(ctx, sites, 2); err != nil {
		return res, err
	}
	return res, nil
}

// insertRaw stores the raw events of the entries idx. It returns the
// entries refused for good and those that are duplicates of another entry.
//
// replay is true when some were stored already by this very entry: the
// batch was applied before (a redelivery).
func (s *Store) insertRaw(ctx context.Context, b analytics.Batch, idx []int, now time.Time) (failed map[int]error, duplicate map[int]bool, replay bool, err error) {
	failed = map[int]error{}
	duplicate = map[int]bool{}
	// One insert per collection (site and month, see raw.go): a batch is of
	// one partition, so of a few sites and usually one month.
	groups := map[string][]int{}
	var order []string
	for _, i := range idx {
		ev := &b.Entries[i].Event
		n := s.rawColl(ev.SiteID, ev.Timestamp).Name()
		if _, ok := groups[n]; !ok {
			order = append(order, n)
		}
		groups[n] = append(groups[n], i)
	}
	for _, n := range order {
		if err := s.insertRawIn(ctx, s.db.Collection(n), b, groups[n], now, failed, duplicate, &replay); err != nil {
			return nil, nil, false, err
		}
	}
	return failed, duplicate, replay, nil
}

// insertRawIn stores the raw events of the entries idx in c, adding to
// failed and duplicate.
func (s *Store) insertRawIn(ctx context.Context, c *mongo.Collection, b analytics.Batch, idx []int, now time.Time, failed map[int]error, duplicate map[int]bool, replay *bool) error {
	todo := idx
	scoped := map[int]bool{} // entries to store under "<site>/<id>"
	for round := 0; round < 2 && len(todo) > 0; round++ {
		docs := make([]any, len(todo))
		for j, i := range todo {
			docs[j] = s.rawDoc(b.Partition, b.Entries[i], now, scoped[i])
		}
		var dups []int
		octx, cancel := op(ctx)
		_, err := c.InsertMany(octx, docs, options.InsertMany().SetOrdered(false))
		cancel()
		if err != nil {
			var bwe mongo.BulkWriteException
			if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
				return classify("mongodb: insert events", err)
			}
			for _, we := range bwe.WriteErrors {
				i := todo[we.Index]
				switch {
				case we.Code == dupKey:
					dups = append(dups, i)
				case permanentCode(int32(we.Code)):
					failed[i] = analytics.Wrap(analytics.Invalid, "mongodb: insert event", errors.New(we.Message))
				default:
					return analytics.Wrap(analytics.Unavailable, "mongodb: insert events", errors.New(we.Message))
				}
			}
		}
		ids := make([]string, len(dups))
		for j, i := range dups {
			ids[j] = rawID(&b.Entries[i].Event, scoped[i])
		}
		owners, err := s.rawOwners(ctx, c, ids)
		if err != nil {
			return err
		}
		todo = todo[:0:0]
		for j, i := range dups {
			o := owners[ids[j]]
			switch {
			case o.site != b.Entries[i].Event.SiteID && !scoped[i]:
				scoped[i] = true
				todo = append(todo, i)
			case o.entry != entryKey(b.Partition, b.Entries[i].ID):
				duplicate[i] = true
			default:
				*replay = true
			}
		}
	}
	return nil
}

// rawID is the _id of an event's raw document: the event id, or
// "<site>/<id>" when another site used the id first.
func rawID(ev *analytics.Event, scoped bool) string {
	if scoped {
		return ev.SiteID + "/" + ev.ID
	}
	return ev.ID
}

// rawEvent is an event as stored in the events collection; rebuild reads it
// back.
type rawEvent struct {
	ID           string         `bson:"_id"`
	SiteID       string         `bson:"site_id"`
	ScopedID     string         `bson:"id,omitempty"` // the event id when _id is "<site>/<id>"
	EventType    string         `bson:"event_type"`
	Timestamp    time.Time      `bson:"timestamp"`
	CreatedAt    time.Time      `bson:"created_at"`
	Entry        string         `bson:"queue_entry"`
	Path         string         `bson:"path,omitempty"`
	UserID       string         `bson:"user_id,omitempty"`
	Props        map[string]any `bson:"props,omitempty"`
	UTMSource    string         `bson:"utm_source,omitempty"`
	UTMMedium    string         `bson:"utm_medium,omitempty"`
	UTMCampaign  string         `bson:"utm_campaign,omitempty"`
	UTMContent   string         `bson:"utm_content,omitempty"`
	UTMTerm      string         `bson:"utm_term,omitempty"`
	Source       string         `bson:"source,omitempty"`
	ReferrerHost string         `bson:"referrer_host,omitempty"`
	ReferrerURL  string         `bson:"referrer_url,omitempty"`
	Browser      string         `bson:"browser,omitempty"`
	OS           string         `bson:"os,omitempty"`
	Device       string         `bson:"device,omitempty"`
	Country      string         `bson:"country,omitempty"`
	// Visit is the collector's annotation as JSON, one string rather than
	// a sub-document (FerretDB's cost per write follows the number of
	// fields: a sub-document of a dozen fields cost the processor 30% of
	// its events/s); a rebuild counts visits from it exactly as the
	// processor did.
	Visit string `bson:"visit,omitempty"`
}

func (s *Store) rawDoc(partition int, e analytics.Entry, now time.Time, scoped bool) any {
	ev := &e.Event
	if !s.cfg.StoreEvents {
		return bson.D{{Key: "_id", Value: rawID(ev, scoped)}, {Key: "site_id", Value: ev.SiteID}, {Key: "queue_entry", Value: entryKey(partition, e.ID)}}
	}
	d := rawEvent{
		ID: rawID(ev, scoped), SiteID: ev.SiteID, EventType: ev.EventType, Timestamp: ev.Timestamp,
		CreatedAt: now, Entry: entryKey(partition, e.ID), Path: ev.Path, UserID: ev.UserID, Props: ev.Props,
		UTMSource: ev.UTMSource, UTMMedium: ev.UTMMedium, UTMCampaign: ev.UTMCampaign, UTMContent: ev.UTMContent, UTMTerm: ev.UTMTerm,
		Source: ev.Source, ReferrerHost: ev.ReferrerHost, ReferrerURL: ev.ReferrerURL, Browser: ev.Browser, OS: ev.OS, Device: ev.Device, Country: ev.Country,
	}
	if ev.Visit != nil {
		b, _ := json.Marshal(ev.Visit) // strings, numbers and a time always encode
		d.Visit = string(b)
	}
	if scoped {
		d.ScopedID = ev.ID
	}
	return d
}

// event returns the stored event as the processor counted it.
func (d *rawEvent) event() (analytics.Event, error) {
	id := d.ID
	if d.ScopedID != "" {
		id = d.ScopedID
	}
	var v *analytics.Visit
	if d.Visit != "" {
		v = new(analytics.Visit)
		if err := json.Unmarshal([]byte(d.Visit), v); err != nil {
			return analytics.Event{}, analytics.Wrap(analytics.Internal, "mongodb: event "+id+" has an unreadable visit", err)
		}
	}
	return analytics.Event{ID: id, SiteID: d.SiteID, EventType: d.EventType, Path: d.Path, UserID: d.UserID, Timestamp: d.Timestamp,
		Props: d.Props, UTMSource: d.UTMSource, UTMMedium: d.UTMMedium, UTMCampaign: d.UTMCampaign, UTMContent: d.UTMContent, UTMTerm: d.UTMTerm,
		Source: d.Source, ReferrerHost: d.ReferrerHost, ReferrerURL: d.ReferrerURL, Browser: d.Browser, OS: d.OS, Device: d.Device, Country: d.Country, Visit: v}, nil
}

type rawOwner struct{ site, entry string }

// rawOwners reads the site and creating entry of existing raw documents,
// one FindOne by _id each (a few at a time): on FerretDB a $in scans the
// collection while a lookup by _id uses its primary key.
func (s *Store) rawOwners(ctx context.Context, c *mongo.Collection, ids []string) (map[string]rawOwner, error) {
	out := make(map[string]rawOwner, len(ids))
	var mu sync.Mutex
	err := s.lookup(ctx, c, ids, bson.D{{Key: "site_id", Value: 1}, {Key: "queue_entry", Value: 1}}, func(id string, doc bson.M) {
		site, _ := doc["site_id"].(string)
		entry, _ := doc["queue_entry"].(string)
		mu.Lock()
		out[id] = rawOwner{site, entry}
		mu.Unlock()
	})
	return out, err
}

func (s *Store) lookup(ctx context.Context, c *mongo.Collection, ids []string, proj bson.D, f func(id string, doc bson.M)) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			var doc bson.M
			err := c.FindOne(gctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(proj)).Decode(&doc)
			if errors.Is(err, mongo.ErrNoDocuments) {
				// It existed a moment ago: only a concurrent delete explains
				// this. Retry the batch.
				return analytics.Errorf(analytics.Unavailable, "mongodb: %s %q vanished during apply", c.Name(), id)
			}
			if err != nil {
				return transientErr("mongodb: read "+c.Name(), err)
			}
			f(id, doc)
			return nil
		})
	}
	return g.Wait()
}

// counted is an event a batch stored first, with its entry key.
type counted struct {
	ek string
	ev *analytics.Event
}

// op bounds one database write by the writer's fence when ctx carries one
// (see analytics.WithFence): each write gets the deadline current when it
// starts. Reads are not fenced: a stale read is harmless because the write
// that follows it is, and on FerretDB a lookup in a large collection can
// take longer than a write deadline.
func op(ctx context.Context) (context.Context, context.CancelFunc) {
	if f := analytics.FenceFrom(ctx); f != nil {
		return f.WriteContext(ctx)
	}
	return ctx, func() {}
}

// RawDocument returns the document Apply stores for entry e of partition:
// for tools that measure a plain insert of the same documents beside it.
func (s *Store) RawDocument(partition int, e analytics.Entry) any {
	return s.rawDoc(partition, e, s.now(), false)
}
