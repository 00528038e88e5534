package reporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/query"
)

// answerError answers a failed query: 400 with the message for invalid
// input (Plausible's wording, from package query or the engine), else
// storageError.
func (rp *Reporter) answerError(w http.ResponseWriter, err error, site string) {
	if analytics.KindOf(err) == analytics.Invalid {
		httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": analytics.Message(err)})
		return
	}
	rp.storageError(w, err, site)
}

// siteParam reads and checks site_id of a GET request.
func siteParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	site := r.URL.Query().Get("site_id")
	if site == "" {
		httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "site_id: required, e.g. ?site_id=site-abc-123"})
		return "", false
	}
	if err := analytics.ValidateSiteID(site); err != nil {
		httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": analytics.Message(err)})
		return "", false
	}
	return site, true
}

// handleQuery serves one endpoint of the Stats API v1 (Plausible's
// shapes and semantics, package query), in the site's time zone.
func (rp *Reporter) handleQuery(kind query.Kind) http.Handler {
	return rp.handleGET(func(v url.Values, site query.Site, now time.Time) (runner, error) {
		return query.ParseV1(kind, v, site, now)
	})
}

// handleFunnel serves GET /api/v1/stats/funnel?site_id=S&funnel=NAME with
// v1 periods and filters (see query.Funnel.Run for the answer).
func (rp *Reporter) handleFunnel() http.Handler {
	return rp.handleGET(func(v url.Values, site query.Site, now time.Time) (runner, error) {
		return query.ParseFunnel(v, site, now)
	})
}

// runner is a parsed GET query: query.V1 or query.Funnel.
type runner interface {
	Run(ctx context.Context, a engine.Answerer) (query.Object, error)
}

// handleGET serves a GET query of site_id: the site's settings, the
// query parse, its run, each failure answered as handleQuery's always were.
func (rp *Reporter) handleGET(parse func(v url.Values, site query.Site, now time.Time) (runner, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, ok := siteParam(w, r)
		if !ok {
			return
		}
		site, err := rp.site(r.Context(), id)
		if err != nil {
			rp.storageError(w, err, id)
			return
		}
		q, err := parse(r.URL.Query(), site, rp.now())
		if err != nil {
			rp.answerError(w, err, id)
			return
		}
		a, err := q.Run(r.Context(), rp.eng)
		if err != nil {
			rp.answerError(w, err, id)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, a)
	})
}

// maxQueryBody bounds a v2 query body; real ones are a few KiB.
const maxQueryBody = 1 << 20

// handleV2 serves POST /api/v2/query (Plausible's Stats API v2). The site
// is in the body, so access is checked after reading site_id from it.
func (rp *Reporter) handleV2() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
		if err != nil {
			httpx.WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("the query body is over %d bytes", maxQueryBody)})
			return
		}
		id, err := query.V2SiteID(body)
		if err == nil {
			err = analytics.ValidateSiteID(id)
		}
		if !rp.allow(w, r, id) {
			return
		}
		if err != nil {
			rp.answerError(w, err, id)
			return
		}
		site, err := rp.site(r.Context(), id)
		if err != nil {
			rp.storageError(w, err, id)
			return
		}
		q, err := query.ParseV2(body, site, rp.now())
		if err != nil {
			rp.answerError(w, err, id)
			return
		}
		a, err := q.Run(r.Context(), rp.eng)
		if err != nil {
			rp.answerError(w, err, id)
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
		minutes := analytics.RealtimeWindow
		if visitorsOnly {
			minutes = 5
		}
		if s := v.Get("minutes"); s != "" && !visitorsOnly {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > analytics.RealtimeWindow {
				httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("minutes: %q must be a whole number from 1 to %d", s, analytics.RealtimeWindow)})
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
