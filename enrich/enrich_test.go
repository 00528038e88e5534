package enrich

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	analytics "github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/redisqueue"
)

const (
	chromeUA   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	iphoneUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
	headlessUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36"
	botUA      = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

// browserRequest is what the JS snippet sends from a page on example.com.
func browserRequest(ua, remote string) *http.Request {
	r := httptest.NewRequest("POST", "https://collector.example.net/events", nil)
	r.RemoteAddr = remote
	r.Header.Set("User-Agent", ua)
	r.Header.Set("Origin", "https://www.example.com")
	r.Header.Set("Referer", "https://www.example.com/pricing")
	return r
}

func TestEnricher(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	trusted, _ := ParseTrustedProxies("10.0.0.0/8")
	salts := NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil)
	e := New(Config{Geo: IPLoc{}, Trusted: trusted, Salts: salts})
	ctx := context.Background()

	t.Run("browser page view from Hacker News", func(t *testing.T) {
		r := browserRequest(chromeUA, "10.0.0.2:4000")
		r.Header.Set("X-Forwarded-For", "80.156.0.1")
		ev := analytics.Event{SiteID: "s", EventType: "page_view",
			Client: analytics.ClientHints{Referrer: "https://news.ycombinator.com/item?id=1"}}
		bot, err := e.Request(r).Event(ctx, &ev, false)
		if bot || err != nil {
			t.Fatalf("bot=%v err=%v", bot, err)
		}
		want := analytics.Event{SiteID: "s", EventType: "page_view", Source: "Hacker News", ReferrerHost: "news.ycombinator.com",
			Browser: "Chrome", OS: "Windows", Device: "Desktop", Country: "DE"}
		if !equalEvents(ev, want) {
			t.Errorf("got  %+v\nwant %+v", ev, want)
		}
	})

	t.Run("internal navigation is direct", func(t *testing.T) {
		ev := analytics.Event{SiteID: "s", Client: analytics.ClientHints{Referrer: "https://example.com/"}}
		if _, err := e.Request(browserRequest(chromeUA, "80.156.0.1:1")).Event(ctx, &ev, false); err != nil {
			t.Fatal(err)
		}
		if ev.Source != "" || ev.ReferrerHost != "" {
			t.Errorf("source %q, referrer %q; want direct", ev.Source, ev.ReferrerHost)
		}
	})

	t.Run("own host from the event url, then the Referer header", func(t *testing.T) {
		r := browserRequest(chromeUA, "80.156.0.1:1")
		r.Header.Del("Origin")
		r.Header.Set("Referer", "https://shop.example.org/cart")
		q := e.Request(r)
		ev := analytics.Event{Client: analytics.ClientHints{Referrer: "https://shop.example.org/x"}}
		_, _ = q.Event(ctx, &ev, false)
		if ev.Source != "" {
			t.Errorf("Referer host is the site's: source %q", ev.Source)
		}
		ev = analytics.Event{Client: analytics.ClientHints{Referrer: "https://shop.example.org/x", URL: "https://blog.example.org/post?utm_source=x"}}
		_, _ = q.Event(ctx, &ev, false)
		if ev.Source != "shop.example.org" {
			t.Errorf("url names another host: source %q", ev.Source)
		}
	})

	t.Run("utm_source wins", func(t *testing.T) {
		ev := analytics.Event{UTMSource: "fb", Client: analytics.ClientHints{Referrer: "https://t.co/x"}}
		_, _ = e.Request(browserRequest(chromeUA, "80.156.0.1:1")).Event(ctx, &ev, false)
		if ev.Source != "Facebook" || ev.ReferrerHost != "t.co" {
			t.Errorf("source %q referrer %q", ev.Source, ev.ReferrerHost)
		}
	})

	t.Run("server-side sender speaks for its visitor", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/events", nil)
		r.RemoteAddr = "8.8.4.4:5000" // the sender's server
		r.Header.Set("User-Agent", "Go-http-client/1.1")
		q := e.Request(r)
		ev1 := analytics.Event{SiteID: "s", Client: analytics.ClientHints{UserAgent: iphoneUA, IP: "210.130.0.1"}}
		ev2 := analytics.Event{SiteID: "s"}
		for _, ev := range []*analytics.Event{&ev1, &ev2} {
			if bot, err := q.Event(ctx, ev, true); bot || err != nil {
				t.Fatalf("bot=%v err=%v", bot, err)
			}
		}
		if ev1.Browser != "Safari" || ev1.OS != "iOS" || ev1.Device != "Mobile" || ev1.Country != "JP" {
			t.Errorf("event with client hints: %+v", ev1)
		}
		if ev2.Browser != "" || ev2.Device != "" || ev2.Country != "US" {
			t.Errorf("event without hints: %+v", ev2)
		}
		salt, err := salts.Salt(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if want := VisitorID(salt, "s", "210.130.0.1", iphoneUA); ev1.UserID != want {
			t.Errorf("visitor %q, want %q", ev1.UserID, want)
		}
		if want := VisitorID(salt, "s", "8.8.4.4", "Go-http-client/1.1"); ev2.UserID != want {
			t.Errorf("visitor %q, want %q", ev2.UserID, want)
		}
	})

	t.Run("cookieless keeps a user id and is off unless asked", func(t *testing.T) {
		q := e.Request(browserRequest(chromeUA, "80.156.0.1:1"))
		ev := analytics.Event{SiteID: "s", UserID: "u-1"}
		_, _ = q.Event(ctx, &ev, true)
		if ev.UserID != "u-1" {
			t.Errorf("user id replaced: %q", ev.UserID)
		}
		ev = analytics.Event{SiteID: "s"}
		_, _ = q.Event(ctx, &ev, false)
		if ev.UserID != "" {
			t.Errorf("visitor id without cookieless mode: %q", ev.UserID)
		}
		always := New(Config{Salts: salts, Cookieless: true})
		_, _ = always.Request(browserRequest(chromeUA, "80.156.0.1:1")).Event(ctx, &ev, false)
		if len(ev.UserID) != 32 {
			t.Errorf("Config.Cookieless: visitor id %q", ev.UserID)
		}
	})

	t.Run("bots", func(t *testing.T) {
		tests := []struct {
			name, ua, origin, url string
			bot                   bool
		}{
			{"crawler", botUA, "https://www.example.com", "", true},
			{"crawler on localhost", botUA, "http://localhost:3000", "", true},
			{"headless on a public page", headlessUA, "https://www.example.com", "", true},
			{"headless on localhost", headlessUA, "http://localhost:3000", "", false},
			{"headless on 127.0.0.1", headlessUA, "http://127.0.0.1:8080", "", false},
			{"headless on ::1", headlessUA, "http://[::1]:8080", "", false},
			{"headless, url on localhost", headlessUA, "", "http://app.localhost/x", false},
			{"headless, url public despite a local origin", headlessUA, "http://localhost", "https://example.com/", true},
			{"curl is an SDK, not a bot", "curl/8.5.0", "", "", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := browserRequest(tt.ua, "80.156.0.1:1")
				r.Header.Del("Referer")
				r.Header.Set("Origin", tt.origin)
				ev := analytics.Event{SiteID: "s", Client: analytics.ClientHints{URL: tt.url, Referrer: "https://t.co/", IP: "8.8.8.8"}}
				bot, err := e.Request(r).Event(ctx, &ev, true)
				if err != nil || bot != tt.bot {
					t.Errorf("bot=%v err=%v, want bot=%v", bot, err, tt.bot)
				}
				if ev.Client != (analytics.ClientHints{}) {
					t.Errorf("client hints kept: %+v", ev.Client)
				}
			})
		}
		// A bot's UA on the event itself counts too.
		ev := analytics.Event{Client: analytics.ClientHints{UserAgent: botUA}}
		if bot, _ := e.Request(browserRequest(chromeUA, "80.156.0.1:1")).Event(ctx, &ev, false); !bot {
			t.Error("bot user_agent on the event not detected")
		}
	})

	t.Run("salt error", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		fresh := New(Config{Salts: NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix+"other:", nil), Cookieless: true})
		ev := analytics.Event{SiteID: "s", Client: analytics.ClientHints{IP: "8.8.8.8"}}
		_, err := fresh.Request(browserRequest(chromeUA, "80.156.0.1:1")).Event(cctx, &ev, false)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want the Redis (context) error", err)
		}
		if ev.Client != (analytics.ClientHints{}) {
			t.Errorf("client hints kept after an error: %+v", ev.Client)
		}
	})
}

func equalEvents(a, b analytics.Event) bool {
	return a.SiteID == b.SiteID && a.EventType == b.EventType && a.UserID == b.UserID &&
		a.Source == b.Source && a.ReferrerHost == b.ReferrerHost && a.Browser == b.Browser &&
		a.OS == b.OS && a.Device == b.Device && a.Country == b.Country && a.Client == b.Client
}

func TestEnricherNoGeo(t *testing.T) {
	ev := analytics.Event{}
	if _, err := New(Config{}).Request(browserRequest(chromeUA, "8.8.8.8:1")).Event(context.Background(), &ev, true); err != nil {
		t.Fatal(err)
	}
	if ev.Country != "" || ev.UserID != "" || ev.Browser != "Chrome" {
		t.Errorf("%+v", ev)
	}
}

func BenchmarkEnrich(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	trusted, _ := ParseTrustedProxies("10.0.0.0/8")
	e := New(Config{Geo: IPLoc{}, Trusted: trusted, Salts: NewSalts(redisqueue.SaltStore{RDB: rdb}, prefix, nil)})
	r := browserRequest(chromeUA, "10.0.0.2:4000")
	r.Header.Set("X-Forwarded-For", "80.156.0.1")
	ctx := context.Background()
	ParseUA(chromeUA)
	for _, n := range []int{1, 20} {
		for _, cookieless := range []bool{false, true} {
			b.Run("events="+strconv.Itoa(n)+"/cookieless="+strconv.FormatBool(cookieless), func(b *testing.B) {
				evs := make([]analytics.Event, n)
				b.ReportAllocs()
				for b.Loop() {
					q := e.Request(r)
					for i := range evs {
						evs[i] = analytics.Event{SiteID: "example.com", EventType: "page_view",
							Client: analytics.ClientHints{Referrer: "https://www.google.com/search?q=analytics"}}
						if bot, err := q.Event(ctx, &evs[i], cookieless); bot || err != nil {
							b.Fatal(bot, err)
						}
					}
				}
			})
		}
	}
}

var _ Geo = IPLoc{}
