package enrich

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/phuslu/iploc"
)

// Geo maps a client address to its country. Implementations are safe for
// concurrent use.
type Geo interface {
	// Country returns the ISO 3166-1 alpha-2 code, upper-case, of the
	// country ip is in, or "" when it is unknown, private, loopback or
	// invalid.
	Country(ip netip.Addr) string
}

// IPLoc is the Geo built into the binary: github.com/phuslu/iploc, whose
// embedded table comes from IP2Location LITE. Its licence (CC BY-SA 4.0)
// asks for a credit wherever the data is used, so the README must say:
// "This product includes IP2Location LITE data available from
// https://lite.ip2location.com". Lookups do not allocate; the IPv6 table is
// unpacked (about 10 MB) on the first IPv6 lookup.
type IPLoc struct{}

// Country implements Geo.
func (IPLoc) Country(ip netip.Addr) string {
	ip = ip.Unmap()
	if !public(ip) {
		return ""
	}
	return countryCode(iploc.IPCountry(ip))
}

// public reports whether ip can be located: the tables say "ZZ" for the
// special ranges, and a database may not say that at all.
func public(ip netip.Addr) bool {
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate() && ip.Zone() == ""
}

// countryCode keeps a two-letter code, upper-case, and drops "ZZ"
// (unknown) and the pseudo-codes some databases use for regions ("EU",
// "AP"), which are not countries.
func countryCode(c string) string {
	if len(c) != 2 {
		return ""
	}
	a, b := upper(c[0]), upper(c[1])
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return ""
	}
	if a != c[0] || b != c[1] {
		c = string([]byte{a, b})
	}
	switch c {
	case "ZZ", "EU", "AP":
		return ""
	}
	return c
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// MMDB is a Geo reading a MaxMind DB file with a country.iso_code field:
// MaxMind GeoLite2-Country or GeoIP2-Country, DB-IP IP-to-Country Lite, and
// their City editions. Operators who want fresher or licensed data than the
// embedded table point GEOIP_DB at one.
type MMDB struct {
	r *maxminddb.Reader
}

// OpenMMDB opens (memory-maps) a MaxMind DB file. The error names the path
// when the file is missing or not a MaxMind DB.
func OpenMMDB(path string) (*MMDB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("enrich: open GeoIP database %s: %w", path, err)
	}
	return &MMDB{r: r}, nil
}

// Country implements Geo. When the database has no country for the
// address (anycast and satellite networks), the registered country is the
// best guess left.
func (m *MMDB) Country(ip netip.Addr) string {
	ip = ip.Unmap()
	if !public(ip) {
		return ""
	}
	res := m.r.Lookup(ip)
	if !res.Found() {
		return ""
	}
	var code string
	if err := res.DecodePath(&code, "country", "iso_code"); err != nil || code == "" {
		code = ""
		_ = res.DecodePath(&code, "registered_country", "iso_code")
	}
	return countryCode(code)
}

// Close unmaps the file. Country must not be called after.
func (m *MMDB) Close() error { return m.r.Close() }
