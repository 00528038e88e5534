package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
)

// FuzzDecodeEvent checks that no input crashes the decoder, that every error
// is a client error, that the decoder agrees with encoding/json on what is
// JSON, and that an accepted event obeys every rule (canonical path, storable
// props keys) and survives the queue's JSON round trip unchanged.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"u","timestamp":"2025-11-12T19:30:01Z"}`,
		`{"site_id":"s","event_type":"x","path":"https://e.com/a?b#c","props":{"a":1,"b":"x","c":true}}`,
		`{"id":"x","site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00+05:30"}`,
		`{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00-0500"}`,
		`[]`, `{}`, `null`, `{"site_id":1}`, `{"props":{"a":{}}}`,
		// Issue 8: storable keys, canonical paths, duplicates, edges of the rules.
		`{"site_id":"s","event_type":"x","props":{"a.b":1,"$c":2,"d\u0000":3}}`,
		`{"site_id":"s","event_type":"x","path":"/caf%c3%a9 x?next=https://evil.example/#f"}`,
		`{"site_id":"s","event_type":" click ","path":"/r/https://x.y/z%2F%zz%"}`,
		`{"site_id":"a","site_id":"b","event_type":"x"}`,
		`{"site_id":"s","event_type":"x","props":{"a":1,"a":2}}`,
		`{"site_id":"s","event_type":"x","timestamp":"2016-12-31T23:59:60Z"}`,
		`{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00+24:00"}`,
		`{"site_id":"s","event_type":"x","timestamp":"1969-12-31T23:30:00-01:00"}`,
		`{"site_id":"s","event_type":"x","props":{"n":1e400,"h":"<>&\u2028"}}`,
		`{"site\u005fid":"s","event_type":"\ud83d\ude00","user_id":"\ud800"}`,
		// Issue 9: client hints and campaign parameters.
		`{"site_id":"s","event_type":"page_view","url":"https://e.com/a?utm_source=hn&utm_campaign=%E2%82%AC+x","referrer":"https://news.ycombinator.com/","user_agent":"Mozilla/5.0","ip":"2001:db8::1"}`,
		`{"site_id":"s","event_type":"x","path":"/?utm_term=%zz&utm_content=a%00b","ip":"::ffff:1.2.3.4"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ingest.DecodeEvent(data, now, fixedID)
		if err != nil {
			if analytics.KindOf(err) != analytics.Invalid {
				t.Fatalf("error of kind %v: %v", analytics.KindOf(err), err)
			}
			msg := analytics.Message(err)
			if msg == "" || msg == "internal error" {
				t.Fatalf("error without a message: %v", err)
			}
			if strings.HasPrefix(msg, "body is not valid JSON") && json.Valid(data) {
				t.Fatalf("valid JSON called invalid: %s", msg)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted a body that is not JSON")
		}
		if analytics.ValidateSiteID(ev.SiteID) != nil || ev.EventType == "" ||
			utf8.RuneCountInString(ev.EventType) > analytics.MaxEventTypeLen || !utf8.ValidString(ev.EventType) ||
			len(ev.Path) > analytics.MaxPathBytes || (ev.Path != "" && ev.Path[0] != '/') ||
			len(ev.UserID) > analytics.MaxUserIDBytes || !utf8.ValidString(ev.UserID) || ev.ID == "" ||
			ev.Timestamp.After(now.Add(analytics.MaxFuture)) || ev.Timestamp.Location() != time0.Location() ||
			ev.Timestamp.Year() < 1970 || len(ev.Props) > analytics.MaxProps ||
			len(ev.UTMSource) > analytics.MaxUTMBytes || len(ev.UTMCampaign) > analytics.MaxUTMBytes || !utf8.ValidString(ev.UTMTerm) ||
			len(ev.Client.Referrer) > analytics.MaxURLBytes || len(ev.Client.UserAgent) > analytics.MaxUABytes {
			t.Fatalf("accepted an event that breaks a rule: %+v", ev)
		}
		// The canonical path is a fixed point; every props key is storable.
		if ev.Path != "" {
			if p, err := analytics.NormalizePath(ev.Path); err != nil || p != ev.Path {
				t.Fatalf("path %q is not canonical: NormalizePath gives %q, %v", ev.Path, p, err)
			}
		}
		for k, v := range ev.Props {
			if err := analytics.ValidatePropKey(k); err != nil {
				t.Fatalf("accepted props key %q: %v", k, err)
			}
			switch v.(type) {
			case string, float64, bool:
			default:
				t.Fatalf("props.%s is a %T", k, v)
			}
		}
		// encoding/json reads the same values (it would take the last of
		// duplicates and match names case-insensitively: both are refused).
		var std map[string]any
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("encoding/json refuses what DecodeEvent accepted: %v", err)
		}
		if std["site_id"] != ev.SiteID || std["event_type"] != ev.EventType {
			t.Fatalf("encoding/json reads %v, DecodeEvent %+v", std, ev)
		}
		if u, ok := std["user_id"].(string); ok && u != ev.UserID {
			t.Fatalf("user_id: encoding/json reads %q, DecodeEvent %q", u, ev.UserID)
		}
		if p, ok := std["path"].(string); ok && p != "" {
			if want, _ := analytics.NormalizePath(p); want != ev.Path {
				t.Fatalf("path: encoding/json reads %q (canonical %q), DecodeEvent %q", p, want, ev.Path)
			}
		}
		if props, ok := std["props"].(map[string]any); ok {
			if len(props) != len(ev.Props) {
				t.Fatalf("props: encoding/json reads %v, DecodeEvent %v", props, ev.Props)
			}
			for k, v := range props {
				if ev.Props[k] != v {
					t.Fatalf("props.%s: encoding/json reads %v, DecodeEvent %v", k, v, ev.Props[k])
				}
			}
		}
		// The queue stores json.Marshal(ev) and reads it with json.Unmarshal.
		b, err := json.Marshal(&ev)
		if err != nil {
			t.Fatalf("marshal accepted event: %v", err)
		}
		var queued analytics.Event
		if err := json.Unmarshal(b, &queued); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if b2, _ := json.Marshal(&queued); string(b) != string(b2) {
			t.Fatalf("queue round trip changed the event:\n%s\n%s", b, b2)
		}
		// Sent again (without the campaign fields, which clients send in
		// the path's query), it is accepted unchanged, unless Go's
		// re-encoding of props (HTML escapes, 1e20 written out) grew it
		// past the limit.
		ev.UTMSource, ev.UTMMedium, ev.UTMCampaign, ev.UTMContent, ev.UTMTerm = "", "", "", "", ""
		if b, err = json.Marshal(&ev); err != nil {
			t.Fatal(err)
		}
		again, err := ingest.DecodeEvent(b, now, fixedID)
		if err != nil {
			if !strings.Contains(analytics.Message(err), "bytes of JSON, at most") {
				t.Fatalf("re-decoding %s: %v", b, err)
			}
			return
		}
		if b2, _ := json.Marshal(&again); string(b) != string(b2) {
			t.Fatalf("round trip changed the event:\n%s\n%s", b, b2)
		}
	})
}

var time0 = now.UTC()

// FuzzDecodeBatch checks that no batch body crashes the decoder, that it
// agrees with encoding/json on what is JSON, and that accepted plus rejected
// always accounts for every event.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`[{"site_id":"s","event_type":"x"},{"site_id":""}]`, `{"events":[{"site_id":"s","event_type":"x"}]}`,
		`[1,2,3]`, `{"events":null}`, `[`,
		`{"events":[],"events":[{"site_id":"s","event_type":"x"}]}`,
		`[{"a":[{"b":"]}"},[[]],{}]},{"site_id":"s","event_type":"x","props":{"k":1,"k":2}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, rej, err := ingest.DecodeBatch(data, now, fixedID)
		var raws []json.RawMessage
		isArray := json.Unmarshal(data, &raws) == nil && raws != nil // "null" unmarshals too
		if err != nil {
			if analytics.KindOf(err) != analytics.Invalid {
				t.Fatalf("error of kind %v: %v", analytics.KindOf(err), err)
			}
			msg := analytics.Message(err)
			if isArray && !strings.HasPrefix(msg, "no events") && !strings.HasPrefix(msg, "too many events") {
				t.Fatalf("a JSON array of %d values refused: %s", len(raws), msg)
			}
			if strings.HasPrefix(msg, "body is not valid JSON") && json.Valid(data) {
				t.Fatalf("valid JSON called invalid: %s", msg)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted a body that is not JSON")
		}
		if isArray && len(evs)+len(rej) != len(raws) {
			t.Fatalf("%d accepted + %d rejected != %d events", len(evs), len(rej), len(raws))
		}
		for i := 1; i < len(rej); i++ {
			if rej[i].Index <= rej[i-1].Index {
				t.Fatalf("rejections out of order: %+v", rej)
			}
		}
	})
}

// FuzzSegment checks that no body crashes the Segment decoder, that every
// error is a client error with a message, that every message is either an
// event, a rejection or ignored (group, alias), and that every event it
// makes obeys the event rules.
func FuzzSegment(f *testing.F) {
	for _, s := range []string{
		`{"batch":[{"type":"page","userId":"u","properties":{"url":"https://e.com/a?utm_source=x"}},{"type":"track","anonymousId":"a","event":"Order Completed","properties":{"n":1,"o":{"p":1}}}]}`,
		`{"writeKey":"k","sentAt":"2025-11-12T19:30:00Z","context":{"ip":"::1","page":{"path":"/x"}},"batch":[{"type":"identify","userId":1},{"type":"group"},{"type":"alias"}]}`,
		`{"userId":"u","event":"e","timestamp":"2025-11-12T19:30:00+01:00","sentAt":"2025-11-12T19:31:00Z","messageId":"a b"}`,
		`{"batch":[1,null,"x",[],{"type":"screen","userId":"u","name":"Home","context":{"campaign":{"name":"\u0000"}}}]}`,
		`{"batch":{}}`, `[]`, `{"userId":{}}`, `{"batch":[{"type":"track","userId":"u","event":"e","properties":{"a.b":1,"$c":2,"big":1e400}}]}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	kinds := []string{ingest.SegmentBatch, ingest.SegmentTrack, ingest.SegmentPage, ingest.SegmentScreen,
		ingest.SegmentIdentify, ingest.SegmentGroup, ingest.SegmentAlias}
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		req, err := ingest.ParseSegment(kinds[int(k)%len(kinds)], data)
		if err != nil {
			if analytics.KindOf(err) != analytics.Invalid || analytics.Message(err) == "" || analytics.Message(err) == "internal error" {
				t.Fatalf("request error %v of kind %v", err, analytics.KindOf(err))
			}
			return
		}
		events, rejected, ignored := req.Events("site", now, fixedID)
		if len(events)+len(rejected)+ignored != req.Messages() {
			t.Fatalf("%d messages became %d events, %d rejections, %d ignored", req.Messages(), len(events), len(rejected), ignored)
		}
		for _, r := range rejected {
			if r.Error == "" || r.Error == "internal error" {
				t.Fatalf("rejection without a reason: %+v", r)
			}
		}
		for _, ev := range events {
			if ev.SiteID != "site" || ev.EventType == "" || utf8.RuneCountInString(ev.EventType) > analytics.MaxEventTypeLen ||
				ev.UserID == "" || analytics.ValidateID(ev.ID) != nil || analytics.ValidateProps(ev.Props) != nil {
				t.Fatalf("event breaks a rule: %+v", ev)
			}
			if ev.Path != "" {
				if p, err := analytics.NormalizePath(ev.Path); err != nil || p != ev.Path {
					t.Fatalf("path %q not canonical", ev.Path)
				}
			}
			if ev.Timestamp.After(now.Add(analytics.MaxFuture)) || ev.Timestamp.Year() < 1970 {
				t.Fatalf("timestamp %v out of range", ev.Timestamp)
			}
		}
	})
}

// checkEvent fails on an event that breaks a rule.
func checkEvent(t *testing.T, ev analytics.Event, site string) {
	t.Helper()
	if ev.SiteID != site || ev.EventType == "" || utf8.RuneCountInString(ev.EventType) > analytics.MaxEventTypeLen ||
		!utf8.ValidString(ev.EventType) || !utf8.ValidString(ev.UserID) ||
		analytics.ValidateID(ev.ID) != nil || analytics.ValidateProps(ev.Props) != nil {
		t.Fatalf("event breaks a rule: %+v", ev)
	}
	if ev.Path != "" {
		if p, err := analytics.NormalizePath(ev.Path); err != nil || p != ev.Path {
			t.Fatalf("path %q not canonical", ev.Path)
		}
	}
	if ev.Timestamp.After(now.Add(analytics.MaxFuture)) || ev.Timestamp.Year() < 1970 {
		t.Fatalf("timestamp %v out of range", ev.Timestamp)
	}
}

// checkError fails on an error that is not a client's, or has no message.
func checkError(t *testing.T, err error) {
	t.Helper()
	if analytics.KindOf(err) != analytics.Invalid || analytics.Message(err) == "" || analytics.Message(err) == "internal error" {
		t.Fatalf("error %v of kind %v", err, analytics.KindOf(err))
	}
}

// FuzzPlausible checks that no body crashes Plausible's reader, that every
// error is a client error with a message, and that every event it makes
// obeys the event rules, for every domain it names.
func FuzzPlausible(f *testing.F) {
	for _, s := range []string{
		`{"name":"pageview","url":"http://dummy.site","domain":"dummy.site"}`,
		`{"n":"Signup","u":"https://e.com/a?utm_source=hn#x","d":"e.com,b.com","r":"https://news.example.com/","p":{"plan":"pro","n":2,"o":{"x":1}},"v":36}`,
		`{"n":"x","u":"https://e.com/","d":"e.com","p":"{\"a\":\"b\",\"c\":[1]}","$":{"currency":"eur","amount":1.5},"i":false}`,
		`{"n":"engagement","sd":40,"e":3000,"u":"https://a.com/","d":"a.com"}`, `{"p":"{"}`, `[]`, `{"n":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ingest.ParsePlausible(data)
		if err != nil {
			checkError(t, err)
			return
		}
		if len(req.Domains) == 0 || req.Name == "" {
			t.Fatalf("accepted without a domain or a name: %+v", req)
		}
		ev, err := req.Event("site", now, fixedID)
		if err != nil {
			checkError(t, err)
			return
		}
		checkEvent(t, ev, "site")
	})
}

// FuzzUmami is FuzzPlausible for Umami's /api/send.
func FuzzUmami(f *testing.F) {
	for _, s := range []string{
		`{"type":"event","payload":{"website":"w-1","screen":"1280x720","language":"en","title":"T","hostname":"shop.example","url":"https://shop.example/pricing?utm_source=hn","referrer":"/x"}}`,
		`{"type":"event","payload":{"website":"w-1","hostname":"shop.example","url":"checkout","name":"Plan Upgraded","data":{"plan":"pro","nested":{"a":1}},"id":7,"timestamp":1762941600}}`,
		`{"type":"identify","payload":{"website":"w","data":"x"}}`, `{"type":"event","payload":{"website":"w","timestamp":-1}}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ingest.ParseUmami(data)
		if err != nil {
			checkError(t, err)
			return
		}
		ev, err := req.Event("site", now, fixedID)
		if err != nil {
			checkError(t, err)
			return
		}
		checkEvent(t, ev, "site")
	})
}

// FuzzGoatCounter is FuzzPlausible for GoatCounter's /count query.
func FuzzGoatCounter(f *testing.F) {
	for _, s := range []string{
		"p=%2Fblog%2Fpost-1&t=Post&r=https%3A%2F%2Fnews.example.com%2F&s=1280%2C720%2C1&b=0&q=%3Futm_source%3Dhn&rnd=abc",
		"p=signup&e=true", "p=https%3A%2F%2Fe.com%2Fx", "p=%zz", "p=/a%00", "t=x",
	} {
		f.Add(s, "https://shop.example/pricing")
	}
	f.Fuzz(func(t *testing.T, query, page string) {
		hit, err := ingest.ParseGoatCounter(query, page)
		if err != nil {
			checkError(t, err)
			return
		}
		ev, err := hit.Event("site", now, fixedID)
		if err != nil {
			checkError(t, err)
			return
		}
		checkEvent(t, ev, "site")
	})
}
