package engine

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/siteanalytics/analytics/block"
)

// scan is one query's pass over its blocks: dense ids for visitors, the
// visits rebuilt from the rows in range, and global dictionaries of the
// properties the query reads.
type scan struct {
	q       Query
	blocks  []*block.Block
	fromMs  int64
	toMs    int64
	all     [][2]int32 // per block: rows [lo, hi) are all in range when lo == 0 && hi == len; else check each
	vdense  [][]int32  // per block: local visitor index -> dense visitor id, -1 for none
	nvis    int
	visits  *visitTable
	rowVist [][]int32 // per block and row: visit index, -1 for none or out of range
	dicts   map[string]*gdict
	goals   []goalMatcher
	buckets *buckets
	// bounceIn, when set, says per visit whether it counts in the bounce
	// rate: under a top-level event:page filter, only the visits whose
	// entry page satisfies it (see pageBounceFilter).
	bounceIn []bool
}

type visitTable struct {
	firstMs, lastMs   []int64
	events, pageviews []int32
	firstB, firstR    []int32
	entryB, entryR    []int32
	exitB, exitR      []int32
	visitor           []int32
	bucket            []int32
}

func (t *visitTable) add(b, r int32, ms int64, visitor int32) int32 {
	t.firstMs = append(t.firstMs, ms)
	t.lastMs = append(t.lastMs, ms)
	t.events = append(t.events, 0)
	t.pageviews = append(t.pageviews, 0)
	t.firstB = append(t.firstB, b)
	t.firstR = append(t.firstR, r)
	t.entryB = append(t.entryB, -1)
	t.entryR = append(t.entryR, -1)
	t.exitB = append(t.exitB, -1)
	t.exitR = append(t.exitR, -1)
	t.visitor = append(t.visitor, visitor)
	return int32(len(t.firstMs) - 1)
}

func (t *visitTable) len() int { return len(t.firstMs) }

// gdict is a property's global dictionary: the values seen, as answered
// (see shown), and per block the translation of its dictionary.
type gdict struct {
	p     prop
	ids   map[string]int32
	vals  []string
	trans [][]int32 // per block; nil until needed
	none  int32     // id of the value of rows without one
}

func (d *gdict) id(s string) int32 {
	if i, ok := d.ids[s]; ok {
		return i
	}
	i := int32(len(d.vals))
	d.ids[s] = i
	d.vals = append(d.vals, s)
	return i
}

func newScan(blocks []*block.Block, q Query, vd *visitorDict) *scan {
	if q.Location == nil {
		q.Location = time.UTC
	}
	s := &scan{q: q, blocks: blocks, fromMs: q.From.UnixMilli(), toMs: q.To.UnixMilli(), dicts: map[string]*gdict{}}
	s.all = make([][2]int32, len(blocks))
	s.vdense = make([][]int32, len(blocks))
	seen := 0 // the blocks' visitors, counted once per block
	for bi, b := range blocks {
		h := b.Hour.UnixMilli()
		if h >= s.fromMs && h+3600_000 <= s.toMs {
			s.all[bi] = [2]int32{0, int32(b.Len())}
		} else {
			s.all[bi] = [2]int32{-1, -1}
		}
		s.vdense[bi] = vd.dense(b)
		seen += len(b.Visitors)
	}
	s.nvis = vd.len()
	// The per-visitor arrays of a scan (visit states, distinct sets) have
	// one entry per id of the site's dictionary. When this query's blocks
	// hold a small part of it (a day's after a year's was asked), their
	// visitors get ids of their own, 0 to n-1, so that the scan costs what
	// its range holds.
	if seen*4 < s.nvis {
		s.localIDs()
	}
	for _, g := range q.Goals {
		s.goals = append(s.goals, newGoalMatcher(g))
	}
	return s
}

// localIDs renumbers the scan's visitors 0 to n-1, in order of first
// appearance, in copies of the blocks' visitor maps.
func (s *scan) localIDs() {
	local := make([]int32, s.nvis) // dictionary id -> local id + 1
	n := int32(0)
	for bi, global := range s.vdense {
		ids := make([]int32, len(global))
		for i, g := range global {
			if g < 0 {
				ids[i] = -1
				continue
			}
			if local[g] == 0 {
				n++
				local[g] = n
			}
			ids[i] = local[g] - 1
		}
		s.vdense[bi] = ids
	}
	s.nvis = int(n)
}

// in reports whether row r of block bi is in the range.
func (s *scan) in(bi, r int) bool {
	if s.all[bi][0] == 0 {
		return true
	}
	ms := s.blocks[bi].Millis(r)
	return ms >= s.fromMs && ms < s.toMs
}

// buildVisits rebuilds the visits of the rows in range: a visitor's rows
// come in time order (blocks by hour, rows by visitor and time), and a gap
// over VisitTimeout starts a new visit.
func (s *scan) buildVisits() {
	rows := 0
	for _, b := range s.blocks {
		rows += b.Len()
	}
	// Room for a visit every few rows, so that appends seldom copy.
	n := rows/3 + 16
	t := &visitTable{firstMs: make([]int64, 0, n), lastMs: make([]int64, 0, n), events: make([]int32, 0, n), pageviews: make([]int32, 0, n),
		firstB: make([]int32, 0, n), firstR: make([]int32, 0, n), entryB: make([]int32, 0, n), entryR: make([]int32, 0, n),
		exitB: make([]int32, 0, n), exitR: make([]int32, 0, n), visitor: make([]int32, 0, n)}
	s.visits = t
	// One array of both, so that a row costs one cache miss, not two.
	type vstate struct {
		last int64
		cur  int32
	}
	st := make([]vstate, s.nvis)
	for i := range st {
		st[i].cur = -1
	}
	timeout := VisitTimeout.Milliseconds()
	s.rowVist = make([][]int32, len(s.blocks))
	for bi, b := range s.blocks {
		rv := make([]int32, b.Len())
		s.rowVist[bi] = rv
		dense := s.vdense[bi]
		names := b.Dicts[block.Name]
		pvName := make([]bool, len(names))
		for i, n := range names {
			pvName[i] = isPageview(n)
		}
		nameCol := b.Cols[block.Name]
		hourMs := b.Hour.UnixMilli()
		for r := range b.Len() {
			v := dense[b.Visitor[r]]
			if v < 0 || !s.in(bi, r) {
				rv[r] = -1
				continue
			}
			ms := hourMs + int64(b.TS[r])
			sv := &st[v]
			vi := sv.cur
			if vi < 0 || ms-sv.last > timeout {
				vi = t.add(int32(bi), int32(r), ms, v)
				sv.cur = vi
			}
			sv.last = ms
			rv[r] = vi
			t.lastMs[vi] = ms
			t.events[vi]++
			if pvName[nameCol[r]] {
				// Entry and exit are the first and last page views, even
				// one without a path (its page is then "").
				t.pageviews[vi]++
				if t.entryB[vi] < 0 {
					t.entryB[vi], t.entryR[vi] = int32(bi), int32(r)
				}
				t.exitB[vi], t.exitR[vi] = int32(bi), int32(r)
			}
		}
	}
}

// dict returns the global dictionary of p, translating block bi's values.
func (s *scan) dict(p prop, bi int) *gdict {
	d := s.dicts[p.name]
	if d == nil {
		d = &gdict{p: p, ids: map[string]int32{}, trans: make([][]int32, len(s.blocks))}
		d.none = d.id(shown(p, ""))
		s.dicts[p.name] = d
	}
	if bi >= 0 && d.trans[bi] == nil {
		b := s.blocks[bi]
		var src []string
		if p.kind == propKey {
			if k := slices.Index(b.PropKeys, p.key); k >= 0 {
				src = b.PropDicts[k]
			} else {
				src = []string{""}
			}
		} else {
			src = b.Dicts[p.col]
		}
		tr := make([]int32, len(src))
		for i, v := range src {
			tr[i] = d.id(shown(p, v))
		}
		d.trans[bi] = tr
	}
	return d
}

// valueFn returns a function giving the global id of p's value at a row.
func (s *scan) valueFn(p prop) func(bi, r int) int32 {
	d := s.dict(p, -1)
	for bi := range s.blocks {
		s.dict(p, bi)
	}
	switch p.kind {
	case eventCol:
		return func(bi, r int) int32 { return d.trans[bi][s.blocks[bi].Cols[p.col][r]] }
	case propKey:
		keys := make([]int, len(s.blocks))
		for bi, b := range s.blocks {
			keys[bi] = slices.Index(b.PropKeys, p.key)
		}
		return func(bi, r int) int32 {
			k := keys[bi]
			if k < 0 {
				return d.none
			}
			return d.trans[bi][s.blocks[bi].Props[k][r]]
		}
	case visitCol:
		// The visit's value is its first row's; a row without a visit (no
		// visitor) is its own visit.
		var per []int32
		if s.visits != nil {
			t := s.visits
			per = make([]int32, t.len())
			for v := range per {
				b, r := t.firstB[v], t.firstR[v]
				per[v] = d.trans[b][s.blocks[b].Cols[p.col][r]]
			}
		}
		return func(bi, r int) int32 {
			if per != nil {
				if v := s.rowVist[bi][r]; v >= 0 {
					return per[v]
				}
			}
			return d.trans[bi][s.blocks[bi].Cols[p.col][r]]
		}
	case entryPage, exitPage:
		t := s.visits
		per := s.visitPages(d, t.entryB, t.entryR)
		if p.kind == exitPage {
			per = s.visitPages(d, t.exitB, t.exitR)
		}
		return func(bi, r int) int32 {
			if v := s.rowVist[bi][r]; v >= 0 {
				return per[v]
			}
			// A row without a visitor: a visit of its own row.
			b := s.blocks[bi]
			if isPageview(b.Value(block.Name, r)) && b.Cols[block.Path][r] != 0 {
				return d.trans[bi][b.Cols[block.Path][r]]
			}
			return d.none
		}
	}
	return func(int, int) int32 { return d.none }
}

// visitPages returns each visit's page at its row (bs[v], rs[v]) as an id
// of d, a path dictionary translating every block; d.none for a visit
// without one (bs[v] < 0: no page views).
func (s *scan) visitPages(d *gdict, bs, rs []int32) []int32 {
	out := make([]int32, len(bs))
	for v, b := range bs {
		if b < 0 {
			out[v] = d.none
			continue
		}
		out[v] = d.trans[b][s.blocks[b].Cols[block.Path][rs[v]]]
	}
	return out
}

// goalMatcher says whether a row completes a goal.
type goalMatcher struct {
	g  Goal
	re *regexp.Regexp // page goals
}

func newGoalMatcher(g Goal) goalMatcher {
	m := goalMatcher{g: g}
	if g.Page != "" {
		m.re = PagePattern(g.Page)
	}
	return m
}

// PagePattern compiles a page goal's pattern: "*" matches within a path
// segment, "**" across segments, everything else literally.
func PagePattern(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// goalMasks returns, per block, functions giving the mask of goals a row
// completes (bit i: Goals[i]).
func (s *scan) goalMasks() func(bi, r int) uint64 {
	if len(s.goals) == 0 {
		return func(int, int) uint64 { return 0 }
	}
	type bm struct {
		byName []uint64 // event goals by name index
		pv     []bool
		byPath []uint64 // page goals by path index
	}
	per := make([]bm, len(s.blocks))
	for bi, b := range s.blocks {
		names, paths := b.Dicts[block.Name], b.Dicts[block.Path]
		m := bm{byName: make([]uint64, len(names)), pv: make([]bool, len(names)), byPath: make([]uint64, len(paths))}
		for i, n := range names {
			m.pv[i] = isPageview(n)
			for gi, g := range s.goals {
				if g.g.Event != "" && (g.g.Event == n || (isPageview(g.g.Event) && m.pv[i])) {
					m.byName[i] |= 1 << gi
				}
			}
		}
		for i, pth := range paths {
			for gi, g := range s.goals {
				if g.re != nil && g.re.MatchString(pth) {
					m.byPath[i] |= 1 << gi
				}
			}
		}
		per[bi] = m
	}
	return func(bi, r int) uint64 {
		b, m := s.blocks[bi], &per[bi]
		n := b.Cols[block.Name][r]
		mask := m.byName[n]
		if m.pv[n] {
			mask |= m.byPath[b.Cols[block.Path][r]]
		}
		return mask
	}
}

// rowFilter compiles f into a row predicate. Visit conditions read the
// row's visit; has_done and has_not_done read flags over the visit's rows.
func (s *scan) rowFilter(f *Filter, goals func(bi, r int) uint64) func(bi, r int) bool {
	if f == nil {
		return func(int, int) bool { return true }
	}
	switch f.Op {
	case OpAnd, OpOr:
		cs := make([]func(bi, r int) bool, len(f.Children))
		for i, c := range f.Children {
			cs[i] = s.rowFilter(c, goals)
		}
		if f.Op == OpAnd {
			return func(bi, r int) bool {
				for _, c := range cs {
					if !c(bi, r) {
						return false
					}
				}
				return true
			}
		}
		return func(bi, r int) bool {
			for _, c := range cs {
				if c(bi, r) {
					return true
				}
			}
			return false
		}
	case OpNot:
		c := s.rowFilter(f.Children[0], goals)
		return func(bi, r int) bool { return !c(bi, r) }
	case OpHasDone, OpHasNotDone:
		inner := s.rowFilter(f.Children[0], goals)
		done := make([]bool, s.visits.len())
		for bi, b := range s.blocks {
			for r := range b.Len() {
				if v := s.rowVist[bi][r]; v >= 0 && !done[v] && inner(bi, r) {
					done[v] = true
				}
			}
		}
		want := f.Op == OpHasDone
		return func(bi, r int) bool {
			if v := s.rowVist[bi][r]; v >= 0 {
				return done[v] == want
			}
			return inner(bi, r) == want
		}
	}
	p, _ := propOf(f.Dim)
	neg := f.Op == OpIsNot || f.Op == OpContainsNot || f.Op == OpMatchesNot
	match := valueMatcher(f)
	if p.kind == goalProp {
		var mask uint64
		for gi, g := range s.goals {
			if match(g.g.Name) {
				mask |= 1 << gi
			}
		}
		return func(bi, r int) bool { return (goals(bi, r)&mask != 0) != neg }
	}
	if p.kind == eventCol {
		// A table per block over its own dictionary: a row costs two loads.
		pass := make([][]bool, len(s.blocks))
		for bi, b := range s.blocks {
			dict := b.Dicts[p.col]
			t := make([]bool, len(dict))
			for i, v := range dict {
				t[i] = match(shown(p, v)) != neg
			}
			pass[bi] = t
		}
		return func(bi, r int) bool { return pass[bi][s.blocks[bi].Cols[p.col][r]] }
	}
	val := s.valueFn(p)
	d := s.dicts[p.name]
	// contains, matches and their negations hold only for events that
	// have the custom property (Plausible's has_key): an event without
	// it neither contains "b" nor does not contain it. is_not holds for
	// them (unless "(none)" is listed), is "(none)" selects them.
	keyed := p.kind == propKey && f.Op != OpIs && f.Op != OpIsNot
	var memo []int8 // per global id: 0 unknown, 1 match, 2 no match
	return func(bi, r int) bool {
		id := val(bi, r)
		if keyed && id == d.none {
			return false
		}
		if int(id) >= len(memo) {
			memo = append(memo, make([]int8, len(d.vals)-len(memo))...)
		}
		m := memo[id]
		if m == 0 {
			m = 2
			if match(d.vals[id]) {
				m = 1
			}
			memo[id] = m
		}
		return (m == 1) != neg
	}
}

// valueMatcher returns whether a value matches one of f's values (the
// negation of the _not operators is the caller's).
func valueMatcher(f *Filter) func(string) bool {
	vals := f.Values
	if f.CaseInsensitive {
		vals = make([]string, len(f.Values))
		for i, v := range f.Values {
			vals[i] = strings.ToLower(v)
		}
	}
	fold := func(s string) string {
		if f.CaseInsensitive {
			return strings.ToLower(s)
		}
		return s
	}
	switch f.Op {
	case OpContains, OpContainsNot:
		return func(s string) bool {
			s = fold(s)
			for _, v := range vals {
				if strings.Contains(s, v) {
					return true
				}
			}
			return false
		}
	case OpMatches, OpMatchesNot:
		res := make([]*regexp.Regexp, len(f.Values))
		for i, v := range f.Values {
			if f.CaseInsensitive {
				v = "(?i)" + v
			}
			res[i] = regexp.MustCompile(v)
		}
		return func(s string) bool {
			for _, re := range res {
				if re.MatchString(s) {
					return true
				}
			}
			return false
		}
	}
	return func(s string) bool { return slices.Contains(vals, fold(s)) }
}

// buckets are the time buckets of a time dimension over the range, in the
// query's time zone; buckets with the same label (the repeated hour when
// clocks go back) share an index.
type buckets struct {
	starts []int64 // ms, ascending
	index  []int32 // bucket index of each start
	labels []string
}

func newBuckets(q Query, dim string) *buckets {
	if dim == Time {
		dim = Granularity(q.From, q.To, q.Location)
	}
	loc := q.Location
	b := &buckets{}
	t := q.From.In(loc)
	start := floorTo(t, dim)
	for cur := start; cur.Before(q.To); {
		next := nextBucket(cur, dim)
		label := labelOf(cur, dim)
		from := cur
		if from.Before(q.From) {
			from = q.From
		}
		idx := int32(len(b.labels))
		if n := len(b.labels); n > 0 && b.labels[n-1] == label {
			idx = int32(n - 1)
		} else {
			b.labels = append(b.labels, label)
		}
		b.starts = append(b.starts, from.UnixMilli())
		b.index = append(b.index, idx)
		if !next.After(cur) {
			break
		}
		cur = next
	}
	return b
}

func floorTo(t time.Time, dim string) time.Time {
	loc := t.Location()
	switch dim {
	case TimeHour:
		// In absolute time, so that a repeated hour (clocks going back) is
		// not mistaken for the other one.
		return t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	case TimeDay:
		return StartOfDay(t.Year(), t.Month(), t.Day(), loc)
	case TimeWeek:
		return StartOfDay(t.Year(), t.Month(), t.Day()-(int(t.Weekday())+6)%7, loc)
	}
	return StartOfDay(t.Year(), t.Month(), 1, loc)
}

func nextBucket(t time.Time, dim string) time.Time {
	switch dim {
	case TimeHour:
		return t.Add(time.Hour)
	case TimeDay:
		return StartOfDay(t.Year(), t.Month(), t.Day()+1, t.Location())
	case TimeWeek:
		return StartOfDay(t.Year(), t.Month(), t.Day()+7, t.Location())
	}
	return StartOfDay(t.Year(), t.Month()+1, 1, t.Location())
}

// StartOfDay is the first instant of a local day in loc (day may be out of
// its month's range: it is normalized as time.Date does). Where clocks
// skip midnight (America/Santiago on 2022-09-11 went from 23:59:59 to
// 01:00), the day starts when the skipped hour ends: time.Date would give
// an instant of the day before (23:00 -04), counting its last hour in the
// new day. Where midnight happens twice, the day starts at the first.
func StartOfDay(year int, month time.Month, day int, loc *time.Location) time.Time {
	d := time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
	t := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	if t.Day() != d.Day() {
		if _, end := t.ZoneBounds(); !end.IsZero() {
			t = end
		}
	}
	return t
}

func labelOf(t time.Time, dim string) string {
	if dim == TimeHour {
		return t.Format("2006-01-02 15:00:00")
	}
	return t.Format("2006-01-02")
}

// of returns the bucket index of a time in ms (within the range).
func (b *buckets) of(ms int64) int32 {
	i, found := slices.BinarySearch(b.starts, ms)
	if !found {
		i--
	}
	if i < 0 {
		i = 0
	}
	return b.index[i]
}
