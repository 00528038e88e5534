package redisqueue

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
)

// The queue's hand-written encoder writes exactly what json.Marshal writes.
func TestAppendEventIsJSONMarshal(t *testing.T) {
	at := time.Date(2025, 11, 12, 19, 30, 1, 123456789, time.UTC)
	for _, ev := range []analytics.Event{
		{ID: "a", SiteID: "s", EventType: "page_view", Timestamp: at},
		{ID: "01JD7X5Q9R3M8K2N4P6T0V1W3Y", SiteID: "site-abc-123", EventType: "Order Completed", Path: "/caf%C3%A9", UserID: "user \"x\" <&> \u2028\u2029 \x01\x1f\t\n\r\b\f é \xff",
			Timestamp: at.Truncate(time.Second), Props: map[string]any{"z": 1.0, "a": "x<y", "m": true, "n": -0.0000001, "big": 1e21, "f": 3.25, "neg": -42.0, "ex": 1.5e-7, "zero": 0.0, "i": json.Number("12")},
			UTMSource: "hn", UTMMedium: "m", UTMCampaign: "c", UTMContent: "ct", UTMTerm: "t", Source: "Google", ReferrerHost: "google.com",
			Browser: "Chrome", OS: "Windows", Device: "desktop", Country: "DE", Client: analytics.ClientHints{IP: "1.2.3.4"}},
		{ID: "b", SiteID: "s", EventType: "x", Timestamp: time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC), Props: map[string]any{}},
		{ID: "v", SiteID: "s", EventType: "page_view", Timestamp: at, Visit: &analytics.Visit{Start: true, Began: at}},
		{ID: "w", SiteID: "s", EventType: "page_view", Timestamp: at, Visit: &analytics.Visit{Late: true, Began: at.Add(-time.Hour), Gap: 61, Views: 3,
			Duration: 1200, Entry: "/a<b>", Exit: "/\u00e9\"x", Attrs: analytics.VisitAttrs{Source: "Google", ReferrerHost: "google.com", UTMSource: "hn",
				UTMMedium: "email", UTMCampaign: "launch", Browser: "Firefox", OS: "Linux", Device: "desktop", Country: "FR"}}},
		{ID: "x", SiteID: "s", EventType: "signup", Timestamp: at, Visit: &analytics.Visit{Began: at, Gap: -1, Attrs: analytics.VisitAttrs{Country: "DE"}}},
	} {
		encodesAsMarshal(t, &ev)
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("id", "site", "page_view", "/p", "u", "x<&>\u2028", "k", 1.5, true, int64(1731439801123456789))
	f.Add("", "\xff\x00", "\"\\", "", "", "", "", 1e-7, false, int64(0))
	f.Fuzz(func(t *testing.T, id, site, typ, path, user, sv, key string, fv float64, bv bool, ns int64) {
		ev := analytics.Event{ID: id, SiteID: site, EventType: typ, Path: path, UserID: user, Timestamp: time.Unix(0, ns).UTC(),
			Props: map[string]any{key: sv, key + "f": fv, key + "b": bv}, Browser: sv}
		if bv {
			ev.Visit = &analytics.Visit{Start: ns%2 == 0, Late: ns%3 == 0, Began: time.Unix(0, ns/2).UTC(), Gap: ns % 1000, Views: int64(len(sv)),
				Entry: path, Exit: sv, Attrs: analytics.VisitAttrs{Source: user, Country: key}}
		}
		want, werr := json.Marshal(&ev)
		got, gerr := appendEvent(nil, &ev)
		if (werr != nil) != (gerr != nil) || werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("appendEvent:\n got %s (%v)\nwant %s (%v)", got, gerr, want, werr)
		}
		if werr == nil {
			decodesAsUnmarshal(t, got)
		}
	})
}

// decodesAsUnmarshal fails unless the processor's decoder (decodeEntry,
// JSON v2) reads raw as encoding/json reads it.
func decodesAsUnmarshal(t *testing.T, raw []byte) {
	t.Helper()
	var want analytics.Event
	werr := json.Unmarshal(raw, &want)
	e := analytics.Entry{Raw: raw}
	decodeEntry(&e)
	if werr != nil {
		if e.Err == nil {
			t.Fatalf("decodeEntry accepted %s, which encoding/json refuses: %v", raw, werr)
		}
		return
	}
	if e.Err != nil && (want.ID != "" && want.SiteID != "" && want.EventType != "") {
		t.Fatalf("decodeEntry refused %s: %v", raw, e.Err)
	}
	if e.Err == nil && !reflect.DeepEqual(e.Event, want) {
		t.Fatalf("decodeEntry(%s):\n got %+v\nwant %+v", raw, e.Event, want)
	}
}

// The decoder reads what encoding/json reads, names in any case and
// duplicates included, as queues filled by earlier versions hold.
func TestDecodeEntryIsJSONUnmarshal(t *testing.T) {
	for _, raw := range []string{
		`{"id":"a","site_id":"s","event_type":"page_view","timestamp":"2025-11-12T19:30:01.123456789Z"}`,
		`{"ID":"a","Site_ID":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","props":{"n":1.5,"b":true,"s":"\u00e9","o":{"x":[1,"y",null]}}}`,
		`{"id":"a","id":"b","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01+02:00","unknown":[1,2]}`,
		"{\"id\":\"a\xff\",\"site_id\":\"s\",\"event_type\":\"x\",\"timestamp\":\"2025-11-12T19:30:01Z\"}",
		`{"id":"a","site_id":"s","event_type":"page_view","timestamp":"2025-11-12T19:30:01Z","visit":{"start":true,"began":"2025-11-12T19:00:00Z","attrs":{"source":"Google"}}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"yesterday"}`,
		`{"id":1,"site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z"}`,
		`[1]`,
		// Names differing by case, '_' or '-' (v2's case-insensitive
		// matching ignores both), loose times, duplicates, nulls, odd
		// numbers and text: read by encoding/json, as it would.
		`{"id":"a","siteid":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z"}`,
		`{"id":"a","site-id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z"}`,
		`{"id":"a","site_id":"s","eventtype":"x","timestamp":"2025-11-12T19:30:01Z","utmsource":"g","referrerhost":"r"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","visit":{"attrs":{"utmsource":"g"}}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12t19:30:01z"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01.1234567891Z"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01,5Z"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01+24:00"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":null}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","props":{"n":1e400}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","props":{"n":-0}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","props":{"a":1},"props":{"b":2}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","visit":{"views":2},"visit":{"gap":3}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","visit":{"views":2},"visit":null}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","props":{"a":1},"props":null}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","path":"\ud800x"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","path":null}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","visit":{"gap":1.0}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","visit":{"gap":1e2}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","visit":{"began":""}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","client":{"x":1},"Client":5}`,
		`{"id":"a","ID":"b","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z"}`,
		`{"ID":"b","id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","\u212aey":1}`,
		`{"id":"a","ſite_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z"} `,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z"}x`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z",}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"0000-01-01T00:00:00Z"}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","props":{"big":12345678901234567890}}`,
		"{\"id\":\"a\",\"site_id\":\"s\",\"event_type\":\"x\",\"timestamp\":\"2025-11-12T19:30:01Z\",\"props\":{\"\xff\":1,\"\xfe\":2}}",
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","props":{"a":1,"A":2}}`,
		`{"id":"a","site_id":"s","event_type":"x","timestamp":"2025-11-12T19:30:01Z","visit":{"began":null,"attrs":null}}`,
	} {
		decodesAsUnmarshal(t, []byte(raw))
	}
}

// An event with every field set encodes as json.Marshal does: a field added
// to analytics.Event that the encoder does not know fails here, instead of
// vanishing silently between the collector and the processor.
func TestAppendEventCoversEveryField(t *testing.T) {
	var ev analytics.Event
	v := reflect.ValueOf(&ev).Elem()
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		if sf.Tag.Get("json") == "-" {
			continue
		}
		switch f.Interface().(type) {
		case string:
			f.SetString(sf.Name)
		case time.Time:
			f.Set(reflect.ValueOf(time.Date(2025, 11, 12, 10, 0, 0, 5, time.UTC)))
		case map[string]any:
			f.Set(reflect.ValueOf(map[string]any{"k": "v"}))
		case *analytics.Visit:
			f.Set(reflect.ValueOf(&analytics.Visit{Start: true, Began: time.Date(2025, 11, 12, 9, 0, 0, 0, time.UTC), Gap: 1, Views: 2, Duration: 3,
				Entry: "/e", Exit: "/x", Attrs: analytics.VisitAttrs{Source: "s", Country: "DE"}}))
		default:
			t.Fatalf("analytics.Event.%s (%s): teach appendEvent (encode.go) and this test about it", sf.Name, sf.Type)
		}
	}
	encodesAsMarshal(t, &ev)
}

// encodesAsMarshal fails unless appendEvent writes exactly json.Marshal's
// bytes for ev.
func encodesAsMarshal(t *testing.T, ev *analytics.Event) {
	t.Helper()
	want, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendEvent(nil, ev)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("appendEvent:\n got %s (%v)\nwant %s", got, err, want)
	}
}
