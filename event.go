package analytics

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"sort"
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
	MaxIDLen        = 128
	MaxProps        = 32
	MaxPropsBytes   = 4096
	MaxFuture       = time.Hour
	MaxBatch        = 1000
	MaxBodyBytes    = 1 << 20
)

// PageView is the event type that total_views and top_paths count.
const PageView = "page_view"

// Event is one analytics event after validation: every field is normalized
// (timestamp in UTC, path reduced to a path, id assigned).
type Event struct {
	ID        string         `json:"id"`
	SiteID    string         `json:"site_id"`
	EventType string         `json:"event_type"`
	Path      string         `json:"path,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	Timestamp time.Time      `json:"timestamp"`
	Props     map[string]any `json:"props,omitempty"`
}

// Day returns the UTC day the event belongs to, as YYYY-MM-DD.
func (e *Event) Day() string { return e.Timestamp.UTC().Format(DateLayout) }

// DateLayout is the layout of the `date` query parameter and of stored days.
const DateLayout = "2006-01-02"

// wireEvent is what clients send. Timestamp stays a string so a bad one gets
// an error naming the field rather than encoding/json's generic text.
type wireEvent struct {
	ID        *string        `json:"id"`
	SiteID    *string        `json:"site_id"`
	EventType *string        `json:"event_type"`
	Path      *string        `json:"path"`
	UserID    *string        `json:"user_id"`
	Timestamp *string        `json:"timestamp"`
	Props     map[string]any `json:"props"`
}

// DecodeEvent parses one JSON event, validates it against the SPEC's rules and
// returns it normalized. now is the receive time: the default timestamp and
// the reference for "not in the future". An event without an id gets one from
// newID. Errors are *Error of kind Invalid whose message names the field.
func DecodeEvent(data []byte, now time.Time, newID func() string) (Event, error) {
	var w wireEvent
	if err := strictUnmarshal(data, &w); err != nil {
		return Event{}, err
	}
	return w.normalize(now, newID)
}

// DecodeBatch parses the body of POST /events: a JSON array of events or an
// object {"events": [...]}. It returns the valid events and, for each invalid
// one, a Rejection with its index. The error is non-nil only when the body as
// a whole is unusable (not JSON, not an array, too many events, empty).
func DecodeBatch(data []byte, now time.Time, newID func() string) ([]Event, []Rejection, error) {
	data = bytes.TrimSpace(data)
	var raws []json.RawMessage
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, nil, jsonError(err)
		}
	case len(data) > 0 && data[0] == '{':
		var env struct {
			Events *[]json.RawMessage `json:"events"`
		}
		if err := strictUnmarshal(data, &env); err != nil {
			return nil, nil, err
		}
		if env.Events == nil {
			return nil, nil, Errorf(Invalid, `body must be a JSON array of events or {"events": [...]}`)
		}
		raws = *env.Events
	case len(data) == 0:
		return nil, nil, Errorf(Invalid, "body is empty: send a JSON array of events")
	default:
		return nil, nil, Errorf(Invalid, "body is not JSON: send a JSON array of events")
	}
	if len(raws) == 0 {
		return nil, nil, Errorf(Invalid, "no events in the batch")
	}
	if len(raws) > MaxBatch {
		return nil, nil, Errorf(Invalid, "too many events: %d (at most %d per batch)", len(raws), MaxBatch)
	}
	events := make([]Event, 0, len(raws))
	var rejected []Rejection
	for i, raw := range raws {
		ev, err := DecodeEvent(raw, now, newID)
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

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	// Decode stops after the first value; anything but whitespace after it
	// is a malformed body the client should hear about.
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(Invalid, "unexpected data after the JSON value")
	}
	return nil
}

// jsonError turns encoding/json's errors into messages that name the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return Errorf(Invalid, "expected a JSON %s, got %s", expected(te.Type.Kind().String()), te.Value)
		}
		return Errorf(Invalid, "%s: must be %s, got %s", field, expected(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return Errorf(Invalid, "body is not valid JSON: %s at byte %d", se.Error(), se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errorf(Invalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case err.Error() == "EOF" || err.Error() == "unexpected EOF":
		return Errorf(Invalid, "body is not valid JSON: it ends too early")
	default:
		return Errorf(Invalid, "body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

func expected(kind string) string {
	switch kind {
	case "string", "ptr":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	default:
		return "a " + kind
	}
}

func (w *wireEvent) normalize(now time.Time, newID func() string) (Event, error) {
	ev := Event{}
	if w.SiteID == nil || *w.SiteID == "" {
		return ev, Errorf(Invalid, "site_id: required")
	}
	if err := ValidateSiteID(*w.SiteID); err != nil {
		return ev, err
	}
	ev.SiteID = *w.SiteID

	if w.EventType == nil || *w.EventType == "" {
		return ev, Errorf(Invalid, "event_type: required")
	}
	if n := utf8.RuneCountInString(*w.EventType); n > MaxEventTypeLen {
		return ev, Errorf(Invalid, "event_type: %d characters, at most %d allowed", n, MaxEventTypeLen)
	}
	if hasControl(*w.EventType) {
		return ev, Errorf(Invalid, "event_type: must not contain control characters")
	}
	ev.EventType = *w.EventType

	if w.Path != nil && *w.Path != "" {
		p, err := NormalizePath(*w.Path)
		if err != nil {
			return ev, err
		}
		ev.Path = p
	}

	if w.UserID != nil {
		if len(*w.UserID) > MaxUserIDBytes {
			return ev, Errorf(Invalid, "user_id: %d bytes, at most %d allowed", len(*w.UserID), MaxUserIDBytes)
		}
		if hasControl(*w.UserID) {
			return ev, Errorf(Invalid, "user_id: must not contain control characters")
		}
		ev.UserID = *w.UserID
	}

	ev.Timestamp = now.UTC()
	if w.Timestamp != nil && *w.Timestamp != "" {
		ts, err := ParseTimestamp(*w.Timestamp)
		if err != nil {
			return ev, err
		}
		if ts.After(now.Add(MaxFuture)) {
			return ev, Errorf(Invalid, "timestamp: %s is more than 1h in the future (server time %s)",
				*w.Timestamp, now.UTC().Format(time.RFC3339))
		}
		ev.Timestamp = ts
	}

	if w.Props != nil {
		if err := ValidateProps(w.Props); err != nil {
			return ev, err
		}
		if len(w.Props) > 0 {
			ev.Props = w.Props
		}
	}

	if w.ID != nil && *w.ID != "" {
		if err := ValidateID(*w.ID); err != nil {
			return ev, err
		}
		ev.ID = *w.ID
	} else {
		ev.ID = newID()
	}
	return ev, nil
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
		return Errorf(Invalid, "id: %q has a character outside A-Za-z0-9._:- at position %d", s, i)
	}
	return nil
}

func isIDChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '.' || r == '_' || r == ':' || r == '-'
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// NormalizePath reduces a full URL to its path, drops any query or fragment,
// and checks the result: it must start with "/" and be at most 2048 bytes.
func NormalizePath(p string) (string, error) {
	orig := p
	if strings.Contains(p, "://") {
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			return "", Errorf(Invalid, "path: %q is neither a path nor a valid URL", truncate(orig, 80))
		}
		p = u.EscapedPath()
		if p == "" {
			p = "/"
		}
	} else if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		return "", Errorf(Invalid, "path: %q must start with / (or be a full URL)", truncate(orig, 80))
	}
	if len(p) > MaxPathBytes {
		return "", Errorf(Invalid, "path: %d bytes, at most %d allowed", len(p), MaxPathBytes)
	}
	if hasControl(p) {
		return "", Errorf(Invalid, "path: must not contain control characters")
	}
	return p, nil
}

// ParseTimestamp parses an RFC 3339 / ISO 8601 timestamp that carries a time
// zone (Z or ±hh:mm) and returns it in UTC. A timestamp without a zone is
// refused: guessing one would put events on the wrong day.
func ParseTimestamp(s string) (time.Time, error) {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// ISO 8601 also allows a zone without the colon: +0530.
		ts, err = time.Parse("2006-01-02T15:04:05.999999999Z0700", s)
	}
	if err != nil {
		return time.Time{}, Errorf(Invalid,
			"timestamp: %q is not an RFC 3339 time with a zone, like 2025-11-12T19:30:01Z or 2025-11-12T21:30:01+02:00",
			truncate(s, 64))
	}
	if ts.Year() < 1970 {
		return time.Time{}, Errorf(Invalid, "timestamp: %q is before 1970", s)
	}
	return ts.UTC(), nil
}

// ValidateProps checks that props is a flat map of at most 32 keys whose
// values are strings, numbers or booleans, at most 4 KiB encoded.
func ValidateProps(props map[string]any) error {
	if len(props) > MaxProps {
		return Errorf(Invalid, "props: %d keys, at most %d allowed", len(props), MaxProps)
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad key reported is the same every time
	for _, k := range keys {
		if k == "" {
			return Errorf(Invalid, "props: keys must not be empty")
		}
		switch props[k].(type) {
		case string, float64, bool, json.Number, int, int64:
		default:
			return Errorf(Invalid, "props.%s: must be a string, number or boolean", k)
		}
	}
	b, err := json.Marshal(props)
	if err != nil {
		return Errorf(Invalid, "props: %v", err)
	}
	if len(b) > MaxPropsBytes {
		return Errorf(Invalid, "props: %d bytes encoded, at most %d allowed", len(b), MaxPropsBytes)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
