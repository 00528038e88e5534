package mongostore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/statsmodel"
)

// The engine, reading the blocks the store wrote through its real write
// path (batches, redeliveries under other groupings, resends, compaction),
// agrees exactly with an independent brute-force model computed from the
// raw events, over random metrics x dimensions x filters x time zones.
func TestEngineAgreesWithTheModel(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	start := time.Now()
	events := statsmodel.Workload(42, 2500)
	rng := rand.New(rand.NewPCG(7, 11))

	// Arrival order, batches of 1-80 entries; a fifth of them delivered
	// twice, the second time cut at another point (a new owner with
	// another batch size).
	entries := make([]analytics.Entry, len(events))
	for i := range events {
		entries[i] = analytics.Entry{ID: fmt.Sprintf("%d-0", 1_000_000+i), Event: events[i]}
	}
	for i := 0; i < len(entries); {
		n := min(1+rng.IntN(80), len(entries)-i)
		apply := func(es []analytics.Entry) {
			if _, err := s.Apply(ctx, analytics.Batch{Partition: 1, Entries: es}); err != nil {
				t.Fatal(err)
			}
		}
		apply(entries[i : i+n])
		if rng.IntN(5) == 0 && n > 1 {
			cut := 1 + rng.IntN(n-1)
			apply(entries[i : i+cut])
			apply(entries[i+cut : i+n])
		}
		i += n
	}
	t.Logf("applied %d events in %v", len(events), time.Since(start))
	// Compact what is closed (everything: the workload is in the past).
	s.now = func() time.Time { return time.Now().Add(time.Hour) }
	for _, site := range statsmodel.Sites {
		if err := s.compactDue(ctx, []string{site.ID}, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	s.now = time.Now
	e := engine.New(s)
	t.Logf("compacted at %v", time.Since(start))
	var modelTime, engineTime time.Duration

	queries := 0
	for _, site := range statsmodel.Sites {
		loc := site.Location()
		values := observed(events, site.ID)
		for range 100 {
			q := randomQuery(rng, site, loc, values)
			t0 := time.Now()
			want, werr := statsmodel.Answer(events, q)
			t1 := time.Now()
			got, gerr := e.Query(ctx, q)
			modelTime += t1.Sub(t0)
			engineTime += time.Since(t1)
			if (werr != nil) != (gerr != nil) {
				t.Fatalf("%s: model err %v, engine err %v\nquery %s", site.ID, werr, gerr, describe(q))
			}
			if werr != nil {
				continue
			}
			queries++
			if msg := diff(want, got); msg != "" {
				t.Fatalf("%s: engine differs from the model: %s\nquery %s", site.ID, msg, describe(q))
			}
		}
		for _, f := range site.Funnels {
			q := randomQuery(rng, site, loc, values)
			q.Metrics, q.Dimensions, q.OrderBy, q.Limit, q.Offset = nil, nil, nil, 0, 0
			want, werr := statsmodel.Funnel(events, q, f)
			got, gerr := e.Funnel(ctx, q, f)
			if werr != nil || gerr != nil {
				t.Fatalf("funnel %s: model err %v, engine err %v", f.Name, werr, gerr)
			}
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Fatalf("funnel %s of %s: engine %v, model %v\nquery %s", f.Name, site.ID, got, want, describe(q))
			}
		}
	}
	t.Logf("%d queries answered alike (model %v, engine %v)", queries, modelTime, engineTime)
}

// observed lists, per property, values the site's events have (to filter
// on values that exist).
func observed(events []analytics.Event, site string) map[string][]string {
	out := map[string][]string{}
	add := func(p, v string) {
		if v != "" && !slices.Contains(out[p], v) {
			out[p] = append(out[p], v)
		}
	}
	for _, e := range events {
		if e.SiteID != site {
			continue
		}
		add(engine.EventName, e.EventType)
		add(engine.EventPage, e.Path)
		add(engine.Source, e.Source)
		add(engine.Country, e.Country)
		add(engine.Browser, e.Browser)
		add(engine.Device, e.Device)
		add(engine.UTMMedium, e.UTMMedium)
		for k, v := range e.Props {
			add(engine.PropPrefix+k, fmt.Sprint(v))
		}
	}
	return out
}

var (
	allMetrics = []string{engine.Visitors, engine.Visits, engine.Pageviews, engine.Events, engine.ViewsPerVisit, engine.BounceRate, engine.VisitDuration, engine.Percentage}
	allDims    = []string{engine.EventName, engine.EventPage, engine.Source, engine.Referrer, engine.UTMSource, engine.UTMMedium, engine.UTMCampaign,
		engine.Browser, engine.OS, engine.Device, engine.Country, engine.EntryPage, engine.ExitPage, engine.TimeHour, engine.TimeDay, engine.TimeWeek,
		engine.TimeMonth, engine.Time, "event:props:plan", "event:props:amount", engine.EventGoal}
	filterProps = []string{engine.EventName, engine.EventPage, engine.Source, engine.Country, engine.Browser, engine.Device, engine.UTMMedium, "event:props:plan"}
)

func randomQuery(rng *rand.Rand, site statsmodel.Site, loc *time.Location, values map[string][]string) engine.Query {
	w := statsmodel.Windows[rng.IntN(len(statsmodel.Windows))]
	q := engine.Query{Site: site.ID, Location: loc, Goals: site.Goals}
	switch rng.IntN(4) {
	case 0: // a local day
		d := w.From.In(loc).AddDate(0, 0, rng.IntN(w.Days))
		q.From = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
		q.To = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
	case 1: // several local days
		d := w.From.In(loc)
		q.From = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
		q.To = time.Date(d.Year(), d.Month(), d.Day()+w.Days+1, 0, 0, 0, 0, loc)
	case 2: // arbitrary instants
		q.From = w.From.Add(time.Duration(rng.IntN(48*60)) * time.Minute)
		q.To = q.From.Add(time.Duration(1+rng.IntN(36*60)) * time.Minute)
	default: // a year
		q.From = time.Date(2025, 12, 1, 0, 0, 0, 0, loc)
		q.To = time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
	}
	for _, m := range allMetrics {
		if rng.IntN(3) == 0 {
			q.Metrics = append(q.Metrics, m)
		}
	}
	if len(q.Metrics) == 0 {
		q.Metrics = []string{engine.Visitors}
	}
	for range rng.IntN(3) {
		d := allDims[rng.IntN(len(allDims))]
		if strings.HasPrefix(d, "time") && slices.ContainsFunc(q.Dimensions, func(x string) bool { return strings.HasPrefix(x, "time") }) {
			continue // one time dimension at most (Plausible's rule)
		}
		if !slices.Contains(q.Dimensions, d) {
			q.Dimensions = append(q.Dimensions, d)
		}
	}
	if slices.Contains(q.Dimensions, engine.EventGoal) && rng.IntN(2) == 0 {
		q.Metrics = append(q.Metrics, engine.ConversionRate)
	}
	var conds []*engine.Filter
	for range rng.IntN(3) {
		p := filterProps[rng.IntN(len(filterProps))]
		vs := values[p]
		if len(vs) == 0 {
			continue
		}
		f := &engine.Filter{Dim: p, Values: []string{vs[rng.IntN(len(vs))]}}
		switch rng.IntN(7) {
		case 0:
			f.Op = engine.OpIsNot
		case 1:
			f.Op = engine.OpContains
			f.Values[0] = f.Values[0][:max(1, len(f.Values[0])/2)]
		case 2:
			f.Op = engine.OpMatches
			f.Values[0] = "^" + regexpQuote(f.Values[0][:1])
		case 3:
			f.Op = engine.OpHasDone
			f = &engine.Filter{Op: engine.OpHasDone, Children: []*engine.Filter{{Op: engine.OpIs, Dim: engine.EventName, Values: []string{"signup"}}}}
		case 4:
			f.Op = engine.OpIs
			f.CaseInsensitive = true
		default:
			f.Op = engine.OpIs
		}
		conds = append(conds, f)
	}
	if len(site.Goals) > 0 && rng.IntN(4) == 0 {
		conds = append(conds, &engine.Filter{Op: engine.OpIs, Dim: engine.EventGoal, Values: []string{site.Goals[rng.IntN(len(site.Goals))].Name}})
		if rng.IntN(2) == 0 {
			q.Metrics = append(q.Metrics, engine.ConversionRate)
			if len(q.Dimensions) > 0 {
				q.Metrics = append(q.Metrics, engine.GroupConversionRate)
			}
		}
	}
	switch {
	case len(conds) == 1:
		q.Filter = conds[0]
	case len(conds) > 1:
		q.Filter = &engine.Filter{Op: engine.OpAnd, Children: conds}
		if rng.IntN(3) == 0 && !slices.Contains(q.Metrics, engine.ConversionRate) {
			q.Filter.Op = engine.OpOr
		}
		if rng.IntN(4) == 0 && !slices.Contains(q.Metrics, engine.ConversionRate) {
			q.Filter = &engine.Filter{Op: engine.OpNot, Children: []*engine.Filter{q.Filter}}
		}
	}
	if len(q.Dimensions) == 1 && rng.IntN(2) == 0 {
		q.TimeLabels = true
	}
	if rng.IntN(4) == 0 {
		q.Limit, q.Offset = 1+rng.IntN(5), rng.IntN(3)
	}
	return q
}

func regexpQuote(s string) string {
	out := ""
	for _, r := range s {
		if r < 128 && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			out += `\`
		}
		out += string(r)
	}
	return out
}

func describe(q engine.Query) string {
	return fmt.Sprintf("%s..%s (%s) metrics %v dims %v filter %s limit %d offset %d labels %v",
		q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), q.Location, q.Metrics, q.Dimensions, q.Filter.String(), q.Limit, q.Offset, q.TimeLabels)
}

func diff(want, got engine.Result) string {
	if want.TotalRows != got.TotalRows || len(want.Rows) != len(got.Rows) {
		return fmt.Sprintf("rows: %d of %d, model %d of %d\n engine %v\n model  %v", len(got.Rows), got.TotalRows, len(want.Rows), want.TotalRows, got.Rows, want.Rows)
	}
	for i := range want.Rows {
		w, g := want.Rows[i], got.Rows[i]
		if !slices.Equal(w.Dimensions, g.Dimensions) {
			return fmt.Sprintf("row %d: dimensions %q, model %q\n engine %v\n model  %v", i, g.Dimensions, w.Dimensions, got.Rows, want.Rows)
		}
		for j := range w.Metrics {
			wf, wok := w.Metrics[j].(float64)
			gf, gok := g.Metrics[j].(float64)
			if wok != gok || (wok && math.Abs(wf-gf) > 1e-9*math.Max(1, math.Abs(wf))) {
				return fmt.Sprintf("row %d %q: metric %d is %v, model %v\n engine %v\n model  %v", i, w.Dimensions, j, g.Metrics[j], w.Metrics[j], got.Rows, want.Rows)
			}
		}
	}
	return ""
}
