package visits_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/visits"
)

// collectorQueue is one collector's annotator and publisher, queuing
// through the annotator as the collector does.
type collectorQueue struct {
	a   *visits.Annotator
	pub *redisqueue.Publisher
	q   analytics.Publisher
}

func newQueue(t testing.TB, rdb redis.UniversalClient, keys redisqueue.Keys, cfg redisqueue.PublisherConfig) *collectorQueue {
	t.Helper()
	a := visits.New(rdb, keys.Prefix, 30*time.Minute)
	pub := redisqueue.NewPublisher(rdb, keys, cfg)
	t.Cleanup(func() { a.Close(); pub.Close() })
	return &collectorQueue{a: a, pub: pub, q: a.Queue(pub)}
}

// queued reads every event in the streams: each id's copies in the order
// queued (a site's events share a stream). It checks the backlog counts
// every copy.
func queued(t *testing.T, rdb redis.UniversalClient, keys redisqueue.Keys) map[string][]analytics.Event {
	t.Helper()
	ctx := context.Background()
	out := map[string][]analytics.Event{}
	total := 0
	for p := 0; p < keys.Partitions; p++ {
		msgs, err := rdb.XRange(ctx, keys.Stream(p), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			v, _ := m.Values["e"].(string)
			var evs []analytics.Event
			if m.Values["n"] == nil {
				evs = make([]analytics.Event, 1)
				err = json.Unmarshal([]byte(v), &evs[0])
			} else {
				err = json.Unmarshal([]byte(v), &evs)
				if fmt.Sprint(len(evs)) != m.Values["n"] {
					t.Fatalf("entry %s says n=%v and holds %d events", m.ID, m.Values["n"], len(evs))
				}
			}
			if err != nil {
				t.Fatalf("entry %s: %v", m.ID, err)
			}
			for _, e := range evs {
				out[e.ID] = append(out[e.ID], e)
			}
			total += len(evs)
		}
	}
	if n, err := redisqueue.Backlog(ctx, rdb, keys); err != nil || n != int64(total) {
		t.Fatalf("backlog %d (%v), want the %d events queued", n, err, total)
	}
	return out
}

// TestQueueAnnotatesAsAnnotate: a random workload (visitors on two sites,
// batches out of time order, gaps across the timeout and midnight, late
// events and resent batches) queued through Queue gets exactly the
// annotations Annotate gives, and the streams hold each event once with
// the annotation its caller was answered.
func TestQueueAnnotatesAsAnnotate(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	keys := redisqueue.Keys{Prefix: prefix + "q:", Partitions: 4}
	cq := newQueue(t, rdb, keys, redisqueue.DefaultPublisherConfig())
	ref := visits.New(rdb, prefix+"ref:", 30*time.Minute)
	defer ref.Close()
	rng := rand.New(rand.NewSource(1))
	clock := map[string]time.Time{}
	var sent []analytics.Event
	answered := map[string][]string{} // each id's annotations, in the order its copies were queued
	for b := 0; b < 300; b++ {
		batch := make([]analytics.Event, 1+rng.Intn(5))
		if b > 0 && rng.Intn(10) == 0 { // a client resends an earlier batch
			from := rng.Intn(len(sent))
			batch = append([]analytics.Event(nil), sent[from:min(from+len(batch), len(sent))]...)
			for i := range batch {
				batch[i].Visit = nil
			}
		} else {
			for i := range batch {
				user := fmt.Sprint("u", rng.Intn(6))
				site := fmt.Sprint("s", rng.Intn(2))
				steps := []time.Duration{time.Second, 10 * time.Minute, 31 * time.Minute, -time.Minute, 3 * time.Hour}
				last, ok := clock[site+user]
				if !ok {
					last = time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)
				}
				ts := last.Add(steps[rng.Intn(len(steps))])
				clock[site+user] = ts
				typ := analytics.PageView
				if rng.Intn(4) == 0 {
					typ = "signup"
				}
				batch[i] = analytics.Event{ID: fmt.Sprint("e", b, "-", i), SiteID: site, UserID: user, EventType: typ, Path: fmt.Sprint("/p", rng.Intn(3)), Timestamp: ts}
			}
		}
		want := append([]analytics.Event(nil), batch...)
		if err := ref.Annotate(ctx, want); err != nil {
			t.Fatal(err)
		}
		if err := cq.q.Publish(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i := range batch {
			if got, w := show(batch[i].Visit), show(want[i].Visit); got != w {
				t.Fatalf("batch %d event %s: Queue annotated %s, Annotate %s", b, batch[i].ID, got, w)
			}
			answered[batch[i].ID] = append(answered[batch[i].ID], show(batch[i].Visit))
		}
		sent = append(sent, batch...)
	}
	inStream := queued(t, rdb, keys)
	if len(inStream) != len(answered) {
		t.Fatalf("%d ids in the streams, %d queued", len(inStream), len(answered))
	}
	for id, want := range answered {
		var got []string
		for _, e := range inStream[id] {
			got = append(got, show(e.Visit))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("event %s in the streams with %v, its callers were answered %v", id, got, want)
		}
	}
}

// TestQueueRacers: 40 collectors queue a page view of one visitor at the
// same instant, concurrently: one starts the visit, the others continue it
// with 0..39 views before them, and the streams hold each event once with
// the annotation its collector was answered.
func TestQueueRacers(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	keys := redisqueue.Keys{Prefix: prefix, Partitions: 2}
	const n = 40
	qs := make([]*collectorQueue, n)
	for i := range qs {
		qs[i] = newQueue(t, rdb, keys, redisqueue.DefaultPublisherConfig())
	}
	var wg sync.WaitGroup
	got := make([]*analytics.Visit, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			evs := []analytics.Event{pv(fmt.Sprint("e", i), fmt.Sprint("/p", i), t0)}
			if err := qs[i].q.Publish(context.Background(), evs); err != nil {
				errs <- err
				return
			}
			got[i] = evs[0].Visit
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkRacers(t, got)
	inStream := queued(t, rdb, keys)
	for i, v := range got {
		copies := inStream[fmt.Sprint("e", i)]
		if len(copies) != 1 || show(copies[0].Visit) != show(v) {
			t.Fatalf("event e%d: %d copies in the streams, the first %+v; its collector was answered %s", i, len(copies), copies, show(v))
		}
	}
}

// TestQueueFromAStaleCache: two collectors take turns with one visitor
// (each last saw the state before the other's event), a state expires
// behind their backs, and Redis forgets its scripts: every event is
// annotated from the state as it really is, and queued once with it.
func TestQueueFromAStaleCache(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	keys := redisqueue.Keys{Prefix: prefix, Partitions: 2}
	a, b := newQueue(t, rdb, keys, redisqueue.DefaultPublisherConfig()), newQueue(t, rdb, keys, redisqueue.DefaultPublisherConfig())
	answered := map[string]string{}
	queue := func(c *collectorQueue, e analytics.Event) *analytics.Visit {
		t.Helper()
		evs := []analytics.Event{e}
		if err := c.q.Publish(ctx, evs); err != nil {
			t.Fatal(err)
		}
		answered[e.ID] = show(evs[0].Visit)
		return evs[0].Visit
	}
	queue(a, pv("1", "/a", t0))
	queue(b, pv("2", "/b", t0.Add(time.Minute)))
	if v := queue(a, pv("3", "/c", t0.Add(2*time.Minute))); v.Start || v.Gap != 60 || v.Views != 2 || v.Exit != "/b" {
		t.Errorf("after another collector's event: %+v; want a continuation 60 s after /b, 2 views before", v)
	}
	if err := rdb.Del(ctx, a.a.Key("s1", "u1")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if v := queue(a, pv("4", "/d", t0.Add(3*time.Minute))); !v.Start || v.Views != 0 {
		t.Errorf("after the state expired: %+v; want a start", v)
	}
	if v := queue(b, pv("5", "/e", t0.Add(4*time.Minute))); v.Start || v.Views != 1 || v.Entry != "/d" || v.Gap != 60 {
		t.Errorf("through the other collector after the expiry: %+v; want a continuation of the visit begun at /d", v)
	}
	inStream := queued(t, rdb, keys)
	for id, want := range answered {
		if c := inStream[id]; len(c) != 1 || show(c[0].Visit) != want {
			t.Errorf("event %s in the streams: %+v, answered %s", id, c, want)
		}
	}
}

// TestQueueFullBacklog: with the backlog over its limit nothing is
// annotated or queued, and the error says why.
func TestQueueFullBacklog(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	keys := redisqueue.Keys{Prefix: prefix, Partitions: 1}
	cfg := redisqueue.DefaultPublisherConfig()
	cfg.MaxBacklog = 2
	first := newQueue(t, rdb, keys, redisqueue.DefaultPublisherConfig())
	if err := first.q.Publish(ctx, []analytics.Event{pv("1", "/", t0), pv("2", "/", t0.Add(time.Second))}); err != nil {
		t.Fatal(err)
	}
	full := newQueue(t, rdb, keys, cfg) // samples the backlog of 2 as it starts
	err := full.q.Publish(ctx, []analytics.Event{pv("3", "/", t0.Add(2*time.Second))})
	if analytics.KindOf(err) != analytics.Unavailable || !strings.Contains(fmt.Sprint(err), "backlog is full") {
		t.Fatalf("publish over a full backlog: %v, want Unavailable: backlog is full", err)
	}
	if n := len(queued(t, rdb, keys)); n != 2 {
		t.Fatalf("%d events queued, want the first 2", n)
	}
	// The refused event changed no state: sent again through a collector
	// with room, it follows event 2.
	evs := []analytics.Event{pv("3", "/", t0.Add(2*time.Second))}
	if err := first.q.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if got, want := show(evs[0].Visit), show(cont(t0, 1, 2, 1, "/", "/", analytics.VisitAttrs{})); got != want {
		t.Fatalf("event 3 after the refusal: %s, want %s", got, want)
	}
}

// TestQueueOnRedisCluster: on a Cluster, where a visitor's key and a
// stream live in different hash slots, Queue annotates and then publishes,
// with the same annotations, each event queued once.
func TestQueueOnRedisCluster(t *testing.T) {
	t.Parallel()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: testenv.RedisCluster(t), IsClusterMode: true})
	defer rdb.Close()
	ctx := context.Background()
	keys := redisqueue.Keys{Prefix: "vq:", Partitions: 4}
	cq := newQueue(t, rdb, keys, redisqueue.DefaultPublisherConfig())
	evs := []analytics.Event{pv("1", "/a", t0), pv("2", "/b", t0.Add(10*time.Second)), ev("3", "u2", analytics.PageView, "/c", t0)}
	evs[2].SiteID = "s2"
	if err := cq.q.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	want := []string{show(start(t0, analytics.VisitAttrs{})), show(cont(t0, 10, 1, 0, "/a", "/a", analytics.VisitAttrs{})), show(start(t0, analytics.VisitAttrs{}))}
	inStream := queued(t, rdb, keys) // the streams are on three nodes
	if len(inStream) != 3 {
		t.Fatalf("%d events in the streams, want 3", len(inStream))
	}
	for i, e := range evs {
		if show(e.Visit) != want[i] || len(inStream[e.ID]) != 1 || show(inStream[e.ID][0].Visit) != want[i] {
			t.Errorf("event %s: answered %s, in the streams %+v; want %s once", e.ID, show(e.Visit), inStream[e.ID], want[i])
		}
	}
}

// TestStateFromBeforeTokens: a visitor's state as the version before state
// tokens wrote it (still in Redis at an upgrade) is read, continued and
// replaced, through Annotate and through Queue, and a collector still
// holding it in its cache after another replaced it is not fooled.
func TestStateFromBeforeTokens(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	keys := redisqueue.Keys{Prefix: prefix, Partitions: 1}
	cq := newQueue(t, rdb, keys, redisqueue.DefaultPublisherConfig())
	ms := t0.UnixMilli()
	attrs := "\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d"
	old := fmt.Sprintf("a\x1f%d\x1fa\x1f%d\x1f1\x1f0\x1f/x\x1f/x\x1f%s\x1eS\x1f%d\x1f0\x1f0\x1f0\x1f\x1f\x1f%s", ms, ms, attrs, ms, attrs)
	for i, step := range []func(evs []analytics.Event) error{
		func(evs []analytics.Event) error { return cq.a.Annotate(ctx, evs) },
		func(evs []analytics.Event) error { return cq.q.Publish(ctx, evs) },
	} {
		if err := rdb.Set(ctx, cq.a.Key("s1", "u1"), old, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		// Twice: the first commit finds another state than this
		// collector's cache holds (from the round before), the second
		// continues from the state the first wrote.
		for j, want := range []*analytics.Visit{cont(t0, 10, 1, 0, "/x", "/x", analytics.VisitAttrs{}), cont(t0, 10, 2, 10, "/x", "/y", analytics.VisitAttrs{})} {
			evs := []analytics.Event{pv(fmt.Sprint("b", i, j), "/y", t0.Add(time.Duration(10*(j+1))*time.Second))}
			if err := step(evs); err != nil {
				t.Fatal(err)
			}
			if got := show(evs[0].Visit); got != show(want) {
				t.Fatalf("way %d, event %d after an old state: %s, want %s", i, j, got, show(want))
			}
		}
	}
}
