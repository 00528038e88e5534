package enrich

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // prefixes joined by " ", or the error's text
		err      bool
	}{
		{"empty", "", "", false},
		{"blank", "  , ", "", false},
		{"one address", "10.0.0.1", "10.0.0.1/32", false},
		{"IPv6 address", "::1", "::1/128", false},
		{"mapped address", "::ffff:10.0.0.1", "10.0.0.1/32", false},
		{"CIDRs, commas and spaces", "10.0.0.0/8, 172.16.0.0/12 192.168.0.0/16,fc00::/7", "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7", false},
		{"host bits masked", "10.1.2.3/8", "10.0.0.0/8", false},
		{"mapped CIDR", "::ffff:10.0.0.0/104", "10.0.0.0/8", false},
		{"bad entry", "10.0.0.0/8, proxy.local", `"proxy.local"`, true},
		{"bad CIDR", "10.0.0.0/33", `"10.0.0.0/33"`, true},
		{"zone", "fe80::1%eth0", `"fe80::1%eth0"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTrustedProxies(tt.in)
			if tt.err {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "TRUSTED_PROXIES") {
					t.Fatalf("err = %v, want one naming %s and TRUSTED_PROXIES", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != tt.want {
				t.Errorf("got %v, want %s", s, tt.want)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, ::1, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxy", "203.0.113.7:5555", nil, trusted, "203.0.113.7"},
		{"no port", "203.0.113.7", nil, trusted, "203.0.113.7"},
		{"IPv6 peer", "[2001:db8::7]:5555", nil, trusted, "2001:db8::7"},
		{"mapped peer", "[::ffff:203.0.113.7]:5555", nil, trusted, "203.0.113.7"},
		{"spoofed XFF from an untrusted peer", "203.0.113.7:5555", []string{"1.2.3.4"}, trusted, "203.0.113.7"},
		{"no trusted proxies configured", "10.0.0.2:5555", []string{"1.2.3.4"}, nil, "10.0.0.2"},
		{"one trusted proxy", "10.0.0.2:5555", []string{"198.51.100.9"}, trusted, "198.51.100.9"},
		{"spoofed leftmost entry", "10.0.0.2:5555", []string{"6.6.6.6, 198.51.100.9"}, trusted, "198.51.100.9"},
		{"chain of trusted proxies", "10.0.0.2:5555", []string{"198.51.100.9, 10.0.0.5, 10.0.0.3"}, trusted, "198.51.100.9"},
		{"several header lines", "10.0.0.2:5555", []string{"6.6.6.6", "198.51.100.9, 10.0.0.5", "10.0.0.3"}, trusted, "198.51.100.9"},
		{"all trusted: leftmost", "10.0.0.2:5555", []string{"10.0.0.9, 10.0.0.5"}, trusted, "10.0.0.9"},
		{"trusted peer without XFF", "10.0.0.2:5555", nil, trusted, "10.0.0.2"},
		{"loopback proxy", "[::1]:5555", []string{"2001:db8::42"}, trusted, "2001:db8::42"},
		{"entries with ports and brackets", "127.0.0.1:5555", []string{"[2001:db8::42]:443"}, trusted, "2001:db8::42"},
		{"IPv4 entry with port", "127.0.0.1:5555", []string{"198.51.100.9:1234"}, trusted, "198.51.100.9"},
		{"mapped entry", "127.0.0.1:5555", []string{"::ffff:198.51.100.9"}, trusted, "198.51.100.9"},
		{"garbage stops the walk", "10.0.0.2:5555", []string{"198.51.100.9, unknown, 10.0.0.5"}, trusted, "10.0.0.5"},
		{"garbage right after the peer", "10.0.0.2:5555", []string{"6.6.6.6, garbage"}, trusted, "10.0.0.2"},
		{"empty entries skipped", "10.0.0.2:5555", []string{" , 198.51.100.9 ,, "}, trusted, "198.51.100.9"},
		{"unreadable peer", "pipe", []string{"198.51.100.9"}, trusted, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/events", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientIP(r, tt.trusted); got.String() != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPAllocs(t *testing.T) {
	trusted, _ := ParseTrustedProxies("10.0.0.0/8")
	r := httptest.NewRequest("POST", "/events", nil)
	r.RemoteAddr = "10.0.0.2:5555"
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.9, 10.0.0.3")
	if n := testing.AllocsPerRun(100, func() { ClientIP(r, trusted) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
