package analytics

import (
	"encoding/hex"
	"hash/fnv"
	"sort"
)

// The rollup model: what an event adds to the counters of a (site, period)
// and how those counters are bounded. Stores persist it; they do not decide
// it.
//
// Counters per value of a dimension (views per path, events per type) live
// in the period's main document for the first ShardKeys distinct values,
// then in RollupShards overflow documents chosen by a hash of the value, each
// holding at most ShardKeys values; values beyond that capacity are counted
// under Other, and answers say so. A site with few distinct values costs one
// document per period, as before counters were bounded. The TopKeys leaders of each dimension are
// kept beside the totals, so a stats read is one small document however
// many distinct values a site has.
const (
	RollupShards = 16
	ShardKeys    = 256
	TopKeys      = MaxTopPaths
	Other        = "(other)"
)

// Dimensions of the per-value counters.
const (
	DimPath = "path" // page views per path
	DimType = "type" // events per event type
)

// Key is one per-value counter: a dimension and a value of it.
type Key struct{ Dim, Value string }

// Hash names the key in stored documents: 16 hex digits of FNV-1a over the
// dimension and the value. A hash, not the value, becomes the field name, so
// no value a client sends ('.', '$', spaces, any length) can make a document
// unstorable.
func (k Key) Hash() string {
	var b [8]byte
	h := k.sum()
	for i := 7; i >= 0; i-- {
		b[i] = byte(h)
		h >>= 8
	}
	return hex.EncodeToString(b[:])
}

// Shard is the overflow counter document the key lives in once the home
// document is full.
func (k Key) Shard() int { return int(k.sum() % RollupShards) }

func (k Key) sum() uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(k.Dim))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(k.Value))
	return h.Sum64()
}

// Keys returns the per-value counters an event adds one to.
func (e *Event) Keys() []Key {
	if e.EventType == PageView && e.Path != "" {
		return []Key{{DimType, e.EventType}, {DimPath, e.Path}}
	}
	return []Key{{DimType, e.EventType}}
}

// Totals are the counters of a (site, period) that are not per value.
type Totals struct {
	Views, Events, Uniques int64
}

// Add counts one event; newUser says it is the first event of its user in
// the period.
func (t *Totals) Add(e *Event, newUser bool) {
	t.Events++
	if e.EventType == PageView {
		t.Views++
	}
	if newUser {
		t.Uniques++
	}
}

// Ranked is a value and its count in a leaders list.
type Ranked struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Less orders leaders: higher count first, then value, so answers are the
// same every time.
func (r Ranked) Less(o Ranked) bool {
	if r.Count != o.Count {
		return r.Count > o.Count
	}
	return r.Value < o.Value
}

// MergeTop returns the k leaders after the values in changed reached the
// given counts. Counts only grow, so the leaders stay exact as long as every
// change is passed in: a value outside the leaders never ranks above the
// last leader, and it enters exactly when it overtakes it.
func MergeTop(top []Ranked, changed map[string]int64, k int) []Ranked {
	out := make([]Ranked, 0, len(top)+len(changed))
	for _, r := range top {
		if _, ok := changed[r.Value]; !ok {
			out = append(out, r)
		}
	}
	for v, n := range changed {
		out = append(out, Ranked{Value: v, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	if len(out) > k {
		out = out[:k]
	}
	return out
}
