package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
)

// The fields that describe the browser: campaign parameters read from the
// query before it is dropped, the referrer and url kept for enrichment
// only, and checks naming the field.
func TestDecodeEventClientFields(t *testing.T) {
	tests := []struct {
		name, body string
		check      func(t *testing.T, ev analytics.Event)
	}{
		{"utm from path", `{"site_id":"s","event_type":"page_view","path":"/p?utm_source=hn&utm_medium=social&utm_campaign=launch%20day&utm_content=a&utm_term=go&other=secret#x"}`,
			func(t *testing.T, ev analytics.Event) {
				if ev.Path != "/p" || ev.UTMSource != "hn" || ev.UTMMedium != "social" || ev.UTMCampaign != "launch day" || ev.UTMContent != "a" || ev.UTMTerm != "go" {
					t.Fatalf("%+v", ev)
				}
			}},
		{"utm plus sign is a space", `{"site_id":"s","event_type":"page_view","path":"/p?utm_campaign=black+friday"}`,
			func(t *testing.T, ev analytics.Event) {
				if ev.UTMCampaign != "black friday" {
					t.Fatalf("%q", ev.UTMCampaign)
				}
			}},
		{"path from url when absent, utm from url", `{"site_id":"s","event_type":"page_view","url":"https://example.com/pricing?utm_source=newsletter"}`,
			func(t *testing.T, ev analytics.Event) {
				if ev.Path != "/pricing" || ev.UTMSource != "newsletter" || ev.Client.URL != "https://example.com/pricing?utm_source=newsletter" {
					t.Fatalf("%+v", ev)
				}
			}},
		{"path's utm win over url's", `{"site_id":"s","event_type":"page_view","path":"/a?utm_source=x","url":"https://example.com/b?utm_source=y&utm_medium=z"}`,
			func(t *testing.T, ev analytics.Event) {
				if ev.Path != "/a" || ev.UTMSource != "x" || ev.UTMMedium != "z" {
					t.Fatalf("%+v", ev)
				}
			}},
		{"long utm value cut at 128 bytes on a character boundary", `{"site_id":"s","event_type":"x","path":"/?utm_campaign=` + strings.Repeat("é", 100) + `"}`,
			func(t *testing.T, ev analytics.Event) {
				if len(ev.UTMCampaign) != 128 || ev.UTMCampaign != strings.Repeat("é", 64) {
					t.Fatalf("%d bytes", len(ev.UTMCampaign))
				}
			}},
		{"control characters dropped from utm", `{"site_id":"s","event_type":"x","path":"/?utm_source=a%00b%0A"}`,
			func(t *testing.T, ev analytics.Event) {
				if ev.UTMSource != "ab" {
					t.Fatalf("%q", ev.UTMSource)
				}
			}},
		{"referrer, user agent and ip kept for enrichment", `{"site_id":"s","event_type":"x","referrer":"https://news.ycombinator.com/item?id=1","user_agent":"Mozilla/5.0","ip":"::ffff:203.0.113.9"}`,
			func(t *testing.T, ev analytics.Event) {
				want := analytics.ClientHints{Referrer: "https://news.ycombinator.com/item?id=1", UserAgent: "Mozilla/5.0", IP: "203.0.113.9"}
				if ev.Client != want {
					t.Fatalf("%+v", ev.Client)
				}
			}},
		{"android app referrer", `{"site_id":"s","event_type":"x","referrer":"android-app://com.google.android.gm/"}`,
			func(t *testing.T, ev analytics.Event) {
				if ev.Client.Referrer != "android-app://com.google.android.gm/" {
					t.Fatalf("%+v", ev.Client)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ingest.DecodeEvent([]byte(tt.body), now, fixedID)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, ev)
		})
	}

	bad := []struct{ name, body, want string }{
		{"referrer not a URL", `{"site_id":"s","event_type":"x","referrer":"google"}`, "referrer: "},
		{"referrer too long", `{"site_id":"s","event_type":"x","referrer":"https://a.com/` + strings.Repeat("a", 2048) + `"}`, "referrer: 2062 bytes, at most 2048"},
		{"url not a URL", `{"site_id":"s","event_type":"x","url":"/pricing"}`, "url: "},
		{"url without host", `{"site_id":"s","event_type":"x","url":"https:///pricing"}`, "url: "},
		{"referrer without host", `{"site_id":"s","event_type":"x","referrer":"http://"}`, "referrer: "},
		{"ip not an address", `{"site_id":"s","event_type":"x","ip":"999.1.1.1"}`, "ip: "},
		{"ip with zone", `{"site_id":"s","event_type":"x","ip":"fe80::1%eth0"}`, "ip: "},
		{"user agent with control characters", `{"site_id":"s","event_type":"x","user_agent":"a\nb"}`, "user_agent: must not contain control characters"},
		{"user agent too long", `{"site_id":"s","event_type":"x","user_agent":"` + strings.Repeat("a", 1025) + `"}`, "user_agent: 1025 bytes"},
		{"referrer not a string", `{"site_id":"s","event_type":"x","referrer":1}`, "referrer: must be a string"},
		{"duplicate url", `{"site_id":"s","event_type":"x","url":"https://a.com/","url":"https://b.com/"}`, `duplicate field "url"`},
		{"derived fields cannot be sent", `{"site_id":"s","event_type":"x","source":"Google"}`, `unknown field "source"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingest.DecodeEvent([]byte(tt.body), now, fixedID)
			if err == nil || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// The hints never reach the queue: Event's JSON (what is queued) has no
// field for them.
func TestClientHintsAreNeverQueued(t *testing.T) {
	ev, err := ingest.DecodeEvent([]byte(`{"site_id":"s","event_type":"x","user_agent":"UA-SECRET","ip":"198.51.100.7","referrer":"https://ref.example/secret"}`), now, fixedID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"UA-SECRET", "198.51.100.7", "ref.example/secret"} {
		if strings.Contains(string(b), s) {
			t.Fatalf("queued form %s holds %q", b, s)
		}
	}
}
