// Package dashboard is the reporter's one-page dashboard: the HTML shell,
// and the script and styles built from web/ (with uPlot) by esbuild into
// dist/, embedded here. The page reads the Stats API like any client;
// nothing in it is rendered on the server but the collector's address.
package dashboard

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"strings"

	"github.com/siteanalytics/analytics/internal/httpx"
)

//go:embed dist/app.js
var appJS []byte

//go:embed dist/app.css
var appCSS []byte

//go:embed index.html
var indexHTML string

// CSP allows nothing but this origin's own script, styles and API: no
// inline script or style element, no other origin, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Config is what the page needs from the reporter's configuration.
type Config struct {
	// CollectorURL is shown in the empty state's script tag and curl line.
	CollectorURL string
}

// Dashboard serves the page and its assets, each prepared (and gzipped)
// once at start.
type Dashboard struct {
	page   *httpx.Static
	assets map[string]*httpx.Static
}

// New prepares the page for cfg.
func New(cfg Config) (*Dashboard, error) {
	js := httpx.NewStatic(appJS, "text/javascript; charset=utf-8")
	css := httpx.NewStatic(appCSS, "text/css; charset=utf-8")
	t, err := template.New("index").Parse(indexHTML)
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	err = t.Execute(&page, map[string]string{
		"Collector": strings.TrimRight(cfg.CollectorURL, "/"),
		"JS":        js.Version(),
		"CSS":       css.Version(),
	})
	if err != nil {
		return nil, err
	}
	return &Dashboard{
		page:   httpx.NewStatic(page.Bytes(), "text/html; charset=utf-8"),
		assets: map[string]*httpx.Static{"app.js": js, "app.css": css},
	}, nil
}

// Page serves the HTML shell: the same for / and every /sites/{site_id}
// (the script reads the site from the URL).
func (d *Dashboard) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		d.page.ServeHTTP(w, r)
	})
}

// Asset serves /assets/{name}. The page asks for them with ?v=<hash of the
// content>, so such a request may be cached for good.
func (d *Dashboard) Asset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := d.assets[strings.TrimPrefix(r.URL.Path, "/assets/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		secure(w.Header())
		if r.URL.Query().Get("v") == a.Version() {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		a.ServeHTTP(w, r)
	})
}

func secure(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// Weight is the gzipped size of everything the page loads: the HTML, the
// script and the styles.
func (d *Dashboard) Weight() int {
	n := len(d.page.Gzip)
	for _, a := range d.assets {
		n += len(a.Gzip)
	}
	return n
}
