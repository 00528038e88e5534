package mongostore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

func rowsIn(t *testing.T, s *Store, site string, from, to time.Time) int {
	t.Helper()
	bl, err := s.Blocks(context.Background(), site, from, to)
	if err != nil {
		t.Fatalf("Blocks: %v", err)
	}
	n := 0
	for _, b := range bl {
		n += b.Len()
	}
	return n
}

func pageviews(t *testing.T, s *Store, site string, from, to time.Time) float64 {
	t.Helper()
	res, err := engine.New(s).Query(context.Background(), engine.Query{Site: site, From: from, To: to, Metrics: []string{engine.Pageviews}})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	return res.Rows[0].Metrics[0].(float64)
}

// A batch applied twice, a resent event and a batch regrouped on
// redelivery each leave every event in exactly one block row.
func TestBlocksExactlyOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	site := testSite(t)
	day := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	var evs []analytics.Event
	for i := range 30 {
		evs = append(evs, analytics.Event{ID: fmt.Sprint("e", i), SiteID: site, EventType: analytics.PageView, Path: "/",
			UserID: fmt.Sprint("u", i%7), Timestamp: day.Add(time.Duration(i) * 17 * time.Minute)})
	}
	mk := func(from, to int) analytics.Batch {
		b := analytics.Batch{Partition: 3}
		for i := from; i < to; i++ {
			b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-0", 1000+i), Event: evs[i]})
		}
		return b
	}
	// First delivery: entries 0-19; then a processor with a smaller batch
	// size redelivers 0-9 and 10-19 (another grouping), then 20-29 come
	// twice.
	for _, b := range []analytics.Batch{mk(0, 20), mk(0, 10), mk(10, 20), mk(20, 30), mk(20, 30)} {
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A resend of event 5 under a new entry: a duplicate, in no part.
	resent := analytics.Batch{Partition: 3, Entries: []analytics.Entry{{ID: "2000-0", Event: evs[5]}}}
	if res, err := s.Apply(ctx, resent); err != nil || res.Duplicates != 1 {
		t.Fatalf("resend: %+v %v", res, err)
	}
	if n := rowsIn(t, s, site, day, day.AddDate(0, 0, 1)); n != 30 {
		t.Fatalf("block rows: %d, want 30", n)
	}
	if pv := pageviews(t, s, site, day, day.AddDate(0, 0, 1)); pv != 30 {
		t.Fatalf("pageviews: %v, want 30", pv)
	}
	// Compaction, then a late redelivery of an already merged batch.
	s.now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	if err := s.compactDue(ctx, []string{site}, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, mk(20, 30)); err != nil {
		t.Fatal(err)
	}
	if n := rowsIn(t, s, site, day, day.AddDate(0, 0, 1)); n != 30 {
		t.Fatalf("after compaction and redelivery: %d rows, want 30", n)
	}
	m, err := s.readManifest(ctx, site, 0, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for f, ids := range m {
		if f[0] == 'h' && (len(ids) != 1 || isPart(ids[0])) {
			t.Fatalf("hour %s not compacted: %v", f, ids)
		}
	}
	// A fresh reader (cold cache) sees the same.
	s.cache = newBlockCache(0)
	if n := rowsIn(t, s, site, day, day.AddDate(0, 0, 1)); n != 30 {
		t.Fatalf("cold reader: %d rows, want 30", n)
	}
}

func testSite(t *testing.T) string {
	return fmt.Sprintf("blk-%d", time.Now().UnixNano())
}

// Events stored before the browser, OS and device names became
// Plausible's are answered under the new names, in one row with the events
// stored since, and a filter by the new name finds both.
func TestFormerNamesAreAnsweredUnderTodays(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	site := testSite(t)
	at := time.Date(2026, 3, 8, 10, 0, 0, 0, time.UTC)
	b := analytics.Batch{Partition: 1}
	for i, a := range [][3]string{{"Samsung Internet", "macOS", "desktop"}, {"Samsung Browser", "Mac", "Desktop"}, {"Edge", "Linux", "mobile"}} {
		b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-0", 10+i), Event: analytics.Event{
			ID: fmt.Sprint("n", i), SiteID: site, EventType: analytics.PageView, Path: "/", UserID: fmt.Sprint("u", i),
			Timestamp: at.Add(time.Duration(i) * time.Minute), Browser: a[0], OS: a[1], Device: a[2]}})
	}
	if _, err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		dim  string
		want map[string]float64
	}{
		{"visit:browser", map[string]float64{"Samsung Browser": 2, "Edge": 1}},
		{"visit:os", map[string]float64{"Mac": 2, "Linux": 1}},
		{"visit:device", map[string]float64{"Desktop": 2, "Mobile": 1}},
	} {
		res, err := engine.New(s).Query(ctx, engine.Query{Site: site, From: at.Add(-time.Hour), To: at.Add(time.Hour),
			Metrics: []string{engine.Pageviews}, Dimensions: []string{tt.dim}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, r := range res.Rows {
			got[fmt.Sprint(r.Dimensions[0])] = r.Metrics[0].(float64)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %v, want %v", tt.dim, got, tt.want)
		}
	}
	res, err := engine.New(s).Query(ctx, engine.Query{Site: site, From: at.Add(-time.Hour), To: at.Add(time.Hour), Metrics: []string{engine.Pageviews},
		Filter: &engine.Filter{Op: "is", Dim: "visit:os", Values: []string{"Mac"}}})
	if err != nil || res.Rows[0].Metrics[0].(float64) != 2 {
		t.Errorf("page views of visit:os is Mac: %v %v, want 2", res.Rows, err)
	}
}

// A reader keeps a closed hour once: merged, without queue places, and
// not also as the documents it was merged from; an open hour keeps its
// documents, since each new part is merged with them.
func TestBlockCacheHoldsAClosedHourOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	site := testSite(t)
	now := time.Now().UTC().Truncate(time.Hour)
	closed, open := now.Add(-5*time.Hour), now
	var n int
	apply := func(at time.Time, k int) {
		b := analytics.Batch{Partition: 1}
		for range k {
			b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-0", 5000+n), Event: analytics.Event{ID: fmt.Sprint("c", n), SiteID: site,
				EventType: analytics.PageView, Path: fmt.Sprint("/", n%5), UserID: fmt.Sprint("u", n%4), Timestamp: at.Add(time.Duration(n) * time.Second)}})
			n++
		}
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Two parts in each hour.
	apply(closed, 20)
	apply(closed, 20)
	apply(open, 10)
	apply(open, 10)
	bl, err := s.Blocks(ctx, site, closed, open.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rows, size := 0, 0
	for _, b := range bl {
		if b.Pos != nil {
			t.Fatal("a merged block keeps its queue places")
		}
		rows += b.Len()
		size += b.Size()
	}
	if rows != 60 {
		t.Fatalf("%d rows, want 60", rows)
	}
	st := s.BlockCacheStats()
	// The two merged hours, and the open hour's two parts.
	if st.Entries != 4 {
		t.Fatalf("cache entries %d, want 4 (2 merged hours, 2 parts of the open hour)", st.Entries)
	}
	var openParts int
	for _, b := range bl {
		if b.Hour.Equal(open) {
			openParts += b.Size()
		}
	}
	if st.Bytes > size+2*openParts+4*200 {
		t.Fatalf("cache holds %d bytes for %d bytes of blocks: counted twice", st.Bytes, size)
	}
	// Read again: all from the cache, the same rows.
	if got := rowsIn(t, s, site, closed, open.Add(time.Hour)); got != 60 {
		t.Fatalf("second read: %d rows", got)
	}
	if st2 := s.BlockCacheStats(); st2.Misses != st.Misses || st2.Entries != 4 {
		t.Fatalf("second read missed the cache: %+v then %+v", st, st2)
	}
}

// Readers reading the same closed hours at once (a dashboard's first load
// asks a dozen questions of one range) leave each hour cached once: one
// merges it, and the others' fetched documents are dropped too.
func TestBlockCacheHoldsClosedHoursOnceUnderConcurrentReads(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	site := testSite(t)
	first := time.Now().UTC().Truncate(time.Hour).Add(-30 * time.Hour)
	const n = 24 * 20
	for k := range 2 { // two parts an hour: even and odd events
		b := analytics.Batch{Partition: 2}
		for i := k; i < n; i += 2 {
			b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-0", 7000+i), Event: analytics.Event{ID: fmt.Sprint("r", i), SiteID: site,
				EventType: analytics.PageView, Path: "/", UserID: fmt.Sprint("u", i%9), Timestamp: first.Add(time.Duration(i) * 3 * time.Minute)}})
		}
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if got := rowsIn(t, s, site, first, first.Add(24*time.Hour)); got != n {
				t.Errorf("%d rows, want %d", got, n)
			}
		})
	}
	wg.Wait()
	if st := s.BlockCacheStats(); st.Entries != 24 {
		t.Fatalf("%d cache entries for 24 closed hours, want 24: %+v", st.Entries, st)
	}
}
