package visits

import (
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
)

// FuzzParse: whatever the script answers (a bug, another version of it
// sharing the Redis), parse returns an annotation or an error, never
// panics, and reads back what the script writes.
func FuzzParse(f *testing.F) {
	attrs := joinAttrs(attrsOf("Google", "DE"))
	f.Add("L")
	f.Add("S\x1f1764000000000\x1f0\x1f0\x1f0\x1f\x1f\x1f" + attrs)
	f.Add("C\x1f1764000000000\x1f12\x1f3\x1f40\x1f/a\x1f/b\x1f" + attrs)
	f.Add("C\x1fx\x1f12\x1f3\x1f40\x1f/a\x1f/b\x1f" + attrs)
	f.Add("S\x1f1\x1f2")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parse(s, time.Unix(0, 0))
		if err == nil && v == nil {
			t.Fatalf("parse(%q): no annotation and no error", s)
		}
	})
}

func TestParseReadsTheScriptsAnswer(t *testing.T) {
	v, err := parse("C\x1f1764000000000\x1f12\x1f3\x1f40\x1f/a\x1f/b\x1f"+joinAttrs(attrsOf("Google", "DE")), time.Time{})
	if err != nil || v.Start || v.Gap != 12 || v.Views != 3 || v.Duration != 40 || v.Entry != "/a" || v.Exit != "/b" ||
		v.Attrs.Source != "Google" || v.Attrs.Country != "DE" || !v.Began.Equal(time.UnixMilli(1764000000000)) {
		t.Fatalf("parse: %+v, %v", v, err)
	}
	if _, err := parse(int64(1), time.Time{}); err == nil {
		t.Fatal("a number parsed as an annotation")
	}
}

func attrsOf(source, country string) analytics.VisitAttrs {
	return analytics.VisitAttrs{Source: source, Country: country}
}

// FuzzDecode: whatever a visitor's key holds (a bug, another version
// sharing the Redis), decode returns a state or an error, never panics,
// and a state it returns is written back as it was read.
func FuzzDecode(f *testing.F) {
	st := &state{token: "0123456789abcdef", id: "b", ts: 1764000007000, same: []string{"b"}, began: 1764000000000, views: 2, dur: 7, entry: "/a", exit: "/b",
		attrs: attrsOf("Google", "DE"), ann: &analytics.Visit{Began: time.UnixMilli(1764000000000).UTC(), Gap: 7, Views: 1, Entry: "/a", Exit: "/a", Attrs: attrsOf("Google", "DE")}}
	f.Add(st.encode())
	st.same = []string{"a", "b", "c"}
	f.Add(st.encode())
	f.Add("a\x1f1\x1fa\x1f1\x1f0\x1f0\x1f\x1f\x1f" + joinAttrs(attrsOf("", "")) + "\x1eL")
	f.Add("")
	f.Add("\x1e")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := decode(s)
		if err != nil || st.token == "" { // "": a state from before tokens, never written back
			return
		}
		again, err := decode(st.encode())
		if err != nil || again.encode() != st.encode() {
			t.Fatalf("decode(%q) = %+v, written back as %q, read again: %v", s, st, st.encode(), err)
		}
	})
}
