package query

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// TestFunnelJSONFilters: the funnel endpoint takes v2 filters as JSON (the
// dashboard's), whose values are taken as they are where v1's syntax would
// split ';' and '|' and read '*' as a wildcard; v1 filters still work; a
// bad JSON filter is refused naming what is wrong.
func TestFunnelJSONFilters(t *testing.T) {
	site := utc
	site.Funnels = []engine.Funnel{{Name: "f", Steps: []engine.Goal{{Name: "Visit /a", Page: "/a"}, {Name: "Signup", Event: "Signup"}}}}
	now := time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)
	parse := func(filters string) (*Funnel, error) {
		return ParseFunnel(url.Values{"funnel": {"f"}, "filters": {filters}}, site, now)
	}
	q, err := parse(`[["is","event:page",["/a;b|c*"]],["is_not","visit:source",["Google"]],["contains","event:props:plan",["pro"],{"case_sensitive":false}]]`)
	if err != nil {
		t.Fatal(err)
	}
	want := []*engine.Filter{
		// A page value is compared in the encoding paths are stored in.
		{Op: "is", Dim: "event:page", Values: []string{"/a;b%7Cc*"}},
		{Op: "is_not", Dim: "visit:source", Values: []string{"Google"}},
		{Op: "contains", Dim: "event:props:plan", Values: []string{"pro"}, CaseInsensitive: true},
	}
	if len(q.Filters) != len(want) {
		t.Fatalf("%d filters, want %d: %v", len(q.Filters), len(want), q.Filters)
	}
	for i, f := range q.Filters {
		if f.String() != want[i].String() || f.CaseInsensitive != want[i].CaseInsensitive {
			t.Errorf("filter %d: %v, want %v", i, f, want[i])
		}
	}
	q, err = parse("visit:source==Google;event:page!=/a")
	if err != nil || len(q.Filters) != 2 || q.Filters[0].Dim != "visit:source" || q.Filters[1].Op != "is_not" {
		t.Errorf("v1 filters: %v %v", q, err)
	}
	for _, tt := range []struct{ name, filters, want string }{
		{"not JSON", `[["is"`, "Send a JSON list of v2 filters"},
		{"unknown operator", `[["nearly","event:page",["/a"]]]`, "Unknown operator"},
		{"unknown property", `[["is","event:nope",["/a"]]]`, "Invalid filter"},
		{"no values", `[["is","event:page",[]]]`, "Invalid filter"},
		{"an object is read as v1", `{"is":1}`, "Invalid filter '{\"is\":1}'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.filters)
			if err == nil || analytics.KindOf(err) != analytics.Invalid || !strings.Contains(analytics.Message(err), tt.want) {
				t.Errorf("%s: %v; want an invalid-input error with %q", tt.filters, err, tt.want)
			}
		})
	}
}

// FuzzParseV2Filters: any input is parsed or refused as invalid input,
// never a panic, and what parses has a condition or combinator in each
// node.
func FuzzParseV2Filters(f *testing.F) {
	for _, s := range []string{
		`[["is","visit:source",["Google"]]]`,
		`[["and",[["is","event:page",["/a"]],["not",["contains","visit:referrer",["x"]]]]]]`,
		`[["has_done",["is","event:name",["signup"]]]]`,
		`[["matches","event:page",["^/blog/[0-9]+$"]]]`,
		`[["is","event:props:plan",["pro"],{"case_sensitive":false}]]`,
		`[["is","visit:country",["US"]]]`, `[]`, `[[]]`, `null`, `[["or",[]]]`, `[["matches","event:page",["("]]]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := ParseV2Filters([]byte(s))
		if err != nil {
			if analytics.KindOf(err) != analytics.Invalid {
				t.Fatalf("%q: %v is not an invalid-input error", s, err)
			}
			return
		}
		var walk func(*engine.Filter)
		walk = func(f *engine.Filter) {
			if f == nil || (f.Dim == "" && len(f.Children) == 0) {
				t.Fatalf("%q parsed to an empty node: %v", s, fs)
			}
			for _, c := range f.Children {
				walk(c)
			}
		}
		for _, f := range fs {
			walk(f)
		}
	})
}
