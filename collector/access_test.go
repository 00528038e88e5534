package collector_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/ratelimit"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/sites"
)

// geoByAddress puts each documentation address in its own country, so a
// believed "ip" shows in the country it chose.
type geoByAddress struct{}

func (geoByAddress) Country(ip netip.Addr) string {
	switch ip.String() {
	case "203.0.113.1":
		return "DE"
	case "203.0.113.2":
		return "FR"
	case "203.0.113.3":
		return "JP"
	case "203.0.113.4":
		return "BR"
	case "203.0.113.5":
		return "US"
	}
	return ""
}

// registeredServer is a collector in registered mode for the site "shop"
// (pages on shop.example, write key key, whose hash is stored as hash
// gives it), enriching with geoByAddress and cookieless ids from the real
// Redis. opts adjust its config.
func registeredServer(t *testing.T, q *memQueue, key string, hash func(string) string, opts ...func(*collector.Config)) *httptest.Server {
	t.Helper()
	reg := sites.NewRegistry(benchSites{{ID: "shop", Domains: []string{"shop.example"}, KeyHash: hash(key)},
		{ID: "shop-2", Domains: []string{"shop.example"}, KeyHash: hash(key + "-2")}}, sites.RegistryConfig{})
	if err := reg.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	cfg := collector.DefaultConfig()
	cfg.Sites, cfg.SiteForKey = reg, reg.SiteForKey
	cfg.QueueTimeout = 10 * time.Second // the first salt read of a loaded machine may be slow
	cfg.Enricher = enrich.New(enrich.Config{Geo: geoByAddress{}, Salts: enrich.NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil), Cookieless: true})
	for _, o := range opts {
		o(&cfg)
	}
	srv := httptest.NewServer(collector.New(q, q, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	return srv
}

const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

// TestPresentedKeyMustBeValid: a request that carries a write key is
// refused 401 when the key is wrong, even from an allowed Origin or
// Referer (which any client can send), on every endpoint.
func TestPresentedKeyMustBeValid(t *testing.T) {
	q := &memQueue{}
	key := sites.NewSecret(sites.WriteKeyPrefix)
	srv := registeredServer(t, q, key, sites.HashSecret)
	ev := `{"site_id":"shop","event_type":"page_view","path":"/"}`
	for _, tt := range []struct {
		name, path, body string
		hdr              []string
		status           int
	}{
		{"allowed origin, no key", "/event", ev, []string{"Origin", "https://shop.example"}, 202},
		{"allowed origin, right key", "/event", ev, []string{"Origin", "https://shop.example", "Authorization", "Bearer " + key}, 202},
		{"allowed origin, wrong Bearer key", "/event", ev, []string{"Origin", "https://shop.example", "Authorization", "Bearer sak_wrong"}, 401},
		{"allowed referer, wrong Bearer key", "/event", ev, []string{"Referer", "https://shop.example/p", "Authorization", "Bearer sak_wrong"}, 401},
		{"allowed origin, wrong Basic key", "/events", "[" + ev + "]", []string{"Origin", "https://shop.example", "Authorization", basic("sak_wrong")}, 401},
		{"allowed origin, wrong key of a batch of two sites", "/events", "[" + ev + "," + strings.Replace(ev, `"shop"`, `"shop-2"`, 1) + "]",
			[]string{"Origin", "https://shop.example", "Authorization", "Bearer sak_wrong"}, 401},
		{"Segment, allowed origin, wrong key", "/v1/track", `{"userId":"u","event":"e"}`, []string{"Origin", "https://shop.example", "Authorization", basic("sak_wrong")}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(q.events)
			resp, b := do(t, "POST", srv.URL+tt.path, "application/json", "", []byte(tt.body), tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tt.status)
			}
			if tt.status == 401 && (len(q.events) != before || !strings.Contains(b, "wrong write key") && !strings.Contains(b, "unknown write key") || resp.Header.Get("WWW-Authenticate") == "") {
				t.Fatalf("401 %s (WWW-Authenticate %q), %d events queued", b, resp.Header.Get("WWW-Authenticate"), len(q.events)-before)
			}
		})
	}
}

// TestHintsNeedAValidWriteKey: "ip" and "user_agent" speak for a browser
// only in a request authenticated by the site's write key. Five keyless
// requests from one address with an allowed Origin are one visitor of the
// socket's country and browser, whatever hints they carry; with the key
// (a server-side sender on its visitors' behalf) the hints are believed.
func TestHintsNeedAValidWriteKey(t *testing.T) {
	q := &memQueue{}
	key := sites.NewSecret(sites.WriteKeyPrefix)
	srv := registeredServer(t, q, key, sites.HashSecret)
	send := func(i int, hdr ...string) {
		t.Helper()
		body := fmt.Sprintf(`{"site_id":"shop","event_type":"page_view","path":"/","ip":"203.0.113.%d","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_%d like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"}`, i, i)
		if resp, b := do(t, "POST", srv.URL+"/event", "text/plain", "", []byte(body), append([]string{"User-Agent", chrome}, hdr...)...); resp.StatusCode != 202 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	for i := 1; i <= 5; i++ {
		send(i, "Origin", "https://shop.example")
	}
	visitors, countries := map[string]bool{}, map[string]bool{}
	for _, ev := range q.events {
		visitors[ev.UserID], countries[ev.Country] = true, true
		if ev.Browser != "Chrome" || ev.OS != "Windows" {
			t.Errorf("keyless event with hints: browser %q, os %q; want the request's Chrome on Windows", ev.Browser, ev.OS)
		}
	}
	if len(visitors) != 1 || len(countries) != 1 || countries["DE"] {
		t.Fatalf("five keyless requests from one address with forged hints: visitors %v, countries %v; want one visitor of the socket's country", visitors, countries)
	}

	q.events = nil
	for i := 1; i <= 5; i++ {
		send(i, "Authorization", "Bearer "+key)
	}
	visitors, countries = map[string]bool{}, map[string]bool{}
	for _, ev := range q.events {
		visitors[ev.UserID], countries[ev.Country] = true, true
		if ev.Browser != "Safari" || ev.OS != "iOS" {
			t.Errorf("event with the key: browser %q, os %q; want the hint's Safari on iOS", ev.Browser, ev.OS)
		}
	}
	if len(visitors) != 5 || len(countries) != 5 {
		t.Fatalf("five requests with the key for five visitors: visitors %v, countries %v", visitors, countries)
	}
}

// TestOpenModeHintsOnlyFromServers: in open mode there are no write keys;
// a browser's request (Origin or Referer) speaks for itself, so its hints
// are ignored, while a server-side request's are believed.
func TestOpenModeHintsOnlyFromServers(t *testing.T) {
	q := &memQueue{}
	cfg := collector.DefaultConfig()
	cfg.Enricher = enrich.New(enrich.Config{Geo: geoByAddress{}})
	srv := httptest.NewServer(collector.New(q, q, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	body := `{"site_id":"s","event_type":"page_view","path":"/","ip":"203.0.113.1"}`
	for _, hdr := range [][]string{{"Origin", "https://shop.example"}, {"Referer", "https://shop.example/p"}, nil} {
		if resp, b := do(t, "POST", srv.URL+"/event", "text/plain", "", []byte(body), hdr...); resp.StatusCode != 202 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	if got := []string{q.events[0].Country, q.events[1].Country, q.events[2].Country}; got[0] != "" || got[1] != "" || got[2] != "DE" {
		t.Fatalf("countries %q; want the socket's for the browser requests, the hint's for the server's", got)
	}
}

// TestSegmentTakesBearerKey: Segment's endpoints take the write key as
// "Authorization: Bearer <key>" too, as /event does.
func TestSegmentTakesBearerKey(t *testing.T) {
	q := &memQueue{}
	key := sites.NewSecret(sites.WriteKeyPrefix)
	srv := registeredServer(t, q, key, sites.HashSecret)
	resp, b := do(t, "POST", srv.URL+"/v1/track", "application/json", "", []byte(`{"userId":"u","event":"e"}`), "Authorization", "Bearer "+key)
	if resp.StatusCode != 200 || len(q.events) != 1 || q.events[0].SiteID != "shop" {
		t.Fatalf("registered, Bearer key: %d %s, queued %+v", resp.StatusCode, b, q.events)
	}
	if resp, b := do(t, "POST", srv.URL+"/v1/track", "application/json", "", []byte(`{"userId":"u","event":"e"}`), "Authorization", "Bearer sak_wrong"); resp.StatusCode != 401 {
		t.Fatalf("registered, wrong Bearer key: %d %s", resp.StatusCode, b)
	}
	open, _ := newSegmentServer(t, q, collector.Config{})
	if resp, b := do(t, "POST", open.URL+"/v1/batch", "application/json", "", []byte(`{"batch":[{"type":"track","userId":"u","event":"e"}]}`), "Authorization", "Bearer open-site"); resp.StatusCode != 200 || q.events[len(q.events)-1].SiteID != "open-site" {
		t.Fatalf("open, Bearer site id: %d %s", resp.StatusCode, b)
	}
}

// TestUpperCaseKeyHash: a key hash stored in upper-case hex (written by
// hand or by another tool) matches on every endpoint, Segment's included.
func TestUpperCaseKeyHash(t *testing.T) {
	q := &memQueue{}
	key := sites.NewSecret(sites.WriteKeyPrefix)
	srv := registeredServer(t, q, key, func(k string) string { return strings.ToUpper(sites.HashSecret(k)) })
	if resp, b := do(t, "POST", srv.URL+"/event", "application/json", "", []byte(`{"site_id":"shop","event_type":"x"}`), "Authorization", "Bearer "+key); resp.StatusCode != 202 {
		t.Fatalf("/event: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", srv.URL+"/v1/track", "application/json", "", []byte(`{"userId":"u","event":"e"}`), "Authorization", basic(key)); resp.StatusCode != 200 {
		t.Fatalf("/v1/track: %d %s", resp.StatusCode, b)
	}
}

// TestHeadlessBrowserOnAForeignPage: the local-page exemption of the bot
// filter follows the page the request comes from (its Origin or
// Referer), not the event's "url", which the page writes.
func TestHeadlessBrowserOnAForeignPage(t *testing.T) {
	q := &memQueue{}
	cfg := collector.DefaultConfig()
	cfg.Enricher = enrich.New(enrich.Config{})
	srv := httptest.NewServer(collector.New(q, q, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	const headless = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"
	body := `{"site_id":"s","event_type":"page_view","path":"/","url":"http://localhost:8080/"}`
	for _, tt := range []struct {
		name string
		hdr  []string
		bot  bool
	}{
		{"page on another host", []string{"Origin", "https://shop.example"}, true},
		{"page on another host, by its Referer", []string{"Referer", "https://shop.example/p"}, true},
		{"sandboxed page", []string{"Origin", "null"}, true},
		{"page on localhost", []string{"Origin", "http://localhost:8080"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(q.events)
			resp, b := do(t, "POST", srv.URL+"/events", "text/plain", "", []byte("["+body+"]"), append([]string{"User-Agent", headless}, tt.hdr...)...)
			if resp.StatusCode != 202 || strings.Contains(b, `"bots":1`) != tt.bot || (len(q.events) == before) != tt.bot {
				t.Fatalf("%d %s; want bot %v", resp.StatusCode, b, tt.bot)
			}
		})
	}
}

// limitedServer is a collector in open mode behind a trusted proxy at
// 127.0.0.1 with the given limits.
func limitedServer(t *testing.T, q *memQueue, perIP, perSite ratelimit.Config, opts ...func(*collector.Config)) *httptest.Server {
	t.Helper()
	cfg := collector.DefaultConfig()
	cfg.Limits = collector.NewLimits(perIP, perSite, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	for _, o := range opts {
		o(&cfg)
	}
	srv := httptest.NewServer(collector.New(q, q, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// TestPerIPLimitTakesAnIPv6Slash64AsOneClient: 30 addresses of one /64
// share one bucket; another /64 has its own.
func TestPerIPLimitTakesAnIPv6Slash64AsOneClient(t *testing.T) {
	q := &memQueue{}
	srv := limitedServer(t, q, ratelimit.Config{Rate: 0.01, Burst: 3}, ratelimit.Config{})
	ev := []byte(`{"site_id":"s","event_type":"x"}`)
	taken := 0
	for i := 1; i <= 30; i++ {
		resp, _ := do(t, "POST", srv.URL+"/event", "application/json", "", ev, "X-Forwarded-For", fmt.Sprintf("2001:db8:1:2::%x", i*797))
		if resp.StatusCode == 202 {
			taken++
		}
	}
	if taken != 3 {
		t.Fatalf("30 addresses of one /64 with a burst of 3: %d taken", taken)
	}
	if resp, b := do(t, "POST", srv.URL+"/event", "application/json", "", ev, "X-Forwarded-For", "2001:db8:1:3::1"); resp.StatusCode != 202 {
		t.Fatalf("another /64: %d %s", resp.StatusCode, b)
	}
}

// TestPerSiteLimitChecksEverySiteBeforeSpending: a batch refused for its
// second site (over its limit, or not registered) spends nothing of the
// first site's tokens; a batch costs every event it carries.
func TestPerSiteLimitChecksEverySiteBeforeSpending(t *testing.T) {
	q := &memQueue{}
	srv := limitedServer(t, q, ratelimit.Config{}, ratelimit.Config{Rate: 0.01, Burst: 10})
	batch := func(sites ...string) []byte {
		var evs []string
		for _, s := range sites {
			evs = append(evs, `{"site_id":"`+s+`","event_type":"x"}`)
		}
		return []byte("[" + strings.Join(evs, ",") + "]")
	}
	ten := func(s string) []string { return strings.Fields(strings.Repeat(s+" ", 10)) }
	if resp, b := do(t, "POST", srv.URL+"/events", "application/json", "", batch(ten("b")...)); resp.StatusCode != 202 {
		t.Fatalf("b's burst: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", srv.URL+"/events", "application/json", "", batch("a", "a", "a", "b")); resp.StatusCode != 429 || !strings.Contains(b, `site \"b\"`) {
		t.Fatalf("a batch of a and b with b spent: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", srv.URL+"/events", "application/json", "", batch(ten("a")...)); resp.StatusCode != 202 {
		t.Fatalf("a's whole burst after a refused batch of a and b: %d %s", resp.StatusCode, b)
	}

	// A batch larger than the burst is taken from a full bucket and leaves
	// it in debt.
	var big []string
	for range 100 {
		big = append(big, "c")
	}
	if resp, b := do(t, "POST", srv.URL+"/events", "application/json", "", batch(big...)); resp.StatusCode != 202 {
		t.Fatalf("100 events on a full bucket of 10: %d %s", resp.StatusCode, b)
	}
	resp, b := do(t, "POST", srv.URL+"/events", "application/json", "", batch("c"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "9100" {
		t.Fatalf("one more after 100 on a bucket of 10 at 0.01/s: %d %s, Retry-After %q; want 429 after 9100 s", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}

	// Registered: a batch refused for its unregistered second site spends
	// nothing either.
	q2 := &memQueue{}
	key := sites.NewSecret(sites.WriteKeyPrefix)
	reg := registeredServer(t, q2, key, sites.HashSecret, func(c *collector.Config) {
		c.Limits = collector.NewLimits(ratelimit.Config{}, ratelimit.Config{Rate: 0.01, Burst: 10}, nil)
	})
	if resp, b := do(t, "POST", reg.URL+"/events", "application/json", "", batch("shop", "shop", "nope"), "Authorization", "Bearer "+key); resp.StatusCode != 403 {
		t.Fatalf("a batch with an unregistered site: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", reg.URL+"/events", "application/json", "", batch(ten("shop")...), "Authorization", "Bearer "+key); resp.StatusCode != 202 {
		t.Fatalf("shop's whole burst after a refused batch: %d %s", resp.StatusCode, b)
	}
}
