package mongostore

import (
	"container/list"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
)

// DefaultBlockCache is the default bound of the decoded blocks a reader
// keeps, in bytes.
const DefaultBlockCache = 512 << 20

// readerHeadroom is what a reader's soft memory limit allows beyond its
// block cache: a query's working set (about 16 bytes a row of its range,
// for the visits it rebuilds), the engine's visitor dictionaries and the
// rest of the process.
const readerHeadroom = 384 << 20

// MemoryLimit is the soft memory limit (runtime/debug.SetMemoryLimit) of a
// process reading blocks with a cache of cacheBytes (0: the default). At
// Go's default GOGC the heap grows to twice what is live, and a full cache
// is most of what is live: 512 MiB of blocks would let a reporter reach
// well over a GiB. Under the limit the collector runs sooner instead.
func MemoryLimit(cacheBytes int) int64 {
	if cacheBytes <= 0 {
		cacheBytes = DefaultBlockCache
	}
	return int64(cacheBytes) + readerHeadroom
}

// Blocks returns site's event blocks of the UTC hours that overlap
// [from, to), in hour order, each hour's rows sorted by visitor and time
// (see block.Merge). Blocks are shared: callers must not change them.
//
// Decoded hours are kept in a cache bounded by Config.BlockCache; a read
// costs one lookup of the site's versions, a lookup of each month manifest
// that changed since, and a read of each document not cached.
func (s *Store) Blocks(ctx context.Context, site string, from, to time.Time) ([]*block.Block, error) {
	if !to.After(from) {
		return nil, nil
	}
	var err error
	for range 5 {
		var out []*block.Block
		out, err = s.readBlocks(ctx, site, from, to)
		if !errors.Is(err, errPartGone) {
			return out, err
		}
	}
	return nil, analytics.Wrap(analytics.Unavailable, "mongodb: event blocks of "+site+" kept changing while read", err)
}

func (s *Store) readBlocks(ctx context.Context, site string, from, to time.Time) ([]*block.Block, error) {
	bs, err := s.readBlockSite(ctx, site)
	if err != nil {
		return nil, err
	}
	first := from.UTC().Truncate(time.Hour)
	// No blocks before the site's first month: an open start (all time)
	// begins there.
	if since := bs.since(); !since.IsZero() && first.Before(since) {
		first = since
	}
	if to.After(s.now().Add(48 * time.Hour)) {
		to = s.now().Add(48 * time.Hour)
	}
	type hourIDs struct {
		hour time.Time
		key  string
		ids  []string
	}
	var hours []hourIDs
	for month := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC); month.Before(to); month = month.AddDate(0, 1, 0) {
		m, err := s.cache.manifest(ctx, s, site, bs, month)
		if err != nil {
			return nil, err
		}
		end := month.AddDate(0, 1, 0)
		h := first
		if month.After(h) {
			h = month
		}
		for ; h.Before(to) && h.Before(end); h = h.Add(time.Hour) {
			if ids := m[hourField(h)]; len(ids) > 0 {
				hours = append(hours, hourIDs{h, blockKey(site, bs.Gen, h.Format(hourKeyLayout)) + "#" + strings.Join(ids, ","), ids})
			}
		}
	}
	// Documents of hours not cached, fetched together.
	var missing []string
	seen := map[string]bool{} // a part spanning hours is listed under each
	for _, h := range hours {
		if _, ok := s.cache.get(h.key); ok {
			continue
		}
		for _, id := range h.ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			if _, ok := s.cache.get(blockKey(site, bs.Gen, id)); !ok {
				missing = append(missing, id)
			}
		}
	}
	if len(missing) > 0 {
		got, err := s.fetchParts(ctx, site, bs.Gen, missing)
		if err != nil {
			if errors.Is(err, errPartGone) {
				s.cache.dropManifests(site)
			}
			return nil, err
		}
		for i, id := range missing {
			s.cache.put(blockKey(site, bs.Gen, id), []*block.Block{got[i]})
		}
	}
	// A closed hour's documents are in its merged blocks once merged:
	// cached apart too, they would hold its rows twice. An open hour's
	// stay, since the hour is merged again with each new part (and so does
	// a part listed under an open hour as well).
	var drop []string
	keep := map[string]bool{}
	now := s.now()
	for _, h := range hours {
		if h.hour.Add(time.Hour + compactAfter).After(now) {
			for _, id := range h.ids {
				keep[id] = true
			}
		}
	}
	var out []*block.Block
	for _, h := range hours {
		// Dropped even when this read finds the hour merged: a reader
		// beside the one that merged it may have cached what it fetched.
		for _, id := range h.ids {
			if !keep[id] {
				drop = append(drop, blockKey(site, bs.Gen, id))
			}
		}
		if bl, ok := s.cache.get(h.key); ok {
			out = append(out, bl...)
			continue
		}
		var parts []*block.Block
		for _, id := range h.ids {
			bl, ok := s.cache.get(blockKey(site, bs.Gen, id))
			if !ok { // evicted meanwhile: read again
				got, err := s.fetchParts(ctx, site, bs.Gen, []string{id})
				if err != nil {
					return nil, err
				}
				bl = got
			}
			parts = append(parts, bl...)
		}
		merged := parts
		if len(h.ids) > 1 || isPart(h.ids[0]) {
			merged = block.Merge(h.hour, parts)
		}
		for i, b := range merged {
			merged[i] = b.WithoutPos()
		}
		s.cache.put(h.key, merged)
		out = append(out, merged...)
	}
	s.cache.drop(drop)
	return out, nil
}

func isPart(id string) bool {
	_, _, _, ok := parsePartID(id)
	return ok
}

func blockKey(site string, gen int64, id string) string {
	return site + "|" + itoa(gen) + "|" + id
}

// blockCache keeps decoded blocks (least recently used first out, bounded
// in bytes) and the month manifests last read.
type blockCache struct {
	mu        sync.Mutex
	limit     int
	size      int
	lru       *list.List // of *cacheEntry, most recent first
	entries   map[string]*list.Element
	manifests map[string]cachedManifest
	hits      int64
	misses    int64
}

type cacheEntry struct {
	key    string
	blocks []*block.Block
	size   int
}

type cachedManifest struct {
	version int64
	m       manifest
}

func newBlockCache(limit int) *blockCache {
	if limit <= 0 {
		limit = DefaultBlockCache
	}
	return &blockCache{limit: limit, lru: list.New(), entries: map[string]*list.Element{}, manifests: map[string]cachedManifest{}}
}

func (c *blockCache) get(key string) ([]*block.Block, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		c.misses++
		return nil, false
	}
	c.hits++
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).blocks, true
}

func (c *blockCache) put(key string, bl []*block.Block) {
	n := len(key) + 64
	for _, b := range bl {
		n += b.Size()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key, bl, n})
	c.size += n
	for c.size > c.limit && c.lru.Len() > 1 {
		c.remove(c.lru.Back())
	}
}

// remove takes an entry out; c.mu is held.
func (c *blockCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.size -= e.size
}

func (c *blockCache) drop(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if el, ok := c.entries[k]; ok {
			c.remove(el)
		}
	}
}

// manifest returns the month's manifest of site, read again when the
// site's version of the month moved since it was cached.
func (c *blockCache) manifest(ctx context.Context, s *Store, site string, bs blockSite, month time.Time) (manifest, error) {
	key := manifestID(site, bs.Gen, month)
	v := bs.Versions[monthField(month)]
	c.mu.Lock()
	cm, ok := c.manifests[key]
	c.mu.Unlock()
	if ok && cm.version == v {
		return cm.m, nil
	}
	if v == 0 {
		return manifest{}, nil // never written
	}
	m, err := s.readManifest(ctx, site, bs.Gen, month)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.manifests) > 100_000 {
		clear(c.manifests)
	}
	c.manifests[key] = cachedManifest{v, m}
	c.mu.Unlock()
	return m, nil
}

func (c *blockCache) dropManifests(site string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.manifests {
		if strings.HasPrefix(k, site+"|") {
			delete(c.manifests, k)
		}
	}
}

// BlockCacheStats says what the block cache holds.
type BlockCacheStats struct {
	Bytes, Limit int
	Entries      int
	Hits, Misses int64
}

// BlockCacheStats returns the cache's figures, for /metrics.
func (s *Store) BlockCacheStats() BlockCacheStats {
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	return BlockCacheStats{Bytes: c.size, Limit: c.limit, Entries: c.lru.Len(), Hits: c.hits, Misses: c.misses}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
