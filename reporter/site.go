package reporter

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/query"
)

// maxPropKeys bounds the custom property keys one answer lists (an event
// has at most 32; a site's events may have made up many more).
const maxPropKeys = 200

// siteGoal is a goal as GET /api/v1/sites/{site_id} lists it: the name
// answers use (event:goal), and what it counts.
type siteGoal struct {
	Name  string `json:"name"`
	Event string `json:"event,omitempty"`
	Page  string `json:"page,omitempty"`
}

type siteFunnel struct {
	Name  string   `json:"name"`
	Steps []string `json:"steps"`
}

// handleSite answers GET /api/v1/sites/{site_id}: what a client needs to
// ask good questions of one site (Plausible's Sites API shape, plus goals
// and funnels). custom_properties are the keys of custom properties seen in
// the range of the v1 period and date parameters (default 30d): the
// dashboard's Properties panel and Filter menu offer them.
func (rp *Reporter) handleSite() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id := httprouter.ParamsFromContext(r.Context()).ByName("site_id")
		if err := analytics.ValidateSiteID(id); err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": analytics.Message(err)})
			return
		}
		if _, ok := rp.check(w, r, id); !ok {
			return
		}
		site, err := rp.site(r.Context(), id)
		if err != nil {
			rp.storageError(w, err, id)
			return
		}
		v := r.URL.Query()
		v.Set("site_id", id)
		v.Del("metrics")
		v.Del("filters")
		q, err := query.ParseV1(query.Aggregate, v, site, rp.now())
		if err != nil {
			rp.answerError(w, err, id)
			return
		}
		keys := []string{}
		if rp.cfg.Blocks != nil && !q.Range.All {
			if keys, err = propKeys(r.Context(), rp.cfg.Blocks, id, q.Range.From, q.Range.To); err != nil {
				rp.storageError(w, err, id)
				return
			}
		}
		goals := make([]siteGoal, len(site.Goals))
		for i, g := range site.Goals {
			goals[i] = siteGoal{Name: g.Name, Event: g.Event, Page: g.Page}
		}
		funnels := make([]siteFunnel, len(site.Funnels))
		for i, f := range site.Funnels {
			funnels[i] = siteFunnel{Name: f.Name, Steps: make([]string, len(f.Steps))}
			for j, s := range f.Steps {
				funnels[i].Steps[j] = s.Name
			}
		}
		httpx.WriteJSON(w, http.StatusOK, query.Object{
			{Key: "site_id", Value: id}, {Key: "domain", Value: id},
			{Key: "timezone", Value: site.Loc().String()},
			{Key: "custom_properties", Value: keys},
			{Key: "goals", Value: goals}, {Key: "funnels", Value: funnels},
		})
	})
}

// propKeys lists, sorted, the custom property keys of site's events in
// [from, to). A block's keys are those of its hour, so an hour that
// straddles an edge may add a key of an event just outside: the list is
// for suggestions, and a key offered there answers with no rows at worst.
func propKeys(ctx context.Context, src engine.BlockSource, site string, from, to time.Time) ([]string, error) {
	blocks, err := src.Blocks(ctx, site, from, to)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	keys := []string{}
	for _, b := range blocks {
		for _, k := range b.PropKeys {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	if len(keys) > maxPropKeys {
		keys = keys[:maxPropKeys]
	}
	return keys, nil
}
