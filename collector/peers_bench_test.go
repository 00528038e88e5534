//go:build unix

package collector_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// BenchmarkPeers sends page views through each ingest endpoint, in the
// same run so their CPU per event compares: /event (cookieless, as the
// peers' trackers always are) against Plausible's /api/event, Umami's
// /api/send and GoatCounter's /count, each with enrichment and a
// cookieless visitor id (the day's salt from a real Redis, then cached),
// without the network or the queue. The endpoints take turns, 50 requests
// each per round, and each turn's process CPU time (getrusage) is charged
// to its endpoint, so load from other processes, which moves wall times a
// lot on a shared machine, moves all of them alike. It reports each
// endpoint's CPU µs per event and its ratio to /event's (the goal: within
// 1.2).
//
//	go test -run X -bench BenchmarkPeers -benchtime 200x -count 3 ./collector/
func BenchmarkPeers(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	h := benchHandler(b, func(c *collector.Config) {
		trusted, _ := enrich.ParseTrustedProxies("127.0.0.1")
		c.Enricher = enrich.New(enrich.Config{Geo: enrich.IPLoc{}, Trusted: trusted, Salts: enrich.NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil)})
	})
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	type endpoint struct {
		name, method, target, body string
		want                       int
	}
	cases := []endpoint{
		{"event", "POST", "/event?cookieless=1",
			`{"site_id":"example.com","event_type":"page_view","url":"https://example.com/pricing?utm_source=hn","referrer":"https://news.example.com/item"}`, 202},
		{"plausible", "POST", "/api/event",
			`{"n":"pageview","u":"https://example.com/pricing?utm_source=hn","d":"example.com","r":"https://news.example.com/item","v":36}`, 202},
		{"umami", "POST", "/api/send",
			`{"type":"event","payload":{"website":"example.com","screen":"1920x1080","language":"en-US","title":"Pricing","hostname":"example.com","url":"https://example.com/pricing?utm_source=hn","referrer":"https://news.example.com/item"}}`, 200},
		{"goatcounter", "GET", "/count?p=%2Fpricing&q=%3Futm_source%3Dhn&t=Pricing&r=https%3A%2F%2Fnews.example.com%2Fitem&s=1920%2C1080%2C1&b=0&rnd=x1y2z", "", 200},
	}
	send := func(c endpoint) {
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
			b.Fatal(c.name, w.Code, w.Header(), w.Body.String())
		}
	}
	for _, c := range cases {
		send(c) // the salt read, the first parse of each User-Agent
	}
	const turn = 50
	cpu := make([]time.Duration, len(cases))
	rounds := 0
	b.ReportAllocs()
	for b.Loop() {
		for i, c := range cases {
			start := cpuTime(b)
			for range turn {
				send(c)
			}
			cpu[i] += cpuTime(b) - start
		}
		rounds++
	}
	n := float64(rounds * turn)
	for i, c := range cases {
		us := float64(cpu[i].Microseconds()) / n
		b.ReportMetric(us, c.name+"-cpu-µs/event")
		if i > 0 {
			b.ReportMetric(float64(cpu[i])/float64(cpu[0]), c.name+"/event")
		}
	}
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
