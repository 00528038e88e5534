package reporter

import (
	"container/list"
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/siteanalytics/analytics/block"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/imported"
)

// DefaultAnswerCache is how many answers the reporter keeps by default.
const DefaultAnswerCache = 1024

// maxCachedRows bounds the answers kept: a long breakdown is asked for
// rarely and would crowd the dashboard's short ones out.
const maxCachedRows = 400

// answerCache is an engine.Answerer that keeps recent answers, each with
// the event blocks it was computed from. An answer is given again only
// while the site's blocks of its range are the very same ones: blocks are
// immutable, and a new batch, a compaction, a forget or a rebuild hands
// out new ones, so a kept answer is never stale. It holds its blocks by
// weak pointers, so it never keeps a block the store's own cache dropped
// (such an answer is computed again).
//
// A dashboard asks the same dozen questions on every load of a view: kept,
// each costs the one lookup of the site's version that reading blocks
// costs anyway, instead of a scan of every event of the range.
type answerCache struct {
	eng engine.Answerer
	src engine.BlockSource
	max int

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // of *cached, most recent first

	hits, misses atomic.Int64
}

type cached struct {
	key    string
	blocks []weak.Pointer[block.Block]
	res    engine.Result
	steps  []engine.FunnelStep
}

func newAnswerCache(eng engine.Answerer, src engine.BlockSource, max int) *answerCache {
	return &answerCache{eng: eng, src: src, max: max, entries: map[string]*list.Element{}, lru: list.New()}
}

// cacheKey is everything an answer depends on besides the blocks.
func cacheKey(q engine.Query, f *engine.Funnel) (string, error) {
	loc := "UTC"
	if q.Location != nil {
		loc = q.Location.String()
	}
	b, err := json.Marshal(struct {
		Q      engine.Query
		Loc    string
		Funnel *engine.Funnel
	}{q, loc, f})
	return string(b), err
}

// lookup returns the kept entry for key if it was computed from exactly
// blocks.
func (c *answerCache) lookup(key string, blocks []*block.Block) (*cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	ent := e.Value.(*cached)
	if len(ent.blocks) != len(blocks) {
		return nil, false
	}
	for i, w := range ent.blocks {
		if w.Value() != blocks[i] {
			return nil, false
		}
	}
	c.lru.MoveToFront(e)
	return ent, true
}

func (c *answerCache) keep(ent *cached, blocks []*block.Block) {
	ent.blocks = make([]weak.Pointer[block.Block], len(blocks))
	for i, b := range blocks {
		ent.blocks[i] = weak.Make(b)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[ent.key]; ok {
		c.lru.Remove(e)
	}
	c.entries[ent.key] = c.lru.PushFront(ent)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cached).key)
	}
}

// Query implements engine.Answerer.
func (c *answerCache) Query(ctx context.Context, q engine.Query) (engine.Result, error) {
	key, err := cacheKey(q, nil)
	if err != nil {
		return c.eng.Query(ctx, q)
	}
	blocks, err := engine.Blocks(ctx, c.src, q.Site, q.From, q.To)
	if err != nil {
		return engine.Result{}, err
	}
	if ent, ok := c.lookup(key, blocks); ok {
		c.hits.Add(1)
		return copyResult(ent.res), nil
	}
	c.misses.Add(1)
	res, err := c.eng.Query(ctx, q)
	if err != nil || len(res.Rows) > maxCachedRows {
		return res, err
	}
	// The blocks read before the answer: if new ones came in between, the
	// entry is simply never matched again. Under engine.ShareBlocks the
	// engine answers from these very blocks (read once for the request),
	// not from newer ones: an answer kept under blocks newer than it was
	// computed from would be given again, stale, until the next batch.
	c.keep(&cached{key: key, res: copyResult(res)}, blocks)
	return res, nil
}

// Funnel implements engine.Answerer.
func (c *answerCache) Funnel(ctx context.Context, q engine.Query, f engine.Funnel) ([]engine.FunnelStep, error) {
	key, err := cacheKey(q, &f)
	if err != nil {
		return c.eng.Funnel(ctx, q, f)
	}
	blocks, err := engine.Blocks(ctx, c.src, q.Site, q.From, q.To)
	if err != nil {
		return nil, err
	}
	if ent, ok := c.lookup(key, blocks); ok {
		c.hits.Add(1)
		return append([]engine.FunnelStep(nil), ent.steps...), nil
	}
	c.misses.Add(1)
	steps, err := c.eng.Funnel(ctx, q, f)
	if err != nil {
		return steps, err
	}
	c.keep(&cached{key: key, steps: append([]engine.FunnelStep(nil), steps...)}, blocks)
	return steps, nil
}

// copyResult copies what callers change in place (query relabels
// dimensions), so a kept answer stays as computed.
func copyResult(r engine.Result) engine.Result {
	out := engine.Result{TotalRows: r.TotalRows, Rows: make([]engine.Row, len(r.Rows))}
	for i, row := range r.Rows {
		out.Rows[i] = engine.Row{Dimensions: append([]string(nil), row.Dimensions...), Metrics: append([]any(nil), row.Metrics...)}
	}
	if r.TimeLabels != nil {
		out.TimeLabels = append([]string(nil), r.TimeLabels...)
	}
	return out
}

// CacheStats are the answer cache's counters since start.
type CacheStats struct {
	Hits, Misses int64
	Entries      int
}

// AnswerCacheStats returns the answer cache's counters (zero without one).
func (rp *Reporter) AnswerCacheStats() CacheStats {
	c, ok := rp.eng.(*answerCache)
	if !ok {
		return CacheStats{}
	}
	c.mu.Lock()
	n := c.lru.Len()
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: n}
}

// ImportedSource passes the wrapped answerer's imported data through (see
// query.ImportsAnswerer), nil without any. The answers kept here are those
// of events only: query adds imported rows to them afresh on every query,
// so an import is seen at once.
func (c *answerCache) ImportedSource() imported.Source {
	if ia, ok := c.eng.(interface{ ImportedSource() imported.Source }); ok {
		return ia.ImportedSource()
	}
	return nil
}
