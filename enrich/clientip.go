package enrich

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads TRUSTED_PROXIES: IP addresses and CIDR prefixes
// separated by commas or spaces ("10.0.0.0/8, 127.0.0.1 ::1"). "" means no
// proxy is trusted. The error names the first entry that is neither.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil || p.Addr().Zone() != "" {
				return nil, fmt.Errorf("enrich: TRUSTED_PROXIES: %q is not an IP address or CIDR prefix such as 10.0.0.0/8", f)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("enrich: TRUSTED_PROXIES: %q is not an IP address or CIDR prefix such as 10.0.0.0/8", f)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ClientIP returns the address of the client behind r: the socket's peer,
// unless that peer is a trusted proxy, in which case X-Forwarded-For is
// read from the right (every header line, each a comma list), skipping
// trusted proxies; the first address that is not one is the client, and if
// all are, the leftmost. Only the entries trusted proxies appended are
// believed: anything left of the first untrusted one is whatever the client
// chose to send. An entry that is not an address stops the walk at the last
// good one. IPv4-mapped IPv6 addresses come back as IPv4. The zero Addr
// means the peer address itself could not be read.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	client := peer
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, rest = rest, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a := parseHostAddr(entry)
			if !a.IsValid() {
				return client
			}
			client = a
			if !isTrusted(a, trusted) {
				return a
			}
		}
	}
	return client
}

// parseHostAddr reads "1.2.3.4", "1.2.3.4:80", "::1", "[::1]" or
// "[::1]:80". It picks the form before parsing because a failed parse
// allocates its error, and RemoteAddr always has a port.
func parseHostAddr(s string) netip.Addr {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || end+1 < len(s) && (s[end+1] != ':' || !isPort(s[end+2:])) {
			return netip.Addr{}
		}
		s = s[1:end]
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		if !isPort(s[i+1:]) {
			return netip.Addr{}
		}
		s = s[:i] // IPv4 with a port
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
