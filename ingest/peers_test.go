package ingest_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
)

func TestPlausible(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		domains    []string
		want       analytics.Event
	}{
		{"documented curl example", `{"name":"pageview","url":"http://dummy.site","domain":"dummy.site"}`, []string{"dummy.site"},
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/", Timestamp: now}},
		{"script's short names, props object", `{"n":"Signup","u":"https://e.com/a?utm_source=hn#x","d":"e.com","r":"https://news.example.com/","p":{"plan":"pro","n":2,"o":{"x":1}},"v":36}`,
			[]string{"e.com"}, analytics.Event{ID: "generated-id", SiteID: "s", EventType: "Signup", Path: "/a", Timestamp: now,
				Props: map[string]any{"plan": "pro", "n": 2.0}, UTMSource: "hn"}},
		{"plausible-tracker 0.3 props as a string", `{"n":"x","u":"https://e.com/","d":"e.com","r":null,"w":1280,"h":0,"p":"{\"plan\":\"pro\"}"}`,
			[]string{"e.com"}, analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Path: "/", Timestamp: now, Props: map[string]any{"plan": "pro"}}},
		{"comma list of domains", `{"name":"pageview","url":"https://a.com/p","domain":" a.com, b.com ,,"}`, []string{"a.com", "b.com"},
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/p", Timestamp: now}},
		{"revenue", `{"name":"Purchase","url":"https://a.com/","domain":"a.com","revenue":{"currency":"eur","amount":"12.50"},"interactive":false}`, []string{"a.com"},
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "Purchase", Path: "/", Timestamp: now,
				Props: map[string]any{"revenue_amount": "12.50", "revenue_currency": "EUR"}}},
		{"referrer that is not a URL is left out", `{"n":"pageview","u":"https://a.com/","d":"a.com","r":"android-app"}`, []string{"a.com"},
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/", Timestamp: now}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ingest.ParsePlausible([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Domains, tt.domains) {
				t.Fatalf("domains %q, want %q", req.Domains, tt.domains)
			}
			ev, err := req.Event("s", now, fixedID)
			if err != nil {
				t.Fatal(err)
			}
			ev.Client = analytics.ClientHints{}
			if !reflect.DeepEqual(ev, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", ev, tt.want)
			}
		})
	}
	for _, tt := range []struct{ name, body, want string }{
		{"not an object", `[1]`, "body must be a JSON object"},
		{"not JSON", `{"name":`, "body is not valid JSON"},
		{"no name", `{"url":"https://a.com/","domain":"a.com"}`, "name: required"},
		{"no url", `{"name":"pageview","domain":"a.com"}`, "url: required"},
		{"no domain", `{"name":"pageview","url":"https://a.com/","domain":" , "}`, "domain: required"},
		{"props not an object", `{"n":"x","u":"https://a.com/","d":"a.com","p":[1]}`, "p: must be an object"},
		{"props string not JSON", `{"n":"x","u":"https://a.com/","d":"a.com","p":"{nope"}`, "p: body is not valid JSON"},
		{"name a number", `{"n":1,"u":"https://a.com/","d":"a.com"}`, "n: must be a string, got a number"},
		{"revenue amount not a number", `{"n":"x","u":"https://a.com/","d":"a.com","$":{"amount":"lots"}}`, `$.amount: "lots" is not a number`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingest.ParsePlausible([]byte(tt.body))
			if err == nil || analytics.KindOf(err) != analytics.Invalid || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("%v, want an invalid error containing %q", err, tt.want)
			}
		})
	}
	t.Run("event rules name Plausible's fields", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"n":"x","u":"/relative","d":"a.com"}`:                                    `url: "/relative" is not an absolute URL with a host`,
			`{"n":"` + strings.Repeat("x", 65) + `","u":"https://a.com/","d":"a.com"}`: "name: 65 characters, at most 64 allowed",
		} {
			req, err := ingest.ParsePlausible([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := req.Event("s", now, fixedID); err == nil || !strings.HasPrefix(analytics.Message(err), want) {
				t.Fatalf("%s: %v, want %q", body, err, want)
			}
		}
		if _, err := mustPlausible(t, `{"n":"x","u":"https://a.com/","d":"a b"}`).Event("a b", now, fixedID); err == nil ||
			!strings.HasPrefix(analytics.Message(err), "domain: ") {
			t.Fatalf("bad domain as site id: %v", err)
		}
	})
	t.Run("engagement", func(t *testing.T) {
		if !mustPlausible(t, `{"n":"engagement","sd":40,"e":3000,"u":"https://a.com/","d":"a.com"}`).Engagement() {
			t.Fatal("the tracker's engagement event is not recognised")
		}
	})
	t.Run("each site's event owns its props", func(t *testing.T) {
		req := mustPlausible(t, `{"n":"x","u":"https://a.com/","d":"a.com,b.com","p":{"k":"v"}}`)
		a, _ := req.Event("a", now, fixedID)
		b, _ := req.Event("b", now, fixedID)
		a.Props["k"] = "changed"
		if b.Props["k"] != "v" {
			t.Fatal("two sites' events share one props map")
		}
	})
}

func mustPlausible(t *testing.T, body string) *ingest.PlausibleRequest {
	t.Helper()
	req, err := ingest.ParsePlausible([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestUmami(t *testing.T) {
	ts := time.Date(2025, 11, 12, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, body, typ, website string
		want                     analytics.Event
	}{
		{"tracker page view", `{"type":"event","payload":{"website":"w-1","screen":"1280x720","language":"en","title":"T","hostname":"shop.example","url":"https://shop.example/pricing?utm_source=hn","referrer":"https://news.example.com/","vid":"v"}}`,
			"event", "w-1", analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/pricing", Timestamp: now, UTMSource: "hn"}},
		{"node client: path on hostname, custom event, distinct id, timestamp", `{"type":"event","payload":{"website":"w-1","hostname":"shop.example","url":"checkout","name":"Plan Upgraded","data":{"plan":"pro","nested":{"a":1}},"id":"user-7","timestamp":` + "1762941600" + `}}`,
			"event", "w-1", analytics.Event{ID: "generated-id", SiteID: "s", EventType: "Plan Upgraded", Path: "/checkout", UserID: "user-7", Timestamp: ts,
				Props: map[string]any{"plan": "pro"}}},
		{"event without a page", `{"type":"event","payload":{"website":"w-1","name":"Signup"}}`,
			"event", "w-1", analytics.Event{ID: "generated-id", SiteID: "s", EventType: "Signup", Timestamp: now}},
		{"identify", `{"type":"identify","payload":{"website":"w-1","data":{"email":"x"}}}`,
			"identify", "w-1", analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Timestamp: now, Props: map[string]any{"email": "x"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ingest.ParseUmami([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if req.Type != tt.typ || req.Website != tt.website {
				t.Fatalf("type %q website %q", req.Type, req.Website)
			}
			ev, err := req.Event("s", now, fixedID)
			if err != nil {
				t.Fatal(err)
			}
			ev.Client = analytics.ClientHints{}
			if !reflect.DeepEqual(ev, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", ev, tt.want)
			}
		})
	}
	for _, tt := range []struct{ name, body, want string }{
		{"no type", `{"payload":{"website":"w"}}`, "type: required"},
		{"no payload", `{"type":"event"}`, "payload: required"},
		{"no website", `{"type":"event","payload":{"url":"/"}}`, "payload.website: required"},
		{"bad timestamp", `{"type":"event","payload":{"website":"w","timestamp":"soon"}}`, "payload.timestamp: \"soon\" is not a time"},
		{"website a number", `{"type":"event","payload":{"website":7}}`, "payload.website: must be a string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingest.ParseUmami([]byte(tt.body))
			if err == nil || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("%v, want %q", err, tt.want)
			}
		})
	}
}

func TestGoatCounter(t *testing.T) {
	for _, tt := range []struct {
		name, query, page string
		want              analytics.Event
	}{
		{"count.js page view", "p=%2Fblog%2Fpost-1&t=Post&r=https%3A%2F%2Fnews.example.com%2F&s=1280%2C720%2C1&b=0&q=%3Futm_source%3Dhn&rnd=abc", "",
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/blog/post-1", Timestamp: now, UTMSource: "hn"}},
		{"pixel without a slash", "p=pricing", "", analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/pricing", Timestamp: now}},
		{"event", "p=signup-click&e=true", "https://shop.example/pricing", analytics.Event{ID: "generated-id", SiteID: "s", EventType: "signup-click", Path: "/pricing", Timestamp: now}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hit, err := ingest.ParseGoatCounter(tt.query, tt.page)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := hit.Event("s", now, fixedID)
			if err != nil {
				t.Fatal(err)
			}
			ev.Client = analytics.ClientHints{}
			if !reflect.DeepEqual(ev, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", ev, tt.want)
			}
		})
	}
	if _, err := ingest.ParseGoatCounter("t=x", ""); err == nil || !strings.HasPrefix(analytics.Message(err), "p: required") {
		t.Fatalf("no p: %v", err)
	}
	if _, err := ingest.ParseGoatCounter("p=%zz", ""); err == nil || !strings.HasPrefix(analytics.Message(err), "query: ") {
		t.Fatalf("bad query: %v", err)
	}
	hit, _ := ingest.ParseGoatCounter("p=%2Fa%00b", "")
	if _, err := hit.Event("s", now, fixedID); err == nil || !strings.HasPrefix(analytics.Message(err), "p: must not contain control characters") {
		t.Fatalf("control character: %v", err)
	}
}
