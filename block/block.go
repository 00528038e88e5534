// Package block is the compact, scan-friendly form of a site's events: a
// Block holds up to MaxRows events of one site, column by column, each
// string column dictionary-encoded (row values are small indexes into the
// column's dictionary). The processor writes the events each queue entry
// stored first as an encoded part per (site, UTC hour); readers decode the
// parts of an hour, merge them into blocks sorted by visitor and time
// (Merge), and scan those (package engine).
//
// It uses only the standard library and a compressor.
package block

import (
	"cmp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/siteanalytics/analytics"
)

// MaxRows is the most rows a Block holds, so that every dictionary index
// fits in a uint16.
const MaxRows = 1<<16 - 1

// Col names a string column.
type Col int

// The string columns. The visit columns (Source to Country) hold the
// attributes of the event's visit as the collector noted them (the first
// event of the visit), or the event's own when it has no note.
const (
	Name Col = iota
	Path
	Source // "" is direct
	Referrer
	UTMSource
	UTMMedium
	UTMCampaign
	UTMContent
	UTMTerm
	Browser
	OS
	Device
	Country
	NumCols
)

// Block is a set of events of one site, column by column. Index 0 of every
// dictionary is "" (no value).
type Block struct {
	// Hour is the UTC hour of the block's first possible row: a merged
	// block (Merge) holds that hour's rows only; a part as a batch writes
	// it may hold later hours of the same month.
	Hour time.Time
	// TS is each row's time, in milliseconds since Hour (so a block spans
	// at most 49 days).
	TS []uint32
	// Visitor is each row's index into Visitors.
	Visitor []uint16
	// Visitors are the 64-bit hashes of the block's visitor ids (user ids);
	// Visitors[0] is 0: no visitor.
	Visitors []uint64
	// Pos is each row's place in the queue: a 64-bit hash of its partition
	// and entry (0: unknown). Two rows with one Pos are one event written
	// twice (a batch delivered again, under other bounds, or by a writer
	// that lost its lease): Merge keeps one. nil when no row has one.
	Pos []uint64
	// Cols are each row's index into the column's Dicts entry.
	Cols  [NumCols][]uint16
	Dicts [NumCols][]string
	// Props are the custom properties: for each key, each row's index into
	// the key's dictionary (0: the row has no such property).
	PropKeys  []string
	Props     [][]uint16
	PropDicts [][]string

	// Memo is where a reader keeps what it derives from the block once
	// (the engine: its visitors' dense ids); blocks never change, so it
	// stays true as long as its owner says so.
	Memo atomic.Pointer[Memo]
}

// Memo is a reader's note on a block: Owner says whose it is.
type Memo struct {
	Owner any
	IDs   []int32
}

// Len is the number of rows.
func (b *Block) Len() int { return len(b.TS) }

// Time returns row r's time.
func (b *Block) Time(r int) time.Time { return b.Hour.Add(time.Duration(b.TS[r]) * time.Millisecond) }

// Millis returns row r's time in Unix milliseconds.
func (b *Block) Millis(r int) int64 { return b.Hour.UnixMilli() + int64(b.TS[r]) }

// Value returns row r's value of column c.
func (b *Block) Value(c Col, r int) string { return b.Dicts[c][b.Cols[c][r]] }

// Prop returns row r's value of custom property key, and whether it has one.
func (b *Block) Prop(key string, r int) (string, bool) {
	for i, k := range b.PropKeys {
		if k == key {
			v := b.Props[i][r]
			return b.PropDicts[i][v], v != 0
		}
	}
	return "", false
}

// zeros backs the column of every block whose dictionary is only "" (a
// column no row has a value of, such as utm_term on most sites): blocks
// never change, so they can share it instead of two bytes a row each.
var zeros = make([]uint16, MaxRows)

// zeroCol returns a column of n zeros: shared up to MaxRows rows, capped
// so that an append copies instead of writing into the shared array.
func zeroCol(n int) []uint16 {
	if n > len(zeros) {
		return make([]uint16, n)
	}
	return zeros[:n:n]
}

func isZeroCol(col []uint16) bool { return len(col) > 0 && &col[0] == &zeros[0] }

// WithoutPos returns a block of b's rows without their queue places: the
// form a reader keeps, once merged, since only merging reads Pos (eight
// bytes a row).
func (b *Block) WithoutPos() *Block {
	if b.Pos == nil {
		return b
	}
	return &Block{Hour: b.Hour, TS: b.TS, Visitor: b.Visitor, Visitors: b.Visitors, Cols: b.Cols, Dicts: b.Dicts, PropKeys: b.PropKeys, Props: b.Props, PropDicts: b.PropDicts}
}

// Size is an estimate of the bytes the block holds in memory.
func (b *Block) Size() int {
	n := 200 + cap(b.TS)*4 + cap(b.Visitor)*2 + len(b.Visitors)*8 + cap(b.Pos)*8
	for c := range NumCols {
		if !isZeroCol(b.Cols[c]) {
			n += cap(b.Cols[c]) * 2
		}
		for _, s := range b.Dicts[c] {
			n += len(s) + 16
		}
	}
	for i, k := range b.PropKeys {
		n += len(k) + 16 + len(b.Props[i])*2
		for _, s := range b.PropDicts[i] {
			n += len(s) + 16
		}
	}
	return n
}

// Hash is the 64-bit hash a visitor id is kept as (FNV-1a, never 0 for a
// non-empty id). Two ids of one site meeting on one hash is a 1 in 2^64
// event per pair.
func Hash(id string) uint64 {
	if id == "" {
		return 0
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return h
}

// PropString is the form a custom property's value is kept and matched in:
// strings as they are, numbers in their shortest decimal form, booleans as
// "true" and "false".
func PropString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return ""
	}
	return ""
}

// Values returns an event's string columns as a Block stores them.
func Values(e *analytics.Event) [NumCols]string {
	var v [NumCols]string
	v[Name], v[Path] = e.EventType, e.Path
	a := e.VisitAttrs()
	if e.Visit != nil && !e.Visit.Late {
		a = e.Visit.Attrs
	}
	v[Source], v[Referrer], v[UTMSource], v[UTMMedium], v[UTMCampaign] = a.Source, a.Referrer(), a.UTMSource, a.UTMMedium, a.UTMCampaign
	v[UTMContent], v[UTMTerm] = e.UTMContent, e.UTMTerm
	v[Browser], v[OS], v[Device], v[Country] = a.Browser, a.OS, a.Device, a.Country
	return v
}

// Builder collects rows into Blocks of one hour.
type Builder struct {
	hour     time.Time
	ts       []uint32
	visitor  []uint16
	visitors []uint64
	vidx     map[uint64]uint16
	cols     [NumCols][]uint16
	dicts    [NumCols][]string
	idx      [NumCols]map[string]uint16
	propKeys []string
	props    [][]uint16
	pdicts   [][]string
	pidx     []map[string]uint16
	pos      []uint64
}

// NewBuilder starts a block of the UTC hour of t.
func NewBuilder(hour time.Time) *Builder {
	b := &Builder{hour: hour.UTC().Truncate(time.Hour), visitors: []uint64{0}, vidx: map[uint64]uint16{0: 0}}
	for c := range NumCols {
		b.dicts[c] = []string{""}
		b.idx[c] = map[string]uint16{"": 0}
	}
	return b
}

// Full reports whether the block holds MaxRows rows.
func (b *Builder) Full() bool { return len(b.ts) >= MaxRows }

// Len is the number of rows added.
func (b *Builder) Len() int { return len(b.ts) }

// AddEvent adds an event of the builder's hour, of unknown place in the
// queue.
func (b *Builder) AddEvent(e *analytics.Event) { b.AddEventAt(e, 0) }

// AddEventAt adds an event at queue place pos (see Block.Pos).
func (b *Builder) AddEventAt(e *analytics.Event, pos uint64) {
	props := make(map[string]string, len(e.Props))
	for k, v := range e.Props {
		props[k] = PropString(v)
	}
	b.Add(e.Timestamp.UnixMilli(), Hash(e.UserID), Values(e), props, pos)
}

// Add adds a row: its time in Unix milliseconds (within the builder's
// hour), visitor hash, string columns, custom properties and queue place.
func (b *Builder) Add(ms int64, visitor uint64, vals [NumCols]string, props map[string]string, pos uint64) {
	r := len(b.ts)
	if pos != 0 && b.pos == nil {
		b.pos = make([]uint64, r, cap(b.ts))
	}
	if b.pos != nil {
		b.pos = append(b.pos, pos)
	}
	b.ts = append(b.ts, uint32(ms-b.hour.UnixMilli()))
	vi, ok := b.vidx[visitor]
	if !ok {
		vi = uint16(len(b.visitors))
		b.vidx[visitor] = vi
		b.visitors = append(b.visitors, visitor)
	}
	b.visitor = append(b.visitor, vi)
	for c := range NumCols {
		b.cols[c] = append(b.cols[c], intern(&b.dicts[c], b.idx[c], vals[c]))
	}
	for k, v := range props {
		if v == "" {
			continue
		}
		i := slices.Index(b.propKeys, k)
		if i < 0 {
			i = len(b.propKeys)
			b.propKeys = append(b.propKeys, k)
			b.props = append(b.props, make([]uint16, r, cap(b.ts)))
			b.pdicts = append(b.pdicts, []string{""})
			b.pidx = append(b.pidx, map[string]uint16{"": 0})
		}
		for len(b.props[i]) < r {
			b.props[i] = append(b.props[i], 0)
		}
		b.props[i] = append(b.props[i], intern(&b.pdicts[i], b.pidx[i], v))
	}
}

func intern(dict *[]string, idx map[string]uint16, s string) uint16 {
	if i, ok := idx[s]; ok {
		return i
	}
	i := uint16(len(*dict))
	idx[s] = i
	*dict = append(*dict, s)
	return i
}

// grow makes room for n more rows in the row columns.
func (b *Builder) grow(n int) {
	b.ts = slices.Grow(b.ts, n)
	b.visitor = slices.Grow(b.visitor, n)
	for c := range NumCols {
		b.cols[c] = slices.Grow(b.cols[c], n)
	}
}

// Block returns the rows added, in the order added.
func (b *Builder) Block() *Block {
	n := len(b.ts)
	out := &Block{Hour: b.hour, TS: b.ts, Visitor: b.visitor, Visitors: b.visitors, Pos: b.pos, Cols: b.cols, Dicts: b.dicts, PropKeys: b.propKeys, PropDicts: b.pdicts}
	for c := range NumCols {
		if len(out.Dicts[c]) == 1 {
			out.Cols[c] = zeroCol(n)
		}
	}
	out.Props = make([][]uint16, len(b.props))
	for i, p := range b.props {
		for len(p) < n {
			p = append(p, 0)
		}
		out.Props[i] = p
	}
	return out
}

// Merge combines the rows of hour in parts into blocks of at most MaxRows
// rows sorted by visitor hash and time, each with its own dictionaries:
// the form the engine scans (a visitor's events of the hour are
// consecutive). Of rows with one queue place (Pos), it keeps one.
func Merge(hour time.Time, parts []*Block) []*Block {
	type ref struct {
		b *Block
		r int
	}
	var refs []ref
	lo := hour.UnixMilli()
	seen := map[uint64]bool{}
	for _, p := range parts {
		for r := range p.Len() {
			if ms := p.Millis(r); ms < lo || ms >= lo+3600_000 {
				continue
			}
			if p.Pos != nil && p.Pos[r] != 0 {
				if seen[p.Pos[r]] {
					continue
				}
				seen[p.Pos[r]] = true
			}
			refs = append(refs, ref{p, r})
		}
	}
	slices.SortFunc(refs, func(x, y ref) int {
		if c := cmp.Compare(x.b.Visitors[x.b.Visitor[x.r]], y.b.Visitors[y.b.Visitor[y.r]]); c != 0 {
			return c
		}
		// By time, not TS: parts count their TS from different hours.
		return cmp.Compare(x.b.Millis(x.r), y.b.Millis(y.r))
	})
	var out []*Block
	bld := NewBuilder(hour)
	// Sized once: a builder's columns grown by appending would keep up
	// to twice the room they need, for as long as the block is cached.
	bld.grow(min(len(refs), MaxRows))
	props := map[string]string{}
	for i, rf := range refs {
		if bld.Full() {
			out = append(out, bld.Block())
			bld = NewBuilder(hour)
			bld.grow(min(len(refs)-i, MaxRows))
		}
		var vals [NumCols]string
		for c := range NumCols {
			vals[c] = rf.b.Value(c, rf.r)
		}
		clear(props)
		for i, k := range rf.b.PropKeys {
			if v := rf.b.Props[i][rf.r]; v != 0 {
				props[k] = rf.b.PropDicts[i][v]
			}
		}
		var pos uint64
		if rf.b.Pos != nil {
			pos = rf.b.Pos[rf.r]
		}
		bld.Add(rf.b.Millis(rf.r), rf.b.Visitors[rf.b.Visitor[rf.r]], vals, props, pos)
	}
	if bld.Len() > 0 {
		out = append(out, bld.Block())
	}
	return out
}

// FromEvents returns the blocks of events, one site's, as a reader sees
// them: by UTC hour in order, each hour merged (see Merge).
func FromEvents(evs []analytics.Event) []*Block {
	byHour := map[time.Time]*Builder{}
	var hours []time.Time
	var full []*Block
	for i := range evs {
		h := evs[i].Timestamp.UTC().Truncate(time.Hour)
		b := byHour[h]
		if b == nil || b.Full() {
			if b == nil {
				hours = append(hours, h)
			}
			nb := NewBuilder(h)
			if b != nil {
				// Keep the full one as a separate part of the hour.
				full = append(full, b.Block())
			}
			b = nb
			byHour[h] = b
		}
		b.AddEvent(&evs[i])
	}
	slices.SortFunc(hours, func(a, b time.Time) int { return a.Compare(b) })
	var out []*Block
	for _, h := range hours {
		parts := []*Block{byHour[h].Block()}
		for _, f := range full {
			if f.Hour.Equal(h) {
				parts = append(parts, f)
			}
		}
		out = append(out, Merge(h, parts)...)
	}
	return out
}
