// Package httpx holds the small HTTP pieces the collector and the reporter
// share: JSON replies, the mapping from error kind to status, and a server
// that shuts down gracefully when its context ends.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
)

// WriteJSON writes v as JSON with the given status, and a newline. It does
// not escape <, > and & as \u003c...: the answers are application/json,
// never HTML, and an error that names a path must read as the path.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := MarshalJSON(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"success":false,"error":"internal error"}`+"\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// MarshalJSON is json.Marshal without HTML escaping, ending in a newline.
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GetAndHead registers h for GET and HEAD on path: HEAD answers what GET
// would (same status and headers), and net/http drops the body.
func GetAndHead(r *httprouter.Router, path string, h http.Handler) {
	Handle(r, http.MethodGet, path, h)
	Handle(r, http.MethodHead, path, h)
}

// RouteNoter is a ResponseWriter that wants to know which route pattern
// answers the request (package metrics labels requests by pattern, never
// by raw path, so the number of series stays bounded).
type RouteNoter interface {
	NoteRoute(pattern string)
}

// Handle registers h for method and pattern on r; the route tells a
// RouteNoter response writer its pattern before h runs.
func Handle(r *httprouter.Router, method, pattern string, h http.Handler) {
	r.Handler(method, pattern, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if n, ok := w.(RouteNoter); ok {
			n.NoteRoute(pattern)
		}
		h.ServeHTTP(w, req)
	}))
}

// Status maps an error kind to an HTTP status.
func Status(err error) int {
	switch analytics.KindOf(err) {
	case analytics.Invalid:
		return http.StatusBadRequest
	case analytics.NotFound:
		return http.StatusNotFound
	case analytics.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Serve serves h on ln until ctx ends, then stops accepting connections and
// waits up to grace for requests in flight to finish.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, log zerolog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	if err != nil {
		log.Warn().Err(err).Msg("http shutdown")
	}
	return err
}

// Health answers /healthz: the process is alive.
func Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
}

// DefaultReadyTimeout is how long /readyz waits for a dependency by default.
const DefaultReadyTimeout = 2 * time.Second

// Ready answers /readyz: 200 when every dependency answers a ping within
// timeout (DefaultReadyTimeout when not positive), else 503.
func Ready(deps map[string]analytics.Pinger, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		out := map[string]string{}
		status := http.StatusOK
		for name, p := range deps {
			if err := p.Ping(ctx); err != nil {
				out[name] = err.Error()
				status = http.StatusServiceUnavailable
			} else {
				out[name] = "ok"
			}
		}
		WriteJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": out})
	})
}
