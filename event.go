package analytics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of an event, as the SPEC states them. The SDK and the JS snippet
// check the same numbers so a bad event is refused where it is made.
const (
	MaxSiteIDLen    = 128
	MaxEventTypeLen = 64
	MaxPathBytes    = 2048
	MaxUserIDBytes  = 256
	MaxURLBytes     = 2048 // referrer and url
	MaxUABytes      = 1024
	MaxUTMBytes     = 128 // longer campaign values are cut, not refused
	MaxIDLen        = 128
	MaxProps        = 32
	MaxPropKeyBytes = 128
	MaxPropsBytes   = 4096
	MaxFuture       = time.Hour
	MaxBatch        = 1000
	MaxBodyBytes    = 1 << 20
)

// PageView is the event type that total_views and top_paths count.
const PageView = "page_view"

// Event is one analytics event after validation: every field is normalized
// (timestamp in UTC, path in its canonical form, id assigned).
type Event struct {
	ID        string         `json:"id"`
	SiteID    string         `json:"site_id"`
	EventType string         `json:"event_type"`
	Path      string         `json:"path,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	Timestamp time.Time      `json:"timestamp"`
	Props     map[string]any `json:"props,omitempty"`

	// Campaign parameters read from the query of the event's path or url
	// before the query is dropped.
	UTMSource   string `json:"utm_source,omitempty"`
	UTMMedium   string `json:"utm_medium,omitempty"`
	UTMCampaign string `json:"utm_campaign,omitempty"`
	UTMContent  string `json:"utm_content,omitempty"`
	UTMTerm     string `json:"utm_term,omitempty"`

	// Derived by the collector from the request (see package enrich);
	// clients cannot set them.
	Source       string `json:"source,omitempty"`        // "Google", "news.example.com"; "" is direct
	ReferrerHost string `json:"referrer_host,omitempty"` // host of an outside referrer, without www.
	Browser      string `json:"browser,omitempty"`
	OS           string `json:"os,omitempty"`
	Device       string `json:"device,omitempty"`  // desktop, mobile or tablet
	Country      string `json:"country,omitempty"` // ISO 3166-1 alpha-2

	// Visit is the collector's note of the event's place in its visitor's
	// visit (see package visits); nil when visits are not annotated (no
	// visitor key, or annotation turned off). It travels with the event
	// through the queue and is stored with it, so a redelivery, a replay or
	// a rebuild counts the visit exactly as the first delivery did.
	Visit *Visit `json:"visit,omitempty"`

	// Client is what the sender said about the browser behind the event.
	// The collector derives the fields above from it and the request; it is
	// never queued, stored or logged.
	Client ClientHints `json:"-"`
}

// Visit says where an event stands in its visit, as the collector saw it
// when it queued the event. A visit is a run of one visitor's events on one
// site with no gap longer than the visit timeout, cut at UTC midnight: the
// part of a visit after midnight is a visit of the next day (Start again,
// with the same Attrs). The fields before this event (Views, Duration,
// Entry, Exit) are what the visit had counted so far, so the processor can
// move the visit's counters from what it was to what it is with increments
// alone (package rollup).
type Visit struct {
	// Start: the event begins a visit (or a visit's part on a new UTC day).
	Start bool `json:"start,omitempty" bson:"start,omitempty"`
	// Late: the event is older than the visitor's previous event (a wrong
	// clock, a beacon sent late); it changes no visit counter.
	Late bool `json:"late,omitempty" bson:"late,omitempty"`
	// Began is when the visit (its part of the day) began; visits count in
	// the hour they began.
	Began time.Time `json:"began" bson:"began"`
	// Gap is the whole seconds (rounded) since the visit's previous event;
	// 0 at a start.
	Gap int64 `json:"gap,omitempty" bson:"gap,omitempty"`
	// Views and Duration are the visit's page views and seconds before this
	// event; Entry and Exit its first and last page before this event (""
	// while it has had no page view).
	Views    int64  `json:"views,omitempty" bson:"views,omitempty"`
	Duration int64  `json:"duration,omitempty" bson:"duration,omitempty"`
	Entry    string `json:"entry,omitempty" bson:"entry,omitempty"`
	Exit     string `json:"exit,omitempty" bson:"exit,omitempty"`
	// Attrs are the visit's source, campaign, browser and country: those
	// of its first event.
	Attrs VisitAttrs `json:"attrs" bson:"attrs"`
}

// VisitAttrs are the attributes a visit keeps from its first event; visit
// counters per source, country, ... are counted under them.
type VisitAttrs struct {
	Source       string `json:"source,omitempty" bson:"source,omitempty"`
	ReferrerHost string `json:"referrer_host,omitempty" bson:"referrer_host,omitempty"`
	UTMSource    string `json:"utm_source,omitempty" bson:"utm_source,omitempty"`
	UTMMedium    string `json:"utm_medium,omitempty" bson:"utm_medium,omitempty"`
	UTMCampaign  string `json:"utm_campaign,omitempty" bson:"utm_campaign,omitempty"`
	Browser      string `json:"browser,omitempty" bson:"browser,omitempty"`
	OS           string `json:"os,omitempty" bson:"os,omitempty"`
	Device       string `json:"device,omitempty" bson:"device,omitempty"`
	Country      string `json:"country,omitempty" bson:"country,omitempty"`
}

// VisitAttrs returns the event's own visit attributes.
func (e *Event) VisitAttrs() VisitAttrs {
	return VisitAttrs{Source: e.Source, ReferrerHost: e.ReferrerHost, UTMSource: e.UTMSource, UTMMedium: e.UTMMedium,
		UTMCampaign: e.UTMCampaign, Browser: e.Browser, OS: e.OS, Device: e.Device, Country: e.Country}
}

// ClientHints are the optional event fields a server-side sender fills on a
// browser's behalf, and the page's referrer. They only feed enrichment.
type ClientHints struct {
	Referrer  string // the page's referrer URL (document.referrer)
	URL       string // the page URL, when sent; its host is the site's own
	UserAgent string // the browser's User-Agent, instead of the request's
	IP        string // the browser's address, instead of the request's
}

// Visitor is the key unique visitors are counted by: the user id (sent by
// the client, or derived by the collector in cookieless mode); "" when the
// event has none and counts in no visitor total.
func (e *Event) Visitor() string { return e.UserID }

// Day returns the UTC day the event belongs to, as YYYY-MM-DD.
func (e *Event) Day() string { return e.Timestamp.UTC().Format(DateLayout) }

// DateLayout is the layout of the `date` query parameter and of stored days.
const DateLayout = "2006-01-02"

// The fields of an event on the wire, in the order of the bits of
// wireEvent.has.
const (
	fID = iota
	fSiteID
	fEventType
	fPath
	fUserID
	fTimestamp
	fReferrer
	fURL
	fUserAgent
	fIP
	fProps
)

var fieldNames = [...]string{"id", "site_id", "event_type", "path", "user_id", "timestamp", "referrer", "url", "user_agent", "ip", "props"}

const fieldList = "id, site_id, event_type, path, user_id, timestamp, referrer, url, user_agent, ip and props"

func fieldIndex(name []byte) int {
	switch string(name) { // compiled without allocating
	case "id":
		return fID
	case "site_id":
		return fSiteID
	case "event_type":
		return fEventType
	case "path":
		return fPath
	case "user_id":
		return fUserID
	case "timestamp":
		return fTimestamp
	case "referrer":
		return fReferrer
	case "url":
		return fURL
	case "user_agent":
		return fUserAgent
	case "ip":
		return fIP
	case "props":
		return fProps
	}
	return -1
}

// wireEvent is what a client sent, before the rules are applied. A field
// that is absent or null is not in has.
type wireEvent struct {
	str   [fProps]string // the string fields, by field index
	has   uint16
	props map[string]any
	when  time.Time // the timestamp, when the sender's format was read already (Segment's)
}

func (w *wireEvent) get(f int) (string, bool) { return w.str[f], w.has&(1<<f) != 0 }

// DecodeEvent parses one JSON event, validates it against the SPEC's rules and
// returns it normalized. now is the receive time: the default timestamp and
// the reference for "not in the future". An event without an id gets one from
// newID. Errors are *Error of kind Invalid whose message names the field.
//
// The JSON is read strictly: a field that is unknown or appears twice (at the
// top level or in props), a string that is not valid UTF-8 and data after
// the object are refused, where encoding/json would silently take the last
// value, replace bad bytes or match field names case-insensitively.
func DecodeEvent(data []byte, now time.Time, newID func() string) (Event, error) {
	return decodeEvent(data, now, newID, false)
}

func decodeEvent(data []byte, now time.Time, newID func() string, inBatch bool) (Event, error) {
	var w wireEvent
	if err := w.decode(data, inBatch); err != nil {
		return Event{}, err
	}
	return w.normalize(now, newID)
}

// DecodeBatch parses the body of POST /events: a JSON array of events or an
// object {"events": [...]}. It returns the valid events and, for each invalid
// one, a Rejection with its index. The error is non-nil only when the body as
// a whole is unusable (not JSON, not an array, too many events, empty).
func DecodeBatch(data []byte, now time.Time, newID func() string) ([]Event, []Rejection, error) {
	r := reader{data: data}
	r.skipWS()
	var raws [][]byte
	var n int
	var err error
	switch c := r.peek(); {
	case r.eof():
		return nil, nil, Errorf(Invalid, "body is empty: send a JSON array of events")
	case c == '[':
		raws, n, err = r.readArray(MaxBatch)
	case c == '{':
		raws, n, err = r.readEnvelope()
	case r.kind() != "":
		return nil, nil, Errorf(Invalid, `body is not JSON of events but %s: send a JSON array of events or {"events": [...]}`, r.kind())
	default:
		return nil, nil, Errorf(Invalid, "body is not JSON: send a JSON array of events")
	}
	if err != nil {
		return nil, nil, err
	}
	if err := r.end(); err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, Errorf(Invalid, "no events in the batch: send at least one")
	}
	if n > MaxBatch {
		return nil, nil, Errorf(Invalid, "too many events: %d (at most %d per batch); split them into several requests", n, MaxBatch)
	}
	events := make([]Event, 0, len(raws))
	var rejected []Rejection
	for i, raw := range raws {
		ev, err := decodeEvent(raw, now, newID, true)
		if err != nil {
			rejected = append(rejected, Rejection{Index: i, Error: Message(err)})
			continue
		}
		events = append(events, ev)
	}
	return events, rejected, nil
}

// Rejection says why the event at Index of a batch was refused.
type Rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// decode reads one event object into w. It checks the JSON syntax and the
// types of the fields; normalize applies the rules.
func (w *wireEvent) decode(data []byte, inBatch bool) error {
	r := reader{data: data}
	r.skipWS()
	if r.eof() {
		return Errorf(Invalid, "body is not valid JSON: it is empty; send one event as a JSON object")
	}
	if c := r.peek(); c != '{' {
		switch kind := r.kind(); kind {
		case "":
			return r.syntaxError("a JSON object")
		case "an array":
			if !inBatch {
				return Errorf(Invalid, "an event must be a JSON object, got an array (several events go to POST /events)")
			}
			return Errorf(Invalid, "an event must be a JSON object, got an array")
		default:
			return Errorf(Invalid, "an event must be a JSON object, got %s", kind)
		}
	}
	r.pos++
	var seen uint16
	if r.skipWS(); r.peek() == '}' {
		r.pos++
		return r.end()
	}
	for {
		r.skipWS()
		name, err := r.readKey()
		if err != nil {
			return err
		}
		f := fieldIndex(name)
		if f < 0 {
			return Errorf(Invalid, "unknown field %s: an event has only the fields %s", quote(string(name), 64), fieldList)
		}
		if seen&(1<<f) != 0 {
			return Errorf(Invalid, "duplicate field %q: send each field once", fieldNames[f])
		}
		seen |= 1 << f
		if err := r.colon(); err != nil {
			return err
		}
		if f == fProps {
			err = w.decodeProps(&r)
		} else {
			err = w.decodeString(&r, f)
		}
		if err != nil {
			return err
		}
		more, err := r.next('}')
		if err != nil {
			return err
		}
		if !more {
			return r.end()
		}
	}
}

func (w *wireEvent) decodeString(r *reader, f int) error {
	switch c := r.peek(); {
	case c == '"':
		b, err := r.readString()
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return Errorf(Invalid, "%s: must be valid UTF-8 text", fieldNames[f])
		}
		w.str[f] = string(b)
		w.has |= 1 << f
		return nil
	case c == 'n':
		return r.literal("null")
	case r.kind() != "":
		return Errorf(Invalid, "%s: must be a string, got %s", fieldNames[f], r.kind())
	default:
		return r.syntaxError("a JSON value")
	}
}

// decodeProps reads the props object. Its size is measured on the bytes the
// client sent (not counting whitespace between tokens), so the limit does not
// depend on how Go would encode it again.
func (w *wireEvent) decodeProps(r *reader) error {
	switch c := r.peek(); {
	case c == 'n':
		return r.literal("null")
	case c != '{' && r.kind() != "":
		return Errorf(Invalid, `props: must be an object like {"plan": "pro"}, got %s`, r.kind())
	case c != '{':
		return r.syntaxError("a JSON value")
	}
	start, spaces := r.pos, r.spaces
	r.pos++
	r.skipWS()
	var props map[string]any
	if r.peek() == '}' {
		r.pos++
	} else {
		for {
			r.skipWS()
			kb, err := r.readKey()
			if err != nil {
				return err
			}
			key := string(kb)
			if err := ValidatePropKey(key); err != nil {
				return err
			}
			if props == nil {
				props = make(map[string]any, 8)
			}
			if _, dup := props[key]; dup {
				return Errorf(Invalid, "props: duplicate key %q: send each key once", key)
			}
			if len(props) == MaxProps {
				return Errorf(Invalid, "props: more than %d keys; at most %d are allowed", MaxProps, MaxProps)
			}
			if err := r.colon(); err != nil {
				return err
			}
			v, err := r.readPropValue(key)
			if err != nil {
				return err
			}
			props[key] = v
			more, err := r.next('}')
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	if size := r.pos - start - (r.spaces - spaces); size > MaxPropsBytes {
		return Errorf(Invalid, "props: %d bytes of JSON, at most %d allowed", size, MaxPropsBytes)
	}
	w.props = props
	return nil
}

func (r *reader) readPropValue(key string) (any, error) {
	switch c := r.peek(); {
	case c == '"':
		b, err := r.readString()
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(b) {
			return nil, Errorf(Invalid, "props.%s: must be valid UTF-8 text", key)
		}
		return string(b), nil
	case c == '-' || c >= '0' && c <= '9':
		num, err := r.readNumber()
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return nil, Errorf(Invalid, "props.%s: number %s is out of range; numbers must fit in a 64-bit float (send larger ones as strings)",
				key, truncate(string(num), 40))
		}
		return f, nil
	case c == 't':
		return true, r.literal("true")
	case c == 'f':
		return false, r.literal("false")
	case c == 'n' && r.kind() != "", c == '{', c == '[':
		return nil, Errorf(Invalid, "props.%s: must be a string, number or boolean, got %s", key, kindOf(c))
	default:
		return nil, r.syntaxError("a JSON value")
	}
}

func (w *wireEvent) normalize(now time.Time, newID func() string) (Event, error) {
	ev := Event{}
	site, _ := w.get(fSiteID)
	if site == "" {
		return ev, Errorf(Invalid, "site_id: required")
	}
	if err := ValidateSiteID(site); err != nil {
		return ev, err
	}
	ev.SiteID = site

	typ, _ := w.get(fEventType)
	if typ == "" {
		return ev, Errorf(Invalid, "event_type: required")
	}
	if n := utf8.RuneCountInString(typ); n > MaxEventTypeLen {
		return ev, Errorf(Invalid, "event_type: %d characters, at most %d allowed", n, MaxEventTypeLen)
	}
	if hasControl(typ) {
		return ev, Errorf(Invalid, "event_type: must not contain control characters")
	}
	ev.EventType = typ

	if err := w.normalizeClient(&ev); err != nil {
		return ev, err
	}
	p, _ := w.get(fPath)
	if p != "" {
		n, err := NormalizePath(p)
		if err != nil {
			return ev, err
		}
		ev.Path = n
	} else if u := ev.Client.URL; u != "" {
		n, err := NormalizePath(u)
		if err != nil {
			return ev, Errorf(Invalid, "url: %s is not a page URL: %s", quote(u, 80), Message(err))
		}
		ev.Path = n
	}
	// The campaign parameters are read before the query is dropped; path's
	// win over url's.
	ev.setUTM(p)
	ev.setUTM(ev.Client.URL)

	if user, ok := w.get(fUserID); ok {
		if len(user) > MaxUserIDBytes {
			return ev, Errorf(Invalid, "user_id: %d bytes, at most %d allowed", len(user), MaxUserIDBytes)
		}
		if hasControl(user) {
			return ev, Errorf(Invalid, "user_id: must not contain control characters")
		}
		ev.UserID = user
	}

	ev.Timestamp = now.UTC()
	if s, _ := w.get(fTimestamp); s != "" || !w.when.IsZero() {
		ts := w.when
		if s != "" {
			var err error
			if ts, err = ParseTimestamp(s); err != nil {
				return ev, err
			}
		} else {
			s = ts.Format(time.RFC3339Nano)
		}
		if ts.After(now.Add(MaxFuture)) {
			return ev, Errorf(Invalid, "timestamp: %s is more than 1h in the future (server time %s); check the sender's clock",
				truncate(s, 64), now.UTC().Format(time.RFC3339))
		}
		if ts.Before(unixEpoch) {
			return ev, Errorf(Invalid, "timestamp: %s is before 1970 (in UTC); send a later time", quote(s, 64))
		}
		ev.Timestamp = ts
	}

	if len(w.props) > 0 {
		ev.Props = w.props
	}

	if id, _ := w.get(fID); id != "" {
		if err := ValidateID(id); err != nil {
			return ev, err
		}
		ev.ID = id
	} else {
		ev.ID = newID()
	}
	return ev, nil
}

// normalizeClient checks the fields that describe the browser behind the
// event (referrer, url, user_agent, ip) into ev.Client.
func (w *wireEvent) normalizeClient(ev *Event) error {
	for _, f := range [...]int{fReferrer, fURL} {
		u, _ := w.get(f)
		if u == "" {
			continue
		}
		if len(u) > MaxURLBytes {
			return Errorf(Invalid, "%s: %d bytes, at most %d allowed", fieldNames[f], len(u), MaxURLBytes)
		}
		n := schemeLen(u)
		if hasControl(u) || n == 0 || len(u) == n+len("://") || strings.IndexByte("/?#", u[n+len("://")]) >= 0 {
			return Errorf(Invalid, "%s: %s is not a URL such as https://news.example.com/item", fieldNames[f], quote(u, 80))
		}
	}
	ev.Client.Referrer, _ = w.get(fReferrer)
	ev.Client.URL, _ = w.get(fURL)
	if ua, _ := w.get(fUserAgent); ua != "" {
		if len(ua) > MaxUABytes {
			return Errorf(Invalid, "user_agent: %d bytes, at most %d allowed", len(ua), MaxUABytes)
		}
		if hasControl(ua) {
			return Errorf(Invalid, "user_agent: must not contain control characters")
		}
		ev.Client.UserAgent = ua
	}
	if ip, _ := w.get(fIP); ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return Errorf(Invalid, "ip: %s is not an IPv4 or IPv6 address", quote(ip, 64))
		}
		ev.Client.IP = a.Unmap().String()
	}
	return nil
}

// setUTM fills the campaign fields still empty from the query of u (a path
// or URL). Values are cut at MaxUTMBytes and lose control characters: they
// label a campaign, and a label too long to show is not worth refusing an
// event over.
func (e *Event) setUTM(u string) {
	i := strings.IndexByte(u, '?')
	if i < 0 {
		return
	}
	q := u[i+1:]
	if j := strings.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	if !strings.Contains(q, "utm_") {
		return
	}
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		var dst *string
		switch k {
		case "utm_source":
			dst = &e.UTMSource
		case "utm_medium":
			dst = &e.UTMMedium
		case "utm_campaign":
			dst = &e.UTMCampaign
		case "utm_content":
			dst = &e.UTMContent
		case "utm_term":
			dst = &e.UTMTerm
		default:
			continue
		}
		if *dst != "" {
			continue
		}
		if d, err := url.QueryUnescape(v); err == nil {
			v = d
		}
		*dst = campaignValue(v)
	}
}

// campaignValue is v as a campaign label: without control characters or
// surrounding spaces, cut at MaxUTMBytes.
func campaignValue(v string) string {
	v = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, v))
	return cutUTF8(v, MaxUTMBytes)
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ValidateSiteID checks the site_id rule: 1-128 chars of A-Za-z0-9._:-.
func ValidateSiteID(s string) error {
	if s == "" {
		return Errorf(Invalid, "site_id: required")
	}
	if len(s) > MaxSiteIDLen {
		return Errorf(Invalid, "site_id: %d characters, at most %d allowed", len(s), MaxSiteIDLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !isIDChar(r) }); i >= 0 {
		return Errorf(Invalid, "site_id: %q has a character outside A-Za-z0-9._:- at position %d", s, i)
	}
	return nil
}

// ValidateID checks an idempotency key: 1-128 chars of A-Za-z0-9._:-.
func ValidateID(s string) error {
	if len(s) > MaxIDLen {
		return Errorf(Invalid, "id: %d characters, at most %d allowed", len(s), MaxIDLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !isIDChar(r) }); i >= 0 {
		return Errorf(Invalid, "id: %s has a character outside A-Za-z0-9._:- at position %d", quote(s, 80), i)
	}
	return nil
}

func isIDChar(r rune) bool { return r < utf8.RuneSelf && idChar[r] }

// idChar marks the bytes of A-Za-z0-9._:-, checked for every event's id and
// site.
var idChar = func() (t [utf8.RuneSelf]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") {
		t[c] = true
	}
	return t
}()

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// ValidatePropKey checks that k can be a field name in MongoDB and FerretDB,
// which refuse (or misread) keys that are empty, contain "." or NUL, or start
// with "$": 1-128 bytes of valid UTF-8 without "." or control characters,
// not starting with "$".
func ValidatePropKey(k string) error {
	switch {
	case k == "":
		return Errorf(Invalid, "props: keys must not be empty")
	case len(k) > MaxPropKeyBytes:
		return Errorf(Invalid, "props: key %s is %d bytes, at most %d allowed", quote(k, 40), len(k), MaxPropKeyBytes)
	case !utf8.ValidString(k):
		return Errorf(Invalid, "props: key %q is not valid UTF-8", k)
	case k[0] == '$':
		return Errorf(Invalid, `props: key %q must not start with "$" (MongoDB cannot store it)`, k)
	case strings.IndexByte(k, '.') >= 0:
		return Errorf(Invalid, `props: key %q must not contain "." (MongoDB cannot store it)`, k)
	case hasControl(k):
		return Errorf(Invalid, "props: key %q must not contain control characters", k)
	}
	return nil
}

// ValidateProps checks props built in Go (DecodeEvent checks what it reads
// as it reads it): at most 32 keys that pass ValidatePropKey, whose values
// are strings, finite numbers or booleans, at most 4 KiB as JSON (encoded
// without HTML escaping, as a client would send it).
func ValidateProps(props map[string]any) error {
	if len(props) > MaxProps {
		return Errorf(Invalid, "props: %d keys, at most %d allowed", len(props), MaxProps)
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first bad key reported is the same every time
	for _, k := range keys {
		if err := ValidatePropKey(k); err != nil {
			return err
		}
		switch v := props[k].(type) {
		case string:
			if !utf8.ValidString(v) {
				return Errorf(Invalid, "props.%s: must be valid UTF-8 text", k)
			}
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Errorf(Invalid, "props.%s: number %v is out of range; numbers must be finite", k, v)
			}
		case bool, json.Number, int, int64:
		default:
			return Errorf(Invalid, "props.%s: must be a string, number or boolean", k)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(props); err != nil {
		return Errorf(Invalid, "props: cannot be encoded as JSON (%v)", err)
	}
	if n := b.Len() - 1; n > MaxPropsBytes { // Encode adds a newline
		return Errorf(Invalid, "props: %d bytes of JSON, at most %d allowed", n, MaxPropsBytes)
	}
	return nil
}

// NormalizePath returns the canonical form of a page path, the one every
// client's path is stored under:
//
//   - Input that starts with a URL scheme ("https://") is a full URL and is
//     reduced to its path; anything else is a path, which must start with
//     "/". Everything from the first "?" or "#" (query, fragment) is dropped,
//     so "/login?next=https://x/" is "/login".
//   - Percent-encoding is made canonical: every valid %XX is decoded (a "%"
//     not followed by two hex digits is a literal "%"), then the bytes
//     A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + , ; = : @ / are kept and every
//     other byte is written %XX in upper case. "/café", "/caf%c3%a9" and
//     "https://example.com/caf%C3%A9" are all "/caf%C3%A9".
//   - The decoded path must not contain control characters (such as %00 or
//     %0A), and the canonical form must be at most 2048 bytes.
//
// The canonical form is a fixed point: NormalizePath maps it to itself.
func NormalizePath(p string) (string, error) {
	orig := p
	if n := schemeLen(p); n > 0 {
		rest := p[n+len("://"):]
		host := rest
		p = "/"
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			host = rest[:i]
			if rest[i] == '/' {
				p = rest[i:]
			}
		}
		if host == "" {
			return "", Errorf(Invalid, "path: %s is neither a path nor a valid URL (a URL needs a host, as in https://example.com/pricing)", quote(orig, 80))
		}
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		return "", Errorf(Invalid, "path: %s must start with / (or be a full URL)", quote(orig, 80))
	}
	return canonicalPath(p)
}

// CanonicalPathValue returns s, a path or a piece of one (a filter's
// value: "post|1", "/café"), in the percent-encoding NormalizePath stores
// paths in, so that it compares with stored paths: "post|1" is
// "post%7C1", "/café" and "/caf%c3%a9" are "/caf%C3%A9". A value no path
// could hold (control characters, too long) is returned as it is: it
// matches nothing stored either way.
func CanonicalPathValue(s string) string {
	c, err := canonicalPath(s)
	if err != nil {
		return s
	}
	return c
}

// schemeLen returns the length of the scheme when s starts with one
// followed by "://" (^[A-Za-z][A-Za-z0-9+.-]*://), else 0.
func schemeLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-'):
		case i > 0 && c == ':':
			if strings.HasPrefix(s[i:], "://") {
				return i
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}

// pathKeep marks the bytes a canonical path holds as they are.
var pathKeep = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/") {
		t[c] = true
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pathByte returns the byte of p at i after percent-decoding, and the
// index of the next one.
func pathByte(p string, i int) (byte, int) {
	if p[i] == '%' && i+2 < len(p) {
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if ok1 && ok2 {
			return hi<<4 | lo, i + 3
		}
	}
	return p[i], i + 1
}

func canonicalPath(p string) (string, error) {
	i := 0
	for i < len(p) && pathKeep[p[i]] {
		i++
	}
	if i == len(p) { // already canonical: the common case, no allocation
		if len(p) > MaxPathBytes {
			return "", Errorf(Invalid, "path: %d bytes, at most %d allowed", len(p), MaxPathBytes)
		}
		return p, nil
	}
	// First pass: check the decoded bytes and measure the canonical form.
	size := i
	var prev byte
	for j := i; j < len(p); {
		var c byte
		c, j = pathByte(p, j)
		// C0 controls, DEL, and C1 controls (U+0080-U+009F, C2 80-C2 9F in UTF-8).
		if c < 0x20 || c == 0x7f || prev == 0xc2 && c >= 0x80 && c <= 0x9f {
			return "", Errorf(Invalid, "path: must not contain control characters (such as %%00 or %%0A)")
		}
		prev = c
		if pathKeep[c] {
			size++
		} else {
			size += 3
		}
	}
	if size > MaxPathBytes {
		return "", Errorf(Invalid, "path: %d bytes once percent-encoded, at most %d allowed", size, MaxPathBytes)
	}
	b := make([]byte, i, size)
	copy(b, p[:i])
	for j := i; j < len(p); {
		var c byte
		c, j = pathByte(p, j)
		if pathKeep[c] {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return string(b), nil
}

var unixEpoch = time.Unix(0, 0).UTC()

// ParseTimestamp parses an RFC 3339 / ISO 8601 timestamp that carries a time
// zone (Z, ±hh:mm or ±hhmm, hh at most 23 and mm at most 59) and returns it
// in UTC. A timestamp without a zone is refused: guessing one would put
// events on the wrong day. A leap second (23:59:60 UTC) is kept on its day,
// as 23:59:59.999999999. Times before 1970-01-01T00:00:00Z are refused.
func ParseTimestamp(s string) (time.Time, error) {
	ts, err := parseRFC3339(s, s)
	if err != nil && len(s) > 19 && s[10] == 'T' && s[16] == ':' && s[17:19] == "60" {
		// Go's time package has no leap seconds: read it as :59, then move
		// it to the last instant of that second's UTC minute.
		ts, err = parseRFC3339(s[:17]+"59"+s[19:], s)
		if err == nil {
			u := ts.UTC()
			if u.Hour() != 23 || u.Minute() != 59 {
				return time.Time{}, Errorf(Invalid,
					"timestamp: %s has second 60, which only a leap second at 23:59:60 UTC can have", quote(s, 64))
			}
			ts = time.Date(u.Year(), u.Month(), u.Day(), 23, 59, 59, 999999999, time.UTC)
		}
	}
	if err != nil {
		return time.Time{}, err
	}
	if ts.Before(unixEpoch) {
		return time.Time{}, Errorf(Invalid, "timestamp: %s is before 1970 (in UTC); send a later time", quote(s, 64))
	}
	return ts.UTC(), nil
}

// parseRFC3339 parses s; errors quote shown, the timestamp as sent.
func parseRFC3339(s, shown string) (time.Time, error) {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// ISO 8601 also allows a zone without the colon: +0530.
		ts, err = time.Parse("2006-01-02T15:04:05.999999999Z0700", s)
	}
	if err != nil {
		return time.Time{}, Errorf(Invalid,
			"timestamp: %s is not an RFC 3339 time with a zone, like 2025-11-12T19:30:01Z or 2025-11-12T21:30:01+02:00",
			quote(shown, 64))
	}
	// time.Parse takes any two digits for the offset: "+24:00", "+00:60".
	if s[len(s)-1] != 'Z' {
		off, hh, mm := s[len(s)-5:], s[len(s)-4:len(s)-2], s[len(s)-2:] // +hhmm
		if s[len(s)-3] == ':' {
			off, hh = s[len(s)-6:], s[len(s)-5:len(s)-3] // +hh:mm
		}
		if hh > "23" || mm > "59" {
			return time.Time{}, Errorf(Invalid,
				"timestamp: %s has zone offset %s; offsets run from -23:59 to +23:59", quote(shown, 64), off)
		}
	}
	return ts, nil
}

// truncate shortens s to at most n bytes (plus "..."), cutting at a rune
// boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// quote is %q of s, shortened to about n bytes.
func quote(s string, n int) string { return strconv.Quote(truncate(s, n)) }

// reader is a small, strict JSON reader for the fixed shapes of events and
// batches. Unlike encoding/json it refuses duplicate names and keeps raw
// bytes (so invalid UTF-8 is seen, and sizes are measured as sent), and it
// reads an event in one pass with few allocations.
type reader struct {
	data    []byte
	pos     int
	spaces  int    // whitespace bytes skipped between tokens so far
	scratch []byte // unescaped strings
	// checked says a reader went over data before and found it valid, so
	// members only looks for where values end (Segment's messages are
	// read twice: cut out of the batch, then field by field).
	checked bool
}

func (r *reader) eof() bool { return r.pos >= len(r.data) }

// peek returns the next byte, or 0 at the end.
func (r *reader) peek() byte {
	if r.pos < len(r.data) {
		return r.data[r.pos]
	}
	return 0
}

// skipWS skips JSON whitespace, counting it in r.spaces.
func (r *reader) skipWS() {
	start := r.pos
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
			continue
		}
		break
	}
	r.spaces += r.pos - start
}

// end checks that nothing but whitespace follows the value.
func (r *reader) end() error {
	r.skipWS()
	if !r.eof() {
		return Errorf(Invalid, "unexpected data after the JSON value at byte %d: send exactly one JSON value", r.pos)
	}
	return nil
}

// syntaxError describes what was found where want was expected.
func (r *reader) syntaxError(want string) error {
	if r.eof() {
		return Errorf(Invalid, "body is not valid JSON: it ends too early (expected %s)", want)
	}
	c, size := utf8.DecodeRune(r.data[r.pos:])
	found := strconv.QuoteRune(c)
	if c == utf8.RuneError && size == 1 {
		found = "byte " + strconv.Quote(string(r.data[r.pos:r.pos+1]))
	}
	return Errorf(Invalid, "body is not valid JSON: expected %s at byte %d, found %s", want, r.pos, found)
}

// kindOf names the JSON value that starts with c, or "" for none.
func kindOf(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return ""
}

// kind names the JSON value at r.pos, or "" when none starts there (a
// literal must be complete: "nope" is not null).
func (r *reader) kind() string {
	rest := r.data[r.pos:]
	switch c := r.peek(); {
	case c == 't' && !bytes.HasPrefix(rest, []byte("true")),
		c == 'f' && !bytes.HasPrefix(rest, []byte("false")),
		c == 'n' && !bytes.HasPrefix(rest, []byte("null")):
		return ""
	default:
		return kindOf(c)
	}
}

func (r *reader) colon() error {
	r.skipWS()
	if r.peek() != ':' {
		return r.syntaxError(`":" after a field name`)
	}
	r.pos++
	r.skipWS()
	return nil
}

// next reads the "," between members (true) or the closing byte (false).
func (r *reader) next(closing byte) (bool, error) {
	r.skipWS()
	switch r.peek() {
	case ',':
		r.pos++
		return true, nil
	case closing:
		r.pos++
		return false, nil
	}
	return false, r.syntaxError(`"," or "` + string(closing) + `"`)
}

func (r *reader) literal(lit string) error {
	if !bytes.HasPrefix(r.data[r.pos:], []byte(lit)) {
		return r.syntaxError(lit)
	}
	r.pos += len(lit)
	return nil
}

func (r *reader) readKey() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.syntaxError("a field name in double quotes")
	}
	return r.readString()
}

// readString reads a string whose opening quote is at r.pos and returns its
// unescaped bytes, which are valid only until the next call. A lone UTF-16
// surrogate escape (\ud800) becomes bytes that are not valid UTF-8, so
// callers refuse it like any other invalid UTF-8.
func (r *reader) readString() ([]byte, error) {
	start := r.pos + 1
	i := start
	for ; i < len(r.data); i++ {
		c := r.data[i]
		if c == '"' {
			r.pos = i + 1
			return r.data[start:i], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	b := append(r.scratch[:0], r.data[start:i]...)
	for i < len(r.data) {
		c := r.data[i]
		switch {
		case c == '"':
			r.pos = i + 1
			r.scratch = b
			return b, nil
		case c < 0x20:
			r.pos = i
			return nil, Errorf(Invalid, `body is not valid JSON: control character %U in a string at byte %d; escape it (\n, \t, \u00XX)`, rune(c), i)
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(r.data) {
			break
		}
		switch e := r.data[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			u, ok := hex4(r.data, i+2)
			if !ok {
				if i+6 > len(r.data) {
					i = len(r.data)
					continue
				}
				return nil, Errorf(Invalid, `body is not valid JSON: \u must be followed by 4 hex digits (byte %d)`, i)
			}
			i += 6
			if u >= 0xd800 && u < 0xdc00 && i+1 < len(r.data) && r.data[i] == '\\' && r.data[i+1] == 'u' {
				if lo, ok := hex4(r.data, i+2); ok && lo >= 0xdc00 && lo < 0xe000 {
					b = utf8.AppendRune(b, 0x10000+(u-0xd800)<<10+(lo-0xdc00))
					i += 6
					continue
				}
			}
			if u >= 0xd800 && u < 0xe000 { // a lone surrogate: keep it as invalid UTF-8
				b = append(b, 0xe0|byte(u>>12), 0x80|byte(u>>6)&0x3f, 0x80|byte(u)&0x3f)
			} else {
				b = utf8.AppendRune(b, u)
			}
			continue
		default:
			esc := `\` + string(rune(e))
			if e < 0x21 || e > 0x7e {
				esc = fmt.Sprintf(`\ followed by byte 0x%02X`, e)
			}
			return nil, Errorf(Invalid, `body is not valid JSON: invalid escape %s in a string at byte %d; JSON allows \" \\ \/ \b \f \n \r \t \uXXXX`, esc, i)
		}
		i += 2
	}
	r.pos = len(r.data)
	return nil, r.syntaxError(`the closing " of a string`)
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var u rune
	for _, c := range data[i : i+4] {
		h, ok := unhex(c)
		if !ok {
			return 0, false
		}
		u = u<<4 | rune(h)
	}
	return u, true
}

// readNumber reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *reader) readNumber() ([]byte, error) {
	start := r.pos
	if r.peek() == '-' {
		r.pos++
	}
	switch c := r.peek(); {
	case c == '0':
		r.pos++
	case c >= '1' && c <= '9':
		r.digits()
	default:
		return nil, r.syntaxError("a digit")
	}
	if r.peek() == '.' {
		r.pos++
		if c := r.peek(); c < '0' || c > '9' {
			return nil, r.syntaxError("a digit after the decimal point")
		}
		r.digits()
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.pos++
		if c := r.peek(); c == '+' || c == '-' {
			r.pos++
		}
		if c := r.peek(); c < '0' || c > '9' {
			return nil, r.syntaxError("a digit in the exponent")
		}
		r.digits()
	}
	return r.data[start:r.pos], nil
}

func (r *reader) digits() {
	for r.pos < len(r.data) && r.data[r.pos] >= '0' && r.data[r.pos] <= '9' {
		r.pos++
	}
}

// maxDepth bounds the nesting of the values skipVal reads, as encoding/json
// does.
const maxDepth = 10000

// skipValue reads any JSON value, checking its syntax, without keeping it.
func (r *reader) skipValue() error {
	var open []byte // the containers the value is inside: '{' or '['
	for {
		// A value starts here.
		r.skipWS()
		switch c := r.peek(); {
		case c == '{' || c == '[':
			r.pos++
			r.skipWS()
			if r.peek() == c+2 { // '}' is '{'+2 and ']' is '['+2
				r.pos++
				break
			}
			if len(open) == maxDepth {
				return Errorf(Invalid, "body is not valid JSON: nested more than %d levels deep", maxDepth)
			}
			open = append(open, c)
			if c == '{' {
				if err := r.member(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, err := r.readString(); err != nil {
				return err
			}
		case c == '-' || c >= '0' && c <= '9':
			if _, err := r.readNumber(); err != nil {
				return err
			}
		case c == 't':
			if err := r.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := r.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := r.literal("null"); err != nil {
				return err
			}
		default:
			return r.syntaxError("a JSON value")
		}
		// The value ended: close what it ends, up to the next value.
		for {
			if len(open) == 0 {
				return nil
			}
			top := open[len(open)-1]
			more, err := r.next(top + 2)
			if err != nil {
				return err
			}
			if more {
				if top == '{' {
					if err := r.member(); err != nil {
						return err
					}
				}
				break
			}
			open = open[:len(open)-1]
		}
	}
}

// members calls f with the name and the raw value of each member of the
// object at r.pos, in order, checking the syntax as it goes. name is valid
// only during the call.
func (r *reader) members(f func(name, value []byte) error) error { return r.membersOwn(f, nil) }

// membersOwn is members where own, when not nil, may read a member's value
// itself (from r.pos, after the colon) and report that it did; f is then not
// called for it.
func (r *reader) membersOwn(f func(name, value []byte) error, own func(name []byte) (bool, error)) error {
	if r.peek() != '{' {
		return r.syntaxError("a JSON object")
	}
	r.pos++
	if r.skipWS(); r.peek() == '}' {
		r.pos++
		return nil
	}
	for {
		r.skipWS()
		name, err := r.readKey()
		if err != nil {
			return err
		}
		// An escaped name is in the scratch space: the value's strings
		// must not overwrite it.
		held := r.scratch
		r.scratch = nil
		if err := r.colon(); err != nil {
			return err
		}
		done := false
		if own != nil {
			var err error
			if done, err = own(name); err != nil {
				return err
			}
		}
		if !done {
			start := r.pos
			if r.checked {
				r.skipChecked()
			} else if err := r.skipValue(); err != nil {
				return err
			}
			if err := f(name, r.data[start:r.pos]); err != nil {
				return err
			}
		}
		if cap(held) > cap(r.scratch) {
			r.scratch = held
		}
		more, err := r.next('}')
		if err != nil || !more {
			return err
		}
	}
}

// skipChecked moves past the value at r.pos of data that was found valid
// before: it only finds the value's end.
func (r *reader) skipChecked() {
	depth := 0
	for {
		switch c := r.data[r.pos]; c {
		case '"':
			r.pos = closingQuote(r.data, r.pos+1) + 1
		case '{', '[':
			depth++
			r.pos++
			continue
		case '}', ']':
			depth--
			r.pos++
		case ',', ':', ' ', '\t', '\n', '\r':
			r.pos++
			continue
		default: // a number or a literal
			for r.pos < len(r.data) && !endOfScalar[r.data[r.pos]] {
				r.pos++
			}
		}
		if depth == 0 {
			return
		}
	}
}

// endOfScalar marks the bytes that end a number or literal.
var endOfScalar = func() (t [256]bool) {
	for _, c := range []byte(",:}] \t\n\r") {
		t[c] = true
	}
	return t
}()

// closingQuote returns the index of the quote that ends the string whose
// text starts at i: the first one not escaped by an odd run of backslashes.
func closingQuote(data []byte, i int) int {
	for {
		q := i + bytes.IndexByte(data[i:], '"')
		n := 0
		for k := q - 1; k >= i && data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q
		}
		i = q + 1
	}
}

// member reads an object member's name and colon.
func (r *reader) member() error {
	r.skipWS()
	if _, err := r.readKey(); err != nil {
		return err
	}
	return r.colon()
}

// readArray reads an array of values and returns the first limit of them
// raw, and how many there are.
func (r *reader) readArray(limit int) ([][]byte, int, error) {
	r.pos++ // '['
	var raws [][]byte
	n := 0
	if r.skipWS(); r.peek() == ']' {
		r.pos++
		return nil, 0, nil
	}
	for {
		r.skipWS()
		start := r.pos
		if err := r.skipValue(); err != nil {
			return nil, 0, err
		}
		if n < limit {
			raws = append(raws, r.data[start:r.pos])
		}
		n++
		more, err := r.next(']')
		if err != nil {
			return nil, 0, err
		}
		if !more {
			return raws, n, nil
		}
	}
}

// readEnvelope reads {"events": [...]}.
func (r *reader) readEnvelope() ([][]byte, int, error) {
	const shape = `body must be a JSON array of events or {"events": [...]}`
	r.pos++ // '{'
	var raws [][]byte
	n, seen, found := 0, false, false
	if r.skipWS(); r.peek() == '}' {
		r.pos++
		return nil, 0, Errorf(Invalid, shape)
	}
	for {
		r.skipWS()
		name, err := r.readKey()
		if err != nil {
			return nil, 0, err
		}
		if string(name) != "events" {
			return nil, 0, Errorf(Invalid, `unknown field %s: a batch object has only "events"`, quote(string(name), 64))
		}
		if seen {
			return nil, 0, Errorf(Invalid, `duplicate field "events": send each field once`)
		}
		seen = true
		if err := r.colon(); err != nil {
			return nil, 0, err
		}
		switch c := r.peek(); {
		case c == '[':
			raws, n, err = r.readArray(MaxBatch)
			if err != nil {
				return nil, 0, err
			}
			found = true
		case c == 'n':
			if err := r.literal("null"); err != nil {
				return nil, 0, err
			}
		case r.kind() != "":
			return nil, 0, Errorf(Invalid, "events: must be an array, got %s", r.kind())
		default:
			return nil, 0, r.syntaxError("a JSON value")
		}
		more, err := r.next('}')
		if err != nil {
			return nil, 0, err
		}
		if !more {
			break
		}
	}
	if !found {
		return nil, 0, Errorf(Invalid, shape)
	}
	return raws, n, nil
}
