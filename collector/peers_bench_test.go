package collector_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// BenchmarkPeers is one page view through each ingest endpoint, in the
// same run so their CPU per event compares: /event (cookieless, as the
// peers' trackers always are) against Plausible's /api/event, Umami's
// /api/send and GoatCounter's /count, each with enrichment and a
// cookieless visitor id (the day's salt from a real Redis, then cached),
// without the network or the queue. The goal is within 1.2x of /event.
//
//	go test -run X -bench BenchmarkPeers -benchtime 2s -count 5 ./collector/
func BenchmarkPeers(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	h := benchHandler(b, func(c *collector.Config) {
		trusted, _ := enrich.ParseTrustedProxies("127.0.0.1")
		c.Enricher = enrich.New(enrich.Config{Geo: enrich.IPLoc{}, Trusted: trusted, Salts: enrich.NewSalts(rdb, prefix, nil)})
	})
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	for _, c := range []struct {
		name, method, target, body string
		want                       int
	}{
		{"event", "POST", "/event?cookieless=1",
			`{"site_id":"example.com","event_type":"page_view","url":"https://example.com/pricing?utm_source=hn","referrer":"https://news.example.com/item"}`, 202},
		{"plausible", "POST", "/api/event",
			`{"n":"pageview","u":"https://example.com/pricing?utm_source=hn","d":"example.com","r":"https://news.example.com/item","v":36}`, 202},
		{"umami", "POST", "/api/send",
			`{"type":"event","payload":{"website":"example.com","screen":"1920x1080","language":"en-US","title":"Pricing","hostname":"example.com","url":"https://example.com/pricing?utm_source=hn","referrer":"https://news.example.com/item"}}`, 200},
		{"goatcounter", "GET", "/count?p=%2Fpricing&q=%3Futm_source%3Dhn&t=Pricing&r=https%3A%2F%2Fnews.example.com%2Fitem&s=1920%2C1080%2C1&b=0&rnd=x1y2z", "", 200},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var req *http.Request
				if c.method == "GET" {
					req = httptest.NewRequest("GET", c.target, nil)
				} else {
					req = httptest.NewRequest("POST", c.target, strings.NewReader(c.body))
					req.Header.Set("Content-Type", "text/plain")
				}
				req.Host = "example.com"
				req.Header.Set("User-Agent", ua)
				req.Header.Set("Referer", "https://example.com/pricing?utm_source=hn")
				req.Header.Set("X-Forwarded-For", "80.156.0.1")
				req.RemoteAddr = "127.0.0.1:5000"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != c.want || w.Header().Get("X-Analytics-Dropped") != "" {
					b.Fatal(w.Code, w.Header(), w.Body.String())
				}
			}
		})
	}
}
