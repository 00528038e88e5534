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

// TestRawEventsOfAnEarlierVersion starts on a database whose events
// collection holds a raw event stored by an earlier version: a resend of it
// is still a duplicate, new events go to their month's collection, and a
// rebuild and EachEvent read both.
func TestRawEventsOfAnEarlierVersion(t *testing.T) {
	ctx := context.Background()
	uri := testenv.MongoDB(t)
	first, err := Open(ctx, uri, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// What the earlier version stored, written behind the store's back
	// before this version's first Open of the database.
	if err := first.db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	old := pv("old-1", "legacy.example", "/a", "u1", "2025-11-12T10:00:00Z")
	if _, err := first.db.Collection("events").InsertOne(ctx, bson.D{{Key: "_id", Value: "old-1"}, {Key: "site_id", Value: old.SiteID},
		{Key: "event_type", Value: old.EventType}, {Key: "timestamp", Value: old.Timestamp}, {Key: "created_at", Value: old.Timestamp},
		{Key: "queue_entry", Value: "0/1-0"}, {Key: "path", Value: old.Path}, {Key: "user_id", Value: old.UserID}}); err != nil {
		t.Fatal(err)
	}
	first.Close(ctx)
	s, err := Open(ctx, uri, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if s.legacyBefore.IsZero() {
		t.Fatal("the events of the earlier version were not noticed")
	}
	fresh := pv("new-1", "legacy.example", "/b", "u2", time.Now().UTC().Add(time.Minute).Format(time.RFC3339))
	b := batch(old, fresh)
	b.Entries[0].ID = "9-0" // a resend: another queue entry
	res, err := s.Apply(ctx, b)
	if err != nil || res.Stored != 1 || res.Duplicates != 1 {
		t.Fatalf("Apply = %+v, %v; want the old event a duplicate and the new one stored", res, err)
	}
	if n, _ := s.db.Collection(rawCollName(fresh.SiteID, fresh.Timestamp)).CountDocuments(ctx, bson.D{}); n != 1 {
		t.Fatalf("%d events in the month's collection, want 1", n)
	}
	var ids []string
	if err := s.EachEvent(ctx, "legacy.example", time.Time{}, time.Time{}, func(ev analytics.Event) error { ids = append(ids, ev.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != "old-1" || ids[1] != "new-1" {
		t.Fatalf("EachEvent gave %v, want [old-1 new-1]", ids)
	}
	if _, err := s.Rebuild(ctx, "legacy.example", noFence{}, 10, nil); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, s, "legacy.example", ""); st.TotalViews != 2 || st.UniqueUsers != 2 {
		t.Fatalf("all-time stats after rebuild: %+v, want 2 views of 2 users", st)
	}
	// The moment is recorded once: a later Open keeps it.
	before := s.legacyBefore
	if err := s.detectLegacyEvents(ctx); err != nil || !s.legacyBefore.Equal(before) {
		t.Fatalf("legacy moment %v then %v (%v)", before, s.legacyBefore, err)
	}
}

func TestNewDatabaseUsesMonthCollections(t *testing.T) {
	s := openStore(t)
	if !s.legacyBefore.IsZero() {
		t.Fatalf("legacy moment %v on an empty database", s.legacyBefore)
	}
	if _, err := s.Apply(context.Background(), seedBatch()); err != nil {
		t.Fatal(err)
	}
	// Every character a site id may hold is fine in a collection name.
	odd := "A.b:c-d_9." + strings.Repeat("x", 118)
	if res, err := s.Apply(context.Background(), batch(pv("o1", odd, "/", "u", "2025-11-12T10:00:00Z"))); err != nil || res.Stored != 1 {
		t.Fatalf("Apply for site %s: %+v, %v", odd, res, err)
	}
	colls, err := RawCollections(context.Background(), s.db)
	if err != nil || len(colls) != 2 || colls[0] != "events_2025_11_"+odd || colls[1] != "events_2025_11_site-abc-123" {
		t.Fatalf("raw collections %v (%v)", colls, err)
	}
	if st := stats(t, s, odd, "2025-11-12"); st.TotalViews != 1 {
		t.Fatalf("stats of %s: %+v", odd, st)
	}
}

func TestHorizonFor(t *testing.T) {
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
