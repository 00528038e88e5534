package enrich

import "strings"

// urlHost returns the scheme and the host of a URL, lower-case, without
// userinfo, port and the brackets of an IPv6 literal; ok is false when raw
// has no scheme or its host holds bytes no host name has. It reads the
// string in place instead of calling url.Parse, which allocates a *url.URL
// per call: the collector does this for every event.
func urlHost(raw string) (scheme, host string, ok bool) {
	i := strings.Index(raw, "://")
	if i <= 0 {
		return "", "", false
	}
	scheme = raw[:i]
	for j := 0; j < len(scheme); j++ {
		c := scheme[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", "", false
		}
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.LastIndexByte(rest, '@'); j >= 0 {
		rest = rest[j+1:]
	}
	host, ok = cleanHost(rest)
	return scheme, host, ok
}

// cleanHost lower-cases a host[:port] and drops the port and the brackets
// of an IPv6 literal. It allocates only when the host has upper-case
// letters.
func cleanHost(h string) (string, bool) {
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", false
		}
		rest := h[end+1:]
		if rest != "" && (rest[0] != ':' || !isPort(rest[1:])) {
			return "", false
		}
		h = h[1:end]
		for j := 0; j < len(h); j++ {
			if c := h[j]; !(isHex(c) || c == ':' || c == '.') {
				return "", false
			}
		}
		return lower(h), h != ""
	}
	if j := strings.LastIndexByte(h, ':'); j >= 0 {
		if !isPort(h[j+1:]) {
			return "", false
		}
		h = h[:j]
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", false
	}
	for j := 0; j < len(h); j++ {
		c := h[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c >= 0x80) {
			return "", false
		}
	}
	return lower(h), true
}

func isPort(s string) bool {
	for j := 0; j < len(s); j++ {
		if s[j] < '0' || s[j] > '9' {
			return false
		}
	}
	return len(s) <= 5
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// lower is strings.ToLower for ASCII, without allocating when s is already
// lower-case (nearly every host is).
func lower(s string) string {
	for j := 0; j < len(s); j++ {
		if c := s[j]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for k := j; k < len(b); k++ {
				if c := b[k]; c >= 'A' && c <= 'Z' {
					b[k] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// bareHost strips a leading "www." so that www.example.com and example.com
// are one site.
func bareHost(h string) string { return strings.TrimPrefix(h, "www.") }
