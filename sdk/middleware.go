package sdk

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MiddlewareConfig tunes Middleware. Zero values mean the default.
type MiddlewareConfig struct {
	// UserID returns the user of a request ("" for anonymous). Default: none.
	UserID func(r *http.Request) string
	// Skip returns true for requests that are not page views. Default: only
	// GET and HEAD requests answered with a status below 400 are recorded.
	Skip func(r *http.Request, status int) bool
	// ClientIP returns the browser's address for a request. Default: the
	// host of r.RemoteAddr. Behind a reverse proxy or load balancer that is
	// the proxy's address: set ClientIP to read the address your proxy
	// reports (for example the entry it appends to X-Forwarded-For), and
	// only for requests that came through it, since a client can send any
	// header. Return "" to send none (the collector then uses this server's
	// address, which puts every visitor in one place).
	ClientIP func(r *http.Request) string
}

// Middleware records a page_view for each request next serves, with:
//   - the path in its canonical percent-encoded form, its query dropped
//     except for the campaign parameters utm_source, utm_medium,
//     utm_campaign, utm_content and utm_term, which are kept in the path's
//     query for the collector to read ("/pricing?utm_source=hn");
//   - the user from cfg.UserID;
//   - the browser's Referer header as Referrer, its User-Agent as
//     UserAgent, and its address (cfg.ClientIP) as IP, so the collector
//     can tell the traffic source, browser, device and country (it stores
//     none of them). A Referer or User-Agent longer than the limit is cut
//     to it, and one that is still invalid, or an invalid address, is left
//     out: a page view is never lost over them.
//
// Recording never delays the response beyond Track's in-memory queueing;
// tracking errors go to the client's Logger.
func Middleware(c *Client, cfg MiddlewareConfig) func(http.Handler) http.Handler {
	skip := cfg.Skip
	if skip == nil {
		skip = func(r *http.Request, status int) bool {
			return (r.Method != http.MethodGet && r.Method != http.MethodHead) || status >= 400
		}
	}
	clientIP := cfg.ClientIP
	if clientIP == nil {
		clientIP = remoteIP
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			if skip(r, sw.status) {
				return
			}
			user := ""
			if cfg.UserID != nil {
				user = cfg.UserID(r)
			}
			// The path as the request wrote it, percent-encoding included:
			// r.URL.Path is decoded, so "/search%20" would become "/search "
			// and "/a%2Fb" "/a/b". Track puts it in the canonical form that
			// the collector and the browser snippet use.
			path := r.URL.EscapedPath()
			if q := campaignQuery(r.URL.RawQuery); q != "" {
				path += "?" + q
			}
			ev := Event{EventType: "page_view", Path: path, UserID: user}
			if ref := cut(r.Referer(), maxURL); validateURL("referrer", ref) == nil {
				ev.Referrer = ref
			}
			if ua := cut(r.UserAgent(), maxUserAgent); utf8.ValidString(ua) && strings.IndexFunc(ua, unicode.IsControl) < 0 {
				ev.UserAgent = ua
			}
			if a, err := netip.ParseAddr(clientIP(r)); err == nil {
				ev.IP = a.WithZone("").Unmap().String()
			}
			if err := c.Track(ev); err != nil {
				c.logf("sdk: middleware: %v", err)
			}
		})
	}
}

// remoteIP is the host of r.RemoteAddr: the address of the peer, which is
// the browser unless a proxy stands between.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// cut shortens s to at most n bytes without splitting a UTF-8 character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
