package engine_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/statsmodel"
	"github.com/siteanalytics/analytics/internal/visitmodel"
)

// The workload of the visits fault test (gaps at the timeout, midnight, late
// and resent events, page views without a path) agrees with the model too.
func TestEngineAgreesWithTheModelOnVisits(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 3))
	events := visitmodel.Generate(rng, []string{"visits-a"}, 50, 2400, time.Date(2025, 10, 30, 0, 0, 0, 0, time.UTC), 3, 30*time.Minute)
	e := engine.New(newMemSource(events))
	q := engine.Query{Site: "visits-a", From: time.Date(2025, 10, 30, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 11, 5, 0, 0, 0, 0, time.UTC),
		Metrics: []string{engine.Visits}, Dimensions: []string{engine.EntryPage},
		Filter: &engine.Filter{Op: engine.OpIsNot, Dim: engine.EntryPage, Values: []string{""}}}
	for _, f := range []*engine.Filter{nil, q.Filter} {
		for _, d := range []string{engine.EntryPage, engine.ExitPage, engine.Source, engine.EventPage} {
			q.Filter, q.Dimensions = f, []string{d}
			want, _ := statsmodel.Answer(events, q)
			got, err := e.Query(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if msg := diff(want, got); msg != "" {
				t.Errorf("filter %v dim %s: %s", f != nil, d, msg)
			}
		}
	}
}
