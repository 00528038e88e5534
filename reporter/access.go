package reporter

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/sites"
)

// Access is what the reporter knows of tokens and public sites: a
// *sites.Registry, answering from memory.
type Access interface {
	// HasTokens reports whether any token exists (the reporter is then
	// closed to requests without one, but for public sites).
	HasTokens() bool
	// Closed reports whether the reporter wants a token even when none
	// exists: one has existed and the reporter was not opened since.
	Closed() bool
	// Token returns the token whose secret is secret.
	Token(secret string) (*sites.Token, bool)
	// Public reports whether a site's stats are readable by anyone.
	Public(site string) bool
}

// grant is what a request may read.
type grant struct {
	open bool   // no token is needed: the reporter is open
	all  bool   // every site (REPORTER_TOKEN, or a token made with --all)
	site string // this site only (a token made with --site)
}

// may reports whether g may read site (public sites are anyone's).
func (rp *Reporter) may(g grant, site string) bool {
	return g.open || g.all || (g.site != "" && g.site == site) || (rp.cfg.Access != nil && rp.cfg.Access.Public(site))
}

// Mode says whether the reporter answers requests without a token (open)
// and why, in words for logs and errors. It is open only while no token
// exists and none has since it was last opened on purpose (`analytics-cli
// tokens open`, or Config.Open), so revoking the last token does not make
// every site readable.
func (rp *Reporter) Mode() (open bool, why string) {
	acc := rp.cfg.Access
	switch {
	case rp.cfg.Token != "":
		return false, "REPORTER_TOKEN is set"
	case acc == nil:
		return true, "no REPORTER_TOKEN and no tokens registry"
	case acc.HasTokens():
		return false, "reporter tokens exist (analytics-cli tokens list)"
	case rp.cfg.Open:
		return true, "REPORTER_OPEN=true and no token exists"
	case acc.Closed():
		return false, "a token existed and the reporter was not opened since: open it on purpose with `analytics-cli tokens open` or REPORTER_OPEN=true"
	}
	return true, "no token exists"
}

// NoteMode logs the reporter's mode when it differs from the last one
// noted (the first call always logs): call it at start and whenever the
// tokens may have changed. Safe for concurrent use.
func (rp *Reporter) NoteMode() {
	open, why := rp.Mode()
	state := int32(1)
	if open {
		state = 2
	}
	if rp.mode.Swap(state) == state {
		return
	}
	if open {
		rp.log.Warn().Str("why", why).Msg("reporter open: anyone who reaches it reads every site's stats without a token")
		return
	}
	rp.log.Info().Str("why", why).Msg("reporter closed: stats need a token that may read their site (public sites excepted)")
}

// grantOf reads the request's bearer token: its grant, and false when a
// token is needed and none (or an unknown one) was sent. The scheme is
// case-insensitive (RFC 9110); the token is not.
func (rp *Reporter) grantOf(r *http.Request) (grant, bool) {
	if open, _ := rp.Mode(); open {
		return grant{open: true}, true
	}
	acc := rp.cfg.Access
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return grant{}, false
	}
	if rp.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(rp.cfg.Token)) == 1 {
		return grant{all: true}, true
	}
	if acc != nil {
		if t, ok := acc.Token(token); ok {
			return grant{all: t.Site == "", site: t.Site}, true
		}
	}
	return grant{}, false
}

type grantKey struct{}

// auth lets a request through to next when it may read the site its
// site_id names: with a token of that site or of every site, or without
// one for a public site or when the reporter has no tokens at all. Else
// 401 (no or an unknown token) or 403 (a token of another site). A request
// without site_id needs a valid token of any scope (next answers its 400,
// or lists what it may read: see readable).
func (rp *Reporter) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g, ok := rp.check(w, r, r.URL.Query().Get("site_id")); ok {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), grantKey{}, g)))
		}
	})
}

// allow is auth for a request whose site is in its body (POST
// /api/v2/query): false when it answered 401 or 403.
func (rp *Reporter) allow(w http.ResponseWriter, r *http.Request, site string) bool {
	_, ok := rp.check(w, r, site)
	return ok
}

func (rp *Reporter) check(w http.ResponseWriter, r *http.Request, site string) (grant, bool) {
	g, ok := rp.grantOf(r)
	switch {
	case site != "" && rp.may(g, site):
	case !ok:
		w.Header().Set("WWW-Authenticate", `Bearer realm="stats"`)
		msg := "missing or wrong bearer token: send Authorization: Bearer <token> (REPORTER_TOKEN, or one made with `analytics-cli tokens create`)"
		if acc := rp.cfg.Access; rp.cfg.Token == "" && acc != nil && !acc.HasTokens() {
			msg += "; no token exists, but the reporter stays closed since one did: open it to anyone on purpose with `analytics-cli tokens open` (or REPORTER_OPEN=true)"
		}
		httpx.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
		return g, false
	case site != "":
		httpx.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "this token may read site " + g.site + " only, not " + site})
		return g, false
	}
	return g, true
}

// readable filters sites down to those the request (passed through auth)
// may read.
func (rp *Reporter) readable(r *http.Request, list []string) []string {
	g, _ := r.Context().Value(grantKey{}).(grant)
	if g.open || g.all {
		return list
	}
	out := list[:0:0]
	for _, s := range list {
		if rp.may(g, s) {
			out = append(out, s)
		}
	}
	return out
}
