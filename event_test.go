package analytics_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
)

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
		// The events of an entry that holds several, after the entries before it.
		{"5-1", "5-1-0", 0}, {"5-1-0", "5-1-1", -1}, {"5-1-10", "5-1-9", 1}, {"5-1-99", "5-2", -1}, {"5-2", "5-1-3", 1},
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

// TestNormalizePath is the canonical form of paths. NormalizePath is
// rules.NormalizePath, which the SDK calls too.
func TestNormalizePath(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"plain path unchanged", "/pricing", "/pricing"},
		{"root", "/", "/"},
		{"query dropped", "/a?b=c", "/a"},
		{"fragment dropped", "/a#top", "/a"},
		{"query holding a URL dropped", "/login?next=https://evil.example/", "/login"},
		{"URL inside a path is a path", "/r/https://x.y/z", "/r/https://x.y/z"},
		{"full URL reduced to its path", "https://example.com/blog/post-1?utm=x#top", "/blog/post-1"},
		{"bare origin", "https://example.com", "/"},
		{"origin and query", "https://example.com?x=1", "/"},
		{"origin and fragment", "https://example.com#/route", "/"},
		{"other scheme", "android-app://com.example/screen", "/screen"},
		{"URL with a port and user", "http://u:p@example.com:8080/a", "/a"},
		{"raw UTF-8 encoded", "/café", "/caf%C3%A9"},
		{"encoded UTF-8 kept", "/caf%C3%A9", "/caf%C3%A9"},
		{"lower-case hex upper-cased", "/caf%c3%a9", "/caf%C3%A9"},
		{"URL with raw UTF-8", "https://example.com/café", "/caf%C3%A9"},
		{"space encoded", "/a b", "/a%20b"},
		{"encoded space kept", "/a%20b", "/a%20b"},
		{"trailing space", "/x ", "/x%20"},
		{"trailing no-break space", "/x\u00a0", "/x%C2%A0"},
		{"unreserved characters decoded", "/%7Euser/%41%2d%5F", "/~user/A-_"},
		{"sub-delims, colon and at kept", "/a!$&'()*+,;=:@b", "/a!$&'()*+,;=:@b"},
		{"encoded slash decoded", "/a%2Fb", "/a/b"},
		{"encoded query and fragment stay encoded", "/a%3Fb%23c", "/a%3Fb%23c"},
		{"stray percent is literal", "/100%", "/100%25"},
		{"percent without two hex digits", "/a%zzb%4", "/a%25zzb%254"},
		{"encoded percent stays", "/a%25b", "/a%25b"},
		{"characters browsers leave alone encoded", "/a|b[c]^`{}\"<>\\", "/a%7Cb%5Bc%5D%5E%60%7B%7D%22%3C%3E%5C"},
		{"invalid UTF-8 kept as bytes", "/%FF%fe", "/%FF%FE"},
		{"longest path", "/" + strings.Repeat("a", 2047), "/" + strings.Repeat("a", 2047)},
		{"longest encoded path", "/" + strings.Repeat("é", 341) + "a", "/" + strings.Repeat("%C3%A9", 341) + "a"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := analytics.NormalizePath(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("NormalizePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if again, err := analytics.NormalizePath(got); err != nil || again != got {
				t.Fatalf("canonical form is not a fixed point: %q -> %q, %v", got, again, err)
			}
		})
	}
	for _, tt := range []struct{ name, in, want string }{
		{"relative", "pricing", `path: "pricing" must start with / (or be a full URL)`},
		{"query only", "?a=b", `must start with /`},
		{"scheme-relative URL", "//example.com/a", ""}, // a path, not refused
		{"URL without host", "http://", `path: "http://" is neither a path nor a valid URL`},
		{"not a scheme", "1http://x/a", `must start with /`},
		{"encoded NUL", "/a%00", "path: must not contain control characters"},
		{"encoded newline", "/a%0a", "path: must not contain control characters"},
		{"raw tab", "/a\tb", "path: must not contain control characters"},
		{"DEL", "/a%7F", "path: must not contain control characters"},
		{"C1 control", "/a\u0085", "path: must not contain control characters"},
		{"too long", "/" + strings.Repeat("a", 2048), "path: 2049 bytes, at most 2048 allowed"},
		{"too long once encoded", "/" + strings.Repeat("é", 341) + "ab", "path: 2049 bytes once percent-encoded, at most 2048 allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := analytics.NormalizePath(tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NormalizePath(%q): %v", tt.in, err)
				}
				return
			}
			if err == nil || analytics.KindOf(err) != analytics.Invalid || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("NormalizePath(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     time.Time
	}{
		{"Z", "2025-11-12T10:00:00Z", time.Date(2025, 11, 12, 10, 0, 0, 0, time.UTC)},
		{"largest offsets", "2025-11-12T10:00:00+23:59", time.Date(2025, 11, 11, 10, 1, 0, 0, time.UTC)},
		{"largest negative offset without colon", "2025-11-12T10:00:00-2359", time.Date(2025, 11, 13, 9, 59, 0, 0, time.UTC)},
		{"minus zero", "2025-11-12T10:00:00-00:00", time.Date(2025, 11, 12, 10, 0, 0, 0, time.UTC)},
		{"leap second", "2016-12-31T23:59:60Z", time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"leap second with fraction", "2015-06-30T23:59:60.25Z", time.Date(2015, 6, 30, 23, 59, 59, 999999999, time.UTC)},
		{"leap second in another zone", "2016-12-31T18:59:60-05:00", time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"leap second in a zone without colon", "2017-01-01T05:29:60+0530", time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"epoch", "1970-01-01T00:00:00Z", time.Unix(0, 0).UTC()},
		{"epoch in a negative zone", "1969-12-31T23:30:00-01:00", time.Date(1970, 1, 1, 0, 30, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := analytics.ParseTimestamp(tt.in)
			if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Fatalf("ParseTimestamp(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	for _, tt := range []struct{ name, in, want string }{
		{"offset +24:00", "2025-11-12T10:00:00+24:00", "has zone offset +24:00; offsets run from -23:59 to +23:59"},
		{"offset -24:00", "2025-11-12T10:00:00-24:00", "has zone offset -24:00"},
		{"offset +00:60", "2025-11-12T10:00:00+00:60", "has zone offset +00:60"},
		{"offset +0060", "2025-11-12T10:00:00+0060", "has zone offset +0060"},
		{"offset +2400", "2025-11-12T10:00:00+2400", "has zone offset +2400"},
		{"leap second with a bad offset", "2016-12-31T23:59:60+24:00", `"2016-12-31T23:59:60+24:00" has zone offset +24:00`},
		{"leap second with a bad date", "2016-02-30T23:59:60Z", `"2016-02-30T23:59:60Z" is not an RFC 3339 time`},
		{"second 60 at noon", "2016-12-31T12:00:60Z", "has second 60, which only a leap second"},
		{"second 61", "2016-12-31T23:59:61Z", "is not an RFC 3339 time with a zone"},
		{"1970 in a positive zone is 1969 in UTC", "1970-01-01T00:30:00+01:00", `"1970-01-01T00:30:00+01:00" is before 1970 (in UTC)`},
		{"no zone", "2025-11-12T10:00:00", "is not an RFC 3339 time with a zone"},
		{"short", "2025", "is not an RFC 3339 time with a zone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := analytics.ParseTimestamp(tt.in)
			if err == nil || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("ParseTimestamp(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestValidatePropKey(t *testing.T) {
	for _, tt := range []struct{ name, key, want string }{
		{"plain", "plan", ""},
		{"dash, colon, underscore", "a-b:c_d", ""},
		{"non-ASCII", "prénom", ""},
		{"dollar inside", "a$b", ""},
		{"128 bytes", strings.Repeat("é", 64), ""},
		{"empty", "", "props: keys must not be empty"},
		{"dot", "a.b", `props: key "a.b" must not contain "." (MongoDB cannot store it)`},
		{"trailing dot", "a.", `must not contain "."`},
		{"dollar first", "$where", `props: key "$where" must not start with "$" (MongoDB cannot store it)`},
		{"NUL", "a\x00", `props: key "a\x00" must not contain control characters`},
		{"DEL", "a\x7f", "must not contain control characters"},
		{"129 bytes", strings.Repeat("é", 64) + "a", "is 129 bytes, at most 128 allowed"},
		{"invalid UTF-8", "a\xc3", `props: key "a\xc3" is not valid UTF-8`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := analytics.ValidatePropKey(tt.key)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidatePropKey(%q): %v", tt.key, err)
				}
				return
			}
			if err == nil || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("ValidatePropKey(%q) = %v, want %q", tt.key, err, tt.want)
			}
		})
	}
}

func TestValidateProps(t *testing.T) {
	for _, tt := range []struct {
		name  string
		props map[string]any
		want  string
	}{
		{"scalars", map[string]any{"a": "x", "b": 1.5, "c": true, "d": 3}, ""},
		{"HTML characters count once", map[string]any{"a": strings.Repeat("<", 4000)}, ""},
		{"key with a dot", map[string]any{"a.b": 1}, `props: key "a.b" must not contain "."`},
		{"NaN", map[string]any{"n": math.NaN()}, "props.n: number NaN is out of range"},
		{"infinity", map[string]any{"n": math.Inf(1)}, "props.n: number +Inf is out of range"},
		{"invalid UTF-8 value", map[string]any{"s": "\xff"}, "props.s: must be valid UTF-8 text"},
		{"nested", map[string]any{"a": map[string]any{}}, "props.a: must be a string, number or boolean"},
		{"too big", map[string]any{"a": strings.Repeat("x", 4100)}, "props: 4108 bytes of JSON, at most 4096 allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := analytics.ValidateProps(tt.props)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateProps: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(analytics.Message(err), tt.want) {
				t.Fatalf("ValidateProps = %v, want %q", err, tt.want)
			}
		})
	}
}
