package enrich

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	analytics "github.com/siteanalytics/analytics"
)

// Config says how an Enricher finds countries, clients and visitors.
type Config struct {
	// Geo maps addresses to countries; nil leaves Country empty.
	Geo Geo
	// Trusted are the proxies whose X-Forwarded-For is believed (see
	// ClientIP).
	Trusted []netip.Prefix
	// Salts keys cookieless visitor ids; nil disables them.
	Salts *Salts
	// Cookieless derives a visitor id for every event without a user id,
	// not only for the requests that ask for it.
	Cookieless bool
}

// Enricher fills the derived fields of events at the collector. It is
// safe for concurrent use.
type Enricher struct {
	cfg Config
}

// New returns an Enricher. It does no I/O.
func New(cfg Config) *Enricher { return &Enricher{cfg: cfg} }

// Req holds what one HTTP request says about its client, parsed once for
// all the events in its body. It is not safe for concurrent use.
type Req struct {
	e *Enricher
	r *http.Request

	pageHost string // host of the Origin, else the Referer header
	browser  bool   // the request has an Origin or a Referer, even "null"

	// The last User-Agent parsed, and its result: a batch nearly always has
	// one User-Agent, the request's or the one every event carries.
	ua     string
	agent  Agent
	parsed bool

	// The last address located: the request's, or an event's "ip".
	ipText  string // "" for the request's client address
	ip      netip.Addr
	country string
	located bool

	// The last visitor id and what it was derived from: the events of a
	// batch nearly always share them, and the hash is the costliest step.
	vid     string
	vidSite string
	vidUA   string
	vidIP   netip.Addr
	vidSalt *byte
}

// Request starts enriching the events of r.
func (e *Enricher) Request(r *http.Request) *Req {
	q := &Req{e: e, r: r, browser: r.Header.Get("Origin") != "" || r.Header.Get("Referer") != ""}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		_, q.pageHost, _ = urlHost(o)
	}
	if q.pageHost == "" {
		_, q.pageHost, _ = urlHost(r.Header.Get("Referer"))
	}
	return q
}

// Event fills ev's Source, ReferrerHost, ReferrerURL, Browser, OS, Device and Country
// from ev.Client and the request, and in cookieless mode (cookieless, or
// Config.Cookieless) gives an event without a UserID the visitor id of
// (the salt of the event's UTC day, or today's once that one is gone; site, IP, User-Agent). ev.Client, if set, speaks for
// the browser instead of the request: a server-side sender forwards its
// visitor's User-Agent and address. ev.Client is cleared whatever happens,
// so the raw address and User-Agent can never be queued.
//
// bot reports a crawler or a headless browser: the caller drops the event.
// A headless browser (not a crawler) on a page served from localhost,
// 127.0.0.0/8 or ::1 (by the request's Origin or Referer and the event's
// url; by the url alone only for a request with neither header) is not a
// bot, so that development pages and
// end-to-end tests in headless Chromium still count. err is the Redis
// error of fetching the day's salt (the caller answers 503, the client
// retries).
func (q *Req) Event(ctx context.Context, ev *analytics.Event, cookieless bool) (bot bool, err error) {
	c := ev.Client
	ev.Client = analytics.ClientHints{}

	ua := c.UserAgent
	if ua == "" {
		ua = q.r.UserAgent()
	}
	if !q.parsed || ua != q.ua {
		q.ua, q.agent, q.parsed = ua, ParseUA(ua), true
	}
	a := q.agent

	pageHost := q.pageHost
	if c.URL != "" {
		if _, h, ok := urlHost(c.URL); ok {
			pageHost = h
		}
	}
	// The page a browser's request comes from is the one its Origin or
	// Referer names (the browser sets them); the event's url is written by
	// the page itself, so alone it decides only for a server's request.
	local := isLocalHost(pageHost)
	if q.browser {
		local = local && isLocalHost(q.pageHost)
	}
	if a.Bot && !(a.Headless && local) {
		return true, nil
	}

	if !q.located || c.IP != q.ipText {
		q.locate(c.IP)
	}
	ev.Browser, ev.OS, ev.Device, ev.Country = a.Browser, a.OS, a.Device, q.country
	ev.Source, ev.ReferrerHost = Source(c.Referrer, pageHost, ev.UTMSource)
	if ev.ReferrerHost != "" {
		ev.ReferrerURL = ReferrerURL(c.Referrer)
	}

	if s := q.e.cfg.Salts; s != nil && ev.UserID == "" && (cookieless || q.e.cfg.Cookieless) {
		// The salt of the event's own day, so events a browser queued
		// before midnight and sent after it count for the same visitor
		// as that day's others; once that salt is gone (48 h), today's.
		salt, err := s.Salt(ctx, ev.Timestamp)
		if errors.Is(err, ErrSaltExpired) {
			salt, err = s.Salt(ctx, s.now())
		}
		if err != nil {
			return false, err
		}
		if q.vid == "" || q.vidSalt != &salt[0] || q.vidSite != ev.SiteID || q.vidIP != q.ip || q.vidUA != ua {
			q.vid = visitorID(salt, ev.SiteID, q.ip, ua)
			q.vidSalt, q.vidSite, q.vidIP, q.vidUA = &salt[0], ev.SiteID, q.ip, ua
		}
		ev.UserID = q.vid
	}
	return false, nil
}

// locate finds the address and country of text (an event's "ip", already
// validated by the domain), or of the request's client when text is "".
func (q *Req) locate(text string) {
	q.ipText, q.located = text, true
	if text == "" {
		q.ip = ClientIP(q.r, q.e.cfg.Trusted)
	} else {
		q.ip = parseHostAddr(text)
	}
	q.country = ""
	if q.e.cfg.Geo != nil && q.ip.IsValid() {
		q.country = q.e.cfg.Geo.Country(q.ip)
	}
}

// isLocalHost reports whether a page host is this machine: where
// developers and end-to-end tests run pages.
func isLocalHost(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
