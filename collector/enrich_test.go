package collector_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

// fixedGeo says every public address is in Germany.
type fixedGeo struct{}

func (fixedGeo) Country(ip netip.Addr) string {
	if ip.IsPrivate() || ip.IsLoopback() {
		return ""
	}
	return "DE"
}

func enrichedServer(t *testing.T, q *memQueue, logs *bytes.Buffer) *httptest.Server {
	cfg := collector.DefaultConfig()
	cfg.Now = func() time.Time { return time.Date(2025, 11, 12, 20, 0, 0, 0, time.UTC) }
	cfg.Enricher = enrich.New(enrich.Config{Geo: fixedGeo{}})
	c := collector.New(q, q, zerolog.New(logs).Level(zerolog.DebugLevel), cfg)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// What a browser says about itself becomes source, browser, OS, device and
// country; the address and the User-Agent reach neither the queue nor the
// log, and crawlers are answered 202 and dropped.
func TestEnrichmentAtTheCollector(t *testing.T) {
	q := &memQueue{}
	var logs bytes.Buffer
	srv := enrichedServer(t, q, &logs)
	const ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	body := `[{"site_id":"s","event_type":"page_view","path":"/p?utm_campaign=launch","referrer":"https://news.ycombinator.com/item?id=7","ip":"203.0.113.77","user_agent":"` + ua + `"},
	          {"site_id":"s","event_type":"page_view","path":"/q","referrer":"https://shop.example/cart","url":"https://shop.example/q","ip":"198.51.100.9"},
	          {"site_id":"s","event_type":"page_view","path":"/","user_agent":"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}]`
	resp, out := do(t, "POST", srv.URL+"/events", "text/plain", "", []byte(body), "User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
	if resp.StatusCode != 202 || !strings.Contains(out, `"accepted":2`) || !strings.Contains(out, `"bots":1`) {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if len(q.events) != 2 {
		t.Fatalf("queued %d events", len(q.events))
	}
	a, b := q.events[0], q.events[1]
	if a.Source != "Hacker News" || a.ReferrerHost != "news.ycombinator.com" || a.UTMCampaign != "launch" || a.Browser != "Safari" || a.OS != "iOS" || a.Device != "Mobile" {
		t.Errorf("first event: %+v", a)
	}
	// The request's User-Agent stands for events without their own; a
	// referrer from the page's own host is no referrer.
	if b.Source != "" || b.ReferrerHost != "" || b.Browser != "Chrome" || b.OS != "Windows" || b.Device != "Desktop" {
		t.Errorf("second event: %+v", b)
	}
	queued, _ := json.Marshal(q.events)
	for _, secret := range []string{"203.0.113.77", "198.51.100.9", "iPhone OS 17_4", "Windows NT 10.0", "item?id=7", "/cart"} {
		if strings.Contains(string(queued), secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("%q reached the queue or the log:\n%s\n%s", secret, queued, logs.String())
		}
	}
}

// A bot's single event is answered 202 (not resent) with a message that
// says it was not counted and why; a browser's gets the seed's answer.
func TestBotEventAnswer(t *testing.T) {
	q := &memQueue{}
	srv := enrichedServer(t, q, &bytes.Buffer{})
	const bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	resp, out := do(t, "POST", srv.URL+"/event", "application/json", "", []byte(seedEvent), "User-Agent", bot)
	want := `{"success":true,"message":"Event not counted: its User-Agent is a bot's (a crawler or a headless browser); bots are dropped, and answered 202 so they do not resend","counted":false}` + "\n"
	if resp.StatusCode != 202 || out != want {
		t.Fatalf("a bot's event: %d %s, want 202 %s", resp.StatusCode, out, want)
	}
	if len(q.events) != 0 {
		t.Fatalf("a bot's event was queued: %+v", q.events)
	}
	resp, out = do(t, "POST", srv.URL+"/event", "application/json", "", []byte(seedEvent), "User-Agent", "curl/8.5.0")
	if resp.StatusCode != 202 || out != `{"success":true,"message":"Event queued successfully"}`+"\n" || len(q.events) != 1 {
		t.Fatalf("a counted event: %d %s (%d queued), want the seed's answer", resp.StatusCode, out, len(q.events))
	}
}

// Cookieless requests get a daily visitor id from the salt in Redis: the
// same browser is one visitor, another address another one, a user_id is
// kept; with Redis unreachable the answer is 503 (retry), never an event
// without its visitor.
func TestCookielessVisitorIDs(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	now := time.Now()
	q := &memQueue{}
	cfg := collector.DefaultConfig()
	cfg.Enricher = enrich.New(enrich.Config{Salts: enrich.NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, func() time.Time { return now })})
	srv := httptest.NewServer(collector.New(q, q, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	body := `[{"site_id":"s","event_type":"page_view","ip":"203.0.113.1","user_agent":"UA-1"},
	          {"site_id":"s","event_type":"page_view","ip":"203.0.113.1","user_agent":"UA-1"},
	          {"site_id":"s","event_type":"page_view","ip":"203.0.113.2","user_agent":"UA-1"},
	          {"site_id":"s","event_type":"page_view","ip":"203.0.113.1","user_agent":"UA-1","user_id":"kept"}]`
	if resp, out := do(t, "POST", srv.URL+"/events?cookieless=1", "text/plain", "", []byte(body)); resp.StatusCode != 202 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if resp, out := do(t, "POST", srv.URL+"/events", "text/plain", "", []byte(`[{"site_id":"s","event_type":"page_view","ip":"203.0.113.1","user_agent":"UA-1"}]`)); resp.StatusCode != 202 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	e := q.events
	if len(e) != 5 || len(e[0].UserID) != 32 || e[0].UserID != e[1].UserID || e[2].UserID == e[0].UserID || e[3].UserID != "kept" || e[4].UserID != "" {
		t.Fatalf("visitor ids: %q %q %q %q %q", e[0].UserID, e[1].UserID, e[2].UserID, e[3].UserID, e[4].UserID)
	}

	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { down.Close() })
	cfg.Enricher = enrich.New(enrich.Config{Salts: enrich.NewSalts(redisqueue.SaltStore{RDB: down}, prefix, nil)})
	srv2 := httptest.NewServer(collector.New(q, q, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv2.Close)
	resp, out := do(t, "POST", srv2.URL+"/event?cookieless=1", "application/json", "", []byte(`{"site_id":"s","event_type":"x"}`))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || len(q.events) != 5 {
		t.Fatalf("Redis down: %d %s, %d events queued", resp.StatusCode, out, len(q.events))
	}
}

// A cookieless id uses the salt of the event's own day: events a browser
// queued before midnight and sent after it stay that day's visitor; an
// event older than the salts' 48 h gets today's.
func TestCookielessSaltOfTheEventsDay(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	now := time.Now().UTC()
	day := now.Truncate(24 * time.Hour)
	q := &memQueue{}
	cfg := collector.DefaultConfig()
	cfg.Enricher = enrich.New(enrich.Config{Salts: enrich.NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, func() time.Time { return now })})
	srv := httptest.NewServer(collector.New(q, q, zerolog.Nop(), cfg).Handler())
	t.Cleanup(srv.Close)
	ev := func(ts time.Time) string {
		return `{"site_id":"s","event_type":"x","ip":"203.0.113.1","user_agent":"UA","timestamp":"` + ts.Format(time.RFC3339Nano) + `"}`
	}
	yesterday, today, old := day.Add(-time.Minute), day.Add(now.Sub(day)/2), day.Add(-72*time.Hour)
	body := "[" + ev(yesterday) + "," + ev(yesterday.Add(-time.Hour)) + "," + ev(today) + "," + ev(old) + "]"
	if resp, out := do(t, "POST", srv.URL+"/events?cookieless=1", "text/plain", "", []byte(body)); resp.StatusCode != 202 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	e := q.events
	if len(e) != 4 || e[0].UserID != e[1].UserID || e[0].UserID == e[2].UserID || e[3].UserID != e[2].UserID {
		t.Fatalf("ids: yesterday %q %q, today %q, 3 days ago %q", e[0].UserID, e[1].UserID, e[2].UserID, e[3].UserID)
	}
}
