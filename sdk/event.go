package sdk

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siteanalytics/analytics/sdk/rules"
)

// Limits checked at the call, so an oversize or invalid event is refused
// where it is made, never discovered later at the server. The rules are the
// collector's: both apply package rules (sdk/rules); the byte limits are
// Segment's.
const (
	MaxEventBytes = 32 << 10  // one event, JSON-encoded
	MaxBatchBytes = 500 << 10 // one request body, before gzip
	MaxBatchSize  = 1000      // events per request, the collector's limit

	maxURL       = rules.MaxURLBytes // referrer and url
	maxUserAgent = rules.MaxUABytes
	maxProps     = rules.MaxProps
	maxPropBytes = rules.MaxPropsBytes
	maxFuture    = rules.MaxFuture
)

// Event is one analytics event. SiteID defaults to the client's; ID and
// Timestamp are filled in by Track when empty.
//
// Path is a path ("/pricing") or a full URL, sent in the collector's
// canonical form. Its query is dropped except for the campaign parameters
// utm_source, utm_medium, utm_campaign, utm_content and utm_term, which are
// kept ("/pricing?utm_source=hn&utm_campaign=launch") for the collector to
// read: no other query parameter leaves the program.
//
// Referrer, URL, UserAgent and IP describe the browser behind an event sent
// from a server; the collector derives the traffic source, browser, OS,
// device and country from them and stores none of them. Without UserAgent
// and IP it uses the request's own, which are this program's.
type Event struct {
	ID        string         `json:"id"`
	SiteID    string         `json:"site_id"`
	EventType string         `json:"event_type"`
	Path      string         `json:"path,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	Timestamp time.Time      `json:"timestamp"`
	Props     map[string]any `json:"props,omitempty"`

	// Referrer is the page's referrer (the browser's Referer header): an
	// absolute URL with a host, at most 2048 bytes.
	Referrer string `json:"referrer,omitempty"`
	// URL is the full page URL, at most 2048 bytes. When Path is empty the
	// collector takes the path from it; the campaign parameters of its query
	// are read too.
	URL string `json:"url,omitempty"`
	// UserAgent is the browser's User-Agent: at most 1024 bytes, without
	// control characters.
	UserAgent string `json:"user_agent,omitempty"`
	// IP is the browser's IPv4 or IPv6 address (without a zone).
	IP string `json:"ip,omitempty"`
}

// FieldError says which field of an event is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "sdk: " + e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// validate checks ev against the collector's rules and normalizes it the
// same way (UTC timestamp, the path in its canonical form). Strings must be
// valid UTF-8: encoding/json would replace bad bytes, changing the event
// (and its size) after it was checked.
func validate(ev *Event, now time.Time) error {
	if ev.SiteID == "" {
		return fieldErr("site_id", "required (set Config.SiteID or Event.SiteID)")
	}
	if err := rules.ValidateSiteID(ev.SiteID); err != nil {
		return fromRules(err)
	}
	if err := rules.ValidateEventType(ev.EventType); err != nil {
		return fromRules(err)
	}
	// The collector checks the browser's fields before the path.
	if err := validateURL("referrer", ev.Referrer); err != nil {
		return err
	}
	if err := validateURL("url", ev.URL); err != nil {
		return err
	}
	if ev.Path == "" && ev.URL != "" {
		// The collector takes the path from the URL.
		if _, err := normalizePath(ev.URL); err != nil {
			var fe *FieldError
			errors.As(err, &fe)
			return fieldErr("url", "%s is not a page URL: %s", quote(ev.URL, 80), fe.Reason)
		}
	}
	if err := rules.ValidateUserAgent(ev.UserAgent); err != nil {
		return fromRules(err)
	}
	if ev.IP != "" {
		if a, err := netip.ParseAddr(ev.IP); err != nil || a.Zone() != "" {
			return fieldErr("ip", "%s is not an IPv4 or IPv6 address", quote(ev.IP, 64))
		}
	}
	if ev.Path != "" {
		p, err := normalizePath(ev.Path)
		if err != nil {
			return err
		}
		// The query as the collector finds it: from the first "?" to a "#".
		if _, q, ok := strings.Cut(ev.Path, "?"); ok {
			q, _, _ = strings.Cut(q, "#")
			if q = campaignQuery(q); q != "" {
				p += "?" + q
			}
		}
		ev.Path = p
	}
	if err := rules.ValidateUserID(ev.UserID); err != nil {
		return fromRules(err)
	}
	if ev.Timestamp.IsZero() {
		ev.Timestamp = now
	}
	ev.Timestamp = ev.Timestamp.UTC()
	if ev.Timestamp.After(now.Add(maxFuture)) {
		return fieldErr("timestamp", "%s is more than 1h in the future", ev.Timestamp.Format(time.RFC3339))
	}
	if ev.Timestamp.Before(unixEpoch) { // judged in UTC, as the collector does
		return fieldErr("timestamp", "%s is before 1970 (in UTC); send a later time", ev.Timestamp.Format(time.RFC3339))
	}
	if err := validateProps(ev.Props); err != nil {
		return err
	}
	if ev.ID == "" {
		ev.ID = newID(now)
	} else if err := rules.ValidateID(ev.ID); err != nil {
		return fromRules(err)
	}
	return nil
}

// validateURL checks a referrer or page URL (rules.ValidateURL).
func validateURL(field, u string) error { return fromRules(rules.ValidateURL(field, u)) }

// campaignKeys are the query parameters a path keeps.
var campaignKeys = [...]string{"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"}

// campaignQuery returns the campaign parameters (utm_*) of a raw query
// without its "?", in their order, re-encoded (so the result is ASCII
// without control characters), and nothing else: "" when there are none.
// Keys are matched as written, and a value that is not valid
// percent-encoding is taken as it is, as the collector reads them.
func campaignQuery(q string) string {
	if !strings.Contains(q, "utm_") {
		return ""
	}
	var b strings.Builder
	for kv := range strings.SplitSeq(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" || !slices.Contains(campaignKeys[:], k) {
			continue
		}
		if d, err := url.QueryUnescape(v); err == nil {
			v = d
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + url.QueryEscape(v))
	}
	return b.String()
}

var unixEpoch = time.Unix(0, 0).UTC()

// normalizePath is the collector's canonical form of a page path
// (rules.NormalizePath): "/café", "/caf%c3%a9" and
// "https://example.com/caf%C3%A9" are all "/caf%C3%A9".
func normalizePath(p string) (string, error) {
	n, err := rules.NormalizePath(p)
	return n, fromRules(err)
}

func quote(s string, n int) string { return rules.Quote(s, n) }

// validPropKey is the collector's rule for props keys (rules.ValidatePropKey).
func validPropKey(k string) error { return fromRules(rules.ValidatePropKey(k)) }

// fromRules is an error of the shared rules as a *FieldError.
func fromRules(err error) error {
	var re *rules.Error
	if errors.As(err, &re) {
		return &FieldError{Field: re.Field, Reason: re.Reason}
	}
	return err
}

// validateProps checks props with the collector's rules. The 4 KiB limit is
// measured on the JSON this client sends (encoding/json, which writes <, >
// and & as 6-byte escapes), which is what the collector measures.
func validateProps(props map[string]any) error {
	if len(props) > maxProps {
		return fieldErr("props", "%d keys, at most %d allowed", len(props), maxProps)
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := validPropKey(k); err != nil {
			return err
		}
		switch v := props[k].(type) {
		case string:
			if !utf8.ValidString(v) {
				return fieldErr("props."+k, "must be valid UTF-8 text")
			}
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fieldErr("props."+k, "number %v is out of range; numbers must be finite", v)
			}
		case float32:
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fieldErr("props."+k, "number %v is out of range; numbers must be finite", v)
			}
		case json.Number:
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return fieldErr("props."+k, "number %s is out of range or not a number; numbers must fit in a 64-bit float", quote(string(v), 40))
			}
		case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		default:
			return fieldErr("props."+k, "must be a string, number or boolean, not %T", props[k])
		}
	}
	if len(props) > 0 {
		b, err := json.Marshal(props)
		if err != nil {
			return fieldErr("props", "cannot be encoded as JSON (%v)", err)
		}
		if len(b) > maxPropBytes {
			return fieldErr("props", "%d bytes of JSON, at most %d allowed", len(b), maxPropBytes)
		}
	}
	return nil
}

// newID returns a UUIDv7, so a retried batch carries the same ids and the
// collector counts each event once.
func newID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
