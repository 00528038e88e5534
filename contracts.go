package analytics

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Publisher is the collector's side of the queue.
type Publisher interface {
	// Publish returns nil only once every event is durably queued; an error
	// means none or only some were, and the client must be told to retry.
	// Errors are of kind Unavailable when the queue cannot be reached.
	Publish(ctx context.Context, events []Event) error
}

// Entry is one queued event as handed to a processor.
type Entry struct {
	// ID is the entry's position in its partition; positions only grow.
	ID string
	// Event is the decoded event; valid only when Err is nil.
	Event Event
	// Raw is the entry as queued, kept for the dead-letter stream.
	Raw []byte
	// Err is set when the entry can never be decoded (a poison entry).
	Err error
}

// Batch is a run of consecutive entries from one partition, in order.
type Batch struct {
	Partition int
	Entries   []Entry
}

// Consumer is the processor's side of the queue. A consumer owns some of the
// partitions at a time; it hands out batches only from partitions it owns,
// and after taking one over it replays the entries a previous owner was
// handed but never acknowledged before any new ones.
type Consumer interface {
	// Fetch blocks until a batch of at most max entries is available or ctx
	// is done.
	Fetch(ctx context.Context, max int) (Batch, error)
	// Ack marks every entry of b as done; call it only after everything the
	// entries change is stored.
	Ack(ctx context.Context, b Batch) error
	// DeadLetter moves an entry that can never be stored aside, with the
	// reason. The entry still needs acknowledging with its batch.
	DeadLetter(ctx context.Context, partition int, e Entry, reason error) error
	// WriteContext returns the context every store write of b must run
	// under: it ends when this consumer can no longer be certain it still
	// owns b's partition (a local deadline derived from the last lease
	// renewal sent, or at once when the lease is known lost), so two
	// processors never write for one partition at the same time. Ask again
	// for each write attempt: renewals move the deadline on.
	WriteContext(ctx context.Context, b Batch) (context.Context, context.CancelFunc)
	// Drop gives a batch back unacknowledged (its writes were cut off or
	// failed); the next Fetch of its partition hands it out again.
	Drop(b Batch)
}

// ErrFenced is the cause of a write context that ended because the writer
// can no longer be certain it holds its partition's lease. The batch must be
// dropped unacknowledged; never retried by the same writer.
var ErrFenced error = &Error{Kind: Unavailable, Msg: "partition lease no longer certainly held; batch dropped unacknowledged"}

type fenceKey struct{}

// WithFence returns a context carrying f. A store given such a context runs
// each of its database operations under f.WriteContext, so every write gets
// the deadline current when it starts: a long batch goes on as long as the
// lease keeps being renewed, and no write starts past the deadline.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, or nil.
func FenceFrom(ctx context.Context) Fence {
	f, _ := ctx.Value(fenceKey{}).(Fence)
	return f
}

// Fenced reports whether f no longer lets writes through.
func Fenced(ctx context.Context, f Fence) bool {
	wctx, cancel := f.WriteContext(ctx)
	defer cancel()
	return context.Cause(wctx) != nil && ctx.Err() == nil
}

// Fence bounds a writer's writes to the time it certainly holds the lease
// of the partition it writes for.
type Fence interface {
	// WriteContext returns a context that ends when the lease is no longer
	// certainly held; ask again for each write step.
	WriteContext(ctx context.Context) (context.Context, context.CancelFunc)
}

// ApplyResult says what Store.Apply did with a batch.
type ApplyResult struct {
	Stored     int           // events stored for the first time
	Duplicates int           // events whose id was already stored by another entry
	Expired    int           // events older than their site's retention horizon, not stored
	Failed     []EntryFailed // entries that can never be stored
}

// EntryFailed is an entry the store refused permanently.
type EntryFailed struct {
	Index int // index in the batch
	Err   error
}

// Store keeps events and answers stats.
type Store interface {
	// Apply stores a batch: each event by id and its effect on the rollups,
	// exactly once however often the same batch (or an overlapping one) is
	// applied. An error of kind Unavailable means nothing is lost by retrying
	// the same batch later; entries of other kinds can be isolated by
	// applying them one at a time.
	Apply(ctx context.Context, b Batch) (ApplyResult, error)
	StatsReader
}

// StatsReader answers stats queries.
type StatsReader interface {
	// Stats returns the stats for q; a site with no events has zero stats.
	Stats(ctx context.Context, q StatsQuery) (Stats, error)
}

// RealtimeWindow is how many minutes the dashboard's realtime line covers.
const RealtimeWindow = 30

// RealtimeReader reads a site's last minutes (package realtime keeps them
// in Redis).
type RealtimeReader interface {
	// Read sums the last minutes (1 to RealtimeWindow, the current one
	// included) of site.
	Read(ctx context.Context, site string, minutes int) (RealtimeSummary, error)
}

// RealtimeSummary is a site's last minutes; Series has one row per minute,
// oldest first.
type RealtimeSummary struct {
	Minutes   int              `json:"minutes"`
	Visitors  int64            `json:"visitors"`
	Pageviews int64            `json:"pageviews"`
	Events    int64            `json:"events"`
	Series    []RealtimeMinute `json:"series"`
}

// RealtimeMinute is one minute of a RealtimeSummary.
type RealtimeMinute struct {
	Minute    time.Time `json:"minute"`
	Pageviews int64     `json:"pageviews"`
	Events    int64     `json:"events"`
}

// Pinger reports whether a dependency answers, for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ComparePositions orders two entry ids of one partition. Ids are "a-b"
// (a Redis stream id) or "a-b-i" (the i-th event of the queue entry a-b,
// which holds several), a, b and i unsigned integers; "a-b" is "a-b-0".
// -1 means a comes first.
func ComparePositions(a, b string) int {
	pa, pb := splitPosition(a), splitPosition(b)
	for i := range pa {
		switch {
		case pa[i] < pb[i]:
			return -1
		case pa[i] > pb[i]:
			return 1
		}
	}
	return 0
}

func splitPosition(id string) [3]uint64 {
	var p [3]uint64
	for i := range p {
		part, rest, _ := strings.Cut(id, "-")
		p[i], _ = strconv.ParseUint(part, 10, 64)
		id = rest
	}
	return p
}
