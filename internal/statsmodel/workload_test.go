package statsmodel

import (
	"reflect"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

func TestWorkloadIsDeterministicAndValid(t *testing.T) {
	a, b := Workload(7, 3000), Workload(7, 3000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two calls with one seed differ")
	}
	if reflect.DeepEqual(a, Workload(8, 3000)) {
		t.Fatal("two seeds give one workload")
	}
	ids := map[string]int{}
	late, noted, anonymous, conflicting := 0, 0, 0, 0
	first := map[string]analytics.Event{}
	var last time.Time
	for i, e := range a {
		if err := analytics.ValidateSiteID(e.SiteID); err != nil {
			t.Fatal(err)
		}
		if err := analytics.ValidateID(e.ID); err != nil {
			t.Fatal(err)
		}
		if err := analytics.ValidateProps(e.Props); err != nil {
			t.Fatal(err)
		}
		if e.Timestamp.Before(last.Add(-10 * time.Minute)) {
			late++
		}
		if e.Timestamp.After(last) {
			last = e.Timestamp
		}
		ids[e.SiteID+"/"+e.ID]++
		if f, ok := first[e.SiteID+"/"+e.ID]; ok && !reflect.DeepEqual(f, e) {
			conflicting++
		} else if !ok {
			first[e.SiteID+"/"+e.ID] = e
		}
		if e.Visit != nil {
			noted++
		}
		if e.UserID == "" {
			anonymous++
		}
		if e.Timestamp.Nanosecond() != 0 {
			t.Fatalf("event %d: time %v is not whole seconds", i, e.Timestamp)
		}
	}
	resends := len(a) - len(ids)
	t.Logf("%d events: %d resends (%d conflicting), %d late, %d noted, %d without visitor", len(a), resends, conflicting, late, noted, anonymous)
	if resends == 0 || conflicting == 0 || late == 0 || noted == 0 || anonymous == 0 {
		t.Error("the workload misses a kind of event")
	}
}

// TestModelInvariants checks sums the model's answers must satisfy over a
// workload: every event and visit is in exactly one row of a single-valued
// dimension, and an is/is_not pair splits the events.
func TestModelInvariants(t *testing.T) {
	events := Workload(1, 4000)
	metrics := []string{engine.Pageviews, engine.Events, engine.Visits, engine.Visitors}
	sum := func(res engine.Result, m int) float64 {
		s := 0.0
		for _, r := range res.Rows {
			s += r.Metrics[m].(float64)
		}
		return s
	}
	for _, s := range Sites {
		for _, w := range Windows {
			loc := s.Location()
			from := time.Date(w.From.Year(), w.From.Month(), w.From.Day(), 0, 0, 0, 0, loc)
			q := engine.Query{Site: s.ID, From: from, To: from.AddDate(0, 0, w.Days), Location: loc, Metrics: metrics, Goals: s.Goals}
			total, err := Answer(events, q)
			if err != nil {
				t.Fatal(err)
			}
			tot := total.Rows[0].Metrics
			for _, dim := range []string{engine.TimeDay, engine.TimeHour, engine.Time, engine.Source, engine.Country, engine.EntryPage, engine.UTMTerm} {
				q := q
				q.Dimensions = []string{dim}
				res, err := Answer(events, q)
				if err != nil {
					t.Fatal(err)
				}
				for m := 0; m < 3; m++ {
					if got := sum(res, m); got != tot[m] {
						t.Errorf("%s %s by %s: %s sum to %v, total %v", s.ID, from.Format("2006-01-02"), dim, metrics[m], got, tot[m])
					}
				}
				if got := sum(res, 3); got < tot[3].(float64) {
					t.Errorf("%s by %s: visitors sum to %v < total %v", s.ID, dim, got, tot[3])
				}
			}
			for _, dim := range []string{engine.EventPage, engine.EventName, engine.PropPrefix + "plan"} {
				q := q
				q.Dimensions = []string{dim}
				res, _ := Answer(events, q)
				for m := 0; m < 2; m++ {
					if got := sum(res, m); got != tot[m] {
						t.Errorf("%s by %s: %s sum to %v, total %v", s.ID, dim, metrics[m], got, tot[m])
					}
				}
			}
			for _, f := range s.Funnels {
				steps, err := Funnel(events, q, f)
				if err != nil {
					t.Fatal(err)
				}
				for k := 1; k < len(steps); k++ {
					if steps[k].Visitors > steps[k-1].Visitors || steps[k].DropOff != steps[k-1].Visitors-steps[k].Visitors {
						t.Errorf("%s funnel %s: %+v", s.ID, f.Name, steps)
					}
				}
			}
			yes, no := q, q
			yes.Filter = is(engine.EventPage, "/pricing")
			no.Filter = op(engine.OpIsNot, engine.EventPage, "/pricing")
			a, _ := Answer(events, yes)
			b, _ := Answer(events, no)
			if got := a.Rows[0].Metrics[1].(float64) + b.Rows[0].Metrics[1].(float64); got != tot[1] {
				t.Errorf("%s: is and is_not select %v events of %v", s.ID, got, tot[1])
			}
		}
	}
}
