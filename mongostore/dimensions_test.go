package mongostore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/rollup"
	"github.com/siteanalytics/analytics/sketch"
)

// dimModel is what the rollups of one period must hold, computed here
// without the rollup package: a straightforward reading of the SPEC.
type dimModel struct {
	views, events int64
	visitors      map[string]bool
	visitorDays   map[string]bool // distinct (day, visitor)
	hours         [24]struct {
		views, events int64
		visitors      map[string]bool
	}
	counts map[rollup.Key]int64
	seen   map[rollup.Key]map[string]bool // distinct visitors per event dimension value
	visit  map[rollup.Key]int64           // visitors attributed per visit dimension value
}

func newDimModel() *dimModel {
	return &dimModel{visitors: map[string]bool{}, visitorDays: map[string]bool{}, counts: map[rollup.Key]int64{}, seen: map[rollup.Key]map[string]bool{}, visit: map[rollup.Key]int64{}}
}

func (m *dimModel) add(ev *analytics.Event, day bool) {
	m.events++
	if ev.EventType == analytics.PageView {
		m.views++
	}
	if day {
		h := &m.hours[ev.Timestamp.UTC().Hour()]
		h.events++
		if ev.EventType == analytics.PageView {
			h.views++
		}
		if ev.UserID != "" {
			if h.visitors == nil {
				h.visitors = map[string]bool{}
			}
			h.visitors[ev.UserID] = true
		}
	}
	// Event dimension values count distinct visitors per day; longer
	// periods sum the days.
	dayVisitor := rollup.DayOf(ev.Timestamp) + "|" + ev.UserID
	if ev.UserID != "" {
		m.visitorDays[dayVisitor] = true
	}
	distinct := func(k rollup.Key) {
		m.counts[k]++
		if ev.UserID == "" {
			return
		}
		if m.seen[k] == nil {
			m.seen[k] = map[string]bool{}
		}
		m.seen[k][dayVisitor] = true
	}
	if ev.EventType == analytics.PageView && ev.Path != "" {
		distinct(rollup.Key{Dim: rollup.Path, Value: ev.Path})
	}
	distinct(rollup.Key{Dim: rollup.Type, Value: ev.EventType})
	if ev.UserID == "" || m.visitors[ev.UserID] {
		return
	}
	m.visitors[ev.UserID] = true
	source := ev.Source
	if source == "" {
		source = "Direct / None"
	}
	for dim, v := range map[string]string{rollup.Source: source, rollup.Referrer: ev.ReferrerHost, rollup.UTMSource: ev.UTMSource,
		rollup.UTMMedium: ev.UTMMedium, rollup.UTMCampaign: ev.UTMCampaign, rollup.Browser: ev.Browser, rollup.OS: ev.OS,
		rollup.Device: ev.Device, rollup.Country: ev.Country, rollup.EntryPage: ev.Path} {
		if v != "" {
			m.visit[rollup.Key{Dim: dim, Value: v}]++
		}
	}
}

// check compares a snapshot with the model: totals, hours and every value
// of every dimension (the model has fewer values than the leaders keep).
func (m *dimModel) check(t *testing.T, sn rollup.Snapshot, day bool) {
	t.Helper()
	if sn.Views != m.views || sn.Events != m.events || sn.Visitors != int64(len(m.visitors)) || sn.VisitorDays != int64(len(m.visitorDays)) {
		t.Errorf("%s: views/events/visitors/visitor-days %d/%d/%d/%d, want %d/%d/%d/%d", sn.Period, sn.Views, sn.Events, sn.Visitors, sn.VisitorDays,
			m.views, m.events, len(m.visitors), len(m.visitorDays))
	}
	if day {
		for h, b := range sn.Hours {
			w := m.hours[h]
			if b != (rollup.Bucket{Views: w.views, Events: w.events, Visitors: int64(len(w.visitors))}) {
				t.Errorf("%s hour %d: %+v, want %d/%d/%d", sn.Period, h, b, w.views, w.events, len(w.visitors))
			}
		}
	}
	want := map[string]map[string]rollup.Counter{}
	put := func(k rollup.Key, c rollup.Counter) {
		if want[k.Dim] == nil {
			want[k.Dim] = map[string]rollup.Counter{}
		}
		want[k.Dim][k.Value] = c
	}
	for k, n := range m.counts {
		put(k, rollup.Counter{Count: n, Visitors: int64(len(m.seen[k]))})
	}
	for k, n := range m.visit {
		put(k, rollup.Counter{Visitors: n})
	}
	for _, d := range rollup.Dims {
		got := map[string]rollup.Counter{}
		for _, r := range sn.Top[d.Name] {
			got[r.Value] = r.Counter
		}
		if fmt.Sprint(sortedCounters(got)) != fmt.Sprint(sortedCounters(want[d.Name])) {
			t.Errorf("%s %s:\n got %v\nwant %v", sn.Period, d.Name, sortedCounters(got), sortedCounters(want[d.Name]))
		}
		if sn.Truncated(d.Name) {
			t.Errorf("%s %s: truncated", sn.Period, d.Name)
		}
	}
	if sn.Period != rollup.All {
		est, err := sketch.Union(sn.Sketch)
		if err != nil {
			t.Fatal(err)
		}
		if n := int64(len(m.visitors)); est != n { // HyperLogLog is exact at this size
			t.Errorf("%s: sketch estimates %d visitors, want %d", sn.Period, est, n)
		}
	}
}

func sortedCounters(m map[string]rollup.Counter) []string {
	var out []string
	for v, c := range m {
		out = append(out, fmt.Sprintf("%s=%d/%d", v, c.Count, c.Visitors))
	}
	sort.Strings(out)
	return out
}

// Every counter of every dimension, per day, month and all time, exactly as
// an independent model says, after redelivered batches and after a rebuild.
func TestDimensionsAreExact(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, uint64(time.Now().UnixNano())))
	site := fmt.Sprintf("dims-%d", rng.IntN(1e9))
	days := []time.Time{time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	sources := [][2]string{{"", ""}, {"Google", "google.com"}, {"Hacker News", "news.ycombinator.com"}, {"newsletter", ""}}
	browsers := [][3]string{{"Chrome", "Windows", "desktop"}, {"Safari", "iOS", "mobile"}, {"Firefox", "Linux", "desktop"}, {"Safari", "iPadOS", "tablet"}}
	models := map[string]*dimModel{}
	model := func(p string) *dimModel {
		if models[p] == nil {
			models[p] = newDimModel()
		}
		return models[p]
	}
	// Events arrive in time order, as one browser's do: the order a rebuild
	// reads them in, so visit dimensions attribute the same way.
	const n = 1200
	stamps := make([]time.Time, n)
	for i := range stamps {
		stamps[i] = days[rng.IntN(len(days))].Add(time.Duration(rng.IntN(86400)) * time.Second)
	}
	sort.Slice(stamps, func(i, j int) bool { return stamps[i].Before(stamps[j]) })
	var batches []analytics.Batch
	b := analytics.Batch{}
	for i := 0; i < n; i++ {
		src := sources[rng.IntN(len(sources))]
		br := browsers[rng.IntN(len(browsers))]
		ev := analytics.Event{
			ID: fmt.Sprintf("d%d", i), SiteID: site, EventType: []string{"page_view", "page_view", "signup", "Order Completed"}[rng.IntN(4)],
			Path: []string{"/", "/pricing", "/docs/a.b", "/x y"}[rng.IntN(4)], Timestamp: stamps[i],
			Source: src[0], ReferrerHost: src[1], Browser: br[0], OS: br[1], Device: br[2], Country: []string{"DE", "US", ""}[rng.IntN(3)],
		}
		if rng.IntN(5) != 0 {
			ev.UserID = fmt.Sprintf("v%d", rng.IntN(60))
		}
		if src[0] == "newsletter" {
			ev.UTMSource, ev.UTMMedium, ev.UTMCampaign = "newsletter", "email", "launch"
		}
		b.Entries = append(b.Entries, analytics.Entry{ID: fmt.Sprintf("%d-%d", 1000+len(batches), len(b.Entries)), Event: ev})
		model(rollup.DayOf(ev.Timestamp)).add(&ev, true)
		model(rollup.MonthOf(ev.Timestamp)).add(&ev, false)
		model(rollup.All).add(&ev, false)
		if len(b.Entries) == 100 {
			batches = append(batches, b)
			b = analytics.Batch{}
		}
	}
	for i, b := range batches {
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if i%3 == 1 { // redelivered after a crash before the ack
			if _, err := s.Apply(ctx, batches[i-1]); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Apply(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	periods := []string{rollup.All, "2026-10", "2026-11"}
	for _, d := range days {
		periods = append(periods, rollup.DayOf(d))
	}
	verify := func(when string) {
		sns, err := s.Rollups(ctx, site, periods)
		if err != nil {
			t.Fatal(err)
		}
		for _, sn := range sns {
			t.Run(when+"/"+sn.Period, func(t *testing.T) { models[sn.Period].check(t, sn, rollup.IsDay(sn.Period)) })
		}
	}
	verify("applied")
	if _, err := s.Rebuild(ctx, site, noFence{}, 70, nil); err != nil {
		t.Fatal(err)
	}
	verify("rebuilt")
	// A period without data is an empty snapshot.
	sns, err := s.Rollups(ctx, site, []string{"2020-01-01"})
	if err != nil || len(sns) != 1 || sns[0].Period != "2020-01-01" || sns[0].Events != 0 {
		t.Fatalf("empty period: %+v %v", sns, err)
	}
}
