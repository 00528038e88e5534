package sdk

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits checked at the call, so an oversize or invalid event is refused
// where it is made, never discovered later at the server. The rules are the
// collector's (the main module's conformance test keeps them in step); the
// byte limits are Segment's.
const (
	MaxEventBytes = 32 << 10  // one event, JSON-encoded
	MaxBatchBytes = 500 << 10 // one request body, before gzip
	MaxBatchSize  = 1000      // events per request, the collector's limit

	maxSiteID    = 128
	maxEventType = 64
	maxPath      = 2048
	maxUserID    = 256
	maxProps     = 32
	maxPropBytes = 4096
	maxFuture    = time.Hour
)

// Event is one analytics event. SiteID defaults to the client's; ID and
// Timestamp are filled in by Track when empty.
type Event struct {
	ID        string         `json:"id"`
	SiteID    string         `json:"site_id"`
	EventType string         `json:"event_type"`
	Path      string         `json:"path,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	Timestamp time.Time      `json:"timestamp"`
	Props     map[string]any `json:"props,omitempty"`
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
// same way (UTC timestamp, a full URL reduced to its path).
func validate(ev *Event, now time.Time) error {
	if ev.SiteID == "" {
		return fieldErr("site_id", "required (set Config.SiteID or Event.SiteID)")
	}
	if len(ev.SiteID) > maxSiteID {
		return fieldErr("site_id", "%d characters, at most %d allowed", len(ev.SiteID), maxSiteID)
	}
	if i := strings.IndexFunc(ev.SiteID, notIDChar); i >= 0 {
		return fieldErr("site_id", "%q has a character outside A-Za-z0-9._:- at position %d", ev.SiteID, i)
	}
	if ev.EventType == "" {
		return fieldErr("event_type", "required")
	}
	if n := utf8.RuneCountInString(ev.EventType); n > maxEventType {
		return fieldErr("event_type", "%d characters, at most %d allowed", n, maxEventType)
	}
	if strings.IndexFunc(ev.EventType, unicode.IsControl) >= 0 {
		return fieldErr("event_type", "must not contain control characters")
	}
	if ev.Path != "" {
		p, err := normalizePath(ev.Path)
		if err != nil {
			return err
		}
		ev.Path = p
	}
	if len(ev.UserID) > maxUserID {
		return fieldErr("user_id", "%d bytes, at most %d allowed", len(ev.UserID), maxUserID)
	}
	if strings.IndexFunc(ev.UserID, unicode.IsControl) >= 0 {
		return fieldErr("user_id", "must not contain control characters")
	}
	if ev.Timestamp.IsZero() {
		ev.Timestamp = now
	}
	ev.Timestamp = ev.Timestamp.UTC()
	if ev.Timestamp.After(now.Add(maxFuture)) {
		return fieldErr("timestamp", "%s is more than 1h in the future", ev.Timestamp.Format(time.RFC3339))
	}
	if ev.Timestamp.Year() < 1970 {
		return fieldErr("timestamp", "%s is before 1970", ev.Timestamp.Format(time.RFC3339))
	}
	if err := validateProps(ev.Props); err != nil {
		return err
	}
	if ev.ID == "" {
		ev.ID = newID(now)
	} else if len(ev.ID) > 128 || strings.IndexFunc(ev.ID, notIDChar) >= 0 {
		return fieldErr("id", "%q must be 1-128 chars of A-Za-z0-9._:-", ev.ID)
	}
	return nil
}

func notIDChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == ':' || r == '-')
}

func normalizePath(p string) (string, error) {
	orig := p
	if strings.Contains(p, "://") {
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			return "", fieldErr("path", "%q is neither a path nor a valid URL", orig)
		}
		if p = u.EscapedPath(); p == "" {
			p = "/"
		}
	} else if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		return "", fieldErr("path", "%q must start with / (or be a full URL)", orig)
	}
	if len(p) > maxPath {
		return "", fieldErr("path", "%d bytes, at most %d allowed", len(p), maxPath)
	}
	if strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return "", fieldErr("path", "must not contain control characters")
	}
	return p, nil
}

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
		if k == "" {
			return fieldErr("props", "keys must not be empty")
		}
		switch props[k].(type) {
		case string, bool, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		default:
			return fieldErr("props."+k, "must be a string, number or boolean, not %T", props[k])
		}
	}
	if len(props) > 0 {
		b, err := json.Marshal(props)
		if err != nil {
			return fieldErr("props", "%v", err)
		}
		if len(b) > maxPropBytes {
			return fieldErr("props", "%d bytes encoded, at most %d allowed", len(b), maxPropBytes)
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
