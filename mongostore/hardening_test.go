package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"

	"github.com/siteanalytics/analytics"
)

func TestIDsAreScopedToTheSite(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	a := pv("shared-id", "site-a", "/a", "u1", "2025-11-12T12:00:00Z")
	b := pv("shared-id", "site-b", "/b", "u1", "2025-11-12T12:00:00Z")
	res, err := s.Apply(ctx, batch(a, b))
	if err != nil || res.Stored != 2 || res.Duplicates != 0 {
		t.Fatalf("two sites, one id: %+v, %v", res, err)
	}
	// Redelivered (same entries) and resent (new entries): counted once.
	if _, err := s.Apply(ctx, batch(a, b)); err != nil {
		t.Fatal(err)
	}
	res, err = s.Apply(ctx, analytics.Batch{Entries: []analytics.Entry{{ID: "2000-0", Event: b}, {ID: "2000-1", Event: a}}})
	if err != nil || res.Duplicates != 2 {
		t.Fatalf("resent: %+v, %v", res, err)
	}
	wantStats(t, stats(t, s, "site-a", "2025-11-12"), 1, 1, analytics.PathViews{Path: "/a", Views: 1})
	wantStats(t, stats(t, s, "site-b", "2025-11-12"), 1, 1, analytics.PathViews{Path: "/b", Views: 1})
}

// Once an entry's raw document is stored, nothing may dead-letter it: a
// permanent-looking failure later is retried, and counts stay exact.
func TestNothingIsRefusedAfterTheRawInsert(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"blocks"} {
		t.Run(stage, func(t *testing.T) {
			s := openStore(t)
			ctx := context.Background()
			s.hook = func(st string) error {
				if st == stage {
					return analytics.Errorf(analytics.Invalid, "refused for good (simulated)")
				}
				return nil
			}
			res, err := s.Apply(ctx, seedBatch())
			if analytics.KindOf(err) != analytics.Unavailable || len(res.Failed) != 0 {
				t.Fatalf("after the raw insert: kind %v, failed %v, err %v; want Unavailable and nothing failed", analytics.KindOf(err), res.Failed, err)
			}
			s.hook = nil
			if _, err := s.Apply(ctx, seedBatch()); err != nil {
				t.Fatal(err)
			}
			wantStats(t, stats(t, s, "site-abc-123", "2025-11-12"), 3, 2, seedTop...)
		})
	}
}

// path, across many batches of skewed traffic.
func TestLeadersAreExact(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	truth := map[string]int64{}
	id := 0
	for n := 0; n < 12; n++ {
		b := analytics.Batch{}
		for i := 0; i < 200; i++ {
			p := fmt.Sprintf("/p%d", int(rng.ExpFloat64()*40)%300)
			truth[p]++
			b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-%d", 1000+n, i), Event: pv(fmt.Sprintf("e%d", id), "s", p, "", "2025-11-12T00:00:00Z")})
			id++
		}
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var want []analytics.PathViews
	for p, v := range truth {
		want = append(want, analytics.PathViews{Path: p, Views: v})
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].Views != want[j].Views {
			return want[i].Views > want[j].Views
		}
		return want[i].Path < want[j].Path
	})
	st, err := s.Stats(ctx, analytics.StatsQuery{SiteID: "s", Date: "2025-11-12", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.TopPaths, want[:min(100, len(want))]) {
		t.Fatalf("top paths differ from the truth:\ngot  %v\nwant %v", st.TopPaths, want[:min(100, len(want))])
	}
}

// cutFence lets n write contexts through, then fences every later one, as
// a lost hold would.
type cutFence struct {
	mu sync.Mutex
	n  int
}

func (f *cutFence) WriteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n < 0 {
		c, cancel := context.WithCancelCause(ctx)
		cancel(analytics.ErrFenced)
		return c, func() {}
	}
	return context.WithCancel(ctx)
}

// A rebuild cut off at any point leaves what readers see unchanged; a full
// one reproduces it and removes the generations nobody reads.
func TestRebuildIsInvisibleUntilItSwitches(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	var evs []analytics.Event
	for i := 0; i < 60; i++ {
		evs = append(evs, pv(fmt.Sprintf("e%d", i), "site", fmt.Sprintf("/p%d", i%7), fmt.Sprintf("u%d", i%9), fmt.Sprintf("2025-11-%02dT12:00:00Z", 10+i%3)))
	}
	if _, err := s.Apply(ctx, batch(evs...)); err != nil {
		t.Fatal(err)
	}
	read := func() []analytics.Stats {
		return []analytics.Stats{stats(t, s, "site", "2025-11-10"), stats(t, s, "site", "2025-11-11"), stats(t, s, "site", "2025-11-12"), stats(t, s, "site", "")}
	}
	before := read()
	for cut := 0; cut < 8; cut++ {
		if _, err := s.Rebuild(ctx, "site", &cutFence{n: cut}, 10, nil); !errors.Is(err, analytics.ErrFenced) {
			t.Fatalf("rebuild cut after %d writes: %v", cut, err)
		}
		if got := read(); !reflect.DeepEqual(got, before) {
			t.Fatalf("cut after %d writes, readers see\n%+v\nnot\n%+v", cut, got, before)
		}
	}
	res, err := s.Rebuild(ctx, "site", noFence{}, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); !reflect.DeepEqual(got, before) {
		t.Fatalf("after rebuild\n%+v\nnot\n%+v", got, before)
	}
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if g, ok := blockCollGen(n, "site"); ok && g != res.Generation {
			t.Fatalf("%s of an old generation left", n)
		}
	}
	// Processing goes on in the new generation, exactly.
	more := analytics.Batch{Entries: []analytics.Entry{{ID: "2000-0", Event: pv("late", "site", "/p0", "u-new", "2025-11-12T13:00:00Z")}}}
	if _, err := s.Apply(ctx, more); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, batch(evs...)); err != nil { // a replay of old entries
		t.Fatal(err)
	}
	got := stats(t, s, "site", "2025-11-12")
	if got.TotalViews != before[2].TotalViews+1 || got.UniqueUsers != before[2].UniqueUsers+1 {
		t.Fatalf("after the rebuild: %+v, before %+v", got, before[2])
	}
}

func TestClassifyKnowsOnlyListedCausesArePermanent(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	c := s.db.Collection("classify")
	// Real refusals from the server under test.
	_, errDollar := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "p", Value: bson.D{{Key: "$bad", Value: 1}}}})
	_, errDot := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "y"}, {Key: "p", Value: bson.D{{Key: "a.b", Value: 1}}}})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, errCanceled := c.InsertOne(cctx, bson.D{{Key: "_id", Value: "w"}})
	cases := []struct {
		name string
		err  error
		want analytics.Kind
	}{
		{"key starting with $ (server)", errDollar, analytics.Invalid},
		{"key containing . (server)", errDot, analytics.Invalid},
		{"document too large (driver)", fmt.Errorf("insert: %w", driver.ErrDocumentTooLarge), analytics.Invalid},
		{"BadValue", mongo.CommandError{Code: 2, Message: "bad value"}, analytics.Invalid},
		{"DollarPrefixedFieldName", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 52}}}, analytics.Invalid},
		{"EmptyFieldName", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 56}}}, analytics.Invalid},
		{"DottedFieldName", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 57}}}, analytics.Invalid},
		{"BSONObjectTooLarge", mongo.CommandError{Code: 10334}, analytics.Invalid},
		{"KeyTooLong", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 17280}}}, analytics.Invalid},
		{"unknown server error", mongo.CommandError{Code: 8000, Message: "something new"}, analytics.Unavailable},
		{"internal error", mongo.CommandError{Code: 1, Message: "InternalError"}, analytics.Unavailable},
		{"write concern", mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64}}, analytics.Unavailable},
		{"plain error", errors.New("connection reset by peer"), analytics.Unavailable},
		{"canceled", errCanceled, analytics.Unavailable},
		{"deadline", context.DeadlineExceeded, analytics.Unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("the server accepted what it should refuse")
			}
			if got := analytics.KindOf(classify("op", tc.err)); got != tc.want {
				t.Fatalf("classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestCompareAndSetAtomicity documents which backends give an atomic
// compare-and-set: two updates guarded by the same watermark, run at once,
// must not both match. MongoDB guarantees it for single-document updates;
// FerretDB v1.24 does not (it reads, filters in Go, then writes), which is
// why writers are fenced instead of relying on it. The test requires
