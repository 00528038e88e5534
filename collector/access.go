package collector

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/internal/ratelimit"
	"github.com/siteanalytics/analytics/sites"
)

// Gate decides who may send events for a site: *sites.Registry in
// registered mode. It must answer from memory (it runs on every request).
type Gate interface {
	// Admit returns nil when a request may send events for site, else an
	// error with an HTTPStatus() int method (401 or 403) whose message
	// says why. pageHost and browser are sites.PageHost's; key is the
	// write key the request carries (sites.NewKey("") for none).
	Admit(site, pageHost string, browser bool, key sites.Key) error
}

// Limits are the collector's rate limits; a nil limiter is off. State is
// per collector process.
type Limits struct {
	// PerIP limits requests per client (as ClientIP derives its address,
	// believing X-Forwarded-For from Trusted proxies only; an IPv6 /64 is
	// one client, see ratelimit.Client).
	PerIP *ratelimit.Limiter[netip.Addr]
	// PerSite limits events per site.
	PerSite *ratelimit.Limiter[string]
	// Trusted are the proxies whose X-Forwarded-For is believed.
	Trusted []netip.Prefix
}

// NewLimits builds Limits from two settings (a Rate of 0 turns one off).
func NewLimits(perIP, perSite ratelimit.Config, trusted []netip.Prefix) Limits {
	return Limits{
		PerIP:   ratelimit.New(perIP, func(a netip.Addr) uint32 { b := a.As16(); return fnv(b[:]) }),
		PerSite: ratelimit.New(perSite, func(s string) uint32 { return fnv([]byte(s)) }),
		Trusted: trusted,
	}
}

// fnv is FNV-1a, to spread keys over a limiter's shards. The conversion
// of a string argument does not allocate (the compiler sees it does not
// escape).
func fnv(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// guard refuses, before a body is read, what no site may send: a browser
// request (or preflight) from an origin CORS_ORIGINS does not allow (403,
// whatever the content type: a text/plain beacon needs no preflight, so
// withholding the CORS header alone would not stop it), and a client over
// its address's rate limit (429). GET and HEAD (the snippet, health
// checks) pass.
func (c *Collector) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if rf := c.screen(r); rf != nil {
			c.refuse(w, rf)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// screen is guard's decision for one request that sends events: a
// *refusal (403 for a foreign origin, 429 over the address's rate limit)
// or nil. GoatCounter's GET /count calls it itself.
func (c *Collector) screen(r *http.Request) *refusal {
	if !slices.Contains(c.cfg.AllowedOrigins, "*") {
		if origin := pageOrigin(r); origin != "" && !c.originAllowed(origin) {
			return &refusal{status: http.StatusForbidden,
				msg: "origin " + origin + " may not send events here (it is not in CORS_ORIGINS)"}
		}
	}
	if lim := c.cfg.Limits.PerIP; lim != nil && r.Method != http.MethodOptions {
		if ip := enrich.ClientIP(r, c.cfg.Limits.Trusted); ip.IsValid() {
			if ok, retry := lim.Allow(ratelimit.Client(ip), 1, time.Now()); !ok {
				return &refusal{status: http.StatusTooManyRequests, retry: retry,
					msg: "too many requests from this address: slow down and retry after the Retry-After seconds"}
			}
		}
	}
	return nil
}

// pageOrigin is the origin a browser request comes from: its Origin
// header, else its Referer's scheme://host[:port]; "" for neither.
func pageOrigin(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" {
		return o
	}
	ref := r.Header.Get("Referer")
	if ref == "" {
		return ""
	}
	scheme, rest, ok := strings.Cut(ref, "://")
	if !ok {
		return "null"
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return scheme + "://" + rest
}

// admit applies the sites' rules and the per-site rate limit to the events
// of a request, whose write key is key (see writeKey): nil, or a
// *refusal answered 401, 403 or 429. Every site is checked before any
// site's tokens are spent, so a request refused for one site has cost the
// others nothing. The events of a request nearly always share a site, so
// each run of one site is checked once.
//
// hints reports whether the request may speak for a browser other than
// itself (the events' "ip" and "user_agent"): in registered mode only with
// the write key of every site it sends for; in open mode, which has no
// keys, only from a server (a request with neither Origin nor Referer),
// since a browser's request is its own browser.
func (c *Collector) admit(r *http.Request, events []analytics.Event, key string) (hints bool, err error) {
	gate, lim := c.cfg.Sites, c.cfg.Limits.PerSite
	host, browser := sites.PageHost(r.Header.Get("Origin"), r.Header.Get("Referer"))
	var hashed sites.Key
	if gate == nil {
		hints = !browser
	} else {
		hashed = sites.NewKey(key) // once for every site of the request
		hints = hashed.Present()   // and valid, unless Admit refuses below
	}
	if gate == nil && lim == nil {
		return hints, nil
	}
	var small [4]ratelimit.Cost[string]
	costs := small[:0]
	for i := 0; i < len(events); {
		site := events[i].SiteID
		j := i + 1
		for j < len(events) && events[j].SiteID == site {
			j++
		}
		if gate != nil {
			if err := gate.Admit(site, host, browser, hashed); err != nil {
				status := http.StatusForbidden
				if s, ok := err.(interface{ HTTPStatus() int }); ok {
					status = s.HTTPStatus()
				}
				return false, &refusal{status: status, msg: err.Error()}
			}
		}
		costs = append(costs, ratelimit.Cost[string]{Key: site, N: j - i})
		i = j
	}
	if ok, refused, retry := lim.AllowAll(costs, time.Now()); !ok {
		return false, &refusal{status: http.StatusTooManyRequests, retry: retry,
			msg: fmt.Sprintf("too many events for site %q: slow down and retry after the Retry-After seconds", costs[refused].Key)}
	}
	return hints, nil
}

// refusal is an answer of access (401, 403) or of a rate limit (429).
type refusal struct {
	status int
	msg    string
	retry  time.Duration // Retry-After of a 429
}

func (e *refusal) Error() string { return e.msg }

// writeKey is the write key a request carries: "Authorization: Bearer
// <key>", or Basic with the key as user name (Segment's way); "" for none.
func writeKey(r *http.Request) string {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok {
		return ""
	}
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return cred
	case strings.EqualFold(scheme, "Basic"):
		b, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return ""
		}
		user, _, _ := strings.Cut(string(b), ":")
		return user
	}
	return ""
}

// refuse answers an access refusal (401, 403) or a rate limit (429) and
// counts it, one per request.
func (c *Collector) refuse(w http.ResponseWriter, he *refusal) {
	switch he.status {
	case http.StatusTooManyRequests:
		c.Counters.RateLimited.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((he.retry+time.Second-1)/time.Second))))
	case http.StatusUnauthorized:
		c.Counters.Forbidden.Add(1)
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="write key"`)
		}
	default:
		c.Counters.Forbidden.Add(1)
	}
	httpx.WriteJSON(w, he.status, failure(he.msg))
}
