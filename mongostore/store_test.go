package mongostore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, testenv.MongoDB(t), DefaultConfig())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// batch builds a batch of partition 0 whose entry ids are "1000-i".
func batch(evs ...analytics.Event) analytics.Batch {
	b := analytics.Batch{Partition: 0}
	for i, ev := range evs {
		b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("1000-%d", i), Event: ev})
	}
	return b
}

func pv(id, site, path, user, ts string) analytics.Event {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		panic(err)
	}
	return analytics.Event{ID: id, SiteID: site, EventType: analytics.PageView, Path: path, UserID: user, Timestamp: t}
}

func seedBatch() analytics.Batch {
	return batch(
		pv("e1", "site-abc-123", "/pricing", "user-001", "2025-11-12T10:00:00Z"),
		pv("e2", "site-abc-123", "/blog/post-1", "user-002", "2025-11-12T10:05:00Z"),
		pv("e3", "site-abc-123", "/pricing", "user-001", "2025-11-12T10:10:00Z"),
	)
}

func stats(t *testing.T, s *Store, site, date string) analytics.Stats {
	t.Helper()
	st, err := s.Stats(context.Background(), analytics.StatsQuery{SiteID: site, Date: date, Limit: 10})
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func wantStats(t *testing.T, got analytics.Stats, views, users int64, top ...analytics.PathViews) {
	t.Helper()
	if top == nil {
		top = []analytics.PathViews{}
	}
	if got.TotalViews != views || got.UniqueUsers != users || !reflect.DeepEqual(got.TopPaths, top) {
		t.Fatalf("stats = views %d users %d top %v; want views %d users %d top %v",
			got.TotalViews, got.UniqueUsers, got.TopPaths, views, users, top)
	}
}

var seedTop = []analytics.PathViews{{Path: "/pricing", Views: 2}, {Path: "/blog/post-1", Views: 1}}

func TestApplySeedExample(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	res, err := s.Apply(context.Background(), seedBatch())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 3 || res.Duplicates != 0 || len(res.Failed) != 0 {
		t.Fatalf("result %+v", res)
	}
	st := stats(t, s, "site-abc-123", "2025-11-12")
	if st.Date == nil || *st.Date != "2025-11-12" || st.SiteID != "site-abc-123" {
		t.Fatalf("header %+v", st)
	}
	wantStats(t, st, 3, 2, seedTop...)
	wantStats(t, stats(t, s, "site-abc-123", ""), 3, 2, seedTop...)
	wantStats(t, stats(t, s, "site-abc-123", "2025-11-13"), 0, 0)
	if st := stats(t, s, "site-abc-123", ""); st.Date != nil {
		t.Fatalf("all-time date = %v, want null", *st.Date)
	}
	wantStats(t, stats(t, s, "other-site", ""), 0, 0)
}

func TestApplySameBatchTwiceCountsOnce(t *testing.T) {
	t.Parallel()
	// A processor that crashed after storing but before acking gets the same
	// batch again.
	s := openStore(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := s.Apply(ctx, seedBatch()); err != nil {
			t.Fatal(err)
		}
	}
	wantStats(t, stats(t, s, "site-abc-123", "2025-11-12"), 3, 2, seedTop...)
	wantStats(t, stats(t, s, "site-abc-123", ""), 3, 2, seedTop...)
}

func TestApplyCrashBetweenWrites(t *testing.T) {
	t.Parallel()
	// Fail at every point of the write sequence in turn, then re-apply the
	// batch (as the next owner replays it) and check nothing is lost or
	// doubled. The batch touches two days: parts, then one manifest.
	b := seedBatch()
	b.Entries = append(b.Entries, analytics.Entry{ID: "1000-3", Event: pv("e4", "site-abc-123", "/", "user-003", "2025-11-13T00:00:00Z")})
	for failAt := 1; failAt <= 2; failAt++ {
		t.Run(fmt.Sprintf("stage %d", failAt), func(t *testing.T) {
			s := openStore(t)
			var n atomic.Int32 // rollups are written concurrently
			crash := errors.New("simulated crash")
			s.hook = func(string) error {
				if n.Add(1) == int32(failAt) {
					return crash
				}
				return nil
			}
			if _, err := s.Apply(context.Background(), b); !errors.Is(err, crash) {
				t.Fatalf("Apply err = %v, want the simulated crash", err)
			}
			s.hook = nil
			for i := 0; i < 2; i++ {
				if _, err := s.Apply(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			wantStats(t, stats(t, s, "site-abc-123", "2025-11-12"), 3, 2, seedTop...)
			wantStats(t, stats(t, s, "site-abc-123", "2025-11-13"), 1, 1, analytics.PathViews{Path: "/", Views: 1})
			wantStats(t, stats(t, s, "site-abc-123", ""), 4, 3, seedTop[0], analytics.PathViews{Path: "/", Views: 1}, seedTop[1])
		})
	}
}

func TestApplyOverlappingBatches(t *testing.T) {
	t.Parallel()
	// A new owner may cut the replayed entries into other batches.
	s := openStore(t)
	ctx := context.Background()
	var evs []analytics.Event
	for i := 0; i < 40; i++ {
		evs = append(evs, pv(fmt.Sprintf("e%d", i), "s1", fmt.Sprintf("/p%d", i%4), fmt.Sprintf("u%d", i%7), "2025-11-12T12:00:00Z"))
	}
	full := batch(evs...)
	part := func(lo, hi int) analytics.Batch {
		return analytics.Batch{Partition: 0, Entries: full.Entries[lo:hi]}
	}
	for _, b := range []analytics.Batch{part(0, 10), part(0, 25), part(5, 30), part(25, 40), full} {
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	want := []analytics.PathViews{{Path: "/p0", Views: 10}, {Path: "/p1", Views: 10}, {Path: "/p2", Views: 10}, {Path: "/p3", Views: 10}}
	wantStats(t, stats(t, s, "s1", "2025-11-12"), 40, 7, want...)
}

func TestApplyDuplicateEventID(t *testing.T) {
	t.Parallel()
	// The same event sent twice (same id) lands in two queue entries.
	s := openStore(t)
	ctx := context.Background()
	ev := pv("same-id", "s1", "/a", "u1", "2025-11-12T12:00:00Z")
	res, err := s.Apply(ctx, batch(ev, ev))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || res.Duplicates != 1 {
		t.Fatalf("result %+v, want 1 stored 1 duplicate", res)
	}
	// And again in a later batch.
	later := analytics.Batch{Partition: 0, Entries: []analytics.Entry{{ID: "2000-0", Event: ev}}}
	res, err = s.Apply(ctx, later)
	if err != nil || res.Duplicates != 1 || res.Stored != 0 {
		t.Fatalf("later: result %+v err %v", res, err)
	}
	wantStats(t, stats(t, s, "s1", "2025-11-12"), 1, 1, analytics.PathViews{Path: "/a", Views: 1})
}

func TestUniqueUsersAcrossBatchesAndTypes(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	click := pv("c1", "s1", "", "u9", "2025-11-12T08:00:00Z")
	click.EventType = "click"
	anon := pv("a1", "s1", "/x", "", "2025-11-12T09:00:00Z")
	b1 := batch(pv("e1", "s1", "/x", "u1", "2025-11-12T01:00:00Z"), click, anon)
	b2 := analytics.Batch{Partition: 0, Entries: []analytics.Entry{
		{ID: "2000-0", Event: pv("e2", "s1", "/x", "u1", "2025-11-12T02:00:00Z")},
		{ID: "2000-1", Event: pv("e3", "s1", "/y", "u1", "2025-11-13T02:00:00Z")},
	}}
	for _, b := range []analytics.Batch{b1, b2} {
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Day 12: views e1, anon, e2 = 3; users u1 and u9 (the click counts as a user, not a view).
	wantStats(t, stats(t, s, "s1", "2025-11-12"), 3, 2, analytics.PathViews{Path: "/x", Views: 3})
	wantStats(t, stats(t, s, "s1", "2025-11-13"), 1, 1, analytics.PathViews{Path: "/y", Views: 1})
	wantStats(t, stats(t, s, "s1", ""), 4, 2, analytics.PathViews{Path: "/x", Views: 3}, analytics.PathViews{Path: "/y", Views: 1})
}

func TestPathsWithSpecialCharacters(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	// Every value becomes a counter under a hash of it, so none of these
	// can make a rollup update fail ("empty field name", "must not contain
	// '.'"), and an event type with outer whitespace counts on its own.
	paths := []string{"/a.b", "/$x", "/%2E", "/c%d", "/ü.html", "/x ", "/x\u00a0", "/ ", "/..", "/a..b", "/$", "/\x00x"}
	var evs []analytics.Event
	for i, p := range paths {
		evs = append(evs, pv(fmt.Sprintf("e%d", i), "s1", p, "", "2025-11-12T00:00:00Z"))
	}
	for i, typ := range []string{" click", "click ", "a.b", "$set", "\u00a0"} {
		ev := pv(fmt.Sprintf("t%d", i), "s1", "", "u1", "2025-11-12T00:00:00Z")
		ev.EventType = typ
		evs = append(evs, ev)
	}
	if _, err := s.Apply(context.Background(), batch(evs...)); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, s, "s1", "2025-11-12"); st.TotalViews != int64(len(paths)) || st.UniqueUsers != 1 {
		t.Fatalf("day: %+v", st)
	}
	st, err := s.Stats(context.Background(), analytics.StatsQuery{SiteID: "s1", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, p := range st.TopPaths {
		got[p.Path] = p.Views
	}
	for _, p := range paths {
		if got[p] != 1 {
			t.Fatalf("path %q: %d views; top paths %v", p, got[p], st.TopPaths)
		}
	}
}

func TestTopPathsLimitAndOrder(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	var evs []analytics.Event
	for i, p := range []string{"/b", "/a", "/c", "/d", "/b", "/a", "/c", "/c", "/c", "/c"} {
		evs = append(evs, pv(fmt.Sprint("e", i), "s", p, "", "2025-11-12T10:00:00Z"))
	}
	if _, err := s.Apply(context.Background(), batch(evs...)); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(context.Background(), analytics.StatsQuery{SiteID: "s", Date: "2025-11-12", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []analytics.PathViews{{Path: "/c", Views: 5}, {Path: "/a", Views: 2}, {Path: "/b", Views: 2}}
	if !reflect.DeepEqual(st.TopPaths, want) || st.TotalViews != 10 {
		t.Fatalf("got %+v, want top %v of 10 views", st, want)
	}
}

// noFence lets every write through: for store tests without a queue.
type noFence struct{}

func (noFence) WriteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

func TestRebuildReproducesBlocks(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	b := seedBatch()
	b.Entries = append(b.Entries, analytics.Entry{ID: "1000-3", Event: pv("e4", "site-abc-123", "/", "user-003", "2025-11-13T23:59:59Z")})
	if _, err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	before := []analytics.Stats{stats(t, s, "site-abc-123", "2025-11-12"), stats(t, s, "site-abc-123", "2025-11-13"), stats(t, s, "site-abc-123", "")}
	// Damage the blocks, then rebuild.
	names, err := s.db.ListCollectionNames(ctx, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(names, manifestsColl) {
		if _, ok := blockCollGen(n, "site-abc-123"); ok || n == manifestsColl {
			if err := s.db.Collection(n).Drop(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	var seen, total int
	res, err := s.Rebuild(ctx, "site-abc-123", noFence{}, 3, func(n, of int) { seen, total = n, of })
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 4 || res.Generation != 1 || seen != 4 || total != 4 {
		t.Fatalf("rebuild result %+v, progress %d/%d", res, seen, total)
	}
	after := []analytics.Stats{stats(t, s, "site-abc-123", "2025-11-12"), stats(t, s, "site-abc-123", "2025-11-13"), stats(t, s, "site-abc-123", "")}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after rebuild:\n%+v\nbefore:\n%+v", after, before)
	}
	// Replaying the same batch after a rebuild changes nothing.
	if _, err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if again := stats(t, s, "site-abc-123", ""); !reflect.DeepEqual(again, before[2]) {
		t.Fatalf("replay after rebuild changed stats: %+v", again)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := Open(ctx, "", DefaultConfig()); err == nil || analytics.KindOf(err) != analytics.Invalid {
		t.Fatalf("empty URI: %v", err)
	}
	if _, err := Open(ctx, "postgres://x", DefaultConfig()); err == nil || analytics.KindOf(err) != analytics.Invalid {
		t.Fatalf("wrong scheme: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := Open(cctx, "mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=300", DefaultConfig())
	if err == nil || analytics.KindOf(err) != analytics.Unavailable {
		t.Fatalf("dead server: %v (kind %v)", err, analytics.KindOf(err))
	}
}

func TestSitesListsSitesWithData(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	if sites, err := s.Sites(ctx); err != nil || len(sites) != 0 {
		t.Fatalf("empty store: %q, %v", sites, err)
	}
	b := batch(
		pv("s1", "zeta.example", "/", "u1", "2026-11-01T10:00:00Z"),
		pv("s2", "alpha.example", "/", "u1", "2026-10-01T10:00:00Z"),
		pv("s3", "zeta.example", "/x", "u2", "2026-11-02T10:00:00Z"),
	)
	if _, err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	sites, err := s.Sites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sites, ","); got != "alpha.example,zeta.example" {
		t.Errorf("sites %q; want alpha.example,zeta.example", got)
	}
}
