// Package reporter is the stats HTTP API: /stats, Plausible's Stats API
// v1 and v2 and funnels, answered by an engine.Answerer (package query
// parses and prints; the engine counts) in each site's time zone.
package reporter

import (
	"context"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/rs/cors"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/dashboard"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/query"
)

// Config tunes the reporter.
type Config struct {
	// Token, when set, must be sent as "Authorization: Bearer <token>"
	// (or another token Access knows); it reads every site.
	Token string
	// Access knows the tokens made with `analytics-cli tokens create` and
	// the public sites; nil: REPORTER_TOKEN alone decides.
	Access Access
	// Settings knows each site's time zone, goals and funnels; nil: every
	// site is UTC, with no goals and no funnels.
	Settings Settings
	// Open (REPORTER_OPEN) answers without a token while no token exists,
	// even after one existed (see Reporter.Mode). It does not open a
	// reporter that has tokens or a Token.
	Open bool
	// Sites lists the sites with data (/api/v1/sites, the dashboard's site
	// picker, the note on /stats for a site never seen); nil: the
	// answerer is used if it lists sites.
	Sites SiteLister
	// Realtime answers /api/v1/stats/realtime; nil answers 501.
	Realtime analytics.RealtimeReader
	// Dashboard is served at / and /sites/{site_id}; nil serves none.
	Dashboard *dashboard.Dashboard
	// Blocks are the event blocks the engine reads (the same cached
	// source), for the custom property keys GET /api/v1/sites/{site_id}
	// lists; nil lists none.
	Blocks engine.BlockSource
	// AnswerCache is how many answers are kept (see answerCache: an
	// answer is given again only while its blocks are unchanged); 0 is
	// DefaultAnswerCache, negative keeps none. Needs Blocks.
	AnswerCache int
}

// SiteLister lists the sites that have data, sorted.
type SiteLister interface {
	Sites(ctx context.Context) ([]string, error)
}

// Settings looks a site's settings up: its IANA time zone (nil is UTC),
// goals and funnels. A site without settings is UTC with none, and no
// error; an error is the lookup's failure (kind analytics.Unavailable when
// retrying may help).
type Settings interface {
	SiteSettings(ctx context.Context, site string) (loc *time.Location, goals []engine.Goal, funnels []engine.Funnel, err error)
}

// Reporter serves GET /stats, the Stats API v1 (/api/v1/stats/...) and v2
// (POST /api/v2/query), and funnels.
type Reporter struct {
	eng   engine.Answerer
	ready analytics.Pinger
	log   zerolog.Logger
	cfg   Config
	now   func() time.Time
	mode  atomic.Int32 // last mode NoteMode logged: 0 none, 1 closed, 2 open
}

// New returns a reporter answering through eng; ready answers /readyz.
func New(eng engine.Answerer, ready analytics.Pinger, log zerolog.Logger, cfg Config) *Reporter {
	rp := &Reporter{eng: eng, ready: ready, log: log, cfg: cfg, now: time.Now}
	if sl, ok := eng.(SiteLister); ok && rp.cfg.Sites == nil {
		rp.cfg.Sites = sl
	}
	if cfg.Blocks != nil && cfg.AnswerCache >= 0 {
		n := cfg.AnswerCache
		if n == 0 {
			n = DefaultAnswerCache
		}
		rp.eng = newAnswerCache(eng, cfg.Blocks, n)
	}
	return rp
}

// site returns what queries need to know of a site: its settings, or UTC
// and none without a Settings.
func (rp *Reporter) site(ctx context.Context, id string) (query.Site, error) {
	s := query.Site{ID: id, Location: time.UTC}
	if rp.cfg.Settings == nil {
		return s, nil
	}
	loc, goals, funnels, err := rp.cfg.Settings.SiteSettings(ctx, id)
	if err != nil {
		return s, err
	}
	if loc != nil {
		s.Location = loc
	}
	s.Goals, s.Funnels = goals, funnels
	return s, nil
}

// Handler returns the routes of the reporting API, all in one place.
func (rp *Reporter) Handler() http.Handler {
	r := httprouter.New()
	httpx.GetAndHead(r, "/stats", rp.auth(rp.handleStats()))
	httpx.GetAndHead(r, "/api/v1/stats/aggregate", rp.auth(rp.handleQuery(query.Aggregate)))
	httpx.GetAndHead(r, "/api/v1/stats/timeseries", rp.auth(rp.handleQuery(query.Timeseries)))
	httpx.GetAndHead(r, "/api/v1/stats/breakdown", rp.auth(rp.handleQuery(query.Breakdown)))
	httpx.GetAndHead(r, "/api/v1/stats/funnel", rp.auth(rp.handleFunnel()))
	r.Handler(http.MethodPost, "/api/v2/query", rp.handleV2())
	httpx.GetAndHead(r, "/api/v1/stats/realtime", rp.auth(rp.handleRealtime(false)))
	httpx.GetAndHead(r, "/api/v1/stats/realtime/visitors", rp.auth(rp.handleRealtime(true)))
	httpx.GetAndHead(r, "/api/v1/sites", rp.auth(rp.handleSites()))
	httpx.GetAndHead(r, "/api/v1/sites/:site_id", rp.handleSite())
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
	// Dashboards on other origins read stats from the browser, sending the
	// token: any origin, and the preflight must allow Authorization.
	return cors.New(cors.Options{
		AllowedOrigins: []string{"*"},
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type"},
		MaxAge:         86400,
	}).Handler(r)
}

func (rp *Reporter) handleStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		q, err := analytics.ParseStatsQuery(v.Get("site_id"), v.Get("date"), v.Get("limit"))
		if err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": analytics.Message(err)})
			return
		}
		site, err := rp.site(r.Context(), q.SiteID)
		if err != nil {
			rp.storageError(w, err, q.SiteID)
			return
		}
		st, err := query.Stats(r.Context(), rp.eng, site, q, rp.now())
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
