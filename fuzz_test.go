package analytics_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/siteanalytics/analytics"
)

// FuzzDecodeEvent checks that no input crashes the decoder, that every error
// is a client error, and that an accepted event obeys every rule and survives
// the queue's JSON round trip unchanged.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"site_id":"site-abc-123","event_type":"page_view","path":"/pricing","user_id":"u","timestamp":"2025-11-12T19:30:01Z"}`,
		`{"site_id":"s","event_type":"x","path":"https://e.com/a?b#c","props":{"a":1,"b":"x","c":true}}`,
		`{"id":"x","site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00+05:30"}`,
		`{"site_id":"s","event_type":"x","timestamp":"2025-11-12T10:00:00-0500"}`,
		`[]`, `{}`, `null`, `{"site_id":1}`, `{"props":{"a":{}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := analytics.DecodeEvent(data, now, fixedID)
		if err != nil {
			if analytics.KindOf(err) != analytics.Invalid {
				t.Fatalf("error of kind %v: %v", analytics.KindOf(err), err)
			}
			if analytics.Message(err) == "" || analytics.Message(err) == "internal error" {
				t.Fatalf("error without a message: %v", err)
			}
			return
		}
		if analytics.ValidateSiteID(ev.SiteID) != nil || ev.EventType == "" ||
			utf8.RuneCountInString(ev.EventType) > analytics.MaxEventTypeLen ||
			len(ev.Path) > analytics.MaxPathBytes || (ev.Path != "" && ev.Path[0] != '/') ||
			len(ev.UserID) > analytics.MaxUserIDBytes || ev.ID == "" ||
			ev.Timestamp.After(now.Add(analytics.MaxFuture)) || ev.Timestamp.Location() != time0.Location() {
			t.Fatalf("accepted an event that breaks a rule: %+v", ev)
		}
		b, err := json.Marshal(&ev)
		if err != nil {
			t.Fatalf("marshal accepted event: %v", err)
		}
		again, err := analytics.DecodeEvent(b, now, fixedID)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		b2, _ := json.Marshal(&again)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed the event:\n%s\n%s", b, b2)
		}
	})
}

var time0 = now.UTC()

// FuzzDecodeBatch checks that no batch body crashes the decoder and that
// accepted plus rejected always accounts for every event.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`[{"site_id":"s","event_type":"x"},{"site_id":""}]`, `{"events":[{"site_id":"s","event_type":"x"}]}`,
		`[1,2,3]`, `{"events":null}`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, rej, err := analytics.DecodeBatch(data, now, fixedID)
		if err != nil {
			if analytics.KindOf(err) != analytics.Invalid {
				t.Fatalf("error of kind %v: %v", analytics.KindOf(err), err)
			}
			return
		}
		var raws []json.RawMessage
		if json.Unmarshal(data, &raws) == nil && len(evs)+len(rej) != len(raws) {
			t.Fatalf("%d accepted + %d rejected != %d events", len(evs), len(rej), len(raws))
		}
		for i := 1; i < len(rej); i++ {
			if rej[i].Index <= rej[i-1].Index {
				t.Fatalf("rejections out of order: %+v", rej)
			}
		}
	})
}
