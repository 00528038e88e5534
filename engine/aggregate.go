package engine

import (
	"cmp"
	"math/bits"
	"slices"

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
	// Distinct (group, visitor) and (group, visit) pairs seen.
	visitors, visits u64set
}

type acc struct {
	events, pageviews, visitors      int64
	visits, bounces, visitPageviews int64
	durationMs                      int64
}

func (g *groups) of(k key) int32 {
	if i, ok := g.index[k]; ok {
		return i
	}
	i := int32(len(g.keys))
	g.index[k] = i
	g.keys = append(g.keys, k)
	g.acc = append(g.acc, acc{})
	return i
}

// dimFn gives a dimension's value at a row; for the time dimension, byVisit
// gives the bucket of a visit (a visit belongs to its first event's).
type dimFn struct {
	row     func(bi, r int) int32
	goal    bool
	time    bool
	byVisit []int32
}

// aggregate groups the rows in range that pass filter by dims.
func (s *scan) aggregate(dims []string, filter func(bi, r int) bool, goals func(bi, r int) uint64, visitMetrics bool) *groups {
	fns := make([]dimFn, len(dims))
	for i, d := range dims {
		switch {
		case isTimeDim(d):
			if s.buckets == nil {
				s.buckets = newBuckets(s.q, d)
			}
			bk := s.buckets
			fns[i] = dimFn{time: true, row: func(bi, r int) int32 { return bk.of(s.blocks[bi].Millis(r)) }}
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
			fns[i] = dimFn{goal: true}
		default:
			p, _ := propOf(d)
			fns[i] = dimFn{row: s.valueFn(p)}
		}
	}
	g := &groups{index: map[key]int32{}}
	goalDim := -1
	for i, f := range fns {
		if f.goal {
			goalDim = i
		}
	}
	for bi, b := range s.blocks {
		dense := s.vdense[bi]
		names := b.Dicts[block.Name]
		pvName := make([]bool, len(names))
		for i, n := range names {
			pvName[i] = isPageview(n)
		}
		nameCol := b.Cols[block.Name]
		var rowVisit []int32
		if visitMetrics && s.rowVist != nil {
			rowVisit = s.rowVist[bi]
		}
		for r := range b.Len() {
			if !s.in(bi, r) || !filter(bi, r) {
				continue
			}
			var k key
			for i, f := range fns {
				if !f.goal {
					k[i] = f.row(bi, r)
				}
			}
			vis := dense[b.Visitor[r]]
			pv := pvName[nameCol[r]]
			visit := int32(-1)
			if rowVisit != nil {
				visit = rowVisit[r]
			}
			add := func(k key) {
				gi := g.of(k)
				a := &g.acc[gi]
				a.events++
				if pv {
					a.pageviews++
				}
				if vis >= 0 && g.visitors.add(uint64(gi)<<32|uint64(vis)) {
					a.visitors++
				}
				if visit < 0 {
					return
				}
				vk := k
				for i, f := range fns {
					if f.byVisit != nil {
						vk[i] = f.byVisit[visit]
					}
				}
				vg := gi
				if vk != k {
					vg = g.of(vk)
				}
				if g.visits.add(uint64(vg)<<32 | uint64(visit)) {
					t := s.visits
					va := &g.acc[vg]
					va.visits++
					if t.events[visit] == 1 {
						va.bounces++
					}
					va.visitPageviews += int64(t.pageviews[visit])
					va.durationMs += t.lastMs[visit] - t.firstMs[visit]
				}
			}
			if goalDim < 0 {
				add(k)
				continue
			}
			for m := goals(bi, r); m != 0; m &= m - 1 {
				k[goalDim] = int32(bits.TrailingZeros64(m))
				add(k)
			}
		}
	}
	return g
}

// answer computes q over blocks.
func answer(blocks []*block.Block, q Query) (Result, error) {
	s := newScan(blocks, q)
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
	g := s.aggregate(q.Dimensions, filter, goals, visitMetrics)

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
		if len(q.Dimensions) == 0 {
			total = g.acc[0].visitors
		}
		tg := s.aggregate(nil, filter, goals, false)
		if len(tg.acc) > 0 {
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
		bf := s.rowFilter(withoutGoals(q.Filter), goals)
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
				if bi, ok := base.index[bk]; ok {
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
		return ratio(100*a.bounces, a.visits)
	case VisitDuration:
		if a.visits == 0 {
			return nil
		}
		return ratio(a.durationMs, 1000*a.visits)
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
	order := q.OrderBy
	if len(order) == 0 {
		for _, d := range q.Dimensions {
			if isTimeDim(d) {
				order = append(order, Order{By: d})
			}
		}
		order = append(order, Order{By: q.Metrics[0], Desc: true})
		for _, d := range q.Dimensions {
			if !isTimeDim(d) {
				order = append(order, Order{By: d})
			}
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
func funnel(blocks []*block.Block, q Query, f Funnel) []FunnelStep {
	q.Goals = f.Steps
	s := newScan(blocks, q)
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
				st.ConversionRateStep = round(float64(reached[k])*100/float64(reached[k-1]), 2)
			}
		} else if reached[0] > 0 {
			st.ConversionRateStep = 100
		}
		if reached[0] > 0 {
			st.ConversionRate = round(float64(reached[k])*100/float64(reached[0]), 2)
		}
		out[k] = st
	}
	return out
}
