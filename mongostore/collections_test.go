package mongostore

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/rollup"
)

// Day rollups live in a collection per month; a day written by an earlier
// version, which kept days in rollups, is still read, and the first write
// after the upgrade carries it over, so its counts go on from where they
// were.
func TestDayRollupsOfAnEarlierVersionCarryOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	uri := testenv.MongoDB(t)
	s, err := Open(ctx, uri, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	// Month and all-time rollups in the rollups collection are not
	// mistaken for an earlier version's days.
	seed := analytics.Batch{Entries: []analytics.Entry{{ID: "999-0", Event: pv("m1", "other", "/", "u", "2025-10-01T00:00:00Z")}}}
	if _, err := s.Apply(ctx, seed); err != nil {
		t.Fatal(err)
	}
	if s1, err := Open(ctx, uri, DefaultConfig()); err != nil || s1.legacyDays {
		t.Fatalf("a database without earlier day rollups: legacy %v, %v", s1 != nil && s1.legacyDays, err)
	} else {
		s1.Close(ctx)
	}
	// What the previous version wrote for 5 views of /a by 2 users.
	h := rollup.Key{Dim: rollup.Path, Value: "/a"}.Hash()
	legacy := bson.D{{Key: "_id", Value: "leg|2025-11-12"}, {Key: "site_id", Value: "leg"}, {Key: "gen", Value: int64(0)},
		{Key: "day", Value: "2025-11-12"}, {Key: "views", Value: int64(5)}, {Key: "events", Value: int64(5)}, {Key: "uniques", Value: int64(2)},
		{Key: "c", Value: bson.D{{Key: rollup.Path, Value: bson.D{{Key: h, Value: int64(5)}}}}}, {Key: "keys", Value: 1},
		{Key: "top", Value: bson.D{{Key: rollup.Path, Value: `[["/a",5]]`}}}, {Key: "wm", Value: "0/1000-0"}}
	if _, err := s.rollups.InsertOne(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, uri, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(ctx)
	if !s2.legacyDays {
		t.Fatal("earlier day rollups not detected")
	}
	wantStats(t, stats(t, s2, "leg", "2025-11-12"), 5, 2, analytics.PathViews{Path: "/a", Views: 5})
	b := analytics.Batch{Entries: []analytics.Entry{{ID: "1000-1", Event: pv("n1", "leg", "/a", "", "2025-11-12T12:00:00Z")}}}
	if _, err := s2.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	wantStats(t, stats(t, s2, "leg", "2025-11-12"), 6, 2, analytics.PathViews{Path: "/a", Views: 6})
	n, err := s2.mainColl("2025-11-12").CountDocuments(ctx, bson.D{{Key: "_id", Value: "leg|2025-11-12"}})
	if err != nil || n != 1 {
		t.Fatalf("the day was not carried over to %s: %d, %v", s2.mainColl("2025-11-12").Name(), n, err)
	}
	sn, err := s2.Rollups(ctx, "leg", []string{"2025-11-12"})
	if err != nil || sn[0].Views != 6 {
		t.Fatalf("snapshot %+v %v", sn, err)
	}
}
