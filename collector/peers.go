package collector

import (
	"errors"
	"net/http"
	"strings"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/js"
)

// The endpoints of the self-hosted peers' trackers: Plausible's Events API
// and script, Umami's /api/send and GoatCounter's /count. Each reads its
// format (package ingest) into events that take the path of every event
// (queue: access rules, rate limits, enrichment, visits, the queue), with
// a cookieless visitor id, since none of these trackers sends one. A
// request is answered as the peer answers it; an event we would refuse
// (invalid, an unknown site, a site over its rate limit, a bot) is dropped
// and counted (rejected, forbidden, rate_limited, bots in /metrics), never
// failing the others, and the answer says so in X-Analytics-Dropped.

// droppedHeader names why an event of a peer's request was not counted.
const droppedHeader = "X-Analytics-Dropped"

// siteFor is the site a domain (Plausible's domain, Umami's website id,
// GoatCounter's host) names: by Config.SiteForDomain in registered mode,
// the domain itself (lower case) in open mode. ok is false for a domain
// no site claims.
func (c *Collector) siteFor(domain string) (string, bool) {
	domain = strings.ToLower(domain)
	if c.cfg.SiteForDomain == nil {
		return domain, true
	}
	return c.cfg.SiteForDomain(domain)
}

// deliver queues the events of one request of a peer's tracker, one run
// of a site at a time, so that a site refused (access, rate limit) drops
// its own events and not the others'. It returns how many were queued,
// why the last event not queued was dropped ("" for none), and an error
// only when the queue failed: then nothing more is tried (answered 503).
func (c *Collector) deliver(r *http.Request, events []analytics.Event) (queued int, dropped string, err error) {
	key := writeKey(r)
	for i := 0; i < len(events); {
		j := i + 1
		for j < len(events) && events[j].SiteID == events[i].SiteID {
			j++
		}
		n, err := c.queueCookieless(r, events[i:j], key, true)
		var rf *refusal
		switch {
		case errors.As(err, &rf):
			c.countRefusal(rf)
			dropped = rf.msg
		case err != nil:
			return queued, dropped, err
		case n < j-i:
			dropped = "bot: the User-Agent is a crawler's or a headless browser's"
		}
		queued += n
		i = j
	}
	return queued, dropped, nil
}

// countRefusal counts a refusal the way refuse does, for an event dropped
// without failing its request.
func (c *Collector) countRefusal(rf *refusal) {
	if rf.status == http.StatusTooManyRequests {
		c.Counters.RateLimited.Add(1)
		return
	}
	c.Counters.Forbidden.Add(1)
}

// drop counts an event refused by the rules and notes why on the answer.
func (c *Collector) drop(w http.ResponseWriter, r *http.Request, site string, err error) {
	c.Counters.Rejected.Add(1)
	msg := analytics.Message(err)
	c.log.Warn().Str("site_id", site).Str("endpoint", r.URL.Path).Str("reason", msg).Msg("invalid event dropped")
	w.Header().Set(droppedHeader, headerText(msg))
}

// headerText is s fit for a header value: one line of printable ASCII.
func headerText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// plausibleError is Plausible's answer to a request it cannot take.
type plausibleError struct {
	Errors map[string][]string `json:"errors"`
}

// handlePlausible serves Plausible's Events API, POST /api/event: one event
// per domain of the body's comma list, answered 202 "ok" as Plausible
// answers, with X-Plausible-Dropped: 1 (Plausible's header) when an event
// was not counted. A body that is not an event at all is answered 400 with
// Plausible's {"errors": {...}}.
func (c *Collector) handlePlausible() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, eventBody)
		if err != nil {
			c.fail(w, err, 1)
			return
		}
		req, err := ingest.ParsePlausible(body)
		if err != nil {
			c.Counters.Rejected.Add(1)
			msg := analytics.Message(err)
			field, _, _ := strings.Cut(msg, ":")
			httpx.WriteJSON(w, http.StatusBadRequest, plausibleError{Errors: map[string][]string{field: {msg}}})
			return
		}
		dropped := ""
		var events []analytics.Event
		now := c.cfg.Now()
		if req.Engagement() {
			dropped = "engagement: Plausible's time-on-page event is not counted"
			req.Domains = nil
		}
		for _, d := range req.Domains {
			site, ok := c.siteFor(d)
			if !ok {
				c.Counters.Forbidden.Add(1)
				dropped = "domain " + d + " is not a registered site's: add it with `analytics-cli sites update --domain " + d + " SITE`"
				continue
			}
			ev, err := req.Event(site, now, c.cfg.NewID)
			if err != nil {
				c.drop(w, r, site, err)
				dropped = analytics.Message(err)
				continue
			}
			events = append(events, ev)
		}
		if len(events) > 0 {
			_, d, err := c.deliver(r, events)
			if err != nil {
				c.fail(w, err, len(events))
				return
			}
			if d != "" {
				dropped = d
			}
		}
		if dropped != "" {
			w.Header().Set("X-Plausible-Dropped", "1")
			w.Header().Set(droppedHeader, headerText(dropped))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("ok"))
	})
}

// umamiBot is Umami's answer to a bot's request.
var umamiBot = map[string]string{"beep": "boop"}

// umamiOK answers a request Umami's tracker sent. Umami answers a cache
// token, which its tracker then sends in an x-umami-cache header; we keep
// no session cache, and a header the collector's CORS does not allow would
// fail the tracker's next request, so none is given.
var umamiOK = struct{}{}

// handleUmami serves Umami's POST /api/send: an "event" is recorded,
// "identify" and the other collection types are answered and not counted.
// The website id names the site (siteFor). Answered 200 with a JSON
// object, as Umami answers, {"beep":"boop"} for a bot as Umami does.
func (c *Collector) handleUmami() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, eventBody)
		if err != nil {
			c.fail(w, err, 1)
			return
		}
		req, err := ingest.ParseUmami(body)
		if err != nil {
			c.fail(w, err, 1)
			return
		}
		if req.Type != ingest.UmamiEvent {
			w.Header().Set(droppedHeader, headerText("type "+req.Type+" is not an event: answered, not counted"))
			httpx.WriteJSON(w, http.StatusOK, umamiOK)
			return
		}
		site, ok := c.siteFor(req.Website)
		if !ok {
			c.Counters.Forbidden.Add(1)
			w.Header().Set(droppedHeader, headerText("website "+req.Website+" is not a registered site: register the site under this id, or add the id to its domains"))
			httpx.WriteJSON(w, http.StatusOK, umamiOK)
			return
		}
		ev, err := req.Event(site, c.cfg.Now(), c.cfg.NewID)
		if err != nil {
			c.drop(w, r, site, err)
			httpx.WriteJSON(w, http.StatusOK, umamiOK)
			return
		}
		queued, dropped, err := c.deliver(r, []analytics.Event{ev})
		if err != nil {
			c.fail(w, err, 1)
			return
		}
		if dropped != "" {
			w.Header().Set(droppedHeader, headerText(dropped))
		}
		if queued == 0 && strings.HasPrefix(dropped, "bot") {
			httpx.WriteJSON(w, http.StatusOK, umamiBot)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, umamiOK)
	})
}

// gif is a transparent 1x1 GIF, GoatCounter's answer to /count.
var gif = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// handleGoatCounter serves GoatCounter's /count (its count.js, by
// sendBeacon or an image, and the tracking pixel): the site is the request's
// host without the port (siteFor). Answered 200 with a 1x1 GIF, as
// GoatCounter answers; 400 (still the GIF, with the reason in
// X-Analytics-Dropped) for a request without p. The origin and per-address
// limits that guard applies to POSTs apply to GETs here too.
func (c *Collector) handleGoatCounter() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rf := c.screen(r); rf != nil {
			c.refuse(w, rf)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		reply := func(status int) {
			h.Set("Content-Type", "image/gif")
			w.WriteHeader(status)
			w.Write(gif)
		}
		hit, err := ingest.ParseGoatCounter(r.URL.RawQuery, r.Header.Get("Referer"))
		if err != nil {
			c.Counters.Rejected.Add(1)
			h.Set(droppedHeader, headerText(analytics.Message(err)))
			reply(http.StatusBadRequest)
			return
		}
		host := r.Host
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
			host = host[:i]
		}
		site, ok := c.siteFor(host)
		if !ok {
			c.Counters.Forbidden.Add(1)
			h.Set(droppedHeader, headerText("host "+host+" is not a registered site's domain: add it with `analytics-cli sites update --domain "+host+" SITE`"))
			reply(http.StatusOK)
			return
		}
		ev, err := hit.Event(site, c.cfg.Now(), c.cfg.NewID)
		if err != nil {
			c.drop(w, r, site, err)
			reply(http.StatusOK)
			return
		}
		_, dropped, err := c.deliver(r, []analytics.Event{ev})
		if err != nil {
			c.fail(w, err, 1)
			return
		}
		if dropped != "" {
			h.Set(droppedHeader, headerText(dropped))
		}
		reply(http.StatusOK)
	})
}

// plausibleScript serves the Plausible-compatible script at /js/script.js
// and at the names of Plausible's script extensions
// (/js/script.outbound-links.js, ...): the script reads its extensions from
// its own name. Revalidated hourly, as /t.js.
func plausibleScript() http.Handler {
	st := httpx.NewStatic(js.PlausibleScript, "application/javascript; charset=utf-8")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/js/")
		if !validScriptName(name) {
			httpx.WriteJSON(w, http.StatusNotFound, failure("no such script: "+r.URL.Path+" (the Plausible-compatible script is /js/script.js, with Plausible's extensions in its name: /js/script.outbound-links.js, ...)"))
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		st.ServeHTTP(w, r)
	})
}

// validScriptName: script.js, or script.EXT.EXT....js with extensions of
// lower-case letters and dashes.
func validScriptName(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) < 2 || parts[0] != "script" || parts[len(parts)-1] != "js" {
		return false
	}
	for _, ext := range parts[1 : len(parts)-1] {
		if ext == "" || strings.Trim(ext, "abcdefghijklmnopqrstuvwxyz-") != "" {
			return false
		}
	}
	return true
}
