package ingest_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
)

// segmentEvents maps one message sent to the endpoint of kind.
func segmentEvents(t *testing.T, kind, body string) ([]analytics.Event, []ingest.Rejection, int) {
	t.Helper()
	req, err := ingest.ParseSegment(kind, []byte(body))
	if err != nil {
		t.Fatalf("ParseSegment: %v", err)
	}
	return req.Events("site-1", now, fixedID)
}

func TestSegmentMapping(t *testing.T) {
	at := func(s string) time.Time { ts, _ := time.Parse(time.RFC3339Nano, s); return ts }
	ev := func(typ string, f func(*analytics.Event)) analytics.Event {
		e := analytics.Event{ID: "m1", SiteID: "site-1", EventType: typ, UserID: "u1", Timestamp: now}
		if f != nil {
			f(&e)
		}
		return e
	}
	tests := []struct {
		name, kind, body string
		want             analytics.Event
	}{
		{"page: path from properties.path", "page", `{"messageId":"m1","userId":"u1","properties":{"path":"/pricing","url":"https://e.com/other"}}`,
			ev("page_view", func(e *analytics.Event) { e.Path = "/pricing"; e.Client.URL = "https://e.com/other" })},
		{"page: path from context.page.path", "page", `{"messageId":"m1","userId":"u1","context":{"page":{"path":"/a","url":"https://e.com/b"}}}`,
			ev("page_view", func(e *analytics.Event) { e.Path = "/a"; e.Client.URL = "https://e.com/b" })},
		{"page: path of properties.url, its query read for UTM", "page", `{"messageId":"m1","userId":"u1","properties":{"url":"https://e.com/p?utm_source=hn&utm_campaign=launch"}}`,
			ev("page_view", func(e *analytics.Event) {
				e.Path, e.UTMSource, e.UTMCampaign, e.Client.URL = "/p", "hn", "launch", "https://e.com/p?utm_source=hn&utm_campaign=launch"
			})},
		{"page: path of context.page.url", "page", `{"messageId":"m1","userId":"u1","context":{"page":{"url":"https://e.com/c?utm_medium=email"}}}`,
			ev("page_view", func(e *analytics.Event) {
				e.Path, e.UTMMedium, e.Client.URL = "/c", "email", "https://e.com/c?utm_medium=email"
			})},
		{"page: properties.url wins over context.page.url", "page", `{"messageId":"m1","userId":"u1","properties":{"url":"https://e.com/x"},"context":{"page":{"url":"https://e.com/y"}}}`,
			ev("page_view", func(e *analytics.Event) { e.Path, e.Client.URL = "/x", "https://e.com/x" })},
		{"page: referrer from properties", "page", `{"messageId":"m1","userId":"u1","properties":{"path":"/","referrer":"https://news.example.com/a"}}`,
			ev("page_view", func(e *analytics.Event) { e.Path, e.Client.Referrer = "/", "https://news.example.com/a" })},
		{"page: referrer from context.page", "page", `{"messageId":"m1","userId":"u1","context":{"page":{"path":"/","referrer":"https://r.example/"}}}`,
			ev("page_view", func(e *analytics.Event) { e.Path, e.Client.Referrer = "/", "https://r.example/" })},
		{"page: name, category and custom properties kept as props", "page", `{"messageId":"m1","userId":"u1","name":"Pricing","category":"Docs","properties":{"path":"/p","title":"T","search":"?q=1","plan":"pro"}}`,
			ev("page_view", func(e *analytics.Event) {
				e.Path, e.Props = "/p", map[string]any{"name": "Pricing", "category": "Docs", "title": "T", "plan": "pro"}
			})},
		{"screen is a page view", "screen", `{"messageId":"m1","userId":"u1","name":"Home"}`,
			ev("page_view", func(e *analytics.Event) { e.Props = map[string]any{"name": "Home"} })},
		{"track: event name is the type", "track", `{"messageId":"m1","userId":"u1","event":"Order Completed","properties":{"revenue":42.5,"currency":"EUR","repeat":true}}`,
			ev("Order Completed", func(e *analytics.Event) {
				e.Props = map[string]any{"revenue": 42.5, "currency": "EUR", "repeat": true}
			})},
		{"track: nested, null, bad keys dropped", "track", `{"messageId":"m1","userId":"u1","event":"x","properties":{"a":{"b":1},"l":[1],"n":null,"a.b":1,"$c":2,"big":1e400,"ok":1}}`,
			ev("x", func(e *analytics.Event) { e.Props = map[string]any{"ok": 1.0} })},
		{"track: page context kept", "track", `{"messageId":"m1","userId":"u1","event":"x","context":{"page":{"path":"/cart","referrer":"https://g.example/"}}}`,
			ev("x", func(e *analytics.Event) { e.Path, e.Client.Referrer = "/cart", "https://g.example/" })},
		{"identify: recorded without traits", "identify", `{"messageId":"m1","userId":"u1","traits":{"email":"a@b.c"}}`,
			ev("identify", nil)},
		{"userId wins over anonymousId", "track", `{"messageId":"m1","userId":"u1","anonymousId":"anon","event":"x"}`,
			ev("x", nil)},
		{"anonymousId without userId", "track", `{"messageId":"m1","anonymousId":"u1","event":"x"}`,
			ev("x", nil)},
		{"numeric userId", "track", `{"messageId":"m1","userId":12345,"event":"x"}`,
			ev("x", func(e *analytics.Event) { e.UserID = "12345" })},
		{"no messageId: one is assigned", "track", `{"userId":"u1","event":"x"}`,
			ev("x", func(e *analytics.Event) { e.ID = "generated-id" })},
		{"messageId outside the id rule is hashed", "track", `{"messageId":"a b/c","userId":"u1","event":"x"}`,
			ev("x", func(e *analytics.Event) { e.ID = "seg-539138d518391ec4fc557ce35c37ead28f89fbf8" })},
		{"timestamp corrected for clock skew", "track", `{"messageId":"m1","userId":"u1","event":"x","timestamp":"2025-11-12T20:00:00Z","sentAt":"2025-11-12T20:30:05Z"}`,
			ev("x", func(e *analytics.Event) { e.Timestamp = now.Add(-30*time.Minute - 5*time.Second) })},
		{"timestamp without sentAt as sent", "track", `{"messageId":"m1","userId":"u1","event":"x","timestamp":"2025-11-12T18:00:00.5+01:00"}`,
			ev("x", func(e *analytics.Event) { e.Timestamp = at("2025-11-12T17:00:00.5Z") })},
		{"originalTimestamp when no timestamp", "track", `{"messageId":"m1","userId":"u1","event":"x","originalTimestamp":"2025-11-12T10:00:00Z","sentAt":"2025-11-12T10:00:00Z"}`,
			ev("x", nil)},
		{"neither: receive time", "track", `{"messageId":"m1","userId":"u1","event":"x","sentAt":"2025-11-12T10:00:00Z"}`,
			ev("x", nil)},
		{"enrichment hints from context", "page", `{"messageId":"m1","userId":"u1","context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0 X","page":{"path":"/"}}}`,
			ev("page_view", func(e *analytics.Event) {
				e.Path, e.Client.IP, e.Client.UserAgent = "/", "203.0.113.9", "Mozilla/5.0 X"
			})},
		{"context.campaign wins over the URL's query", "page", `{"messageId":"m1","userId":"u1","context":{"campaign":{"name":"spring","source":"news\u0000letter","medium":"email","term":"t","content":"c"},"page":{"url":"https://e.com/?utm_source=x&utm_campaign=y"}}}`,
			ev("page_view", func(e *analytics.Event) {
				e.Path, e.Client.URL = "/", "https://e.com/?utm_source=x&utm_campaign=y"
				e.UTMCampaign, e.UTMSource, e.UTMMedium, e.UTMTerm, e.UTMContent = "spring", "newsletter", "email", "t", "c"
			})},
		{"batch message type from the path ignored", "page", `{"type":"track","messageId":"m1","userId":"u1","properties":{"path":"/"}}`,
			ev("page_view", func(e *analytics.Event) { e.Path = "/" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, rej, _ := segmentEvents(t, tt.kind, tt.body)
			if len(rej) != 0 || len(evs) != 1 {
				t.Fatalf("events %v, rejected %v", evs, rej)
			}
			if !reflect.DeepEqual(evs[0], tt.want) {
				t.Fatalf("\n got %+v\nwant %+v", evs[0], tt.want)
			}
		})
	}
}

func TestSegmentBatchContextAndSentAt(t *testing.T) {
	body := `{"writeKey":"k","sentAt":"2025-11-12T19:40:00Z","context":{"ip":"198.51.100.1","userAgent":"UA"},"batch":[
		{"type":"page","messageId":"a","userId":"u","timestamp":"2025-11-12T19:39:00Z","properties":{"path":"/"}},
		{"type":"track","messageId":"b","userId":"u","event":"e","context":{"ip":"198.51.100.2"}},
		{"type":"group","userId":"u","groupId":"g"},
		{"type":"alias","userId":"u","previousId":"p"}]}`
	req, err := ingest.ParseSegment(ingest.SegmentBatch, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if req.WriteKey != "k" || req.Messages() != 4 {
		t.Fatalf("write key %q, %d messages", req.WriteKey, req.Messages())
	}
	evs, rej, ignored := req.Events("s", now, fixedID)
	if len(rej) != 0 || ignored != 2 || len(evs) != 2 {
		t.Fatalf("events %v, rejected %v, ignored %d", evs, rej, ignored)
	}
	// The batch's sentAt corrects the message's timestamp: sent a minute
	// after it happened, received at now.
	if !evs[0].Timestamp.Equal(now.Add(-time.Minute)) || evs[0].Client.IP != "198.51.100.1" || evs[0].Client.UserAgent != "UA" {
		t.Fatalf("page: %+v", evs[0])
	}
	if evs[1].Client.IP != "198.51.100.2" || evs[1].Client.UserAgent != "UA" {
		t.Fatalf("track: the message's context wins, the batch's fills the rest: %+v", evs[1].Client)
	}
}

// Properties and context before the type are read as well as after it.
func TestSegmentFieldsInAnyOrder(t *testing.T) {
	req, err := ingest.ParseSegment(ingest.SegmentBatch, []byte(`{"batch":[
		{"properties":{"path":"/late","plan":"pro"},"context":{"ip":"198.51.100.3"},"type":"page","userId":"u"},
		{"properties":{"path":"/p","n":{"o":1}},"type":"track","event":"e","userId":"u"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	evs, rej, _ := req.Events("s", now, fixedID)
	if len(rej) != 0 || len(evs) != 2 || evs[0].Path != "/late" || evs[0].Props["plan"] != "pro" || evs[0].Client.IP != "198.51.100.3" ||
		evs[1].Path != "" || evs[1].Props["path"] != "/p" || len(evs[1].Props) != 1 {
		t.Fatalf("events %+v, rejected %v", evs, rej)
	}
}

// Every reason a message is refused; the request around it stays valid.
func TestSegmentRejections(t *testing.T) {
	tests := []struct{ name, msg, want string }{
		{"not an object", `"x"`, "message must be a JSON object, got a string"},
		{"no type", `{"userId":"u","event":"e"}`, "type: required in a batch"},
		{"unknown type", `{"type":"purchase","userId":"u"}`, `type: "purchase" is not one of track, page, screen, identify, group, alias`},
		{"type not a string", `{"type":1,"userId":"u"}`, "type: must be a string, got a number"},
		{"neither userId nor anonymousId", `{"type":"track","event":"e"}`, "userId or anonymousId: one is required"},
		{"empty ids", `{"type":"page","userId":"","anonymousId":null}`, "userId or anonymousId: one is required"},
		{"userId an object", `{"type":"page","userId":{}}`, "userId: must be a string, got an object"},
		{"userId too long", `{"type":"page","userId":"` + strings.Repeat("u", 257) + `"}`, "userId/anonymousId: 257 bytes, at most 256 allowed"},
		{"track without event", `{"type":"track","userId":"u"}`, "event: required in a track message"},
		{"event name too long", `{"type":"track","userId":"u","event":"` + strings.Repeat("e", 65) + `"}`, "event: 65 characters, at most 64 allowed"},
		{"event name with control character", `{"type":"track","userId":"u","event":"a\u0007"}`, "event: must not contain control characters"},
		{"timestamp without zone", `{"type":"track","userId":"u","event":"e","timestamp":"2025-11-12T10:00:00"}`, "timestamp: \"2025-11-12T10:00:00\" is not an RFC 3339 time"},
		{"originalTimestamp not a time", `{"type":"track","userId":"u","event":"e","originalTimestamp":"yesterday"}`, `originalTimestamp: "yesterday" is not an RFC 3339 time`},
		{"sentAt not a time", `{"type":"track","userId":"u","event":"e","timestamp":"2025-11-12T10:00:00Z","sentAt":"soon"}`, `sentAt: "soon" is not an RFC 3339 time`},
		{"timestamp in the future", `{"type":"track","userId":"u","event":"e","timestamp":"2025-11-12T21:00:00Z"}`, "more than 1h in the future"},
		{"path not a path", `{"type":"page","userId":"u","properties":{"path":"pricing"}}`, "path (properties.path or context.page.path): \"pricing\" must start with /"},
		{"url not a URL", `{"type":"page","userId":"u","properties":{"url":"e.com/x"}}`, "url (properties.url or context.page.url): \"e.com/x\" is not an absolute URL with a host"},
		{"referrer not a URL", `{"type":"page","userId":"u","context":{"page":{"referrer":"nowhere"}}}`, "referrer (properties.referrer or context.page.referrer): \"nowhere\" is not an absolute URL with a host"},
		{"ip not an address", `{"type":"page","userId":"u","context":{"ip":"1.2.3"}}`, `context.ip: "1.2.3" is not an IPv4 or IPv6 address`},
		{"userAgent not a string", `{"type":"page","userId":"u","context":{"userAgent":1}}`, "context.userAgent: must be a string, got a number"},
		{"context not an object", `{"type":"page","userId":"u","context":"x"}`, "context: must be an object, got a string"},
		{"properties not an object", `{"type":"track","userId":"u","event":"e","properties":[1]}`, "properties: must be an object, got an array"},
		{"page path not a string", `{"type":"page","userId":"u","properties":{"path":1}}`, "properties.path: must be a string, got a number"},
		{"invalid UTF-8", "{\"type\":\"track\",\"userId\":\"\xff\",\"event\":\"e\"}", "userId: must be valid UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"batch":[{"type":"track","userId":"ok","event":"fine"},` + tt.msg + `]}`
			evs, rej, _ := segmentEvents(t, ingest.SegmentBatch, body)
			if len(evs) != 1 || len(rej) != 1 || rej[0].Index != 1 || !strings.Contains(rej[0].Error, tt.want) {
				t.Fatalf("events %d, rejected %+v; want message 1 refused with %q", len(evs), rej, tt.want)
			}
		})
	}
}

// What refuses a request as a whole (answered 400, resent by nobody).
func TestParseSegmentRefusesTheRequest(t *testing.T) {
	many := `{"batch":[` + strings.Repeat(`{},`, ingest.MaxSegmentBatch) + `{}]}`
	tests := []struct{ name, kind, body, want string }{
		{"empty", "batch", ``, "body must be a JSON object"},
		{"array", "batch", `[{}]`, "body must be a JSON object"},
		{"not JSON", "track", `{"userId":`, "body is not valid JSON"},
		{"no batch", "batch", `{"writeKey":"k"}`, `batch: required`},
		{"batch not an array", "batch", `{"batch":{}}`, "batch: must be an array of messages, got an object"},
		{"too many messages", "batch", many, fmt.Sprintf("batch: %d messages, at most 2500 per request", ingest.MaxSegmentBatch+1)},
		{"writeKey not a string", "track", `{"writeKey":5}`, "writeKey: must be a string"},
		{"batch context not an object", "batch", `{"batch":[],"context":1}`, "context: must be an object"},
		{"message over 32 KB", "batch", `{"batch":[{},{"type":"track","userId":"u","event":"e","properties":{"p":"` + strings.Repeat("x", 32<<10) + `"}}]}`,
			"message 1 is 32831 bytes, at most 32768 (32 KB) allowed per message"},
		{"single message over 32 KB", "track", `{"userId":"u","event":"e","properties":{"p":"` + strings.Repeat("x", 32<<10) + `"}}`,
			"message 0 is 32816 bytes, at most 32768 (32 KB) allowed per message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingest.ParseSegment(tt.kind, []byte(tt.body))
			if analytics.KindOf(err) != analytics.Invalid || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	req, err := ingest.ParseSegment("batch", []byte(`{"batch":[`+strings.Repeat(`{},`, ingest.MaxSegmentBatch-1)+`{}]}`))
	if err != nil || req.Messages() != ingest.MaxSegmentBatch {
		t.Fatalf("2500 messages: %v", err)
	}
}

func TestSegmentPropsBeyondTheLimitsAreDropped(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, `"k%02d":"%s",`, i, strings.Repeat("v", 10))
	}
	evs, rej, _ := segmentEvents(t, "track", `{"userId":"u","event":"e","properties":{`+strings.TrimSuffix(b.String(), ",")+`}}`)
	if len(rej) != 0 || len(evs[0].Props) != analytics.MaxProps || evs[0].Props["k31"] == nil || evs[0].Props["k32"] != nil {
		t.Fatalf("props %v, rejected %v: want the first 32 keys in byte order", evs[0].Props, rej)
	}
	big := `{"userId":"u","event":"e","properties":{"a":"` + strings.Repeat("x", 3000) + `","b":"` + strings.Repeat("y", 3000) + `"}}`
	evs, _, _ = segmentEvents(t, "track", big)
	if len(evs[0].Props) != 1 || evs[0].Props["a"] == nil || analytics.ValidateProps(evs[0].Props) != nil {
		t.Fatalf("props %d keys: want the last keys dropped until 4 KiB fit", len(evs[0].Props))
	}
}
