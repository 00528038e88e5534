// Package rules holds the event rules that the SDK and the collector share:
// the limits of an event, the canonical form of a page path and the checks
// of site ids, event ids and props keys. It uses only the standard library,
// so the SDK module stays free of dependencies, and the main module imports
// it, so both apply one copy of the rules: an event the SDK takes is one
// the collector takes.
//
// Errors are *Error, naming the event field (as it is called on the wire)
// and the reason; each side wraps them in its own error type.
package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of an event, as the SPEC states them.
const (
	MaxSiteIDLen    = 128
	MaxEventTypeLen = 64 // characters
	MaxPathBytes    = 2048
	MaxUserIDBytes  = 256
	MaxURLBytes     = 2048 // referrer and url
	MaxUABytes      = 1024
	MaxIDLen        = 128
	MaxProps        = 32
	MaxPropKeyBytes = 128
	MaxPropsBytes   = 4096
	MaxFuture       = time.Hour
	MaxBatch        = 1000 // events per request to POST /events
)

// Error says which field of an event breaks a rule and why.
type Error struct {
	Field  string // "path", "site_id", "props", "props.plan", ...
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

func errorf(field, format string, args ...any) error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidateSiteID checks the site_id rule: 1-128 chars of A-Za-z0-9._:-.
func ValidateSiteID(s string) error {
	if s == "" {
		return errorf("site_id", "required")
	}
	if len(s) > MaxSiteIDLen {
		return errorf("site_id", "%d characters, at most %d allowed", len(s), MaxSiteIDLen)
	}
	if i := strings.IndexFunc(s, notIDChar); i >= 0 {
		return errorf("site_id", "%q has a character outside A-Za-z0-9._:- at position %d", s, i)
	}
	return nil
}

// ValidateID checks an event id (the idempotency key): at most 128 chars
// of A-Za-z0-9._:-; "" is for the caller to decide (both sides assign one).
func ValidateID(s string) error {
	if len(s) > MaxIDLen {
		return errorf("id", "%d characters, at most %d allowed", len(s), MaxIDLen)
	}
	if i := strings.IndexFunc(s, notIDChar); i >= 0 {
		return errorf("id", "%s has a character outside A-Za-z0-9._:- at position %d", Quote(s, 80), i)
	}
	return nil
}

func notIDChar(r rune) bool { return r >= utf8.RuneSelf || !idChar[r] }

// idChar marks the bytes of A-Za-z0-9._:-, checked for every event's id and
// site.
var idChar = func() (t [utf8.RuneSelf]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") {
		t[c] = true
	}
	return t
}()

// ValidateEventType checks event_type: 1-64 characters of UTF-8 text
// without control characters, taken exactly as sent.
func ValidateEventType(s string) error {
	if s == "" {
		return errorf("event_type", "required")
	}
	if n := utf8.RuneCountInString(s); n > MaxEventTypeLen {
		return errorf("event_type", "%d characters, at most %d allowed", n, MaxEventTypeLen)
	}
	return text("event_type", s)
}

// ValidateUserID checks user_id: at most 256 bytes of UTF-8 text without
// control characters; "" is none.
func ValidateUserID(s string) error {
	if len(s) > MaxUserIDBytes {
		return errorf("user_id", "%d bytes, at most %d allowed", len(s), MaxUserIDBytes)
	}
	return text("user_id", s)
}

// ValidateUserAgent checks user_agent: at most 1024 bytes of UTF-8 text
// without control characters; "" is none.
func ValidateUserAgent(s string) error {
	if len(s) > MaxUABytes {
		return errorf("user_agent", "%d bytes, at most %d allowed", len(s), MaxUABytes)
	}
	return text("user_agent", s)
}

// ValidateURL checks a referrer or page URL (field "referrer" or "url"):
// at most 2048 bytes of UTF-8 text without control characters, with a
// scheme and a host; "" is none.
func ValidateURL(field, u string) error {
	if u == "" {
		return nil
	}
	if len(u) > MaxURLBytes {
		return errorf(field, "%d bytes, at most %d allowed", len(u), MaxURLBytes)
	}
	if err := text(field, u); err != nil {
		return err
	}
	n := SchemeLen(u)
	if n == 0 || strings.IndexAny(u[n+len("://"):]+"/", "/?#") == 0 {
		return errorf(field, "%s is not an absolute URL with a host, such as https://news.example.com/item", Quote(u, 80))
	}
	return nil
}

// text refuses s when it is not valid UTF-8 (encoding/json would replace
// the bad bytes, changing the value after it was checked) or holds a
// control character.
func text(field, s string) error {
	if !utf8.ValidString(s) {
		return errorf(field, "must be valid UTF-8 text")
	}
	if HasControl(s) {
		return errorf(field, "must not contain control characters")
	}
	return nil
}

// HasControl reports whether s contains a control character (Unicode Cc).
func HasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

// ValidatePropKey checks that k can be a field name in MongoDB and FerretDB,
// which refuse (or misread) keys that are empty, contain "." or NUL, or start
// with "$": 1-128 bytes of valid UTF-8 without "." or control characters,
// not starting with "$".
func ValidatePropKey(k string) error {
	switch {
	case k == "":
		return errorf("props", "keys must not be empty")
	case len(k) > MaxPropKeyBytes:
		return errorf("props", "key %s is %d bytes, at most %d allowed", Quote(k, 40), len(k), MaxPropKeyBytes)
	case !utf8.ValidString(k):
		return errorf("props", "key %q is not valid UTF-8", k)
	case k[0] == '$':
		return errorf("props", `key %q must not start with "$" (MongoDB cannot store it)`, k)
	case strings.IndexByte(k, '.') >= 0:
		return errorf("props", `key %q must not contain "." (MongoDB cannot store it)`, k)
	case HasControl(k):
		return errorf("props", "key %q must not contain control characters", k)
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
// The canonical form is a fixed point: NormalizePath maps it to itself. A
// path that is canonical already is returned without allocating.
func NormalizePath(p string) (string, error) {
	orig := p
	if n := SchemeLen(p); n > 0 {
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
			return "", errorf("path", "%s is neither a path nor a valid URL (a URL needs a host, as in https://example.com/pricing)", Quote(orig, 80))
		}
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		return "", errorf("path", "%s must start with / (or be a full URL)", Quote(orig, 80))
	}
	return canonicalPath(p)
}

// SchemeLen returns the length of the scheme when s starts with one
// followed by "://" (^[A-Za-z][A-Za-z0-9+.-]*://), else 0.
func SchemeLen(s string) int {
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

// CanonicalPath returns p, a path or a piece of one, in the
// percent-encoding NormalizePath stores paths in, without NormalizePath's
// other steps (no leading "/" needed, nothing cut at "?" or "#"). It
// refuses what no stored path can hold: control characters, too long.
func CanonicalPath(p string) (string, error) { return canonicalPath(p) }

func canonicalPath(p string) (string, error) {
	i := 0
	for i < len(p) && pathKeep[p[i]] {
		i++
	}
	if i == len(p) { // already canonical: the common case, no allocation
		if len(p) > MaxPathBytes {
			return "", errorf("path", "%d bytes, at most %d allowed", len(p), MaxPathBytes)
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
			return "", errorf("path", "must not contain control characters (such as %%00 or %%0A)")
		}
		prev = c
		if pathKeep[c] {
			size++
		} else {
			size += 3
		}
	}
	if size > MaxPathBytes {
		return "", errorf("path", "%d bytes once percent-encoded, at most %d allowed", size, MaxPathBytes)
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

// Quote is %q of s, shortened to about n bytes (plus "...") at a rune
// boundary: how error messages show what was sent.
func Quote(s string, n int) string {
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "..."
	}
	return strconv.Quote(s)
}
