package engine

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
)

// Answerer is what the APIs ask: an Engine, or anything answering like one.
type Answerer interface {
	// Query answers q exactly. Errors of kind analytics.Invalid name what
	// in q cannot be answered (an unknown metric or dimension, a metric
	// that needs a goal filter); others are the store's.
	Query(ctx context.Context, q Query) (Result, error)
	// Funnel answers how many visitors of q's range and filter reached
	// each step of f, in order, within one visit.
	Funnel(ctx context.Context, q Query, f Funnel) ([]FunnelStep, error)
}

// BlockSource hands out a site's event blocks.
type BlockSource interface {
	// Blocks returns the blocks of site's UTC hours overlapping [from, to),
	// in hour order, each hour's rows sorted by visitor and time.
	Blocks(ctx context.Context, site string, from, to time.Time) ([]*block.Block, error)
}

// Engine answers queries by scanning a site's event blocks.
type Engine struct {
	src BlockSource

	mu       sync.Mutex
	visitors map[string]*visitorDict
	ids      atomic.Int64 // ids given out by all the dictionaries
}

// maxVisitorIDs bounds the visitor dictionaries of an engine (about 25
// bytes an id): past it, the next query starts the largest ones afresh,
// until half the bound is left. They only spare work (each block's
// visitors are looked up once), and without a bound a reporter's memory
// would follow every visitor ever asked about.
var maxVisitorIDs int64 = 1 << 22

// visitorDict gives a site's visitors dense ids (0, 1, 2, ...) shared by
// every query of the engine, so that each block maps its visitors once
// (block.Memo) and scans index arrays instead of hashing.
type visitorDict struct {
	mu    sync.Mutex
	ids   map[uint64]int32
	total *atomic.Int64 // the engine's count of ids
}

// dict returns the visitor dictionary of site.
func (e *Engine) dict(site string) *visitorDict {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.visitors == nil {
		e.visitors = map[string]*visitorDict{}
	}
	if e.ids.Load() > maxVisitorIDs {
		e.shrink()
	}
	d := e.visitors[site]
	if d == nil {
		d = &visitorDict{ids: map[uint64]int32{}, total: &e.ids}
		e.visitors[site] = d
	}
	return d
}

// shrink drops the largest visitor dictionaries until half maxVisitorIDs
// is left: one large site's stay bounded without making every other site
// start afresh. Queries under way keep the dictionaries they hold; blocks
// noted for those are mapped again (see dense). e.mu is held.
func (e *Engine) shrink() {
	type sized struct {
		site string
		n    int
	}
	var all []sized
	total := 0
	for site, d := range e.visitors {
		n := d.len()
		all = append(all, sized{site, n})
		total += n
	}
	slices.SortFunc(all, func(a, b sized) int { return b.n - a.n })
	for _, x := range all {
		if int64(total) <= maxVisitorIDs/2 {
			break
		}
		delete(e.visitors, x.site)
		total -= x.n
	}
	e.ids.Store(int64(total))
}

// dense returns b's visitor index -> dense id (-1: no visitor), and the
// number of ids the dictionary has given out.
func (d *visitorDict) dense(b *block.Block) []int32 {
	if m := b.Memo.Load(); m != nil && m.Owner == d {
		return m.IDs
	}
	d.mu.Lock()
	ids := make([]int32, len(b.Visitors))
	for i, v := range b.Visitors {
		if v == 0 {
			ids[i] = -1
			continue
		}
		id, ok := d.ids[v]
		if !ok {
			id = int32(len(d.ids))
			d.ids[v] = id
			d.total.Add(1)
		}
		ids[i] = id
	}
	d.mu.Unlock()
	b.Memo.Store(&block.Memo{Owner: d, IDs: ids})
	return ids
}

func (d *visitorDict) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ids)
}

var _ Answerer = (*Engine)(nil)

// New returns an engine reading blocks from src.
func New(src BlockSource) *Engine { return &Engine{src: src} }

// MaxDimensions is the most dimensions a query may group by.
const MaxDimensions = 6

// MaxGoals is the most goals a site may have.
const MaxGoals = 64

func invalid(format string, args ...any) error {
	return analytics.Errorf(analytics.Invalid, format, args...)
}

var knownMetrics = []string{Visitors, Visits, Pageviews, Events, ViewsPerVisit, BounceRate, VisitDuration, Percentage, ConversionRate, GroupConversionRate}

// check validates q's names and combinations.
func check(q *Query) error {
	if len(q.Metrics) == 0 {
		return invalid("metrics: at least one metric is required")
	}
	for _, m := range q.Metrics {
		if !slices.Contains(knownMetrics, m) {
			return invalid("metrics: unknown metric %q", m)
		}
	}
	if len(q.Dimensions) > MaxDimensions {
		return invalid("dimensions: at most %d", MaxDimensions)
	}
	times := 0
	for _, d := range q.Dimensions {
		if _, err := propOf(d); err != nil {
			if isTimeDim(d) {
				times++
				continue
			}
			return err
		}
	}
	if times > 1 {
		return invalid("dimensions: at most one time dimension")
	}
	if len(q.Goals) > MaxGoals {
		return invalid("goals: at most %d per site", MaxGoals)
	}
	if err := checkFilter(q.Filter, false); err != nil {
		return err
	}
	goalDim := slices.Contains(q.Dimensions, EventGoal)
	goalFilter := hasGoal(q.Filter)
	for _, m := range q.Metrics {
		switch m {
		case ConversionRate:
			if !goalDim && !goalFilter {
				return invalid("Metric `conversion_rate` can only be queried with event:goal filters or dimensions.")
			}
		case GroupConversionRate:
			if !goalDim && !goalFilter {
				return invalid("Metric `group_conversion_rate` can only be queried with event:goal filters or dimensions.")
			}
			if len(q.Dimensions) == 0 {
				return invalid("Metric `group_conversion_rate` can only be queried in a breakdown (with dimensions).")
			}
		}
	}
	for _, o := range q.OrderBy {
		if !slices.Contains(q.Metrics, o.By) && !slices.Contains(q.Dimensions, o.By) {
			return invalid("order_by: %q is neither a metric nor a dimension of the query", o.By)
		}
	}
	if (slices.Contains(q.Metrics, ConversionRate) || slices.Contains(q.Metrics, GroupConversionRate)) && nestedGoal(q.Filter, true) {
		return invalid("filters: a conversion rate needs its event:goal filters at the top level (joined by and)")
	}
	if !q.To.After(q.From) {
		return invalid("date_range: the end must be after the start")
	}
	return nil
}

func isTimeDim(d string) bool {
	switch d {
	case Time, TimeHour, TimeDay, TimeWeek, TimeMonth:
		return true
	}
	return false
}

func hasGoal(f *Filter) bool {
	if f == nil {
		return false
	}
	if f.Dim == EventGoal {
		return true
	}
	for _, c := range f.Children {
		if hasGoal(c) {
			return true
		}
	}
	return false
}

// nestedGoal reports an event:goal condition under anything but and.
func nestedGoal(f *Filter, top bool) bool {
	if f == nil {
		return false
	}
	if f.Dim == EventGoal {
		return !top
	}
	for _, c := range f.Children {
		if nestedGoal(c, top && f.Op == OpAnd) {
			return true
		}
	}
	return false
}

func checkFilter(f *Filter, inner bool) error {
	if f == nil {
		return nil
	}
	switch f.Op {
	case OpAnd, OpOr:
		if len(f.Children) == 0 {
			return invalid("filters: %q needs at least one filter", f.Op)
		}
	case OpNot, OpHasDone, OpHasNotDone:
		if len(f.Children) != 1 {
			return invalid("filters: %q takes exactly one filter", f.Op)
		}
		if f.Op != OpNot {
			if inner {
				return invalid("filters: %q cannot be nested in another has_done or has_not_done", f.Op)
			}
			if err := eventOnly(f.Children[0]); err != nil {
				return err
			}
		}
	case OpIs, OpIsNot, OpContains, OpContainsNot, OpMatches, OpMatchesNot:
		if isTimeDim(f.Dim) {
			return invalid("filters: cannot filter by %q", f.Dim)
		}
		if _, err := propOf(f.Dim); err != nil {
			return err
		}
		if len(f.Values) == 0 {
			return invalid("filters: %s %s needs at least one value", f.Dim, f.Op)
		}
		if f.Op == OpMatches || f.Op == OpMatchesNot {
			for _, v := range f.Values {
				if _, err := regexp.Compile(v); err != nil {
					return invalid("filters: %s %s: %q is not a valid regular expression: %v", f.Dim, f.Op, v, err)
				}
			}
		}
		return nil
	default:
		return invalid("filters: unknown operator %q", f.Op)
	}
	for _, c := range f.Children {
		if err := checkFilter(c, inner || f.Op == OpHasDone || f.Op == OpHasNotDone); err != nil {
			return err
		}
	}
	return nil
}

func eventOnly(f *Filter) error {
	if f.Dim != "" {
		if p, _ := propOf(f.Dim); p.visit() {
			return invalid("filters: has_done and has_not_done take event:* filters only, not %q", f.Dim)
		}
	}
	for _, c := range f.Children {
		if err := eventOnly(c); err != nil {
			return err
		}
	}
	return nil
}

// prop is a property a dimension or filter reads.
type prop struct {
	name string
	kind propKind
	col  block.Col // event and visit columns
	key  string    // custom property key
}

type propKind int

const (
	eventCol  propKind = iota // a column of the row
	visitCol                  // a column of the visit's first row
	entryPage                 // the visit's first page view's path
	exitPage                  // the visit's last page view's path
	propKey                   // a custom property of the row
	goalProp                  // the goals the row completes
)

func (p prop) visit() bool { return p.kind == visitCol || p.kind == entryPage || p.kind == exitPage }

var props = map[string]prop{
	EventName:   {kind: eventCol, col: block.Name},
	EventPage:   {kind: eventCol, col: block.Path},
	EventGoal:   {kind: goalProp},
	Source:      {kind: visitCol, col: block.Source},
	Referrer:    {kind: visitCol, col: block.Referrer},
	UTMSource:   {kind: visitCol, col: block.UTMSource},
	UTMMedium:   {kind: visitCol, col: block.UTMMedium},
	UTMCampaign: {kind: visitCol, col: block.UTMCampaign},
	UTMContent:  {kind: visitCol, col: block.UTMContent},
	UTMTerm:     {kind: visitCol, col: block.UTMTerm},
	Browser:     {kind: visitCol, col: block.Browser},
	OS:          {kind: visitCol, col: block.OS},
	Device:      {kind: visitCol, col: block.Device},
	Country:     {kind: visitCol, col: block.Country},
	EntryPage:   {kind: entryPage, col: block.Path},
	ExitPage:    {kind: exitPage, col: block.Path},
}

func propOf(name string) (prop, error) {
	if k, ok := strings.CutPrefix(name, PropPrefix); ok {
		if k == "" {
			return prop{}, invalid("%q: a custom property needs a key, e.g. event:props:plan", name)
		}
		return prop{name: name, kind: propKey, key: k}, nil
	}
	p, ok := props[name]
	if !ok {
		return prop{}, invalid("unknown property %q", name)
	}
	p.name = name
	return p, nil
}

// None is the value of a custom property an event does not have. An
// event without a source or referrer has "Direct / None"; without any
// other property, "" (the APIs decide how to show it).
const None = "(none)"

// shown is how a stored value of p is answered and matched.
func shown(p prop, v string) string {
	if v != "" {
		if p.kind == eventCol && p.col == block.Name && v == analytics.PageView {
			return "pageview"
		}
		return v
	}
	switch {
	case p.kind == visitCol && (p.col == block.Source || p.col == block.Referrer):
		return Direct
	case p.kind == propKey:
		return None
	}
	return ""
}

func isPageview(name string) bool { return name == analytics.PageView || name == "pageview" }

// Granularity is the bucket the "time" dimension uses for [from, to) in
// loc, as Plausible's Interval.default_for_date_range picks it: months when
// the range spans a month or more, days when it spans more than a day,
// else hours.
func Granularity(from, to time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	f, l := from.In(loc), to.Add(-time.Millisecond).In(loc)
	months := (l.Year()*12 + int(l.Month())) - (f.Year()*12 + int(f.Month()))
	if l.Day() < f.Day() {
		months--
	}
	switch {
	case months > 0:
		return TimeMonth
	case f.Format("2006-01-02") != l.Format("2006-01-02"):
		return TimeDay
	}
	return TimeHour
}

// Query implements Answerer.
func (e *Engine) Query(ctx context.Context, q Query) (Result, error) {
	if err := check(&q); err != nil {
		return Result{}, err
	}
	blocks, err := e.blocks(ctx, q.Site, q.From, q.To)
	if err != nil {
		return Result{}, err
	}
	return answer(newScan(blocks, q, e.dict(q.Site)), q)
}

// Funnel implements Answerer.
func (e *Engine) Funnel(ctx context.Context, q Query, f Funnel) ([]FunnelStep, error) {
	if len(f.Steps) < 2 || len(f.Steps) > 8 {
		return nil, invalid("funnel %q: needs 2 to 8 steps, has %d", f.Name, len(f.Steps))
	}
	if q.Metrics == nil {
		q.Metrics = []string{Visitors}
	}
	if err := check(&q); err != nil {
		return nil, err
	}
	blocks, err := e.blocks(ctx, q.Site, q.From, q.To)
	if err != nil {
		return nil, err
	}
	return funnel(blocks, q, f, e.dict(q.Site)), nil
}

// sharedBlocks holds the blocks a context's queries read (ShareBlocks).
type sharedBlocks struct {
	mu   sync.Mutex
	read map[blockRange][]*block.Block
}

type blockRange struct {
	site     string
	from, to int64
}

type sharedBlocksKey struct{}

// ShareBlocks returns a context under which queries of one site and range
// read its blocks once, for a request that asks several questions of the
// same range (GET /stats: the totals and the top paths). They also answer
// from one state of the store: read twice, a batch stored in between would
// count in one answer and not in the other.
func ShareBlocks(ctx context.Context) context.Context {
	return context.WithValue(ctx, sharedBlocksKey{}, &sharedBlocks{read: map[blockRange][]*block.Block{}})
}

func (e *Engine) blocks(ctx context.Context, site string, from, to time.Time) ([]*block.Block, error) {
	return Blocks(ctx, e.src, site, from, to)
}

// Blocks reads the blocks of site in [from, to) from src, once per
// ShareBlocks context: what keeps answers beside the engine (the
// reporter's answer cache) reads them here, so that it files an answer
// under the very blocks the engine computed it from.
func Blocks(ctx context.Context, src BlockSource, site string, from, to time.Time) ([]*block.Block, error) {
	sh, ok := ctx.Value(sharedBlocksKey{}).(*sharedBlocks)
	if !ok {
		return src.Blocks(ctx, site, from, to)
	}
	k := blockRange{site, from.UnixNano(), to.UnixNano()}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if bl, ok := sh.read[k]; ok {
		return bl, nil
	}
	bl, err := src.Blocks(ctx, site, from, to)
	if err == nil {
		sh.read[k] = bl
	}
	return bl, err
}

func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	if f.Dim != "" {
		return fmt.Sprintf("%s %s %q", f.Dim, f.Op, f.Values)
	}
	var parts []string
	for _, c := range f.Children {
		parts = append(parts, c.String())
	}
	return f.Op + "(" + strings.Join(parts, ", ") + ")"
}
