package sdk

import (
	"net/http"
)

// MiddlewareConfig tunes Middleware. Zero values mean the default.
type MiddlewareConfig struct {
	// UserID returns the user of a request ("" for anonymous). Default: none.
	UserID func(r *http.Request) string
	// Skip returns true for requests that are not page views. Default: only
	// GET and HEAD requests answered with a status below 400 are recorded.
	Skip func(r *http.Request, status int) bool
}

// Middleware records a page_view for each request next serves: the path
// (without the query) in its canonical percent-encoded form, and the user
// from cfg.UserID. Recording never delays the response beyond
// Track's in-memory queueing; tracking errors go to the client's Logger.
func Middleware(c *Client, cfg MiddlewareConfig) func(http.Handler) http.Handler {
	skip := cfg.Skip
	if skip == nil {
		skip = func(r *http.Request, status int) bool {
			return (r.Method != http.MethodGet && r.Method != http.MethodHead) || status >= 400
		}
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
			// and "/a%2Fb" "/a/b". Page puts it in the canonical form that
			// the collector and the browser snippet use.
			if err := c.Page(r.URL.EscapedPath(), user); err != nil {
				c.logf("sdk: middleware: %v", err)
			}
		})
	}
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
