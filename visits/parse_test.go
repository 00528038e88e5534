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
