package analytics_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := analytics.DecodeEvent([]byte(tt.body), now, fixedID)
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
		{"props too many keys", `{"site_id":"s","event_type":"x","props":{` + manyProps(33) + `}}`, "props: 33 keys, at most 32"},
		{"props too big", `{"site_id":"s","event_type":"x","props":{"a":"` + long(4100) + `"}}`, "props: 4108 bytes encoded, at most 4096"},
		{"props empty key", `{"site_id":"s","event_type":"x","props":{"":1}}`, "props: keys must not be empty"},
		{"props not object", `{"site_id":"s","event_type":"x","props":"a"}`, "props: must be an object"},
		{"unknown field", `{"site_id":"s","event_type":"x","userId":"u"}`, `unknown field "userId"`},
		{"not JSON", `site_id=s`, "body is not valid JSON"},
		{"array instead of object", `[{"site_id":"s"}]`, "expected a JSON an object"},
		{"truncated", `{"site_id":"s"`, "body is not valid JSON"},
		{"trailing data", `{"site_id":"s","event_type":"x"} {}`, "unexpected data after the JSON value"},
		{"empty", ``, "body is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := analytics.DecodeEvent([]byte(tt.body), now, fixedID)
			if err == nil {
				t.Fatalf("DecodeEvent accepted %s", tt.body)
			}
			if analytics.KindOf(err) != analytics.Invalid {
				t.Errorf("kind = %v, want invalid", analytics.KindOf(err))
			}
			if msg := analytics.Message(err); !strings.Contains(msg, tt.wantErr) {
				t.Fatalf("error %q does not contain %q", msg, tt.wantErr)
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
		evs, rej, err := analytics.DecodeBatch([]byte(`[`+good+`,`+bad+`,`+good+`]`), now, fixedID)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || len(rej) != 1 || rej[0].Index != 1 || rej[0].Error != "event_type: required" {
			t.Fatalf("events %d, rejected %+v", len(evs), rej)
		}
	})
	t.Run("object form", func(t *testing.T) {
		evs, rej, err := analytics.DecodeBatch([]byte(`{"events":[`+good+`]}`), now, fixedID)
		if err != nil || len(evs) != 1 || len(rej) != 0 {
			t.Fatalf("events %d, rejected %v, err %v", len(evs), rej, err)
		}
	})
	t.Run("event that is not an object", func(t *testing.T) {
		_, rej, err := analytics.DecodeBatch([]byte(`[`+good+`, 5]`), now, fixedID)
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
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := analytics.DecodeBatch([]byte(tt.body), now, fixedID)
			if err == nil || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseStatsQuery(t *testing.T) {
	for _, tt := range []struct{ name, site, date, limit, want string }{
		{"missing site_id", "", "", "", "site_id: required"},
		{"bad site_id", "a b", "", "", "site_id:"},
		{"bad date", "s", "2025-13-01", "", `date: "2025-13-01" is not a date in YYYY-MM-DD`},
		{"date with time", "s", "2025-11-12T00:00:00Z", "", "date:"},
		{"short date", "s", "2025-1-2", "", "date:"},
		{"limit zero", "s", "", "0", "limit: \"0\" must be a whole number from 1 to 100"},
		{"limit too big", "s", "", "101", "limit:"},
		{"limit not a number", "s", "", "ten", "limit:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := analytics.ParseStatsQuery(tt.site, tt.date, tt.limit)
			if err == nil || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	q, err := analytics.ParseStatsQuery("s", "2025-11-12", "5")
	if err != nil || q.Limit != 5 || q.Date != "2025-11-12" {
		t.Fatalf("q = %+v, err %v", q, err)
	}
	q, _ = analytics.ParseStatsQuery("s", "", "")
	if q.Limit != analytics.DefaultTopPaths {
		t.Fatalf("default limit = %d", q.Limit)
	}
}

func TestComparePositions(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1-0", "1-0", 0}, {"1-0", "1-1", -1}, {"9-0", "10-0", -1}, {"10-0", "9-99", 1}, {"5-10", "5-9", 1},
	} {
		if got := analytics.ComparePositions(tt.a, tt.b); got != tt.want {
			t.Errorf("ComparePositions(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := analytics.NewID()
		if len(id) != 36 || id[14] != '7' || analytics.ValidateID(id) != nil || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}
