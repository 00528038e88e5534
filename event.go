package analytics

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/siteanalytics/analytics/sdk/rules"
)

// Limits of an event, as the SPEC states them (package sdk/rules, which the
// SDK shares; the JS snippet checks the same numbers) so a bad event is
// refused where it is made.
const (
	MaxSiteIDLen    = rules.MaxSiteIDLen
	MaxEventTypeLen = rules.MaxEventTypeLen
	MaxPathBytes    = rules.MaxPathBytes
	MaxUserIDBytes  = rules.MaxUserIDBytes
	MaxURLBytes     = rules.MaxURLBytes // referrer and url
	MaxUABytes      = rules.MaxUABytes
	MaxUTMBytes     = 128 // longer campaign values are cut, not refused
	MaxIDLen        = rules.MaxIDLen
	MaxProps        = rules.MaxProps
	MaxPropKeyBytes = rules.MaxPropKeyBytes
	MaxPropsBytes   = rules.MaxPropsBytes
	MaxFuture       = rules.MaxFuture
	MaxBatch        = rules.MaxBatch
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
	// ReferrerURL is an outside referrer's URL without its query and
	// fragment ("https://news.example.com/item"): what visit:referrer
	// answers. Events stored before 2026-12-07 have only ReferrerHost.
	ReferrerURL string `json:"referrer_url,omitempty"`
	Browser     string `json:"browser,omitempty"`
	OS          string `json:"os,omitempty"`
	Device      string `json:"device,omitempty"`  // desktop, mobile or tablet
	Country     string `json:"country,omitempty"` // ISO 3166-1 alpha-2

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
	ReferrerURL  string `json:"referrer_url,omitempty" bson:"referrer_url,omitempty"`
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
	return VisitAttrs{Source: e.Source, ReferrerHost: e.ReferrerHost, ReferrerURL: e.ReferrerURL, UTMSource: e.UTMSource, UTMMedium: e.UTMMedium,
		UTMCampaign: e.UTMCampaign, Browser: e.Browser, OS: e.OS, Device: e.Device, Country: e.Country}
}

// Referrer is the visit's referrer as visit:referrer answers it: its URL,
// or its host for an event stored before URLs were kept.
func (a VisitAttrs) Referrer() string {
	if a.ReferrerURL != "" {
		return a.ReferrerURL
	}
	return a.ReferrerHost
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

// Input is an event as a sender's format carried it, before the rules: what
// a decoder (package ingest: the collector's own JSON, Segment's messages,
// Plausible's, Umami's and GoatCounter's requests) read from the wire. An
// empty string is a field that was not sent.
type Input struct {
	ID, SiteID, EventType, Path, UserID string
	// Timestamp is the event's time as sent (RFC 3339 with a zone); When is
	// its time when the sender's format was read already (Segment's clock
	// skew correction). Both empty means the receive time.
	Timestamp string
	When      time.Time
	// Referrer, URL, UserAgent and IP describe the browser behind the event
	// (ClientHints).
	Referrer, URL, UserAgent, IP string
	// Props must satisfy ValidateProps: decoders check them as they read
	// them (or fit them, as Segment's free-form properties are), so the
	// rules do not encode them again.
	Props map[string]any
	// Campaign labels the format carries beside the URL (Segment's
	// context.campaign); each one that is not empty once cleaned wins over
	// the URL's utm_ parameter.
	UTMSource, UTMMedium, UTMCampaign, UTMContent, UTMTerm string
}

// Normalize applies the event rules of the SPEC to in and returns the event
// in its normal form: timestamp in UTC, path canonical, campaign parameters
// read from the path or url before their query is dropped, id assigned.
// now is the receive time: the default timestamp and the reference for
// "not in the future"; an event without an id gets one from newID. Errors
// are *Error of kind Invalid whose message starts with the event field that
// is wrong ("path: ..."), so a decoder can name its own format's field.
func (in *Input) Normalize(now time.Time, newID func() string) (Event, error) {
	ev := Event{}
	if in.SiteID == "" {
		return ev, Errorf(Invalid, "site_id: required")
	}
	if err := ValidateSiteID(in.SiteID); err != nil {
		return ev, err
	}
	ev.SiteID = in.SiteID

	if err := rules.ValidateEventType(in.EventType); err != nil {
		return ev, ruleError(err)
	}
	ev.EventType = in.EventType

	if err := in.normalizeClient(&ev); err != nil {
		return ev, err
	}
	if p := in.Path; p != "" {
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
	// win over url's, and the format's own labels over both.
	ev.UTMSource = campaignValue(in.UTMSource)
	ev.UTMMedium = campaignValue(in.UTMMedium)
	ev.UTMCampaign = campaignValue(in.UTMCampaign)
	ev.UTMContent = campaignValue(in.UTMContent)
	ev.UTMTerm = campaignValue(in.UTMTerm)
	ev.setUTM(in.Path)
	ev.setUTM(ev.Client.URL)

	if err := rules.ValidateUserID(in.UserID); err != nil {
		return ev, ruleError(err)
	}
	ev.UserID = in.UserID

	ev.Timestamp = now.UTC()
	if s := in.Timestamp; s != "" || !in.When.IsZero() {
		ts := in.When
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

	if len(in.Props) > 0 {
		ev.Props = in.Props
	}

	if id := in.ID; id != "" {
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
func (in *Input) normalizeClient(ev *Event) error {
	if err := rules.ValidateURL("referrer", in.Referrer); err != nil {
		return ruleError(err)
	}
	if err := rules.ValidateURL("url", in.URL); err != nil {
		return ruleError(err)
	}
	ev.Client.Referrer = in.Referrer
	ev.Client.URL = in.URL
	if err := rules.ValidateUserAgent(in.UserAgent); err != nil {
		return ruleError(err)
	}
	ev.Client.UserAgent = in.UserAgent
	if ip := in.IP; ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return Errorf(Invalid, "ip: %s is not an IPv4 or IPv6 address", quote(ip, 64))
		}
		ev.Client.IP = a.Unmap().String()
	}
	return nil
}

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
	if v == "" {
		return ""
	}
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

// ValidateSiteID checks the site_id rule: 1-128 chars of A-Za-z0-9._:-
// (rules.ValidateSiteID, shared with the SDK).
func ValidateSiteID(s string) error { return ruleError(rules.ValidateSiteID(s)) }

// ValidateID checks an idempotency key: 1-128 chars of A-Za-z0-9._:-.
func ValidateID(s string) error { return ruleError(rules.ValidateID(s)) }

// ValidatePropKey checks that k can be a field name in MongoDB and FerretDB
// (rules.ValidatePropKey): 1-128 bytes of valid UTF-8 without "." or
// control characters, not starting with "$".
func ValidatePropKey(k string) error { return ruleError(rules.ValidatePropKey(k)) }

// ruleError is an error of the shared rules as an *Error of kind Invalid,
// with the same message ("field: reason").
func ruleError(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: Invalid, Msg: err.Error()}
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
// client's path is stored under (rules.NormalizePath, shared with the SDK):
// a full URL is reduced to its path, the query and fragment are dropped,
// percent-encoding is made canonical ("/café", "/caf%c3%a9" and
// "https://example.com/caf%C3%A9" are all "/caf%C3%A9"); control characters
// and more than 2048 bytes are refused. The canonical form is a fixed point.
func NormalizePath(p string) (string, error) {
	n, err := rules.NormalizePath(p)
	return n, ruleError(err)
}

// CanonicalPathValue returns s, a path or a piece of one (a filter's
// value: "post|1", "/café"), in the percent-encoding NormalizePath stores
// paths in, so that it compares with stored paths: "post|1" is
// "post%7C1", "/café" and "/caf%c3%a9" are "/caf%C3%A9". A value no path
// could hold (control characters, too long) is returned as it is: it
// matches nothing stored either way.
func CanonicalPathValue(s string) string {
	c, err := rules.CanonicalPath(s)
	if err != nil {
		return s
	}
	return c
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
