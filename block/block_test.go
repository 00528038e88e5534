package block

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
)

var hour = time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)

func events(n int, seed uint64) []analytics.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]analytics.Event, n)
	for i := range out {
		e := analytics.Event{ID: fmt.Sprint(i), SiteID: "s", EventType: analytics.PageView, Path: fmt.Sprintf("/p%d", rng.IntN(20)),
			UserID: fmt.Sprintf("u%d", rng.IntN(30)), Timestamp: hour.Add(time.Duration(rng.IntN(3600000)) * time.Millisecond),
			Source: []string{"", "Google", "news.example"}[rng.IntN(3)], Browser: "Firefox", Country: "DE"}
		if rng.IntN(4) == 0 {
			e.EventType = "signup"
			e.Props = map[string]any{"plan": []string{"pro", "free"}[rng.IntN(2)], "n": float64(rng.IntN(3))}
		}
		if rng.IntN(5) == 0 {
			e.UserID = ""
		}
		if rng.IntN(3) == 0 {
			e.Visit = &analytics.Visit{Attrs: analytics.VisitAttrs{Source: "Visit source", Country: "FR"}}
		}
		out[i] = e
	}
	return out
}

type row struct {
	ms      int64
	visitor uint64
	vals    [NumCols]string
}

func rowsOf(bs ...*Block) map[row]int {
	out := map[row]int{}
	for _, b := range bs {
		for r := range b.Len() {
			x := row{ms: b.Millis(r), visitor: b.Visitors[b.Visitor[r]]}
			for c := range NumCols {
				x.vals[c] = b.Value(c, r)
			}
			var ps []string
			for _, k := range b.PropKeys {
				if v, ok := b.Prop(k, r); ok {
					ps = append(ps, k+"="+v)
				}
			}
			slices.Sort(ps)
			x.vals[Name] += fmt.Sprint(ps) // props folded into the key
			out[x]++
		}
	}
	return out
}

func build(evs []analytics.Event) *Block {
	b := NewBuilder(hour)
	for i := range evs {
		b.AddEvent(&evs[i])
	}
	return b.Block()
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 7, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := build(events(n, uint64(n)))
			got, err := Decode(Encode(b))
			if err != nil {
				t.Fatal(err)
			}
			if got.Len() != b.Len() || !got.Hour.Equal(b.Hour) || !slices.Equal(got.TS, b.TS) || !slices.Equal(got.Visitors, b.Visitors) {
				t.Fatalf("decoded block differs:\n got %+v\nwant %+v", got, b)
			}
			want, have := rowsOf(b), rowsOf(got)
			for k, n := range want {
				if have[k] != n {
					t.Fatalf("row %+v: decoded %d times, want %d", k, have[k], n)
				}
			}
		})
	}
}

func TestValuesTakeTheVisitNote(t *testing.T) {
	e := analytics.Event{EventType: "page_view", Path: "/x", Source: "Own", Country: "DE",
		Visit: &analytics.Visit{Attrs: analytics.VisitAttrs{Source: "Google", Country: "FR"}}}
	v := Values(&e)
	if v[Source] != "Google" || v[Country] != "FR" || v[Path] != "/x" {
		t.Fatalf("visit attributes not taken from the note: %q", v)
	}
	e.Visit.Late = true // a late event's note carries no attributes
	if v := Values(&e); v[Source] != "Own" || v[Country] != "DE" {
		t.Fatalf("late event: want its own attributes, got %q", v)
	}
}

func TestMergeSortsByVisitorAndTimeAndKeepsEveryRow(t *testing.T) {
	evs := events(3000, 7)
	parts := []*Block{build(evs[:1000]), build(evs[1000:1001]), build(evs[1001:])}
	merged := Merge(hour, parts)
	if len(merged) != 1 {
		t.Fatalf("got %d blocks, want 1", len(merged))
	}
	m := merged[0]
	for r := 1; r < m.Len(); r++ {
		a, b := m.Visitors[m.Visitor[r-1]], m.Visitors[m.Visitor[r]]
		if a > b || (a == b && m.TS[r-1] > m.TS[r]) {
			t.Fatalf("row %d out of order", r)
		}
	}
	want, got := rowsOf(build(evs)), rowsOf(merged...)
	if len(want) != len(got) {
		t.Fatalf("merged rows: %d distinct, want %d", len(got), len(want))
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("row %+v: %d times, want %d", k, got[k], n)
		}
	}
}

func TestMergeSplitsAtMaxRows(t *testing.T) {
	b := NewBuilder(hour)
	for i := range MaxRows + 10 {
		b.Add(hour.UnixMilli()+int64(i%3600000), uint64(i%97)+1, [NumCols]string{Name: "page_view", Path: fmt.Sprint("/", i)}, nil, 0)
	}
	merged := Merge(hour, []*Block{b.Block()})
	if len(merged) != 2 || merged[0].Len() != MaxRows || merged[1].Len() != 10 {
		t.Fatalf("got %d blocks", len(merged))
	}
}

func TestDecodeRefusesGarbage(t *testing.T) {
	good := Encode(build(events(50, 3)))
	for _, bad := range [][]byte{nil, []byte("x"), good[:len(good)/2], append([]byte{}, good[1:]...)} {
		if _, err := Decode(bad); err == nil {
			t.Fatalf("Decode(%d bytes) accepted garbage", len(bad))
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(build(events(20, 1))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must be safe to read and re-encode.
		for r := range b.Len() {
			for c := range NumCols {
				_ = b.Value(c, r)
			}
			_ = b.Visitors[b.Visitor[r]]
		}
		if _, err := Decode(Encode(b)); err != nil {
			t.Fatalf("re-encoded block does not decode: %v", err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	data := Encode(build(events(1500, 9)))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// Rows of one queue place (an event written twice, by two deliveries of
// its batch under other bounds) are one row after Merge; rows of unknown
// place are all kept.
func TestMergeKeepsOneRowPerQueuePlace(t *testing.T) {
	evs := events(40, 5)
	a, b := NewBuilder(hour), NewBuilder(hour)
	for i := range evs[:30] {
		a.AddEventAt(&evs[i], uint64(i+1))
	}
	for i := 10; i < 40; i++ {
		b.AddEventAt(&evs[i], uint64(i+1))
	}
	c := NewBuilder(hour)
	c.AddEvent(&evs[0])
	c.AddEvent(&evs[0])
	merged := Merge(hour, []*Block{a.Block(), b.Block(), c.Block()})
	n := 0
	for _, m := range merged {
		n += m.Len()
	}
	if n != 42 {
		t.Fatalf("%d rows after merge, want 40 places + 2 of unknown place", n)
	}
	got, err := Decode(Encode(merged[0]))
	if err != nil || !slices.Equal(got.Pos, merged[0].Pos) {
		t.Fatalf("queue places do not survive encoding: %v", err)
	}
}

// A column no row has a value of shares one array of zeros, in built,
// merged and decoded blocks alike, and Size does not count it; a merged
// block's columns take no more room than its rows need.
func TestEmptyColumnsAreSharedAndCountedOnce(t *testing.T) {
	evs := events(2000, 9) // no utm_* values
	built := build(evs)
	merged := Merge(hour, []*Block{built})
	if len(merged) != 1 {
		t.Fatalf("merged into %d blocks", len(merged))
	}
	decoded, err := Decode(Encode(merged[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*Block{built, merged[0], decoded} {
		for _, c := range []Col{UTMSource, UTMTerm} {
			if !isZeroCol(b.Cols[c]) || len(b.Cols[c]) != b.Len() || cap(b.Cols[c]) != b.Len() {
				t.Fatalf("column %d: len %d cap %d, shared %v; want the shared zeros of %d rows", c, len(b.Cols[c]), cap(b.Cols[c]), isZeroCol(b.Cols[c]), b.Len())
			}
		}
		if isZeroCol(b.Cols[Path]) {
			t.Fatal("a column with values shares the zeros")
		}
	}
	for c := range NumCols {
		// (up to the allocator's size class, not twice the rows)
		if got := cap(merged[0].Cols[c]); got > merged[0].Len()+merged[0].Len()/16 {
			t.Fatalf("merged column %d has room for %d rows, holds %d", c, got, merged[0].Len())
		}
	}
	// 2000 rows: time 4, visitor 2, and 2 for each of the columns with
	// values; the shared ones add nothing.
	withValues := 0
	for c := range NumCols {
		if len(decoded.Dicts[c]) > 1 {
			withValues++
		}
	}
	if withValues == int(NumCols) {
		t.Fatal("the workload has no empty column")
	}
	rowBytes := 2000 * (4 + 2 + 2*withValues)
	if got := decoded.Size(); got < rowBytes || got > rowBytes+20_000 {
		t.Fatalf("Size %d, want %d for the rows plus dictionaries", got, rowBytes)
	}
	if rowsOf(decoded)[row{}] != 0 || !equalRows(rowsOf(built), rowsOf(decoded)) {
		t.Fatal("rows changed")
	}
}

// WithoutPos keeps every row and column but the queue places.
func TestWithoutPos(t *testing.T) {
	b := NewBuilder(hour)
	for i := range 10 {
		b.Add(hour.UnixMilli()+int64(i), uint64(i%3)+1, [NumCols]string{Name: "page_view", Path: fmt.Sprint("/", i)}, map[string]string{"k": fmt.Sprint(i % 2)}, uint64(i+1))
	}
	full := b.Block()
	slim := full.WithoutPos()
	if slim.Pos != nil || full.Pos == nil || slim == full {
		t.Fatalf("Pos: full %v, slim %v", full.Pos != nil, slim.Pos != nil)
	}
	if !equalRows(rowsOf(full), rowsOf(slim)) {
		t.Fatal("rows changed")
	}
	if slim.WithoutPos() != slim {
		t.Fatal("a block without queue places is copied again")
	}
}

func equalRows(a, b map[row]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
