package reporter

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/query"
	"github.com/siteanalytics/analytics/realtime"
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

// SiteZones knows each site's time zone (sites.SettingsCache); a
// SiteLister that is one too gives /api/v1/sites its "timezone" field.
type SiteZones interface {
	// TimeZone returns the IANA name of site's time zone ("UTC" by
	// default), from memory.
	TimeZone(site string) string
}

// handleSites lists the sites with data that the request may read, with
// their time zones: {"results":[{"site_id":"...","timezone":"UTC"}]}.
func (rp *Reporter) handleSites() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if rp.cfg.Sites == nil {
			httpx.WriteJSON(w, http.StatusNotImplemented, map[string]string{"error": "this reporter's store cannot list sites"})
			return
		}
		sites, err := rp.cfg.Sites.Sites(r.Context())
		if err != nil {
			rp.storageError(w, err, "")
			return
		}
		sites = rp.readable(r, sites)
		type site struct {
			ID       string `json:"site_id"`
			TimeZone string `json:"timezone"`
		}
		zones, _ := rp.cfg.Sites.(SiteZones)
		out := make([]site, len(sites))
		for i, s := range sites {
			out[i] = site{s, "UTC"}
			if zones != nil {
				out[i].TimeZone = zones.TimeZone(s)
			}
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"results": out})
	})
}

// handleRealtime answers a site's last minutes (minutes=1..30, default
// 30): {"minutes":30,"visitors":N,"pageviews":N,"events":N,"series":[...]}.
// With visitorsOnly it is Plausible's /api/v1/stats/realtime/visitors: the
// visitors of the last 5 minutes as a bare number.
func (rp *Reporter) handleRealtime(visitorsOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		v := r.URL.Query()
		site := v.Get("site_id")
		if site == "" {
			httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "site_id: required, e.g. ?site_id=site-abc-123"})
			return
		}
		if err := analytics.ValidateSiteID(site); err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": analytics.Message(err)})
			return
		}
		minutes := realtime.Window
		if visitorsOnly {
			minutes = 5
		}
		if s := v.Get("minutes"); s != "" && !visitorsOnly {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > realtime.Window {
				httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("minutes: %q must be a whole number from 1 to %d", s, realtime.Window)})
				return
			}
			minutes = n
		}
		if rp.cfg.Realtime == nil {
			httpx.WriteJSON(w, http.StatusNotImplemented, map[string]string{"error": "realtime needs Redis: start the reporter with REDIS_URL (the queue's Redis) set"})
			return
		}
		sum, err := rp.cfg.Realtime.Read(r.Context(), site, minutes)
		if err != nil {
			rp.log.Warn().Err(err).Str("site_id", site).Msg("realtime: reading Redis failed; answered 503")
			w.Header().Set("Retry-After", "1")
			httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "realtime numbers are unavailable right now (Redis does not answer); retry later"})
			return
		}
		if visitorsOnly {
			httpx.WriteJSON(w, http.StatusOK, sum.Visitors)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, sum)
	})
}
