package reporter

import (
	"net/http"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/query"
)

// handleQuery serves one endpoint of the Stats API (Plausible v1 shapes),
// answered from rollups by package query: 400 naming the parameter for a
// query the rollups cannot answer, storageError for a failed read.
func (rp *Reporter) handleQuery(kind query.Kind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		q, err := query.Parse(kind, r.URL.Query(), time.Now())
		if err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": analytics.Message(err)})
			return
		}
		if rp.rollups == nil {
			httpx.WriteJSON(w, http.StatusNotImplemented, map[string]string{"error": "this reporter's store does not read rollups, so the Stats API is not available"})
			return
		}
		a, err := query.Run(r.Context(), rp.rollups, q)
		if err != nil {
			rp.storageError(w, err, q.SiteID)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, a)
	})
}
