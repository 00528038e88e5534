package rules_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/siteanalytics/analytics/sdk/rules"
)

// TestNormalizePath: the canonical form of the paths of the SDK and the
// collector, which both call NormalizePath.
func TestNormalizePath(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"plain path unchanged", "/pricing", "/pricing"},
		{"query holding a URL dropped", "/login?next=https://evil.example/", "/login"},
		{"URL inside a path is a path", "/r/https://x.y/z", "/r/https://x.y/z"},
		{"full URL reduced to its path", "https://example.com/blog/post-1?utm=x#top", "/blog/post-1"},
		{"bare origin", "https://example.com", "/"},
		{"raw UTF-8 encoded", "/café", "/caf%C3%A9"},
		{"lower-case hex upper-cased", "/caf%c3%a9", "/caf%C3%A9"},
		{"URL with raw UTF-8", "https://example.com/café", "/caf%C3%A9"},
		{"space encoded", "/a b", "/a%20b"},
		{"encoded space kept", "/a%20b", "/a%20b"},
		{"trailing space", "/x ", "/x%20"},
		{"trailing no-break space", "/x\u00a0", "/x%C2%A0"},
		{"unreserved characters decoded", "/%7Euser", "/~user"},
		{"stray percent is literal", "/100%", "/100%25"},
		{"encoded query stays encoded", "/a%3Fb", "/a%3Fb"},
		{"invalid UTF-8 kept as bytes", "/\xff", "/%FF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rules.NormalizePath(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("rules.NormalizePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if again, err := rules.NormalizePath(got); err != nil || again != got {
				t.Fatalf("canonical form is not a fixed point: %q -> %q, %v", got, again, err)
			}
		})
	}
	for _, tt := range []struct{ name, in, want string }{
		{"relative", "pricing", `"pricing" must start with / (or be a full URL)`},
		{"URL without host", "http://", `"http://" is neither a path nor a valid URL`},
		{"encoded NUL", "/a%00", "must not contain control characters"},
		{"encoded newline", "/a%0A", "must not contain control characters"},
		{"too long", "/" + strings.Repeat("a", 2048), "2049 bytes, at most 2048 allowed"},
		{"too long once encoded", "/" + strings.Repeat("é", 341) + "ab", "2049 bytes once percent-encoded, at most 2048 allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.NormalizePath(tt.in)
			var fe *rules.Error
			if !errors.As(err, &fe) || fe.Field != "path" || !strings.Contains(fe.Reason, tt.want) {
				t.Fatalf("rules.NormalizePath(%q): %v, want a path error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestIDRules(t *testing.T) {
	for _, tt := range []struct {
		name  string
		check func(string) error
		in    string
		want  string // "" for valid
	}{
		{"site id", rules.ValidateSiteID, "site-abc_1.2:3", ""},
		{"site id required", rules.ValidateSiteID, "", "site_id: required"},
		{"site id too long", rules.ValidateSiteID, strings.Repeat("a", 129), "site_id: 129 characters, at most 128 allowed"},
		{"site id with a slash", rules.ValidateSiteID, "a/b", `site_id: "a/b" has a character outside A-Za-z0-9._:- at position 1`},
		{"site id with a non-ASCII letter", rules.ValidateSiteID, "é", `site_id: "é" has a character outside A-Za-z0-9._:- at position 0`},
		{"event id", rules.ValidateID, "0190a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b", ""},
		{"event id too long", rules.ValidateID, strings.Repeat("a", 129), "id: 129 characters, at most 128 allowed"},
		{"event id with a space", rules.ValidateID, "a b", `id: "a b" has a character outside A-Za-z0-9._:- at position 1`},
		{"props key", rules.ValidatePropKey, "plan", ""},
		{"props key with a dot", rules.ValidatePropKey, "a.b", `props: key "a.b" must not contain "." (MongoDB cannot store it)`},
		{"props key with a dollar", rules.ValidatePropKey, "$set", `props: key "$set" must not start with "$" (MongoDB cannot store it)`},
		{"props key empty", rules.ValidatePropKey, "", "props: keys must not be empty"},
		{"event type", rules.ValidateEventType, " click ", ""},
		{"event type required", rules.ValidateEventType, "", "event_type: required"},
		{"event type too long", rules.ValidateEventType, strings.Repeat("é", 65), "event_type: 65 characters, at most 64 allowed"},
		{"event type invalid UTF-8", rules.ValidateEventType, "a\xff", "event_type: must be valid UTF-8 text"},
		{"event type with a control character", rules.ValidateEventType, "a\u0085", "event_type: must not contain control characters"},
		{"user id too long", rules.ValidateUserID, strings.Repeat("u", 257), "user_id: 257 bytes, at most 256 allowed"},
		{"user agent with a tab", rules.ValidateUserAgent, "Mozilla\t5", "user_agent: must not contain control characters"},
		{"url", func(s string) error { return rules.ValidateURL("url", s) }, "https://e.com", ""},
		{"url without a host", func(s string) error { return rules.ValidateURL("url", s) }, "https:///a",
			`url: "https:///a" is not an absolute URL with a host, such as https://news.example.com/item`},
		{"relative referrer", func(s string) error { return rules.ValidateURL("referrer", s) }, "/item",
			`referrer: "/item" is not an absolute URL with a host, such as https://news.example.com/item`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.in)
			var re *rules.Error
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("%q: %v, want valid", tt.in, err)
			case tt.want != "" && (!errors.As(err, &re) || err.Error() != tt.want):
				t.Fatalf("%q: %v, want %q", tt.in, err, tt.want)
			}
		})
	}
}
