package engine_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/statsmodel"
)

// memSource serves the blocks of the first copy of each event id, as the
// store keeps them.
type memSource map[string][]*block.Block

func newMemSource(events []analytics.Event) memSource {
	bySite := map[string][]analytics.Event{}
	seen := map[string]bool{}
	for _, e := range events {
		if k := e.SiteID + "/" + e.ID; !seen[k] {
			seen[k] = true
			bySite[e.SiteID] = append(bySite[e.SiteID], e)
		}
	}
	m := memSource{}
	for site, evs := range bySite {
		m[site] = block.FromEvents(evs)
	}
	return m
}

func (m memSource) Blocks(_ context.Context, site string, from, to time.Time) ([]*block.Block, error) {
	var out []*block.Block
	for _, b := range m[site] {
		if b.Hour.Add(time.Hour).After(from) && b.Hour.Before(to) {
			out = append(out, b)
		}
	}
	return out, nil
}

// The engine over in-memory blocks agrees with the brute-force model
// (the store's write path is checked the same way in mongostore).
func TestEngineAgreesWithTheModelInMemory(t *testing.T) {
	events := statsmodel.Workload(3, 3000)
	e := engine.New(newMemSource(events))
	rng := rand.New(rand.NewPCG(5, 9))
	for _, site := range statsmodel.Sites {
		for range 150 {
			q := randomQuery(rng, site)
			want, werr := statsmodel.Answer(events, q)
			got, gerr := e.Query(context.Background(), q)
			if (werr != nil) != (gerr != nil) {
				t.Fatalf("model err %v, engine err %v\n%v", werr, gerr, q)
			}
			if werr != nil {
				continue
			}
			if msg := diff(want, got); msg != "" {
				t.Fatalf("%s: %s\nquery %+v filter %s", site.ID, msg, q, q.Filter.String())
			}
		}
	}
}

func randomQuery(rng *rand.Rand, site statsmodel.Site) engine.Query {
	loc := site.Location()
	w := statsmodel.Windows[rng.IntN(len(statsmodel.Windows))]
	d := w.From.In(loc)
	q := engine.Query{Site: site.ID, Location: loc, Goals: site.Goals,
		From: time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc), To: time.Date(d.Year(), d.Month(), d.Day()+1+rng.IntN(w.Days), 0, 0, 0, 0, loc)}
	metrics := []string{engine.Visitors, engine.Visits, engine.Pageviews, engine.Events, engine.ViewsPerVisit, engine.BounceRate, engine.VisitDuration}
	for _, m := range metrics {
		if rng.IntN(2) == 0 {
			q.Metrics = append(q.Metrics, m)
		}
	}
	if len(q.Metrics) == 0 {
		q.Metrics = []string{engine.VisitDuration}
	}
	dims := []string{engine.Browser, engine.EventPage, engine.Source, engine.EntryPage, engine.ExitPage, engine.TimeHour, engine.TimeDay, engine.EventName}
	if rng.IntN(3) > 0 {
		q.Dimensions = []string{dims[rng.IntN(len(dims))]}
		// A page with a second dimension: visits move to their entry
		// page's row and their first event's time bucket at once.
		if q.Dimensions[0] == engine.EventPage && rng.IntN(2) == 0 {
			second := []string{engine.TimeDay, engine.TimeHour, engine.Source, engine.EventName, engine.ExitPage}[rng.IntN(5)]
			q.Dimensions = append(q.Dimensions, second)
			if rng.IntN(2) == 0 {
				q.Dimensions[0], q.Dimensions[1] = q.Dimensions[1], q.Dimensions[0]
			}
		}
		// Under a page filter, the bounce rate keeps the visits that
		// entered on a filtered page.
		if rng.IntN(4) == 0 {
			q.Filter = &engine.Filter{Op: engine.OpContains, Dim: engine.EventPage, Values: []string{"/a", "1"}}
		}
	}
	return q
}

func diff(want, got engine.Result) string {
	if len(want.Rows) != len(got.Rows) {
		return fmt.Sprintf("%d rows, model %d\n engine %v\n model  %v", len(got.Rows), len(want.Rows), got.Rows, want.Rows)
	}
	for i := range want.Rows {
		w, g := want.Rows[i], got.Rows[i]
		if !slices.Equal(w.Dimensions, g.Dimensions) {
			return fmt.Sprintf("row %d dims %q, model %q", i, g.Dimensions, w.Dimensions)
		}
		for j := range w.Metrics {
			wf, _ := w.Metrics[j].(float64)
			gf, _ := g.Metrics[j].(float64)
			if math.Abs(wf-gf) > 1e-9*math.Max(1, math.Abs(wf)) || (w.Metrics[j] == nil) != (g.Metrics[j] == nil) {
				return fmt.Sprintf("row %d %q metric %d: %v, model %v", i, w.Dimensions, j, g.Metrics[j], w.Metrics[j])
			}
		}
	}
	return ""
}
