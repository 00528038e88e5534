package mongostore

import (
	"context"
	"errors"
	"sort"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/siteanalytics/analytics"
)

// rollupDoc is a rollup as stored.
type rollupDoc struct {
	ID      string           `bson:"_id"`
	SiteID  string           `bson:"site_id"`
	Day     string           `bson:"day,omitempty"`
	Views   int64            `bson:"views"`
	Events  int64            `bson:"events"`
	Uniques int64            `bson:"uniques"`
	Paths   map[string]int64 `bson:"paths"`
	Types   map[string]int64 `bson:"types"`
	WM      string           `bson:"wm"` // last queue entry applied, "partition/id"
}

// delta is what a run of entries adds to one rollup.
type delta struct {
	views, events, uniques int64
	paths, types           map[string]int64
	last                   string // entry key of the newest entry applied
}

func (d *delta) empty() bool { return d.events == 0 }

// maxCASRetries bounds the compare-and-set loop; only a second writer on the
// same partition (an owner whose lease lapsed) makes it retry at all.
const maxCASRetries = 10

// applyRollups adds the counted entries to every rollup they touch. For each
// rollup it reads the watermark, adds only the entries newer than it, and
// writes with a compare-and-set on the watermark; on a lost race it reads
// again and recomputes.
func (s *Store) applyRollups(ctx context.Context, b analytics.Batch, counted []int, userCreator map[string]string) error {
	var ids []string
	byRollup := map[string][]int{}
	for _, i := range counted {
		ev := &b.Entries[i].Event
		for _, id := range [2]string{dayRollupID(ev.SiteID, ev.Day()), allRollupID(ev.SiteID)} {
			if _, ok := byRollup[id]; !ok {
				ids = append(ids, id)
			}
			byRollup[id] = append(byRollup[id], i)
		}
	}
	sort.Strings(ids)
	// Rollups are independent documents, so they are written a few at a
	// time: most of the cost is round trips, not work in the database.
	return forEach(ids, 8, func(id string) error {
		if err := s.stage("rollup"); err != nil {
			return err
		}
		return s.applyRollup(ctx, b, id, byRollup[id], userCreator)
	})
}

// forEach calls f for every item, at most n at a time, and returns the
// first error.
func forEach(items []string, n int, f func(string) error) error {
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func(it string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(it); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}(it)
	}
	wg.Wait()
	return first
}

func (s *Store) applyRollup(ctx context.Context, b analytics.Batch, id string, entries []int, userCreator map[string]string) error {
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		var cur rollupDoc
		err := s.rollups.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&cur)
		exists := err == nil
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return classify("mongodb: read rollup", err)
		}
		d := s.deltaFor(b, id, entries, cur.WM, userCreator)
		if d.empty() {
			return nil // everything here was applied before
		}
		if !exists {
			ev := &b.Entries[entries[0]].Event
			doc := bson.D{
				{Key: "_id", Value: id}, {Key: "site_id", Value: ev.SiteID},
				{Key: "views", Value: d.views}, {Key: "events", Value: d.events}, {Key: "uniques", Value: d.uniques},
				{Key: "paths", Value: d.paths}, {Key: "types", Value: d.types}, {Key: "wm", Value: d.last},
			}
			if id != allRollupID(ev.SiteID) {
				doc = append(doc, bson.E{Key: "day", Value: ev.Day()})
			}
			_, err := s.rollups.InsertOne(ctx, doc)
			if mongo.IsDuplicateKeyError(err) {
				continue // created meanwhile: read it and recompute
			}
			return classify("mongodb: insert rollup", err)
		}
		inc := bson.D{{Key: "views", Value: d.views}, {Key: "events", Value: d.events}, {Key: "uniques", Value: d.uniques}}
		for p, n := range d.paths {
			inc = append(inc, bson.E{Key: "paths." + p, Value: n})
		}
		for t, n := range d.types {
			inc = append(inc, bson.E{Key: "types." + t, Value: n})
		}
		r, err := s.rollups.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: id}, {Key: "wm", Value: cur.WM}},
			bson.D{{Key: "$inc", Value: inc}, {Key: "$set", Value: bson.D{{Key: "wm", Value: d.last}}}})
		if err != nil {
			return classify("mongodb: update rollup", err)
		}
		if r.MatchedCount == 1 {
			return nil
		}
	}
	return analytics.Errorf(analytics.Unavailable, "mongodb: rollup %q kept changing under a concurrent writer", id)
}

// deltaFor sums the entries newer than wm. A user counts when this rollup's
// user document was created by the very entry being applied.
func (s *Store) deltaFor(b analytics.Batch, id string, entries []int, wm string, userCreator map[string]string) delta {
	d := delta{paths: map[string]int64{}, types: map[string]int64{}}
	wmPart, wmID := splitEntryKey(wm)
	for _, i := range entries {
		e := &b.Entries[i]
		if wm != "" && wmPart == b.Partition && analytics.ComparePositions(e.ID, wmID) <= 0 {
			continue
		}
		ek := entryKey(b.Partition, e.ID)
		ev := &e.Event
		d.events++
		d.types[escapeField(ev.EventType)]++
		if ev.EventType == analytics.PageView {
			d.views++
			if ev.Path != "" {
				d.paths[escapeField(ev.Path)]++
			}
		}
		if ev.UserID != "" {
			dayKey, allKey := userKeys(ev)
			key := dayKey
			if id == allRollupID(ev.SiteID) {
				key = allKey
			}
			if userCreator[key] == ek {
				d.uniques++
			}
		}
		d.last = ek
	}
	return d
}
