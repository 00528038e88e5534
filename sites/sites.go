// Package sites says who may write events for a site and who may read its
// stats: the registered sites (their domains, write key and public flag)
// and the reporter's tokens, with their secrets, and a Registry that keeps
// an in-memory copy of both so no request waits on the database. It uses
// only the standard library; mongostore persists sites and tokens.
package sites

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
)

// Mode is how the collector decides which site ids it takes.
type Mode string

// The modes of SITES_MODE.
const (
	// Open takes any valid site id, from anyone (the quick start's).
	Open Mode = "open"
	// Registered takes only registered sites: browser events from their
	// domains, server-side events with their write key.
	Registered Mode = "registered"
)

// ParseMode reads SITES_MODE.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Open, Registered:
		return m, nil
	case "":
		return Open, nil
	}
	return "", fmt.Errorf("sites mode %q is unknown: use open or registered", s)
}

// Site is one registered site, as the sites collection keeps it.
type Site struct {
	ID string
	// Domains are the hosts its pages are served from ("example.com");
	// "*.example.com" also admits every subdomain.
	Domains []string
	// KeyHash is the hex SHA-256 of its write key (HashSecret).
	KeyHash string
	// Public sites' stats are readable without a reporter token.
	Public bool
	// RetentionDays keeps its raw events this many days; 0 means the
	// fleet's RETENTION_DAYS.
	RetentionDays int
	Created       time.Time
}

// Token is a reporter token, as the tokens collection keeps it.
type Token struct {
	Name string
	Hash string // hex SHA-256 of the token (HashSecret)
	// Site is the one site it may read; "" means every site.
	Site    string
	Created time.Time
}

// ReporterAccess is whether the reporter answers requests that carry no
// token while no token exists. It is kept beside the tokens so that
// revoking the last token cannot open the reporter by accident: the first
// token closes it, and only an explicit `analytics-cli tokens open` opens
// it again.
type ReporterAccess struct {
	// Closed: requests need a token (or a public site), tokens or not.
	Closed bool
	// Changed is when Closed was last set; zero when it never was.
	Changed time.Time
}

// Scope says what a token may read: "every site" or the site's id.
func (t Token) Scope() string {
	if t.Site == "" {
		return "all sites"
	}
	return t.Site
}

// Prefixes of the secrets, so a leaked one is recognisable for what it is.
const (
	WriteKeyPrefix = "sak_"
	TokenPrefix    = "sat_"
)

// NewSecret returns a random secret (256 bits from crypto/rand) starting
// with prefix: a write key or a token. It is shown once; only its
// HashSecret is stored.
func NewSecret(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's contract since Go 1.24)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret is the hex SHA-256 of a write key or token: what is stored
// and compared. A secret of 256 random bits needs no slow hash.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ValidateDomain checks one entry of Site.Domains and returns it in its
// canonical form (lower case, no scheme, port or path): "example.com",
// "*.example.com" or "localhost". A URL is reduced to its host.
func ValidateDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSpace(d))
	if strings.Contains(d, "://") {
		u, err := url.Parse(d)
		if err != nil || u.Hostname() == "" {
			return "", analytics.Errorf(analytics.Invalid, "domain %q: not a host name", d)
		}
		d = u.Hostname()
	}
	d = strings.TrimSuffix(d, ".")
	host := strings.TrimPrefix(d, "*.")
	if host == "" || len(host) > 253 || strings.ContainsAny(host, "*/:@ ") {
		return "", analytics.Errorf(analytics.Invalid, "domain %q: give a host name such as example.com (or *.example.com for its subdomains)", d)
	}
	return d, nil
}

// AllowsHost reports whether a page on host (lower case, no port) belongs
// to the site: host is one of its domains, or a subdomain of a
// "*.domain" entry.
func (s *Site) AllowsHost(host string) bool {
	for _, d := range s.Domains {
		if d == host {
			return true
		}
		if rest, ok := strings.CutPrefix(d, "*."); ok && (host == rest || strings.HasSuffix(host, "."+rest)) {
			return true
		}
	}
	return false
}

// PageHost returns the host of the page a browser request comes from: its
// Origin header's, else its Referer's, lower case without port; "" when
// it has neither (a server-side request). browser is true when either
// header is present, even unreadable ("null" from a sandboxed page): such
// a request is a browser's and can only be from an unknown page.
func PageHost(origin, referer string) (host string, browser bool) {
	if origin != "" {
		return hostOf(origin), true
	}
	if referer != "" {
		return hostOf(referer), true
	}
	return "", false
}

// hostOf is the lower-case host of a URL, "" when it has none.
func hostOf(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			return strings.ToLower(rest[1:i])
		}
		return ""
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return strings.ToLower(rest)
}
