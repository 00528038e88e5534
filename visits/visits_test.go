package visits_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/visits"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func ev(id, user, typ, path string, ts time.Time) analytics.Event {
	return analytics.Event{ID: id, SiteID: "s1", EventType: typ, Path: path, UserID: user, Timestamp: ts}
}

func pv(id, path string, ts time.Time) analytics.Event {
	return ev(id, "u1", analytics.PageView, path, ts)
}

// step is one event and the annotation it must get.
type step struct {
	ev   analytics.Event
	want *analytics.Visit // nil: no annotation
}

func start(ts time.Time, attrs analytics.VisitAttrs) *analytics.Visit {
	return &analytics.Visit{Start: true, Began: ts, Attrs: attrs}
}

func cont(began time.Time, gap, views, dur int64, entry, exit string, attrs analytics.VisitAttrs) *analytics.Visit {
	return &analytics.Visit{Began: began, Gap: gap, Views: views, Duration: dur, Entry: entry, Exit: exit, Attrs: attrs}
}

func TestAnnotate(t *testing.T) {
	google := analytics.VisitAttrs{Source: "Google", ReferrerHost: "google.com", Browser: "Firefox", Country: "FR"}
	fromGoogle := func(e analytics.Event) analytics.Event {
		e.Source, e.ReferrerHost, e.Browser, e.Country = "Google", "google.com", "Firefox", "FR"
		return e
	}
	none := analytics.VisitAttrs{}
	late := func(ts time.Time) *analytics.Visit { return &analytics.Visit{Late: true, Began: ts} }
	midnight := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		steps []step
	}{
		{"first event starts a visit", []step{
			{fromGoogle(pv("a", "/", t0)), start(t0, google)},
		}},
		{"continue 10 s later keeps the visit's attributes", []step{
			{fromGoogle(pv("a", "/", t0)), start(t0, google)},
			{pv("b", "/pricing", t0.Add(10*time.Second)), cont(t0, 10, 1, 0, "/", "/", google)},
			{ev("c", "u1", "signup", "/pricing", t0.Add(25*time.Second)), cont(t0, 15, 2, 10, "/", "/pricing", google)},
			{pv("d", "/docs", t0.Add(40*time.Second)), cont(t0, 15, 2, 25, "/", "/pricing", google)},
		}},
		{"gap rounded to whole seconds", []step{
			{pv("a", "/", t0), start(t0, none)},
			{pv("b", "/x", t0.Add(1499*time.Millisecond)), cont(t0, 1, 1, 0, "/", "/", none)},
			{pv("c", "/y", t0.Add(3000*time.Millisecond)), cont(t0, 2, 2, 1, "/", "/x", none)},
		}},
		{"gap exactly 30 min continues", []step{
			{pv("a", "/", t0), start(t0, none)},
			{pv("b", "/x", t0.Add(30*time.Minute)), cont(t0, 1800, 1, 0, "/", "/", none)},
		}},
		{"gap of 30 min and 1 ms starts a new visit", []step{
			{pv("a", "/", t0), start(t0, none)},
			{fromGoogle(pv("b", "/x", t0.Add(30*time.Minute+time.Millisecond))), start(t0.Add(30*time.Minute+time.Millisecond), google)},
		}},
		{"midnight starts the visit's part of the next day with its attributes", []step{
			{fromGoogle(pv("a", "/", midnight.Add(-10*time.Second))), start(midnight.Add(-10*time.Second), google)},
			{pv("b", "/x", midnight.Add(-time.Second)), cont(midnight.Add(-10*time.Second), 9, 1, 0, "/", "/", google)},
			{pv("c", "/y", midnight), start(midnight, google)},
			{pv("d", "/z", midnight.Add(5*time.Second)), cont(midnight, 5, 1, 0, "/y", "/y", google)},
		}},
		{"out of order is late and changes nothing", []step{
			{pv("a", "/", t0), start(t0, none)},
			{pv("b", "/x", t0.Add(20*time.Second)), cont(t0, 20, 1, 0, "/", "/", none)},
			{pv("c", "/old", t0.Add(5*time.Second)), late(t0.Add(5 * time.Second))},
			{pv("d", "/y", t0.Add(30*time.Second)), cont(t0, 10, 2, 20, "/", "/x", none)},
		}},
		{"an event at the same time as the last one continues", []step{
			{pv("a", "/", t0), start(t0, none)},
			{ev("b", "u1", "click", "/", t0), cont(t0, 0, 1, 0, "/", "/", none)},
		}},
		{"the last event sent again gets the same annotation", []step{
			{pv("a", "/", t0), start(t0, none)},
			{pv("b", "/x", t0.Add(7*time.Second)), cont(t0, 7, 1, 0, "/", "/", none)},
			{pv("b", "/x", t0.Add(7*time.Second)), cont(t0, 7, 1, 0, "/", "/", none)},
			{pv("c", "/y", t0.Add(9*time.Second)), cont(t0, 2, 2, 7, "/", "/x", none)},
		}},
		{"an event at the last instant sent again is late", []step{
			{pv("a", "/", t0), start(t0, none)},
			{pv("b", "/x", t0), cont(t0, 0, 1, 0, "/", "/", none)},
			{pv("c", "/y", t0), cont(t0, 0, 2, 0, "/", "/x", none)},
			{pv("a", "/", t0), late(t0)},
			{pv("b", "/x", t0), late(t0)},
			{pv("d", "/z", t0.Add(time.Second)), cont(t0, 1, 3, 0, "/", "/y", none)},
			{pv("c", "/y", t0), late(t0)},
		}},
		{"custom events set no page", []step{
			{ev("a", "u1", "signup", "/form", t0), start(t0, none)},
			{ev("b", "u1", "click", "/form", t0.Add(time.Second)), cont(t0, 1, 0, 0, "", "", none)},
			{pv("c", "/", t0.Add(3*time.Second)), cont(t0, 2, 0, 1, "", "", none)},
			{pv("d", "/b", t0.Add(4*time.Second)), cont(t0, 1, 1, 3, "/", "/", none)},
		}},
		{"a page view without a path counts but sets no page", []step{
			{pv("a", "", t0), start(t0, none)},
			{pv("b", "/x", t0.Add(time.Second)), cont(t0, 1, 1, 0, "", "", none)},
			{pv("c", "", t0.Add(2*time.Second)), cont(t0, 1, 2, 1, "/x", "/x", none)},
			{pv("d", "/y", t0.Add(3*time.Second)), cont(t0, 1, 3, 2, "/x", "/x", none)},
		}},
		{"visitors and sites are apart", []step{
			{pv("a", "/", t0), start(t0, none)},
			{ev("b", "u2", analytics.PageView, "/", t0.Add(time.Second)), start(t0.Add(time.Second), none)},
			{func() analytics.Event { e := pv("c", "/", t0.Add(2*time.Second)); e.SiteID = "s2"; return e }(), start(t0.Add(2*time.Second), none)},
			{pv("d", "/b", t0.Add(3*time.Second)), cont(t0, 3, 1, 0, "/", "/", none)},
		}},
		{"no visitor, no annotation", []step{
			{ev("a", "", analytics.PageView, "/", t0), nil},
		}},
	}
	mini, err := embedded.Miniredis()
	if err != nil {
		t.Fatal(err)
	}
	defer mini.Stop()
	opt, _ := redis.ParseURL(mini.URL)
	miniClient := redis.NewClient(opt)
	defer miniClient.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rdb, prefix := testenv.Redis(t)
			a := visits.New(rdb, prefix, 30*time.Minute)
			defer a.Close()
			run(t, a, tc.steps)
		})
		// serve's fallback without redis-server runs the script too.
		t.Run("miniredis/"+tc.name, func(t *testing.T) {
			a := visits.New(miniClient, testenv.Name(t)+":", 30*time.Minute)
			defer a.Close()
			run(t, a, tc.steps)
		})
	}
}

func run(t *testing.T, a *visits.Annotator, steps []step) {
	t.Helper()
	for i, s := range steps {
		evs := []analytics.Event{s.ev}
		if err := a.Annotate(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		if got, want := show(evs[0].Visit), show(s.want); got != want {
			t.Fatalf("step %d (%s %s at %s): annotated\n%s\nwant\n%s", i, s.ev.ID, s.ev.Path, s.ev.Timestamp.Format(time.TimeOnly), got, want)
		}
	}
}

// TestAnnotateBatchInOrder annotates a request's events in one call: each
// sees the ones before it, as if sent one by one.
func TestAnnotateBatchInOrder(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	a := visits.New(rdb, prefix, 30*time.Minute)
	defer a.Close()
	evs := []analytics.Event{pv("a", "/", t0), pv("b", "/x", t0.Add(4*time.Second)), ev("c", "", analytics.PageView, "/", t0), pv("d", "/y", t0.Add(6*time.Second))}
	if err := a.Annotate(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	want := []*analytics.Visit{start(t0, analytics.VisitAttrs{}), cont(t0, 4, 1, 0, "/", "/", analytics.VisitAttrs{}), nil, cont(t0, 2, 2, 4, "/", "/x", analytics.VisitAttrs{})}
	for i := range evs {
		if got, w := show(evs[i].Visit), show(want[i]); got != w {
			t.Errorf("event %d: %s, want %s", i, got, w)
		}
	}
}

// TestAnnotateBatchInTimeOrder: a batch listing a visitor's events out of
// time order is annotated in time order.
func TestAnnotateBatchInTimeOrder(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	a := visits.New(rdb, prefix, 30*time.Minute)
	defer a.Close()
	evs := []analytics.Event{pv("b", "/x", t0.Add(10*time.Second)), pv("a", "/", t0)}
	if err := a.Annotate(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if got, want := show(evs[0].Visit)+"\n"+show(evs[1].Visit), show(cont(t0, 10, 1, 0, "/", "/", analytics.VisitAttrs{}))+"\n"+show(start(t0, analytics.VisitAttrs{})); got != want {
		t.Fatalf("annotated\n%s\nwant\n%s", got, want)
	}
}

// TestAnnotateRacers annotates one visitor's events from many goroutines
// at once (as collectors behind a load balancer do): each script sees the
// state the one before left, so exactly one event starts the visit and the
// page views counted before each event are 0, 1, ..., n-1.
func TestAnnotateRacers(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	const n = 40
	var wg sync.WaitGroup
	got := make([]*analytics.Visit, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := visits.New(rdb, prefix, 30*time.Minute) // one per collector
			defer a.Close()
			evs := []analytics.Event{pv(fmt.Sprint("e", i), fmt.Sprint("/p", i), t0)}
			if err := a.Annotate(context.Background(), evs); err != nil {
				errs <- err
				return
			}
			got[i] = evs[0].Visit
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkRacers(t, got)
}

// checkRacers checks the annotations of page views of one visitor at one
// instant, annotated concurrently: one starts the visit, none is late, and
// the others saw 1, 2, ... page views before them, each count once.
func checkRacers(t *testing.T, got []*analytics.Visit) {
	t.Helper()
	starts := 0
	var views []int
	for _, v := range got {
		if v.Start {
			starts++
		}
		if v.Late {
			t.Fatalf("an event at the same time was annotated late: %+v", v)
		}
		views = append(views, int(v.Views))
	}
	sort.Ints(views)
	for i, v := range views {
		if v != i {
			t.Fatalf("page views before each event %v, want 0..%d each once", views, len(got)-1)
		}
	}
	if starts != 1 {
		t.Fatalf("%d events started the visit, want 1", starts)
	}
}

// TestAnnotateLoadsItsScriptAgain: a Redis that forgot its scripts (a
// restart, SCRIPT FLUSH) gets the script again and the events are
// annotated once each.
func TestAnnotateLoadsItsScriptAgain(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	a := visits.New(rdb, prefix, 30*time.Minute)
	defer a.Close()
	ctx := context.Background()
	if err := a.Annotate(ctx, []analytics.Event{pv("a", "/", t0)}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	evs := []analytics.Event{pv("b", "/x", t0.Add(time.Second)), pv("c", "/y", t0.Add(2*time.Second))}
	if err := a.Annotate(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if got, want := show(evs[1].Visit), show(cont(t0, 1, 2, 1, "/", "/x", analytics.VisitAttrs{})); got != want {
		t.Fatalf("after the flush: %s, want %s", got, want)
	}
}

// TestAnnotateStateExpires: the state lives twice the timeout.
func TestAnnotateStateExpires(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	a := visits.New(rdb, prefix, time.Minute)
	defer a.Close()
	if err := a.Annotate(context.Background(), []analytics.Event{pv("a", "/", t0)}); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(context.Background(), a.Key("s1", "u1")).Result()
	if err != nil || ttl <= time.Minute || ttl > 2*time.Minute {
		t.Fatalf("state lives %v (%v), want just under 2m", ttl, err)
	}
}

func TestAnnotateRedisDown(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	a := visits.New(rdb, prefix, time.Minute)
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.Annotate(ctx, []analytics.Event{pv("a", "/", t0)})
	if analytics.KindOf(err) != analytics.Unavailable {
		t.Fatalf("error %v of kind %v, want Unavailable", err, analytics.KindOf(err))
	}
}

func show(v *analytics.Visit) string {
	if v == nil {
		return "none"
	}
	return fmt.Sprintf("start=%t late=%t began=%s gap=%d views=%d duration=%d entry=%q exit=%q attrs=%+v",
		v.Start, v.Late, v.Began.UTC().Format(time.RFC3339Nano), v.Gap, v.Views, v.Duration, v.Entry, v.Exit, v.Attrs)
}

// TestAnnotateBatchesAsOneByOne: requests of many events over several sites
// and visitors (in and out of order, at the same instant, resent) are
// annotated as if each event had been sent alone, in the order the batch
// is annotated in (time order, request by request).
func TestAnnotateBatchesAsOneByOne(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	batched := visits.New(rdb, prefix+"batched:", 30*time.Minute)
	defer batched.Close()
	alone := visits.New(rdb, prefix+"alone:", 30*time.Minute)
	defer alone.Close()
	rnd := rand.New(rand.NewSource(1))
	ctx := context.Background()
	var sent []analytics.Event
	for req := 0; req < 60; req++ {
		evs := make([]analytics.Event, 1+rnd.Intn(40))
		for i := range evs {
			if len(sent) > 0 && rnd.Intn(10) == 0 {
				evs[i] = sent[rnd.Intn(len(sent))] // resent
				evs[i].Visit = nil
				continue
			}
			typ, path := analytics.PageView, fmt.Sprint("/p", rnd.Intn(5))
			if rnd.Intn(4) == 0 {
				typ = "click"
			}
			evs[i] = analytics.Event{ID: fmt.Sprint("e", len(sent), "-", i), SiteID: fmt.Sprint("s", rnd.Intn(3)), EventType: typ, Path: path,
				UserID: fmt.Sprint("u", rnd.Intn(6)), Timestamp: t0.Add(time.Duration(req*60+rnd.Intn(90)) * time.Second), Country: fmt.Sprint("C", rnd.Intn(3))}
		}
		if err := batched.Annotate(ctx, evs); err != nil {
			t.Fatal(err)
		}
		order := make([]int, len(evs))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool { return evs[order[i]].Timestamp.Before(evs[order[j]].Timestamp) })
		for _, i := range order {
			one := []analytics.Event{evs[i]}
			one[0].Visit = nil
			if err := alone.Annotate(ctx, one); err != nil {
				t.Fatal(err)
			}
			if got, want := show(evs[i].Visit), show(one[0].Visit); got != want {
				t.Fatalf("request %d, event %s (%s %s at %s): annotated in its batch\n%s\nalone\n%s", req, evs[i].ID, evs[i].UserID, evs[i].SiteID, evs[i].Timestamp.Format(time.TimeOnly), got, want)
			}
		}
		sent = append(sent, evs...)
	}
}

// TestAnnotateRedisUnreachable: no annotation without Redis, and the error
// says so (the collector answers 503).
func TestAnnotateRedisUnreachable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	a := visits.New(rdb, "unreachable:", time.Minute)
	defer a.Close()
	evs := []analytics.Event{pv("a", "/", t0)}
	err := a.Annotate(context.Background(), evs)
	if analytics.KindOf(err) != analytics.Unavailable || evs[0].Visit != nil {
		t.Fatalf("error %v of kind %v, visit %+v; want Unavailable and no visit", err, analytics.KindOf(err), evs[0].Visit)
	}
}

// A collector annotates from the states it last saw without reading Redis
// first; when another collector moved the visit on, or the state expired,
// the commit's check fails and the visitor is read and annotated again.
func TestAnnotateFromAStaleCache(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	a := visits.New(rdb, prefix, 30*time.Minute)
	b := visits.New(rdb, prefix, 30*time.Minute) // another collector
	defer a.Close()
	defer b.Close()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	annotate := func(an *visits.Annotator, e analytics.Event) *analytics.Visit {
		t.Helper()
		evs := []analytics.Event{e}
		if err := an.Annotate(ctx, evs); err != nil {
			t.Fatal(err)
		}
		return evs[0].Visit
	}
	annotate(a, pv("1", "/a", t0))
	annotate(b, pv("2", "/b", t0.Add(time.Minute)))
	v := annotate(a, pv("3", "/c", t0.Add(2*time.Minute))) // a last saw the state after /a
	if v.Start || v.Gap != 60 || v.Views != 2 || v.Exit != "/b" {
		t.Errorf("after another collector's event: %+v; want a continuation 60 s after /b, 2 views before", v)
	}
	// The state expires (or is deleted) behind a's back: a visit starts.
	if err := rdb.Del(ctx, a.Key("s1", "u1")).Err(); err != nil {
		t.Fatal(err)
	}
	if v := annotate(a, pv("4", "/d", t0.Add(3*time.Minute))); !v.Start || v.Views != 0 {
		t.Errorf("after the state expired: %+v; want a start", v)
	}
	// A resend of the last event changes nothing, but is checked too: b
	// last saw the state after event 2, and must answer from the current one.
	if v := annotate(b, pv("4", "/d", t0.Add(3*time.Minute))); !v.Start {
		t.Errorf("a resend of the last event through the other collector: %+v; want its first annotation (a start)", v)
	}
}
