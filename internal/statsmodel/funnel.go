package statsmodel

import (
	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// Funnel answers how many visitors of q's range and filter reached each step
// of f in order within one visit (see the package doc). Errors are of kind
// analytics.Invalid.
func Funnel(events []analytics.Event, q engine.Query, f engine.Funnel) ([]engine.FunnelStep, error) {
	if len(f.Steps) < 2 || len(f.Steps) > 8 {
		return nil, invalid("funnel %q has %d steps; a funnel has 2 to 8", f.Name, len(f.Steps))
	}
	for i, s := range f.Steps {
		if s.Event == "" && s.Page == "" {
			return nil, invalid("funnel %q: step %d has neither an event nor a page", f.Name, i+1)
		}
	}
	if err := checkFilter(q.Filter); err != nil {
		return nil, err
	}
	evs := prepare(events, q)

	// reached[k] holds the visitors with a visit reaching step k+1.
	reached := make([]map[string]bool, len(f.Steps))
	for k := range reached {
		reached[k] = map[string]bool{}
	}
	done := map[*visit]bool{}
	for _, e := range evs {
		v := e.visit
		if !v.counted || done[v] || !selects(q.Filter, e, q.Goals) {
			continue
		}
		done[v] = true
		step := 0
		for _, x := range v.events {
			if step < len(f.Steps) && matchGoal(f.Steps[step], x) {
				reached[step][e.UserID] = true
				step++
			}
		}
	}

	out := make([]engine.FunnelStep, len(f.Steps))
	for k, s := range f.Steps {
		n := int64(len(reached[k]))
		st := engine.FunnelStep{Goal: goalName(s), Visitors: n}
		first, prev := int64(len(reached[0])), n
		if k > 0 {
			prev = int64(len(reached[k-1]))
			st.DropOff = prev - n
		}
		st.ConversionRate = ratio(100*n, first)
		st.ConversionRateStep = ratio(100*n, prev)
		out[k] = st
	}
	return out, nil
}
