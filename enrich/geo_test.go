package enrich

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func TestIPLoc(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, ip, want string }{
		{"Google DNS", "8.8.8.8", "US"},
		{"Google DNS IPv6", "2001:4860:4860::8888", "US"},
		{"IPv4-mapped Google DNS", "::ffff:8.8.8.8", "US"},
		{"Quad9", "9.9.9.9", "US"},
		{"Deutsche Telekom", "80.156.0.1", "DE"},
		{"Deutsche Telekom IPv6", "2003::1", "DE"},
		{"heise.de", "193.99.144.80", "DE"},
		{"NTT Japan", "210.130.0.1", "JP"},
		{"Yandex DNS", "77.88.8.8", "RU"},
		{"Scaleway France", "195.154.0.1", "FR"},
		{"private 10/8", "10.0.0.1", ""},
		{"private 192.168/16", "192.168.1.1", ""},
		{"private IPv6 ULA", "fd00::1", ""},
		{"loopback", "127.0.0.1", ""},
		{"loopback IPv6", "::1", ""},
		{"link-local", "fe80::1", ""},
		{"unspecified", "0.0.0.0", ""},
		{"carrier-grade NAT", "100.64.0.1", ""},
		{"documentation", "203.0.113.1", ""},
		{"documentation IPv6", "2001:db8::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (IPLoc{}).Country(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Country(%s) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
	if got := (IPLoc{}).Country(netip.Addr{}); got != "" {
		t.Errorf("Country(invalid) = %q, want \"\"", got)
	}
}

// writeMMDB builds a small country database as MaxMind and DB-IP ship it.
func writeMMDB(t *testing.T) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	country := func(field, code string) mmdbtype.Map {
		return mmdbtype.Map{mmdbtype.String(field): mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
	}
	for cidr, rec := range map[string]mmdbtype.Map{
		"81.2.69.0/24":   country("country", "GB"),
		"2a02:d700::/29": country("country", "DE"),
		"1.1.1.0/24":     country("registered_country", "AU"), // anycast: no country
		"5.5.5.0/24":     country("country", "eu"),            // a region, not a country
	} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMMDB(t *testing.T) {
	db, err := OpenMMDB(writeMMDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var _ Geo = db
	tests := []struct{ name, ip, want string }{
		{"country", "81.2.69.142", "GB"},
		{"IPv4-mapped", "::ffff:81.2.69.142", "GB"},
		{"IPv6", "2a02:d700::1", "DE"},
		{"registered country only", "1.1.1.1", "AU"},
		{"region code", "5.5.5.5", ""},
		{"not in the database", "8.8.8.8", ""},
		{"private", "10.1.2.3", ""},
		{"loopback", "::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := db.Country(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Country(%s) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
}

func TestOpenMMDBErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.mmdb")
	if _, err := OpenMMDB(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want fs.ErrNotExist", err)
	}
	notDB := filepath.Join(t.TempDir(), "text.mmdb")
	if err := os.WriteFile(notDB, []byte("not a MaxMind DB, just text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMMDB(notDB); err == nil {
		t.Error("a text file opened as a MaxMind DB")
	}
}

func BenchmarkIPLoc(b *testing.B) {
	ip := netip.MustParseAddr("80.156.0.1")
	b.ReportAllocs()
	for b.Loop() {
		(IPLoc{}).Country(ip)
	}
}
