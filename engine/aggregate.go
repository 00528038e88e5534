package engine

import (
	"cmp"
	"math/bits"
	"slices"
	"strings"

	"github.com/siteanalytics/analytics/block"
)

// key is a group's dimension values: global ids of the dimensions'
// dictionaries, bucket indexes for the time dimension.
type key [MaxDimensions]int32

// groups accumulates metrics per key.
type groups struct {
	index map[key]int32
	keys  []key
	acc   []acc
	// byID indexes groups by the value id of the only dimension, when
	// there is one (-1: none yet), sparing the map.
	byID []int32
	// Distinct (group, visitor) and (group, visit) pairs seen.
	visitors, visits distinct
	// With an event:page dimension (pageDim >= 0), a row's bounce rate and
	// visit duration are those of the visits that entered on its page
	// (Plausible's sessions grouped by entry page), kept apart by the key
	// of the row they belong to: entry gives each visit's entry page in
	// the event:page dictionary.
	pageDim     int
	entry       []int32
	entryIndex  map[key]int32
	entryAcc    []acc
	entryVisits distinct
}

type acc struct {
	events, pageviews, visitors     int64
	visits, bounces, visitPageviews int64
	// durationMs is the duration of durationVisits visits: all of them, or
	// under an event:page dimension those that entered on the row's page.
	durationMs, durationVisits int64
	// bounceVisits and bounces are the bounce rate's visits and their
	// bounces: all the visits (or those that entered on the row's page),
	// or of those the ones s.bounceIn keeps.
	bounceVisits int64
}

func (g *groups) of(k key) int32 {
	if g.byID != nil {
		id := k[0]
		for int(id) >= len(g.byID) {
			g.byID = append(g.byID, -1)
		}
		if i := g.byID[id]; i >= 0 {
			return i
		}
		i := g.add(k)
		g.byID[id] = i
		return i
	}
	if i, ok := g.index[k]; ok {
		return i
	}
	i := g.add(k)
	g.index[k] = i
	return i
}

// find returns the group of k, if there is one.
func (g *groups) find(k key) (int32, bool) {
	if g.byID != nil {
		if id := k[0]; int(id) < len(g.byID) && g.byID[id] >= 0 {
			return g.byID[id], true
		}
		return 0, false
	}
	i, ok := g.index[k]
	return i, ok
}

func (g *groups) add(k key) int32 {
	i := int32(len(g.keys))
	g.keys = append(g.keys, k)
	g.acc = append(g.acc, acc{})
	return i
}

// distinct counts distinct (group, id) pairs: in a bitset per group when
// groups x ids is small enough, else in a hash set.
type distinct struct {
	n    int        // ids are 0..n-1
	bits [][]uint64 // per group; nil until the group's first id
	set  u64set
	big  bool
}

// maxBitsetBytes bounds the bitsets of one distinct count.
const maxBitsetBytes = 64 << 20

func newDistinct(n, groups int) distinct {
	return distinct{n: n, big: groups*(n/8+8) > maxBitsetBytes}
}

// add records (g, id) and reports whether it is new.
func (d *distinct) add(g, id int32) bool {
	if d.big {
		return d.set.add(uint64(g)<<32 | uint64(id))
	}
	for int(g) >= len(d.bits) {
		d.bits = append(d.bits, nil)
	}
	b := d.bits[g]
	if b == nil {
		b = make([]uint64, (d.n+63)/64)
		d.bits[g] = b
	}
	w, m := id>>6, uint64(1)<<(id&63)
	if b[w]&m != 0 {
		return false
	}
	b[w] |= m
	return true
}

// dimFn gives a dimension's value at a row; for the time dimension, byVisit
// gives the bucket of a visit (a visit belongs to its first event's).
type dimFn struct {
	row     func(bi, r int) int32
	direct  [][]int32 // for a row column: per block, dictionary index -> id (row is then unused)
	col     block.Col
	goal    bool
	byVisit []int32
	size    int // values it can take, for sizing counts
}

// aggregate groups the rows in range that pass filter by dims.
func (s *scan) aggregate(dims []string, filter func(bi, r int) bool, goals func(bi, r int) uint64, visitMetrics bool) *groups {
	fns := make([]dimFn, len(dims))
	est := 1
	for i, d := range dims {
		switch {
		case isTimeDim(d):
			if s.buckets == nil {
				s.buckets = newBuckets(s.q, d)
			}
			bk := s.buckets
			fns[i] = dimFn{row: func(bi, r int) int32 { return bk.of(s.blocks[bi].Millis(r)) }, size: len(bk.labels)}
			if s.visits != nil {
				t := s.visits
				if t.bucket == nil {
					t.bucket = make([]int32, t.len())
					for v := range t.bucket {
						t.bucket[v] = bk.of(t.firstMs[v])
					}
				}
				fns[i].byVisit = t.bucket
			}
		case d == EventGoal:
			fns[i] = dimFn{goal: true, size: len(s.goals)}
		default:
			p, _ := propOf(d)
			fns[i] = dimFn{row: s.valueFn(p)}
			if p.kind == eventCol {
				fns[i].direct, fns[i].col = s.dicts[p.name].trans, p.col
			}
			fns[i].size = len(s.dicts[p.name].vals)
		}
		est *= max(fns[i].size, 1)
	}
	g := &groups{index: map[key]int32{}, pageDim: -1}
	if len(dims) == 1 && !fns[0].goal && fns[0].byVisit == nil {
		g.byID = make([]int32, 0, fns[0].size)
	}
	est = min(est, 1<<20)
	g.visitors = newDistinct(s.nvis, est)
	if visitMetrics && s.visits != nil {
		g.visits = newDistinct(s.visits.len(), est)
		if i := slices.Index(dims, EventPage); i >= 0 {
			// The event:page dictionary translates every block already
			// (valueFn, above).
			g.pageDim, g.entry = i, s.visitPages(s.dicts[EventPage], s.visits.entryB, s.visits.entryR)
			g.entryIndex = map[key]int32{}
			g.entryVisits = newDistinct(s.visits.len(), est)
		}
	}
	goalDim := -1
	for i, f := range fns {
		if f.goal {
			goalDim = i
		}
	}
	var rowVisit []int32
	for bi, b := range s.blocks {
		dense := s.vdense[bi]
		names := b.Dicts[block.Name]
		pvName := make([]bool, len(names))
		for i, n := range names {
			pvName[i] = isPageview(n)
		}
		nameCol, visCol := b.Cols[block.Name], b.Visitor
		rowVisit = nil
		if visitMetrics && s.rowVist != nil {
			rowVisit = s.rowVist[bi]
		}
		all := s.all[bi][0] == 0
		for r := range b.Len() {
			if !all && !s.in(bi, r) {
				continue
			}
			if !filter(bi, r) {
				continue
			}
			var k key
			for i := range fns {
				switch f := &fns[i]; {
				case f.direct != nil:
					k[i] = f.direct[bi][b.Cols[f.col][r]]
				case !f.goal:
					k[i] = f.row(bi, r)
				}
			}
			vis := dense[visCol[r]]
			pv := pvName[nameCol[r]]
			visit := int32(-1)
			if rowVisit != nil {
				visit = rowVisit[r]
			}
			if goalDim < 0 {
				s.count(g, fns, k, vis, visit, pv)
				continue
			}
			for m := goals(bi, r); m != 0; m &= m - 1 {
				k[goalDim] = int32(bits.TrailingZeros64(m))
				s.count(g, fns, k, vis, visit, pv)
			}
		}
	}
	return g
}

// count adds a row to its group k.
func (s *scan) count(g *groups, fns []dimFn, k key, vis, visit int32, pv bool) {
	gi := g.of(k)
	a := &g.acc[gi]
	a.events++
	if pv {
		a.pageviews++
	}
	if vis >= 0 && g.visitors.add(gi, vis) {
		a.visitors++
	}
	if visit < 0 {
		return
	}
	vg := gi
	for i := range fns {
		if fns[i].byVisit != nil && fns[i].byVisit[visit] != k[i] {
			vk := k
			vk[i] = fns[i].byVisit[visit]
			vg = g.of(vk)
			break
		}
	}
	if !g.visits.add(vg, visit) {
		return
	}
	t := s.visits
	va := &g.acc[vg]
	va.visits++
	va.visitPageviews += int64(t.pageviews[visit])
	if g.pageDim >= 0 {
		// Counted under the key of the row of the visit's entry page.
		ek := g.keys[vg]
		ek[g.pageDim] = g.entry[visit]
		ei, ok := g.entryIndex[ek]
		if !ok {
			ei = int32(len(g.entryAcc))
			g.entryIndex[ek] = ei
			g.entryAcc = append(g.entryAcc, acc{})
		}
		if !g.entryVisits.add(ei, visit) {
			return
		}
		va = &g.entryAcc[ei]
	}
	s.countVisit(va, visit)
}

// countVisit adds a visit's bounce and duration to a.
func (s *scan) countVisit(a *acc, visit int32) {
	t := s.visits
	if s.bounceIn == nil || s.bounceIn[visit] {
		a.bounceVisits++
		if t.events[visit] == 1 {
			a.bounces++
		}
	}
	a.durationMs += t.lastMs[visit] - t.firstMs[visit]
	a.durationVisits++
}

// entryMetrics moves, under an event:page dimension, the bounce rate and
// duration of the visits that entered on each row's page to the row: a
// row whose page no visit entered on has none.
func (g *groups) entryMetrics() {
	if g.pageDim < 0 {
		return
	}
	for gi, k := range g.keys {
		a := &g.acc[gi]
		var e acc
		if ei, ok := g.entryIndex[k]; ok {
			e = g.entryAcc[ei]
		}
		a.bounces, a.bounceVisits, a.durationMs, a.durationVisits = e.bounces, e.bounceVisits, e.durationMs, e.durationVisits
	}
}

// answer computes q with scan s.
func answer(s *scan, q Query) (Result, error) {
	visitMetrics := false
	for _, m := range q.Metrics {
		switch m {
		case Visits, ViewsPerVisit, BounceRate, VisitDuration:
			visitMetrics = true
		}
	}
	if visitMetrics || needsVisits(q) {
		s.buildVisits()
	}
	goals := s.goalMasks()
	filter := s.rowFilter(q.Filter, goals)
	if pf := pageBounceFilter(q.Filter); pf != nil && slices.Contains(q.Metrics, BounceRate) && s.visits != nil {
		entry := s.rowFilter(pf, goals)
		t := s.visits
		s.bounceIn = make([]bool, t.len())
		for v := range s.bounceIn {
			s.bounceIn[v] = entry(int(t.firstB[v]), int(t.firstR[v]))
		}
	}
	g := s.aggregate(q.Dimensions, filter, goals, visitMetrics)
	g.entryMetrics()

	var res Result
	if s.buckets == nil {
		for _, d := range q.Dimensions {
			if isTimeDim(d) {
				s.buckets = newBuckets(q, d)
			}
		}
	}
	if s.buckets != nil {
		res.TimeLabels = s.buckets.labels
	}
	// Zero rows for the time buckets without events, when asked (and the
	// time dimension is the only one).
	if q.TimeLabels && len(q.Dimensions) == 1 && isTimeDim(q.Dimensions[0]) {
		for i := range s.buckets.labels {
			g.of(key{int32(i)})
		}
	}
	if len(q.Dimensions) == 0 && len(g.keys) == 0 {
		g.of(key{})
	}

	// Totals and the baselines of the rates.
	var total int64 // visitors of the whole filtered range
	if slices.Contains(q.Metrics, Percentage) {
		// Without dimensions the one row is the total: no second pass.
		if len(q.Dimensions) == 0 {
			total = g.acc[0].visitors
		} else if tg := s.aggregate(nil, filter, goals, false); len(tg.acc) > 0 {
			total = tg.acc[0].visitors
		}
	}
	var baseTotal int64
	var base *groups
	var baseDims []int // q.Dimensions' indexes that are not event:goal
	for i, d := range q.Dimensions {
		if d != EventGoal {
			baseDims = append(baseDims, i)
		}
	}
	if slices.Contains(q.Metrics, ConversionRate) || slices.Contains(q.Metrics, GroupConversionRate) {
		bf := s.rowFilter(withoutTopProps(withoutGoals(q.Filter)), goals)
		tg := s.aggregate(nil, bf, goals, false)
		if len(tg.acc) > 0 {
			baseTotal = tg.acc[0].visitors
		}
		if slices.Contains(q.Metrics, GroupConversionRate) {
			dims := make([]string, len(baseDims))
			for j, i := range baseDims {
				dims[j] = q.Dimensions[i]
			}
			base = s.aggregate(dims, bf, goals, false)
		}
	}

	rows := make([]Row, 0, len(g.keys))
	for gi, k := range g.keys {
		a := g.acc[gi]
		row := Row{Dimensions: make([]string, len(q.Dimensions)), Metrics: make([]any, len(q.Metrics))}
		for i, d := range q.Dimensions {
			switch {
			case isTimeDim(d):
				row.Dimensions[i] = s.buckets.labels[k[i]]
			case d == EventGoal:
				row.Dimensions[i] = q.Goals[k[i]].Name
			default:
				row.Dimensions[i] = s.dicts[d].vals[k[i]]
			}
		}
		for i, m := range q.Metrics {
			row.Metrics[i] = metric(m, a, total, baseTotal, func() int64 {
				if base == nil {
					return 0
				}
				var bk key
				for j, di := range baseDims {
					bk[j] = k[di]
				}
				if bi, ok := base.find(bk); ok {
					return base.acc[bi].visitors
				}
				return 0
			})
		}
		rows = append(rows, row)
	}
	sortRows(rows, q)
	res.TotalRows = len(rows)
	if q.Offset > 0 {
		rows = rows[min(q.Offset, len(rows)):]
	}
	if q.Limit > 0 && len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	res.Rows = rows
	return res, nil
}

// needsVisits reports whether q reads visit properties.
func needsVisits(q Query) bool {
	for _, d := range q.Dimensions {
		if p, err := propOf(d); err == nil && p.visit() {
			return true
		}
	}
	var walk func(f *Filter) bool
	walk = func(f *Filter) bool {
		if f == nil {
			return false
		}
		if f.Op == OpHasDone || f.Op == OpHasNotDone {
			return true
		}
		if p, err := propOf(f.Dim); err == nil && p.visit() {
			return true
		}
		return slices.ContainsFunc(f.Children, walk)
	}
	return walk(q.Filter)
}

// pageBounceFilter is the condition on the entry page that the bounce
// rate reads under a page filter: the first event:page condition of the
// top level (f itself, or a child of a top-level and), on
// visit:entry_page instead; nil without one. Plausible counts a page's
// bounce rate over the visits that entered on it: a visit that reached
// the page later did not bounce from it.
func pageBounceFilter(f *Filter) *Filter {
	if f == nil {
		return nil
	}
	if f.Dim == EventPage {
		c := *f
		c.Dim = EntryPage
		return &c
	}
	if f.Op == OpAnd {
		for _, ch := range f.Children {
			if c := pageBounceFilter(ch); c != nil {
				return c
			}
		}
	}
	return nil
}

// withoutGoals returns f without its event:goal conditions.
func withoutGoals(f *Filter) *Filter {
	if f == nil {
		return nil
	}
	if f.Dim == EventGoal {
		return nil
	}
	if len(f.Children) == 0 {
		return f
	}
	out := *f
	out.Children = nil
	for _, c := range f.Children {
		if c2 := withoutGoals(c); c2 != nil {
			out.Children = append(out.Children, c2)
		}
	}
	if len(out.Children) == 0 {
		return nil
	}
	return &out
}

// withoutTopProps returns f without the event:props:* conditions of its
// top level (f itself, or the children of a top-level and): a conversion
// rate is in percent of the visitors the other filters select, whatever
// properties the converting events carry (Plausible removes the goal and
// custom-property filters from the rate's denominator).
func withoutTopProps(f *Filter) *Filter {
	if f == nil || strings.HasPrefix(f.Dim, PropPrefix) {
		return nil
	}
	if f.Op != OpAnd {
		return f
	}
	out := *f
	out.Children = nil
	for _, c := range f.Children {
		if c2 := withoutTopProps(c); c2 != nil {
			out.Children = append(out.Children, c2)
		}
	}
	if len(out.Children) == 0 {
		return nil
	}
	return &out
}

func metric(m string, a acc, total, baseTotal int64, group func() int64) any {
	// Each ratio is one division of exact integers, so answers do not
	// depend on the order of floating-point steps.
	ratio := func(x, y int64) any {
		if y == 0 {
			return 0.0
		}
		return float64(x) / float64(y)
	}
	switch m {
	case Visitors:
		return float64(a.visitors)
	case Visits:
		return float64(a.visits)
	case Pageviews:
		return float64(a.pageviews)
	case Events:
		return float64(a.events)
	case ViewsPerVisit:
		return ratio(a.visitPageviews, a.visits)
	case BounceRate:
		return ratio(100*a.bounces, a.bounceVisits)
	case VisitDuration:
		if a.visits == 0 {
			return nil
		}
		return ratio(a.durationMs, 1000*a.durationVisits)
	case Percentage:
		return ratio(100*a.visitors, total)
	case ConversionRate:
		return ratio(100*a.visitors, baseTotal)
	case GroupConversionRate:
		return ratio(100*a.visitors, group())
	}
	return nil
}

func sortRows(rows []Row, q Query) {
	idx := func(name string) (dim, met int) {
		return slices.Index(q.Dimensions, name), slices.Index(q.Metrics, name)
	}
	num := func(v any) float64 {
		if f, ok := v.(float64); ok {
			return f
		}
		return -1
	}
	// The order asked, then the default: time ascending, every metric
	// descending (rows equal in the first rank by the next), values
	// ascending.
	order := append([]Order(nil), q.OrderBy...)
	for _, d := range q.Dimensions {
		if isTimeDim(d) {
			order = append(order, Order{By: d})
		}
	}
	for _, m := range q.Metrics {
		order = append(order, Order{By: m, Desc: true})
	}
	for _, d := range q.Dimensions {
		if !isTimeDim(d) {
			order = append(order, Order{By: d})
		}
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		for _, o := range order {
			d, m := idx(o.By)
			c := 0
			switch {
			case d >= 0:
				c = cmp.Compare(a.Dimensions[d], b.Dimensions[d])
			case m >= 0:
				c = cmp.Compare(num(a.Metrics[m]), num(b.Metrics[m]))
			}
			if o.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		for i := range a.Dimensions {
			if c := cmp.Compare(a.Dimensions[i], b.Dimensions[i]); c != 0 {
				return c
			}
		}
		return 0
	})
}

// funnel counts the visitors whose visits reached each step in order.
func funnel(blocks []*block.Block, q Query, f Funnel, vd *visitorDict) []FunnelStep {
	q.Goals = f.Steps
	s := newScan(blocks, q, vd)
	s.buildVisits()
	goals := s.goalMasks()
	filter := s.rowFilter(q.Filter, goals)
	t := s.visits
	ok := make([]bool, t.len())
	progress := make([]int8, t.len())
	n := int8(len(f.Steps))
	for bi, b := range s.blocks {
		for r := range b.Len() {
			v := s.rowVist[bi][r]
			if v < 0 {
				continue
			}
			if !ok[v] && filter(bi, r) {
				ok[v] = true
			}
			if p := progress[v]; p < n && goals(bi, r)&(1<<p) != 0 {
				progress[v] = p + 1
			}
		}
	}
	best := make([]int8, s.nvis)
	for v := range progress {
		if ok[v] && progress[v] > best[t.visitor[v]] {
			best[t.visitor[v]] = progress[v]
		}
	}
	reached := make([]int64, n)
	for _, p := range best {
		for k := range p {
			reached[k]++
		}
	}
	out := make([]FunnelStep, n)
	for k := range out {
		st := FunnelStep{Goal: f.Steps[k].Name, Visitors: reached[k]}
		if k > 0 {
			st.DropOff = reached[k-1] - reached[k]
			if reached[k-1] > 0 {
				st.ConversionRateStep = float64(100*reached[k]) / float64(reached[k-1])
			}
		} else if reached[0] > 0 {
			st.ConversionRateStep = 100
		}
		if reached[0] > 0 {
			st.ConversionRate = float64(100*reached[k]) / float64(reached[0])
		}
		out[k] = st
	}
	return out
}
