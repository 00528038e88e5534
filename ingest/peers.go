package ingest

import (
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/sdk/rules"
)

// The trackers of the self-hosted peers, read as their own servers read
// them: leniently (unknown fields are ignored, as Plausible, Umami and
// GoatCounter ignore them), then held to the event rules like any event
// (analytics.Input.Normalize). Props that break the props rules are left
// out, as Segment's are (see readProperties); a referrer that is not an
// absolute URL is left out; anything else that breaks a rule refuses the
// event, with a message naming the tracker's own field.

// PlausibleEngagement is the event name Plausible's tracker (0.4 and its
// script) sends when a page is left or hidden, carrying scroll depth and
// time on page. Plausible does not count it as an event; neither do we.
const PlausibleEngagement = "engagement"

// PlausibleRequest is one body of Plausible's Events API (POST /api/event),
// read as far as the sites it names. It may name several sites (a comma
// list in domain): Events makes one event for each.
type PlausibleRequest struct {
	// Domains are the domains of domain, trimmed, in the order sent.
	Domains []string
	// Name is the event's name ("pageview" for a page view).
	Name string
	in   analytics.Input
}

// ParsePlausible reads a body of Plausible's Events API: a JSON object with
// the long field names of its documentation (name, url, domain, referrer,
// props, revenue, interactive) or the short ones its trackers send (n, u,
// d, r, p or m, $, i). props may be an object or, as plausible-tracker 0.3
// sends them, a string holding one. The error, of kind Invalid, is for the
// request as a whole: not a JSON object, or no name, url or domain.
func ParsePlausible(body []byte) (*PlausibleRequest, error) {
	r := reader{data: body}
	r.skipWS()
	if r.peek() != '{' {
		return nil, analytics.Errorf(analytics.Invalid, `body must be a JSON object like {"name":"pageview","url":"https://example.com/","domain":"example.com"}`)
	}
	p := &PlausibleRequest{}
	var domain string
	var propsErr error
	err := r.members(func(name, v []byte) error {
		var err error
		switch string(name) {
		case "n", "name":
			p.Name, err = segString(v, string(name), false)
		case "u", "url":
			p.in.URL, err = segString(v, string(name), false)
		case "d", "domain":
			domain, err = segString(v, string(name), false)
		case "r", "referrer":
			var ref string
			ref, err = segString(v, string(name), false)
			p.in.Referrer = looseURL(ref)
		case "p", "props", "m", "meta":
			if p.in.Props == nil {
				p.in.Props, propsErr = looseProps(v, string(name))
			}
		case "$", "revenue":
			err = p.revenue(v, string(name))
		}
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	if propsErr != nil {
		return nil, propsErr
	}
	for d := range strings.SplitSeq(domain, ",") {
		if d = strings.TrimSpace(d); d != "" {
			p.Domains = append(p.Domains, d)
		}
	}
	switch {
	case p.Name == "":
		return nil, analytics.Errorf(analytics.Invalid, `name: required ("pageview", or a custom event's name)`)
	case p.in.URL == "":
		return nil, analytics.Errorf(analytics.Invalid, "url: required (the page's URL, such as https://example.com/pricing)")
	case len(p.Domains) == 0:
		return nil, analytics.Errorf(analytics.Invalid, "domain: required (the site's domain as registered, such as example.com; several separated by commas)")
	}
	p.in.EventType = p.Name
	if p.Name == "pageview" {
		p.in.EventType = analytics.PageView
	}
	return p, nil
}

// revenue reads {"currency": "EUR", "amount": 12.5} (amount a number or a
// string) into the props revenue_amount and revenue_currency.
func (p *PlausibleRequest) revenue(v []byte, field string) error {
	if isNull(v) {
		return nil
	}
	if v[0] != '{' {
		return analytics.Errorf(analytics.Invalid, `%s: must be an object like {"currency":"EUR","amount":12.5}, got %s`, field, kindOf(v[0]))
	}
	var out [2]string
	r := reader{data: v, checked: true}
	err := r.members(func(name, v []byte) error {
		var err error
		switch string(name) {
		case "currency":
			out[0], err = segMember(v, field, name)
		case "amount":
			out[1], err = segString(v, field+".amount", true)
		}
		return err
	})
	if err != nil || out[1] == "" {
		return err
	}
	if p.in.Props == nil {
		p.in.Props = map[string]any{}
	}
	if _, err := strconv.ParseFloat(out[1], 64); err != nil {
		return analytics.Errorf(analytics.Invalid, "%s.amount: %s is not a number", field, quote(out[1], 40))
	}
	p.in.Props["revenue_amount"] = out[1]
	if out[0] != "" {
		p.in.Props["revenue_currency"] = strings.ToUpper(out[0])
	}
	return nil
}

// Engagement reports the engagement event of Plausible's tracker, which is
// not counted.
func (p *PlausibleRequest) Engagement() bool { return p.Name == PlausibleEngagement }

// Event returns the request's event for site (one of the sites its
// Domains name), under the event rules. now is the receive time; newID
// names the event.
func (p *PlausibleRequest) Event(site string, now time.Time, newID func() string) (analytics.Event, error) {
	in := p.in
	in.SiteID = site
	if len(p.Domains) > 1 && in.Props != nil {
		in.Props = maps.Clone(in.Props) // each site's event owns its props
	}
	ev, err := in.Normalize(now, newID)
	return ev, renameFields(err, plausibleFields[:])
}

// plausibleFields name, for each event field, Plausible's.
var plausibleFields = [...][2]string{
	{"event_type: ", "name: "}, {"url: ", "url: "}, {"path: ", "url: "}, {"site_id: ", "domain: "},
}

// renameFields renames the event field an error of the rules names to the
// format's own.
func renameFields(err error, fields [][2]string) error {
	if err == nil {
		return nil
	}
	msg := analytics.Message(err)
	for _, f := range fields {
		if strings.HasPrefix(msg, f[0]) {
			return analytics.Errorf(analytics.Invalid, "%s%s", f[1], msg[len(f[0]):])
		}
	}
	return err
}

// looseURL is u when it is an absolute URL with a host the rules take as a
// referrer, else "": a referrer is a hint, not worth an event.
func looseURL(u string) string {
	n := rules.SchemeLen(u)
	if u == "" || len(u) > rules.MaxURLBytes || n == 0 || len(u) == n+len("://") ||
		strings.IndexByte("/?#", u[n+len("://")]) >= 0 || rules.HasControl(u) {
		return ""
	}
	return u
}

// looseProps reads a props object (or a JSON string holding one, as
// plausible-tracker 0.3 sends) keeping what the props rules take (see
// readProperties). A string that is not JSON refuses the event.
func looseProps(v []byte, field string) (map[string]any, error) {
	switch {
	case isNull(v):
		return nil, nil
	case v[0] == '"':
		s := unquote(v)
		r := reader{data: s}
		r.skipWS()
		if r.eof() {
			return nil, nil
		}
		if r.peek() != '{' {
			return nil, analytics.Errorf(analytics.Invalid, "%s: must be an object (or a string of JSON holding one)", field)
		}
		start := r.pos
		if err := r.skipValue(); err != nil {
			return nil, analytics.Errorf(analytics.Invalid, "%s: %s", field, analytics.Message(err))
		}
		if err := r.end(); err != nil {
			return nil, analytics.Errorf(analytics.Invalid, "%s: %s", field, analytics.Message(err))
		}
		props, _, _, _ := readProperties(&reader{data: s[start:r.pos], checked: true}, SegmentTrack)
		return props, nil
	case v[0] == '{':
		props, _, _, _ := readProperties(&reader{data: v, checked: true}, SegmentTrack)
		return props, nil
	}
	return nil, analytics.Errorf(analytics.Invalid, `%s: must be an object like {"plan":"pro"}, got %s`, field, kindOf(v[0]))
}

// Umami's collection types (its tracker's "type").
const (
	UmamiEvent       = "event"
	UmamiIdentify    = "identify"
	UmamiPerformance = "performance"
)

// UmamiRequest is one body of Umami's POST /api/send.
type UmamiRequest struct {
	// Type is the collection type: only UmamiEvent is recorded (identify
	// and performance are answered and not counted).
	Type string
	// Website is payload.website, the Umami website id that names the site.
	Website string
	in      analytics.Input
}

// ParseUmami reads {"type": "event", "payload": {website, hostname, url,
// referrer, title, screen, language, name, data, id, timestamp}} as Umami's
// tracker and its node client send it. url may be a path (Umami's node
// client sends one) and is then on hostname; name makes a custom event,
// its absence a page view; data are its props; id (Umami's distinct id)
// is the visitor's user id; timestamp is in Unix seconds. The error, of
// kind Invalid, is for the request as a whole.
func ParseUmami(body []byte) (*UmamiRequest, error) {
	r := reader{data: body}
	r.skipWS()
	if r.peek() != '{' {
		return nil, analytics.Errorf(analytics.Invalid, `body must be a JSON object like {"type":"event","payload":{"website":"...","url":"/"}}`)
	}
	u := &UmamiRequest{}
	var payload []byte
	err := r.members(func(name, v []byte) error {
		var err error
		switch string(name) {
		case "type":
			u.Type, err = segString(v, "type", false)
		case "payload":
			payload = v
		}
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	if u.Type == "" {
		return nil, analytics.Errorf(analytics.Invalid, `type: required ("event" or "identify")`)
	}
	if isNull(payload) || payload[0] != '{' {
		return nil, analytics.Errorf(analytics.Invalid, "payload: required, an object")
	}
	var host, page, ref, name string
	var propsErr error
	pr := reader{data: payload, checked: true}
	err = pr.members(func(key, v []byte) error {
		var err error
		switch string(key) {
		case "website":
			u.Website, err = segMember(v, "payload", key)
		case "hostname":
			host, err = segMember(v, "payload", key)
		case "url":
			page, err = segMember(v, "payload", key)
		case "referrer":
			ref, err = segMember(v, "payload", key)
		case "name":
			name, err = segMember(v, "payload", key)
		case "id":
			u.in.UserID, err = segString(v, "payload.id", true)
		case "data":
			u.in.Props, propsErr = looseProps(v, "payload.data")
		case "timestamp":
			var s string
			if s, err = segString(v, "payload.timestamp", true); err == nil && s != "" {
				sec, perr := strconv.ParseFloat(s, 64)
				if perr != nil || sec < 0 || sec > 1<<40 {
					return analytics.Errorf(analytics.Invalid, "payload.timestamp: %s is not a time in Unix seconds", quote(s, 40))
				}
				u.in.When = time.UnixMilli(int64(sec * 1000)).UTC()
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if propsErr != nil {
		return nil, propsErr
	}
	if u.Website == "" {
		return nil, analytics.Errorf(analytics.Invalid, "payload.website: required (the website id of Umami's tracker, data-website-id)")
	}
	host = strings.TrimSpace(host)
	switch {
	case page == "":
		if host != "" {
			u.in.URL = "https://" + host + "/"
		}
	case rules.SchemeLen(page) > 0:
		u.in.URL = page
	case host != "":
		if !strings.HasPrefix(page, "/") {
			page = "/" + page
		}
		u.in.URL = "https://" + host + page
	default:
		u.in.Path = page
	}
	if strings.HasPrefix(ref, "/") && host != "" && !strings.HasPrefix(ref, "//") {
		ref = "https://" + host + ref // a path-only referrer is on the page's own host
	}
	u.in.Referrer = looseURL(ref)
	u.in.EventType = analytics.PageView
	if name != "" {
		u.in.EventType = name
	}
	return u, nil
}

// Event returns the request's event for site, under the event rules.
func (u *UmamiRequest) Event(site string, now time.Time, newID func() string) (analytics.Event, error) {
	in := u.in
	in.SiteID = site
	ev, err := in.Normalize(now, newID)
	return ev, renameFields(err, umamiFields[:])
}

var umamiFields = [...][2]string{
	{"event_type: ", "payload.name: "}, {"url: ", "payload.url: "}, {"path: ", "payload.url: "},
	{"site_id: ", "payload.website: "}, {"user_id: ", "payload.id: "}, {"timestamp: ", "payload.timestamp: "},
}

// GoatCounterHit is one request of GoatCounter's /count (its count.js, or
// the tracking pixel).
type GoatCounterHit struct {
	in analytics.Input
}

// ParseGoatCounter reads the query of /count: p (the page's path, or an
// event's name when e is true), r (the referrer), q (the page's query,
// read for campaign parameters) and e; t, s, rnd and b are ignored (b is
// count.js's guess that the browser is automated: bots are told by their
// User-Agent here, as for every event, so that a headless browser testing
// a page on localhost counts). page is
// the page that sent it (the request's Referer), the path of an event.
// The error, of kind Invalid, says what is wrong.
func ParseGoatCounter(rawQuery, page string) (*GoatCounterHit, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, analytics.Errorf(analytics.Invalid, "query: %v", err)
	}
	h := &GoatCounterHit{}
	p := q.Get("p")
	if p == "" {
		return nil, analytics.Errorf(analytics.Invalid, "p: required (the page's path, such as /pricing, or an event's name with e=true)")
	}
	switch strings.ToLower(q.Get("e")) {
	case "true", "1", "on", "t", "yes":
		h.in.EventType = strings.TrimPrefix(p, "/")
		h.in.URL = looseURL(page)
	default:
		h.in.EventType = analytics.PageView
		if rules.SchemeLen(p) == 0 && !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		if qs := strings.TrimPrefix(q.Get("q"), "?"); qs != "" && !strings.Contains(p, "?") {
			p += "?" + qs
		}
		h.in.Path = p
	}
	h.in.Referrer = looseURL(q.Get("r"))
	return h, nil
}

// Event returns the hit's event for site, under the event rules.
func (h *GoatCounterHit) Event(site string, now time.Time, newID func() string) (analytics.Event, error) {
	in := h.in
	in.SiteID = site
	ev, err := in.Normalize(now, newID)
	return ev, renameFields(err, goatFields[:])
}

var goatFields = [...][2]string{{"event_type: ", "p: "}, {"path: ", "p: "}, {"site_id: ", "host: "}}
