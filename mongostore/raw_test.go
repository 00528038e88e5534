package mongostore

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// TestRawEventsGoToEventsUntilRetention: raw events go to the events
// collection (the contract's place for them) until retention is first
// turned on; from the moment it sets, those with later timestamps go to
// their site's month collection, a resend of an earlier event still meets
// its first copy in events, the moment is set once and read by every
// process, and EachEvent and a rebuild read both places.
func TestRawEventsGoToEventsUntilRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	uri := testenv.MongoDB(t)
	s, err := Open(ctx, uri, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if err := s.db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.readLayout(ctx); err != nil {
		t.Fatal(err)
	}
	old := pv("old-1", "layout.example", "/a", "u1", "2025-11-12T10:00:00Z")
	if res, err := s.Apply(ctx, batch(old)); err != nil || res.Stored != 1 {
		t.Fatalf("Apply = %+v, %v", res, err)
	}
	if n, _ := s.db.Collection("events").CountDocuments(ctx, bson.D{{Key: "_id", Value: "old-1"}}); n != 1 {
		t.Fatal("before retention, the raw event is not in events")
	}
	// Retention's first pass sets the moment, once.
	switchAt := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := s.startMonthCollections(ctx, switchAt.Add(-switchDelay)); err != nil {
		t.Fatal(err)
	}
	if err := s.startMonthCollections(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, uri, DefaultConfig()) // another process
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	for _, st := range []*Store{s, other} {
		if got, err := st.legacyBefore(ctx); err != nil || !got.Equal(switchAt) {
			t.Fatalf("legacy_before %v (%v), want %v", got, err, switchAt)
		}
	}
	fresh := pv("new-1", "layout.example", "/b", "u2", "2025-12-03T10:00:00Z")
	b := batch(old, fresh)
	b.Entries[0].ID = "9-0" // a resend: another queue entry
	res, err := other.Apply(ctx, b)
	if err != nil || res.Stored != 1 || res.Duplicates != 1 {
		t.Fatalf("Apply = %+v, %v; want the old event a duplicate and the new one stored", res, err)
	}
	if n, _ := s.db.Collection(rawCollName(fresh.SiteID, fresh.Timestamp)).CountDocuments(ctx, bson.D{}); n != 1 {
		t.Fatalf("%d events in the month's collection, want 1", n)
	}
	// Every character a site id may hold is fine in a collection name.
	odd := "A.b:c-d_9." + strings.Repeat("x", 118)
	if res, err := s.Apply(ctx, batch(pv("o1", odd, "/", "u", "2025-12-12T10:00:00Z"))); err != nil || res.Stored != 1 {
		t.Fatalf("Apply for site %s: %+v, %v", odd, res, err)
	}
	colls, err := RawCollections(ctx, s.db)
	if err != nil || len(colls) != 3 || colls[0] != "events" || colls[1] != "events_2025_12_"+odd || colls[2] != "events_2025_12_layout.example" {
		t.Fatalf("raw collections %v (%v)", colls, err)
	}
	var ids []string
	if err := s.EachEvent(ctx, "layout.example", time.Time{}, time.Time{}, func(ev analytics.Event) error { ids = append(ids, ev.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != "old-1" || ids[1] != "new-1" {
		t.Fatalf("EachEvent gave %v, want [old-1 new-1]", ids)
	}
	if _, err := s.Rebuild(ctx, "layout.example", noFence{}, 10, nil); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, s, "layout.example", ""); st.TotalViews != 2 || st.UniqueUsers != 2 {
		t.Fatalf("all-time stats after rebuild: %+v, want 2 views of 2 users", st)
	}
}

func TestHorizonFor(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	for _, tt := range []struct {
		name string
		days int
		now  string
		want string
	}{
		{"forever", 0, "2026-11-27T10:00:00Z", "0001-01-01T00:00:00Z"},
		{"same month", 3, "2026-11-27T10:00:00Z", "2026-11-01T00:00:00Z"},
		{"into the previous month", 30, "2026-11-27T10:00:00Z", "2026-10-01T00:00:00Z"},
		{"exactly the first", 26, "2026-11-27T23:59:59Z", "2026-11-01T00:00:00Z"},
		{"a day before the first", 27, "2026-11-27T00:00:00Z", "2026-10-01T00:00:00Z"},
		{"a zone other than UTC", 1, "2026-12-01T01:00:00+02:00", "2026-11-01T00:00:00Z"},
		{"a year", 365, "2026-11-27T10:00:00Z", "2025-11-01T00:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := HorizonFor(tt.days, at(tt.now)); !got.Equal(at(tt.want)) {
				t.Fatalf("HorizonFor(%d, %s) = %v, want %s", tt.days, tt.now, got, tt.want)
			}
		})
	}
}
