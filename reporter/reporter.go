// Package reporter is the stats HTTP API. It reads rollups only, so its
// latency does not grow with the number of stored events.
package reporter

import (
	"context"
	"net/http"
	"sort"
	"sync/atomic"

	"github.com/julienschmidt/httprouter"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/dashboard"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/query"
	"github.com/siteanalytics/analytics/realtime"
	"github.com/siteanalytics/analytics/rollup"
)

// Config tunes the reporter.
type Config struct {
	// Token, when set, must be sent as "Authorization: Bearer <token>"
	// (or another token Access knows); it reads every site.
	Token string
	// Access knows the tokens made with `analytics-cli tokens create` and
	// the public sites; nil: REPORTER_TOKEN alone decides.
	Access Access
	// Open (REPORTER_OPEN) answers without a token while no token exists,
	// even after one existed (see Reporter.Mode). It does not open a
	// reporter that has tokens or a Token.
	Open bool
	// Rollups answers the Stats API (/api/v1/stats/...); when nil, the
	// stats reader is used if it reads rollups too (rollup.Reader).
	Rollups rollup.Reader
	// Sites lists the sites with data (/api/v1/sites, the dashboard's site
	// picker); when nil, the stats reader is used if it lists sites.
	Sites SiteLister
	// Realtime answers /api/v1/stats/realtime; nil answers 501.
	Realtime RealtimeReader
	// Dashboard is served at / and /sites/{site_id}; nil serves none.
	Dashboard *dashboard.Dashboard
}

// SiteLister lists the sites that have data, sorted.
type SiteLister interface {
	Sites(ctx context.Context) ([]string, error)
}

// RealtimeReader reads a site's last minutes (package realtime).
type RealtimeReader interface {
	Read(ctx context.Context, site string, minutes int) (realtime.Summary, error)
}

// Reporter serves GET /stats and the Stats API (/api/v1/stats/...).
type Reporter struct {
	stats   analytics.StatsReader
	rollups rollup.Reader
	ready   analytics.Pinger
	log     zerolog.Logger
	cfg     Config
	mode    atomic.Int32 // last mode NoteMode logged: 0 none, 1 closed, 2 open
}

// New returns a reporter answering from stats; ready answers /readyz.
func New(stats analytics.StatsReader, ready analytics.Pinger, log zerolog.Logger, cfg Config) *Reporter {
	rp := &Reporter{stats: stats, rollups: cfg.Rollups, ready: ready, log: log, cfg: cfg}
	if rr, ok := stats.(rollup.Reader); ok && rp.rollups == nil {
		rp.rollups = rr
	}
	if sl, ok := stats.(SiteLister); ok && rp.cfg.Sites == nil {
		rp.cfg.Sites = sl
	}
	return rp
}

// Handler returns the routes of the reporting API, all in one place.
func (rp *Reporter) Handler() http.Handler {
	r := httprouter.New()
	httpx.GetAndHead(r, "/stats", rp.auth(rp.handleStats()))
	httpx.GetAndHead(r, "/api/v1/stats/aggregate", rp.auth(rp.handleQuery(query.Aggregate)))
	httpx.GetAndHead(r, "/api/v1/stats/timeseries", rp.auth(rp.handleQuery(query.Timeseries)))
	httpx.GetAndHead(r, "/api/v1/stats/breakdown", rp.auth(rp.handleQuery(query.Breakdown)))
	httpx.GetAndHead(r, "/api/v1/stats/realtime", rp.auth(rp.handleRealtime(false)))
	httpx.GetAndHead(r, "/api/v1/stats/realtime/visitors", rp.auth(rp.handleRealtime(true)))
	httpx.GetAndHead(r, "/api/v1/sites", rp.auth(rp.handleSites()))
	if d := rp.cfg.Dashboard; d != nil {
		// The page and its assets hold no data, so they need no token: the
		// page asks for it when the API answers 401.
		httpx.GetAndHead(r, "/", d.Page())
		httpx.GetAndHead(r, "/sites/:site_id", d.Page())
		httpx.GetAndHead(r, "/assets/:name", d.Asset())
	}
	httpx.GetAndHead(r, "/healthz", httpx.Health())
	httpx.GetAndHead(r, "/readyz", httpx.Ready(map[string]analytics.Pinger{"mongodb": rp.ready}, 0))
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " is not allowed here; allowed: " + w.Header().Get("Allow")})
	})
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint: " + r.URL.Path + " (try GET /stats?site_id=..., or open / in a browser)"})
	})
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		rp.log.Error().Interface("panic", v).Msg("handler panic")
		httpx.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Dashboards on other origins read stats from the browser, sending
		// the token: the preflight must allow Authorization.
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if req.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD")
			h.Set("Access-Control-Allow-Headers", "Authorization")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		r.ServeHTTP(w, req)
	})
}

func (rp *Reporter) handleStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		q, err := analytics.ParseStatsQuery(v.Get("site_id"), v.Get("date"), v.Get("limit"))
		if err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": analytics.Message(err)})
			return
		}
		st, err := rp.stats.Stats(r.Context(), q)
		if err != nil {
			rp.storageError(w, err, q.SiteID)
			return
		}
		if st.TotalViews == 0 && st.UniqueUsers == 0 && !rp.known(r.Context(), q.SiteID) {
			st.Note = "no events recorded for site " + q.SiteID
		}
		w.Header().Set("Cache-Control", "no-store")
		httpx.WriteJSON(w, http.StatusOK, st)
	})
}

// known reports whether site has any data; true when that cannot be told
// (no site list, or it failed), so a note never claims what is not known.
func (rp *Reporter) known(ctx context.Context, site string) bool {
	if rp.cfg.Sites == nil {
		return true
	}
	sites, err := rp.cfg.Sites.Sites(ctx)
	if err != nil {
		return true
	}
	i := sort.SearchStrings(sites, site)
	return i < len(sites) && sites[i] == site
}

// storageError answers a failed read. The query was checked already, so
// whatever the store returns is the server's fault, never the client's: 503
// with Retry-After when the database is unavailable, else 500. The client
// gets a generic message; the log gets the cause and the site.
func (rp *Reporter) storageError(w http.ResponseWriter, err error, siteID string) {
	if analytics.KindOf(err) == analytics.Unavailable {
		rp.log.Warn().Err(err).Str("site_id", siteID).Msg("stats: database unavailable; answered 503")
		w.Header().Set("Retry-After", "1")
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "stats are unavailable right now (the database does not answer); retry later"})
		return
	}
	rp.log.Error().Err(err).Str("site_id", siteID).Msg("stats: reading from the database failed; answered 500")
	httpx.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error reading stats; the reporter's log has the cause"})
}
