package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
)

var now = time.Date(2025, 11, 12, 19, 30, 0, 0, time.UTC)

func fixedID() string { return "generated-id" }

func TestDecodeEventValid(t *testing.T) {
	tests := []struct {
		name string
		body string
		want analytics.Event
	}{
		{"seed example", `{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"user-xyz-789","timestamp":"2025-11-12T19:30:01Z"}`,
			analytics.Event{ID: "generated-id", SiteID: "site-abc-123", EventType: "page_view", Path: "/pricing", UserID: "user-xyz-789", Timestamp: time.Date(2025, 11, 12, 19, 30, 1, 0, time.UTC)}},
		{"timestamp defaults to receive time", `{"site_id":"s","event_type":"click"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "click", Timestamp: now}},
		{"offset converted to UTC day", `{"site_id":"s","event_type":"page_view","timestamp":"2025-11-12T01:30:00+02:00"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Timestamp: time.Date(2025, 11, 11, 23, 30, 0, 0, time.UTC)}},
		{"offset without colon", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00-0500"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: time.Date(2025, 11, 12, 15, 0, 0, 0, time.UTC)}},
		{"fractional seconds", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00.123Z"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: time.Date(2025, 11, 12, 10, 0, 0, 123e6, time.UTC)}},
		{"full URL reduced to path", `{"site_id":"s","event_type":"page_view","path":"https://example.com/blog/post-1?utm=x#top"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/blog/post-1", Timestamp: now}},
		{"bare origin URL is /", `{"site_id":"s","event_type":"page_view","path":"https://example.com"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/", Timestamp: now}},
		{"query dropped from path", `{"site_id":"s","event_type":"page_view","path":"/a?b=c"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/a", Timestamp: now}},
		{"client id kept", `{"id":"01JD7X5Q9R3M8K2N4P6T0V1W3Y","site_id":"s","event_type":"x"}`,
			analytics.Event{ID: "01JD7X5Q9R3M8K2N4P6T0V1W3Y", SiteID: "s", EventType: "x", Timestamp: now}},
		{"props kept", `{"site_id":"s","event_type":"signup","props":{"plan":"pro","seats":3,"trial":true}}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "signup", Timestamp: now, Props: map[string]any{"plan": "pro", "seats": 3.0, "trial": true}}},
		{"site id charset", `{"site_id":"A-z_0.9:x","event_type":"x"}`,
			analytics.Event{ID: "generated-id", SiteID: "A-z_0.9:x", EventType: "x", Timestamp: now}},
		{"59 minutes in the future is fine", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T20:29:00Z"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: time.Date(2025, 11, 12, 20, 29, 0, 0, time.UTC)}},
		{"null optional fields", `{"site_id":"s","event_type":"x","path":null,"user_id":null,"timestamp":null,"props":null}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: now}},
		// event_type is stored losslessly: surrounding whitespace is kept.
		{"event_type with a leading space kept", `{"site_id":"s","event_type":" click"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: " click", Timestamp: now}},
		{"event_type with a trailing space kept", `{"site_id":"s","event_type":"click "}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "click ", Timestamp: now}},
		{"event_type with a trailing no-break space kept", `{"site_id":"s","event_type":"click\u00a0"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "click\u00a0", Timestamp: now}},
		// Paths: one canonical form (see TestNormalizePath for the whole table).
		{"query holding a URL dropped", `{"site_id":"s","event_type":"page_view","path":"/login?next=https://evil.example/"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/login", Timestamp: now}},
		{"URL inside a path is a path", `{"site_id":"s","event_type":"page_view","path":"/r/https://x.y/z"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/r/https://x.y/z", Timestamp: now}},
		{"UTF-8 path percent-encoded", `{"site_id":"s","event_type":"page_view","path":"/café"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/caf%C3%A9", Timestamp: now}},
		{"full URL with UTF-8 path", `{"site_id":"s","event_type":"page_view","path":"https://example.com/café"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/caf%C3%A9", Timestamp: now}},
		{"path with a trailing space", `{"site_id":"s","event_type":"page_view","path":"/x "}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/x%20", Timestamp: now}},
		{"path with a trailing no-break space", `{"site_id":"s","event_type":"page_view","path":"/x\u00a0"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "page_view", Path: "/x%C2%A0", Timestamp: now}},
		{"escaped field name", `{"site\u005fid":"s","event_type":"x"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: now}},
		// Timestamps.
		{"leap second stays on its day", `{"site_id":"s","event_type":"x","timestamp":"2016-12-31T23:59:60Z"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{"leap second with an offset", `{"site_id":"s","event_type":"x","timestamp":"2017-01-01T00:59:60.5+01:00"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{"1969 local time that is 1970 in UTC", `{"site_id":"s","event_type":"x","timestamp":"1969-12-31T23:30:00-01:00"}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: time.Date(1970, 1, 1, 0, 30, 0, 0, time.UTC)}},
		// Props.
		{"props size measured as sent, not HTML-escaped", `{"site_id":"s","event_type":"x","props":{"a":"` + strings.Repeat("<", 4000) + `"}}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: now, Props: map[string]any{"a": strings.Repeat("<", 4000)}}},
		{"props size does not count whitespace", `{"site_id":"s","event_type":"x","props":{` + "\n\t" + `"a" : "` + strings.Repeat("b", 4088) + `"` + strings.Repeat(" ", 100) + `}}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: now, Props: map[string]any{"a": strings.Repeat("b", 4088)}}},
		{"props key of 128 bytes and non-ASCII keys", `{"site_id":"s","event_type":"x","props":{"` + strings.Repeat("k", 128) + `":1,"prénom":"é","a-b_c:d":false}}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: now, Props: map[string]any{strings.Repeat("k", 128): 1.0, "prénom": "é", "a-b_c:d": false}}},
		{"props number below float64 precision rounds to 0", `{"site_id":"s","event_type":"x","props":{"n":1e-400,"m":-0.5E+2}}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: now, Props: map[string]any{"n": 0.0, "m": -50.0}}},
		{"empty props dropped", `{"site_id":"s","event_type":"x","props":{ }}`,
			analytics.Event{ID: "generated-id", SiteID: "s", EventType: "x", Timestamp: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ingest.DecodeEvent([]byte(tt.body), now, fixedID)
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Fatalf("got  %s\nwant %s", gb, wb)
			}
		})
	}
}

func TestDecodeEventInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name, body, wantErr string
	}{
		{"missing site_id", `{"event_type":"x"}`, "site_id: required"},
		{"empty site_id", `{"site_id":"","event_type":"x"}`, "site_id: required"},
		{"site_id too long", `{"site_id":"` + long(129) + `","event_type":"x"}`, "site_id: 129 characters"},
		{"site_id bad character", `{"site_id":"site abc","event_type":"x"}`, "site_id: \"site abc\" has a character outside"},
		{"site_id not a string", `{"site_id":42,"event_type":"x"}`, "site_id: must be a string"},
		{"missing event_type", `{"site_id":"s"}`, "event_type: required"},
		{"event_type too long", `{"site_id":"s","event_type":"` + long(65) + `"}`, "event_type: 65 characters"},
		{"event_type control char", `{"site_id":"s","event_type":"a\u0000b"}`, "event_type: must not contain control characters"},
		{"path relative", `{"site_id":"s","event_type":"x","path":"pricing"}`, "path: \"pricing\" must start with /"},
		{"path too long", `{"site_id":"s","event_type":"x","path":"/` + long(2048) + `"}`, "path: 2049 bytes"},
		{"path bad URL", `{"site_id":"s","event_type":"x","path":"http://"}`, "path: \"http://\" is neither"},
		{"user_id too long", `{"site_id":"s","event_type":"x","user_id":"` + long(257) + `"}`, "user_id: 257 bytes"},
		{"user_id number", `{"site_id":"s","event_type":"x","user_id":7}`, "user_id: must be a string"},
		{"timestamp not a time", `{"site_id":"s","event_type":"x","timestamp":"yesterday"}`, "timestamp: \"yesterday\" is not an RFC 3339 time"},
		{"timestamp without zone", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00"}`, "timestamp: \"2025-11-12T10:00:00\" is not an RFC 3339 time with a zone"},
		{"timestamp in future", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T20:31:00Z"}`, "timestamp: 2025-11-12T20:31:00Z is more than 1h in the future"},
		{"timestamp before 1970", `{"site_id":"s","event_type":"x","timestamp":"1969-12-31T23:00:00Z"}`, "timestamp: \"1969-12-31T23:00:00Z\" is before 1970"},
		{"timestamp number", `{"site_id":"s","event_type":"x","timestamp":1731430000}`, "timestamp: must be a string"},
		{"id bad characters", `{"id":"a b","site_id":"s","event_type":"x"}`, "id: \"a b\" has a character outside"},
		{"id too long", `{"id":"` + long(129) + `","site_id":"s","event_type":"x"}`, "id: 129 characters"},
		{"props nested", `{"site_id":"s","event_type":"x","props":{"a":{"b":1}}}`, "props.a: must be a string, number or boolean"},
		{"props array", `{"site_id":"s","event_type":"x","props":{"a":[1]}}`, "props.a: must be a string, number or boolean"},
		{"props null value", `{"site_id":"s","event_type":"x","props":{"a":null}}`, "props.a: must be a string, number or boolean"},
		{"props too many keys", `{"site_id":"s","event_type":"x","props":{` + manyProps(33) + `}}`, "props: more than 32 keys; at most 32 are allowed"},
		{"props too big", `{"site_id":"s","event_type":"x","props":{"a":"` + long(4100) + `"}}`, "props: 4108 bytes of JSON, at most 4096 allowed"},
		{"props empty key", `{"site_id":"s","event_type":"x","props":{"":1}}`, "props: keys must not be empty"},
		{"props not object", `{"site_id":"s","event_type":"x","props":"a"}`, `props: must be an object like {"plan": "pro"}, got a string`},
		{"unknown field", `{"site_id":"s","event_type":"x","userId":"u"}`, `unknown field "userId": an event has only the fields id, site_id`},
		{"not JSON", `site_id=s`, "body is not valid JSON: expected a JSON object at byte 0, found 's'"},
		{"array instead of object", `[{"site_id":"s"}]`, "an event must be a JSON object, got an array (several events go to POST /events)"},
		{"number instead of object", `5`, "an event must be a JSON object, got a number"},
		{"truncated", `{"site_id":"s"`, `body is not valid JSON: it ends too early (expected "," or "}")`},
		{"trailing data", `{"site_id":"s","event_type":"x"} {}`, "unexpected data after the JSON value at byte 33"},
		// Keys MongoDB and FerretDB cannot store (issue 8, defect 4).
		{"props key with a dot", `{"site_id":"s","event_type":"x","props":{"a.b":1}}`, `props: key "a.b" must not contain "." (MongoDB cannot store it)`},
		{"props key starting with $", `{"site_id":"s","event_type":"x","props":{"$set":1}}`, `props: key "$set" must not start with "$" (MongoDB cannot store it)`},
		{"props key with NUL", `{"site_id":"s","event_type":"x","props":{"a\u0000b":1}}`, `props: key "a\x00b" must not contain control characters`},
		{"props key with a tab", `{"site_id":"s","event_type":"x","props":{"a\tb":1}}`, `props: key "a\tb" must not contain control characters`},
		{"props key with a C1 control", `{"site_id":"s","event_type":"x","props":{"a\u0085":1}}`, `props: key "a\u0085" must not contain control characters`},
		{"props key over 128 bytes", `{"site_id":"s","event_type":"x","props":{"` + long(129) + `":1}}`, "props: key \"" + long(40) + "...\" is 129 bytes, at most 128 allowed"},
		{"props key invalid UTF-8", "{\"site_id\":\"s\",\"event_type\":\"x\",\"props\":{\"a\xffb\":1}}", `props: key "a\xffb" is not valid UTF-8`},
		{"props key lone surrogate", `{"site_id":"s","event_type":"x","props":{"\ud800":1}}`, `props: key "\xed\xa0\x80" is not valid UTF-8`},
		// Duplicate names (issue 8, defect 7).
		{"duplicate site_id", `{"site_id":"a","site_id":"b","event_type":"x"}`, `duplicate field "site_id": send each field once`},
		{"duplicate written with an escape", `{"site_id":"a","site\u005fid":"b","event_type":"x"}`, `duplicate field "site_id"`},
		{"duplicate with a null", `{"site_id":"s","event_type":"x","path":"/a","path":null}`, `duplicate field "path"`},
		{"duplicate props", `{"site_id":"s","event_type":"x","props":{"a":1},"props":{"b":1}}`, `duplicate field "props"`},
		{"duplicate props key", `{"site_id":"s","event_type":"x","props":{"a":1,"b":2,"a":3}}`, `props: duplicate key "a": send each key once`},
		{"field name in another case", `{"Site_ID":"s","event_type":"x"}`, `unknown field "Site_ID"`},
		// Paths (issue 8, defect 7).
		{"path with an encoded NUL", `{"site_id":"s","event_type":"x","path":"/a%00b"}`, "path: must not contain control characters"},
		{"path with an encoded newline", `{"site_id":"s","event_type":"x","path":"/a%0A"}`, "path: must not contain control characters"},
		{"path with an encoded C1 control", `{"site_id":"s","event_type":"x","path":"/a%C2%85"}`, "path: must not contain control characters"},
		{"path over 2048 bytes once encoded", `{"site_id":"s","event_type":"x","path":"/` + strings.Repeat("é", 700) + `"}`, "path: 4201 bytes once percent-encoded, at most 2048 allowed"},
		{"URL without a host", `{"site_id":"s","event_type":"x","path":"https:///a"}`, `path: "https:///a" is neither a path nor a valid URL`},
		// Timestamps (issue 8, defect 9).
		{"zone offset +24:00", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00+24:00"}`, `timestamp: "2025-11-12T10:00:00+24:00" has zone offset +24:00; offsets run from -23:59 to +23:59`},
		{"zone offset -24:00", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00-24:00"}`, "has zone offset -24:00"},
		{"zone offset +00:60", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00+00:60"}`, "has zone offset +00:60"},
		{"zone offset +0060", `{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00+0060"}`, "has zone offset +0060"},
		{"1970 local time that is 1969 in UTC", `{"site_id":"s","event_type":"x","timestamp":"1970-01-01T00:30:00+01:00"}`, `timestamp: "1970-01-01T00:30:00+01:00" is before 1970 (in UTC)`},
		{"second 60 that is not a leap second", `{"site_id":"s","event_type":"x","timestamp":"2016-12-31T12:00:60Z"}`, "has second 60, which only a leap second at 23:59:60 UTC can have"},
		// Props values (issue 8, defect 9).
		{"props number out of range", `{"site_id":"s","event_type":"x","props":{"n":1e400}}`, "props.n: number 1e400 is out of range"},
		{"props negative number out of range", `{"site_id":"s","event_type":"x","props":{"a":1,"n":-2E+999}}`, "props.n: number -2E+999 is out of range"},
		{"props nested names the key", `{"site_id":"s","event_type":"x","props":{"ok":1,"deep":{}}}`, "props.deep: must be a string, number or boolean, got an object"},
		// Strings must be UTF-8; encoding/json would replace bad bytes silently.
		{"user_id invalid UTF-8", "{\"site_id\":\"s\",\"event_type\":\"x\",\"user_id\":\"u\xff\"}", "user_id: must be valid UTF-8 text"},
		{"event_type lone surrogate", `{"site_id":"s","event_type":"\udc00"}`, "event_type: must be valid UTF-8 text"},
		// JSON syntax.
		{"raw control character in a string", "{\"site_id\":\"s\",\"event_type\":\"a\nb\"}", `body is not valid JSON: control character U+000A in a string at byte 30`},
		{"invalid escape", `{"site_id":"s","event_type":"\q"}`, `body is not valid JSON: invalid escape \q in a string at byte 29`},
		{"number with a leading zero", `{"site_id":"s","event_type":"x","props":{"n":01}}`, `body is not valid JSON: expected "," or "}" at byte 46, found '1'`},
		{"bare word", `{"site_id":"s","event_type":"x","props":{"n":nope}}`, `body is not valid JSON: expected a JSON value at byte 45, found 'n'`},
		{"events key in a single event", `{"events":[]}`, `unknown field "events"`},
		{"empty", ``, "body is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingest.DecodeEvent([]byte(tt.body), now, fixedID)
			if err == nil {
				t.Fatalf("DecodeEvent accepted %s", tt.body)
			}
			if analytics.KindOf(err) != analytics.Invalid {
				t.Errorf("kind = %v, want invalid", analytics.KindOf(err))
			}
			msg := analytics.Message(err)
			if !strings.Contains(msg, tt.wantErr) {
				t.Fatalf("error %q does not contain %q", msg, tt.wantErr)
			}
			for _, bad := range []string{" a an ", "JSON an ", "a a "} {
				if strings.Contains(msg, bad) {
					t.Errorf("error %q is not a sentence (%q)", msg, bad)
				}
			}
		})
	}
}

func manyProps(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	return b.String()
}

func TestDecodeBatch(t *testing.T) {
	good := `{"site_id":"s","event_type":"page_view","path":"/"}`
	bad := `{"site_id":"s"}`
	t.Run("array with per-event rejections", func(t *testing.T) {
		evs, rej, err := ingest.DecodeBatch([]byte(`[`+good+`,`+bad+`,`+good+`]`), now, fixedID)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || len(rej) != 1 || rej[0].Index != 1 || rej[0].Error != "event_type: required" {
			t.Fatalf("events %d, rejected %+v", len(evs), rej)
		}
	})
	t.Run("object form", func(t *testing.T) {
		evs, rej, err := ingest.DecodeBatch([]byte(`{"events":[`+good+`]}`), now, fixedID)
		if err != nil || len(evs) != 1 || len(rej) != 0 {
			t.Fatalf("events %d, rejected %v, err %v", len(evs), rej, err)
		}
	})
	t.Run("duplicate field inside one event is that event's rejection", func(t *testing.T) {
		evs, rej, err := ingest.DecodeBatch([]byte(`[`+good+`,{"site_id":"a","site_id":"b","event_type":"x"}]`), now, fixedID)
		if err != nil || len(evs) != 1 || len(rej) != 1 || rej[0].Index != 1 || rej[0].Error != `duplicate field "site_id": send each field once` {
			t.Fatalf("events %d, rejected %+v, err %v", len(evs), rej, err)
		}
	})
	t.Run("nested values and whitespace are skipped correctly", func(t *testing.T) {
		body := " [ " + good + ` , {"site_id":"s","event_type":"x","props":{"a":{"b":[1,{"c":"]}"}]}}} , [[]], {} ]` + "\n"
		evs, rej, err := ingest.DecodeBatch([]byte(body), now, fixedID)
		if err != nil || len(evs) != 1 || len(rej) != 3 || rej[0].Error != "props.a: must be a string, number or boolean, got an object" {
			t.Fatalf("events %d, rejected %+v, err %v", len(evs), rej, err)
		}
	})
	t.Run("event that is an array names no other endpoint", func(t *testing.T) {
		_, rej, err := ingest.DecodeBatch([]byte(`[`+good+`,[`+good+`]]`), now, fixedID)
		if err != nil || len(rej) != 1 || rej[0].Error != "an event must be a JSON object, got an array" {
			t.Fatalf("rejected %+v, err %v", rej, err)
		}
	})
	t.Run("event that is not an object", func(t *testing.T) {
		_, rej, err := ingest.DecodeBatch([]byte(`[`+good+`, 5]`), now, fixedID)
		if err != nil || len(rej) != 1 || rej[0].Index != 1 {
			t.Fatalf("rejected %v, err %v", rej, err)
		}
	})
	for _, tt := range []struct{ name, body, want string }{
		{"empty array", `[]`, "no events in the batch"},
		{"empty body", ``, "body is empty"},
		{"object without events", `{"foo":[]}`, `unknown field "foo"`},
		{"object with events missing", `{}`, `body must be a JSON array`},
		{"not JSON", `hello`, "body is not JSON"},
		{"too many", `[` + strings.TrimSuffix(strings.Repeat(good+",", 1001), ",") + `]`, "too many events: 1001 (at most 1000"},
		{"broken array", `[` + good, "body is not valid JSON"},
		{"duplicate events field", `{"events":[` + good + `],"events":[` + good + `]}`, `duplicate field "events": send each field once`},
		{"events not an array", `{"events":5}`, "events: must be an array, got a number"},
		{"events null", `{"events":null}`, `body must be a JSON array of events or {"events": [...]}`},
		{"string body", `"x"`, `body is not JSON of events but a string: send a JSON array of events`},
		{"trailing data", `[` + good + `] x`, "unexpected data after the JSON value at byte"},
		{"trailing comma", `[` + good + `,]`, `body is not valid JSON: expected a JSON value at byte`},
		{"unbalanced brackets", `[{"a":[1}]`, `body is not valid JSON: expected "," or "]" at byte 8, found '}'`},
		{"no events in the object form", `{"events":[]}`, "no events in the batch: send at least one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ingest.DecodeBatch([]byte(tt.body), now, fixedID)
			if err == nil || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
