package sdk

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siteanalytics/analytics/sdk/rules"
)

// TestTrackValidatesBrowserFields: referrer, url, user_agent and ip are
// refused where the event is made, with a FieldError naming the field.
func TestTrackValidatesBrowserFields(t *testing.T) {
	c := newClient(t, Config{Endpoint: newCollector(t).srv.URL})
	long := "https://news.example.com/" + strings.Repeat("a", 2048-len("https://news.example.com/"))
	for _, tt := range []struct {
		name   string
		ev     Event
		field  string
		reason string
	}{
		{"referrer over 2048 bytes", Event{EventType: "x", Referrer: long + "a"}, "referrer", "2049 bytes, at most 2048 allowed"},
		{"relative referrer", Event{EventType: "x", Referrer: "/item"}, "referrer", "is not an absolute URL with a host"},
		{"referrer without a host", Event{EventType: "x", Referrer: "https:///item"}, "referrer", "is not an absolute URL with a host"},
		{"referrer that is only a scheme", Event{EventType: "x", Referrer: "http://"}, "referrer", "is not an absolute URL with a host"},
		{"referrer without //", Event{EventType: "x", Referrer: "mailto:a@b.c"}, "referrer", "is not an absolute URL with a host"},
		{"referrer with a newline", Event{EventType: "x", Referrer: "https://e.com/\n"}, "referrer", "must not contain control characters"},
		{"referrer invalid UTF-8", Event{EventType: "x", Referrer: "https://e.com/\xff"}, "referrer", "must be valid UTF-8 text"},
		{"url over 2048 bytes", Event{EventType: "x", URL: long + "a"}, "url", "2049 bytes, at most 2048 allowed"},
		{"url without a host", Event{EventType: "x", URL: "https://?a=b"}, "url", "is not an absolute URL with a host"},
		{"url whose path the collector would refuse", Event{EventType: "x", URL: "https://e.com/a%00"}, "url", "is not a page URL: must not contain control characters"},
		{"user_agent over 1024 bytes", Event{EventType: "x", UserAgent: strings.Repeat("u", 1025)}, "user_agent", "1025 bytes, at most 1024 allowed"},
		{"user_agent with a tab", Event{EventType: "x", UserAgent: "Mozilla/5.0\t(X11)"}, "user_agent", "must not contain control characters"},
		{"user_agent invalid UTF-8", Event{EventType: "x", UserAgent: "Mozilla\xff"}, "user_agent", "must be valid UTF-8 text"},
		{"ip not an address", Event{EventType: "x", IP: "1.2.3"}, "ip", `"1.2.3" is not an IPv4 or IPv6 address`},
		{"ip with a port", Event{EventType: "x", IP: "192.0.2.1:443"}, "ip", "is not an IPv4 or IPv6 address"},
		{"ip with a zone", Event{EventType: "x", IP: "fe80::1%eth0"}, "ip", "is not an IPv4 or IPv6 address"},
		{"host name as ip", Event{EventType: "x", IP: "example.com"}, "ip", "is not an IPv4 or IPv6 address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var fe *FieldError
			if err := c.Track(tt.ev); !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Reason, tt.reason) {
				t.Fatalf("Track: %v, want a FieldError on %s containing %q", err, tt.field, tt.reason)
			}
		})
	}
	for _, tt := range []struct {
		name string
		ev   Event
	}{
		{"every browser field", Event{EventType: "x", Referrer: "https://news.example.com/item?id=1", URL: "https://shop.example.com/pricing?utm_source=hn",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36", IP: "203.0.113.7"}},
		{"referrer and url of 2048 bytes", Event{EventType: "x", Referrer: long, URL: long}},
		{"user_agent of 1024 bytes", Event{EventType: "x", UserAgent: strings.Repeat("é", 512)}},
		{"IPv6", Event{EventType: "x", IP: "2001:db8::1"}},
		{"IPv4-mapped IPv6", Event{EventType: "x", IP: "::ffff:192.0.2.1"}},
		{"android-app referrer", Event{EventType: "x", Referrer: "android-app://com.google.android.gm/"}},
		{"bare origin", Event{EventType: "x", Referrer: "https://e.com", URL: "https://e.com"}},
		// With a path the collector does not read the url's path.
		{"url with an odd path beside a path", Event{EventType: "x", Path: "/p", URL: "https://e.com/a%00"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Track(tt.ev); err != nil {
				t.Fatalf("Track: %v", err)
			}
		})
	}
}

// TestPathKeepsOnlyCampaignParameters: the query of a path is dropped
// except for the five utm_* parameters, which reach the collector in the
// path's query.
func TestPathKeepsOnlyCampaignParameters(t *testing.T) {
	col := newCollector(t)
	c := newClient(t, Config{Endpoint: col.srv.URL})
	cases := map[string]string{
		"/pricing?utm_source=hn&token=secret&utm_campaign=launch#top":                     "/pricing?utm_source=hn&utm_campaign=launch",
		"/p?utm_medium=email&utm_content=a%20b&utm_term=caf%C3%A9&utm_id=1&xutm_source=x": "/p?utm_medium=email&utm_content=a+b&utm_term=caf%C3%A9",
		"https://shop.example.com/caf%c3%a9?utm_source=news+letter":                       "/caf%C3%A9?utm_source=news+letter",
		"/p?utm_source=&utm_campaign=100%":                                                "/p?utm_campaign=100%25",
		"/p?q=utm_source":                                                                 "/p",
		"/p?utm_source=a%0Ab":                                                             "/p?utm_source=a%0Ab",
		"/p":                                                                              "/p",
	}
	for in := range cases {
		if err := c.Track(Event{ID: id(in), EventType: "page_view", Path: in}); err != nil {
			t.Fatalf("Track(%q): %v", in, err)
		}
	}
	flush(t, c)
	col.mu.Lock()
	defer col.mu.Unlock()
	sent := map[string]string{}
	for _, ev := range col.events {
		sent[ev.ID] = ev.Path
	}
	for in, want := range cases {
		if got := sent[id(in)]; got != want {
			t.Errorf("path %q sent as %q, want %q", in, got, want)
		}
	}
}

// id is a valid event id for a test case.
func id(s string) string {
	return strings.Map(func(r rune) rune {
		if rules.ValidateID(string(r)) != nil {
			return '_'
		}
		return r
	}, s)
}

// TestMiddlewareSendsBrowserFieldsAndCampaign: a page view recorded by the
// middleware carries the request's Referer, User-Agent and address, and
// the utm_* parameters of its query (no other).
func TestMiddlewareSendsBrowserFieldsAndCampaign(t *testing.T) {
	col := newCollector(t)
	c := newClient(t, Config{Endpoint: col.srv.URL})
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	plain := Middleware(c, MiddlewareConfig{})(page)
	proxied := Middleware(c, MiddlewareConfig{ClientIP: func(r *http.Request) string { return r.Header.Get("X-Real-IP") }})(page)

	const ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	serve := func(h http.Handler, target, remote string, header map[string]string) {
		r := httptest.NewRequest("GET", target, nil)
		r.RemoteAddr = remote
		for k, v := range header {
			r.Header.Set(k, v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	serve(plain, "/landing?utm_source=hn&session=secret&utm_campaign=launch", "203.0.113.7:51234",
		map[string]string{"Referer": "https://news.ycombinator.com/item?id=1", "User-Agent": ua})
	serve(plain, "/v6", "[2001:db8::7]:443", map[string]string{"User-Agent": ua})
	serve(plain, "/mapped", "[::ffff:192.0.2.9]:443", nil)
	serve(proxied, "/behind-proxy", "10.0.0.2:8080", map[string]string{"X-Real-IP": "198.51.100.4", "Referer": "https://www.google.com/"})
	// Hints the collector would refuse are cut or left out; the page view stays.
	serve(plain, "/odd", "not an address", map[string]string{
		"Referer":    "/relative",
		"User-Agent": "Mozilla\x01",
	})
	serve(proxied, "/long", "10.0.0.2:8080", map[string]string{
		"X-Real-IP":  "unknown",
		"Referer":    "https://e.com/" + strings.Repeat("r", 3000),
		"User-Agent": strings.Repeat("u", 2000),
	})
	flush(t, c)

	col.mu.Lock()
	defer col.mu.Unlock()
	got := map[string]Event{}
	for _, ev := range col.events {
		got[strings.SplitN(ev.Path, "?", 2)[0]] = ev
	}
	want := []Event{
		{Path: "/landing?utm_source=hn&utm_campaign=launch", Referrer: "https://news.ycombinator.com/item?id=1", UserAgent: ua, IP: "203.0.113.7"},
		{Path: "/v6", UserAgent: ua, IP: "2001:db8::7"},
		{Path: "/mapped", IP: "192.0.2.9"},
		{Path: "/behind-proxy", Referrer: "https://www.google.com/", IP: "198.51.100.4"},
		{Path: "/odd"},
		{Path: "/long", Referrer: ("https://e.com/" + strings.Repeat("r", 3000))[:2048], UserAgent: strings.Repeat("u", 1024)},
	}
	for _, w := range want {
		ev, ok := got[strings.SplitN(w.Path, "?", 2)[0]]
		if !ok {
			t.Errorf("no page view of %s; recorded %d", w.Path, len(col.events))
			continue
		}
		if ev.Path != w.Path || ev.Referrer != w.Referrer || ev.UserAgent != w.UserAgent || ev.IP != w.IP || ev.URL != "" || ev.EventType != "page_view" {
			t.Errorf("recorded path %q referrer %q user_agent %q ip %q url %q; want %q %q %q %q",
				ev.Path, ev.Referrer, ev.UserAgent, ev.IP, ev.URL, w.Path, w.Referrer, w.UserAgent, w.IP)
		}
	}
	if len(col.events) != len(want) {
		t.Errorf("recorded %d page views, want %d", len(col.events), len(want))
	}
	for _, ev := range col.events {
		if strings.Contains(ev.Path, "secret") {
			t.Errorf("a query parameter other than utm_* was sent: %q", ev.Path)
		}
	}
}
