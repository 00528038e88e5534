package analytics_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/siteanalytics/analytics"
)

// FuzzNormalizePath checks that the canonical form is a fixed point, holds
// only the bytes it may, keeps every byte of the path (decoded), and that a
// path is refused only for a reason the rules give.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/pricing", "/café", "/caf%c3%a9", "https://example.com/café?x#y", "/a b", "/x\u00a0", "/100%",
		"/a%zz%4", "/r/https://x.y/z", "/login?next=https://evil.example/", "/a%00", "rel", "http://", "/%2F%7e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := analytics.NormalizePath(in)
		if err != nil {
			if analytics.KindOf(err) != analytics.Invalid || !strings.HasPrefix(analytics.Message(err), "path: ") {
				t.Fatalf("NormalizePath(%q): %v", in, err)
			}
			return
		}
		if p == "" || p[0] != '/' || len(p) > analytics.MaxPathBytes {
			t.Fatalf("NormalizePath(%q) = %q", in, p)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c == '%' {
				if i+2 >= len(p) || !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) {
					t.Fatalf("NormalizePath(%q) = %q: bad escape at %d", in, p, i)
				}
				continue
			}
			if strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/", c) < 0 {
				t.Fatalf("NormalizePath(%q) = %q: byte %q left unencoded", in, p, c)
			}
		}
		if again, err := analytics.NormalizePath(p); err != nil || again != p {
			t.Fatalf("not a fixed point: %q -> %q -> %q, %v", in, p, again, err)
		}
		if strings.HasPrefix(in, "/") { // a path: nothing before "?" or "#" is lost
			path, _, _ := strings.Cut(in, "?")
			path, _, _ = strings.Cut(path, "#")
			if percentDecode(path) != percentDecode(p) {
				t.Fatalf("NormalizePath(%q) = %q changes the decoded path", in, p)
			}
		}
	})
}

// percentDecode decodes every valid %XX and keeps any other byte.
func percentDecode(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil && s[i+1] != '+' && s[i+1] != '-' {
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }
