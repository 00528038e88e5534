package sites_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/sites"
)

func TestValidateDomain(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"example.com", "example.com", ""},
		{" Example.COM. ", "example.com", ""},
		{"https://www.example.com:8443/path", "www.example.com", ""},
		{"*.example.com", "*.example.com", ""},
		{"localhost", "localhost", ""},
		{"", "", "give a host name"},
		{"example.com/path", "", "give a host name"},
		{"exa mple.com", "", "give a host name"},
		{"*.*.example.com", "", "give a host name"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := sites.ValidateDomain(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ValidateDomain(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ValidateDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPageHostAndAllowsHost(t *testing.T) {
	s := sites.Site{Domains: []string{"example.com", "*.blog.example.org"}}
	for _, tt := range []struct {
		name, origin, referer, host string
		browser, allowed            bool
	}{
		{"origin", "https://example.com", "", "example.com", true, true},
		{"origin with a port, upper case", "http://EXAMPLE.com:8080", "", "example.com", true, true},
		{"referer when no origin", "", "https://example.com/pricing?x=1#y", "example.com", true, true},
		{"origin wins over referer", "https://evil.example", "https://example.com/", "evil.example", true, false},
		{"subdomain of a plain domain", "https://www.example.com", "", "www.example.com", true, false},
		{"wildcard's own domain", "https://blog.example.org", "", "blog.example.org", true, true},
		{"wildcard's subdomain", "https://a.b.blog.example.org", "", "a.b.blog.example.org", true, true},
		{"look-alike suffix", "https://evilblog.example.org", "", "evilblog.example.org", true, false},
		{"user info in referer", "", "https://example.com@evil.example/", "evil.example", true, false},
		{"IPv6", "http://[::1]:3000", "", "::1", true, false},
		{"sandboxed page", "null", "", "", true, false},
		{"server-side", "", "", "", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host, browser := sites.PageHost(tt.origin, tt.referer)
			if host != tt.host || browser != tt.browser {
				t.Fatalf("PageHost = %q, %v; want %q, %v", host, browser, tt.host, tt.browser)
			}
			if got := s.AllowsHost(host); got != tt.allowed {
				t.Fatalf("AllowsHost(%q) = %v", host, got)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	a, b := sites.NewSecret(sites.WriteKeyPrefix), sites.NewSecret(sites.WriteKeyPrefix)
	if a == b || !strings.HasPrefix(a, "sak_") || len(a) != 4+43 {
		t.Fatalf("secrets %q and %q", a, b)
	}
	h := sites.HashSecret(a)
	if len(h) != 64 || h != sites.HashSecret(a) || h == sites.HashSecret(b) || strings.Contains(h, a) {
		t.Fatalf("hash %q", h)
	}
	// The hex SHA-256 of "abc", as the retention code and any other reader
	// of the sites collection may compute it.
	if got := sites.HashSecret("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret(abc) = %s", got)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]sites.Mode{"": sites.Open, "open": sites.Open, "Registered": sites.Registered} {
		if got, err := sites.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := sites.ParseMode("closed"); err == nil {
		t.Error("ParseMode(closed): no error")
	}
}

// registry returns the mongostore registry of a fresh test database.
func registry(t *testing.T) *mongostore.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := mongostore.OpenRegistry(ctx, testenv.MongoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(context.Background()) })
	return reg
}

// TestMongoRegistry stores, reads, changes and deletes sites and tokens in
// the real database, in the documented schema.
func TestMongoRegistry(t *testing.T) {
	ctx := context.Background()
	reg := registry(t)
	created := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	s := sites.Site{ID: "example.com", Domains: []string{"example.com", "www.example.com"}, KeyHash: sites.HashSecret("k"), RetentionDays: 30, Created: created}
	if err := reg.AddSite(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddSite(ctx, s); analytics.KindOf(err) != analytics.Invalid || !strings.Contains(err.Error(), "registered already") {
		t.Fatalf("adding it twice: %v", err)
	}
	got, err := reg.GetSite(ctx, "example.com")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(s) {
		t.Fatalf("GetSite = %+v, %v; want %+v", got, err, s)
	}
	s.Public, s.Domains = true, []string{"example.org"}
	if err := reg.UpdateSite(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddSite(ctx, sites.Site{ID: "a-site", Created: created}); err != nil {
		t.Fatal(err)
	}
	list, err := reg.LoadSites(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "a-site" || fmt.Sprint(list[1]) != fmt.Sprint(s) || list[0].Domains == nil {
		t.Fatalf("LoadSites = %+v, %v", list, err)
	}
	if err := reg.UpdateSite(ctx, sites.Site{ID: "nope"}); analytics.KindOf(err) != analytics.NotFound {
		t.Fatalf("updating a site that is not registered: %v", err)
	}
	if err := reg.RemoveSite(ctx, "a-site"); err != nil {
		t.Fatal(err)
	}
	if err := reg.RemoveSite(ctx, "a-site"); analytics.KindOf(err) != analytics.NotFound {
		t.Fatalf("removing it twice: %v", err)
	}
	if _, err := reg.GetSite(ctx, "a-site"); analytics.KindOf(err) != analytics.NotFound {
		t.Fatalf("GetSite of a removed site: %v", err)
	}

	tok := sites.Token{Name: "ci", Hash: sites.HashSecret("t"), Site: "example.com", Created: created}
	if err := reg.AddToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddToken(ctx, tok); analytics.KindOf(err) != analytics.Invalid {
		t.Fatalf("a second token named ci: %v", err)
	}
	toks, err := reg.LoadTokens(ctx)
	if err != nil || len(toks) != 1 || toks[0] != tok {
		t.Fatalf("LoadTokens = %+v, %v", toks, err)
	}
	if err := reg.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := reg.RevokeToken(ctx, "ci"); analytics.KindOf(err) != analytics.NotFound {
		t.Fatalf("revoking it twice: %v", err)
	}
}

// TestReporterStaysClosedAfterTheLastToken: in the real database, the
// first token closes the reporter, revoking the last one (or one made
// before the mode was kept) leaves it closed, and only opening it on
// purpose opens it; tokens stored with an upper-case hex hash match.
func TestReporterStaysClosedAfterTheLastToken(t *testing.T) {
	ctx := context.Background()
	src := registry(t)
	reg := sites.NewRegistry(src, sites.RegistryConfig{Tokens: true})
	refresh := func() {
		t.Helper()
		if err := reg.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	refresh()
	if reg.Closed() {
		t.Fatal("a registry that never had a token is closed")
	}
	if err := src.AddToken(ctx, sites.Token{Name: "up", Hash: strings.ToUpper(sites.HashSecret("secret")), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	refresh()
	if _, ok := reg.Token("secret"); !ok || !reg.Closed() {
		t.Fatalf("a token with an upper-case hash: found %v, closed %v", ok, reg.Closed())
	}
	if err := src.RevokeToken(ctx, "up"); err != nil {
		t.Fatal(err)
	}
	refresh()
	if reg.HasTokens() || !reg.Closed() {
		t.Fatalf("after revoking the last token: tokens %v, closed %v; want none, closed", reg.HasTokens(), reg.Closed())
	}
	if err := src.SetReporterClosed(ctx, false); err != nil {
		t.Fatal(err)
	}
	refresh()
	if reg.Closed() {
		t.Fatal("still closed after opening it on purpose")
	}
	if acc, err := src.LoadReporterAccess(ctx); err != nil || acc.Closed || acc.Changed.IsZero() {
		t.Fatalf("LoadReporterAccess = %+v, %v", acc, err)
	}
}

// TestRegistryRefreshAndOutage: a site added to the database is admitted
// within the refresh period (polled); when the database goes away the
// registry keeps its last copy and says so through OnRefresh.
func TestRegistryRefreshAndOutage(t *testing.T) {
	ctx := context.Background()
	src := registry(t)
	failures := make(chan error, 100)
	r := sites.NewRegistry(src, sites.RegistryConfig{Refresh: 50 * time.Millisecond, Tokens: true, OnRefresh: func(err error) {
		select {
		case failures <- err:
		default:
		}
	}})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	key := sites.NewSecret(sites.WriteKeyPrefix)
	if err := r.Admit("shop", "", false, sites.NewKey(key)); err == nil || err.(*sites.Refusal).Status != 403 {
		t.Fatalf("before it is registered: %v", err)
	}
	if err := src.AddSite(ctx, sites.Site{ID: "shop", Domains: []string{"shop.example"}, KeyHash: sites.HashSecret(key), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tok := sites.NewSecret(sites.TokenPrefix)
	if err := src.AddToken(ctx, sites.Token{Name: "t", Hash: sites.HashSecret(tok), Site: "shop", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// Both are read within the refresh period (one read may see the site
	// and not yet the token added after it).
	testenv.Eventually(t, 5*time.Second, func() error {
		if _, ok := r.Token(tok); !ok {
			return errors.New("token not read yet")
		}
		return r.Admit("shop", "", false, sites.NewKey(key))
	})

	checks := func() {
		t.Helper()
		for _, tt := range []struct {
			name          string
			host          string
			browser       bool
			key           string
			status        int
			site, segment string
		}{
			{"key", "", false, key, 0, "shop", ""},
			{"wrong key", "", false, key + "x", 401, "shop", ""},
			{"no key", "", false, "", 401, "shop", ""},
			{"its domain", "shop.example", true, "", 0, "shop", ""},
			{"another domain", "evil.example", true, key, 403, "shop", ""},
			{"unregistered", "", false, key, 403, "other", ""},
		} {
			err := r.Admit(tt.site, tt.host, tt.browser, sites.NewKey(tt.key))
			var rf *sites.Refusal
			if tt.status == 0 && err != nil || tt.status != 0 && (!errors.As(err, &rf) || rf.Status != tt.status) {
				t.Errorf("%s: Admit = %v, want status %d", tt.name, err, tt.status)
			}
		}
		if site, err := r.SiteForKey(ctx, key); err != nil || site != "shop" {
			t.Errorf("SiteForKey = %q, %v", site, err)
		}
		if _, err := r.SiteForKey(ctx, "shop"); analytics.KindOf(err) != analytics.Invalid {
			t.Errorf("SiteForKey(site id) = %v", err)
		}
		if got, ok := r.Token(tok); !ok || got.Site != "shop" || !r.HasTokens() {
			t.Errorf("Token = %+v, %v", got, ok)
		}
	}
	checks()

	// MongoDB goes away (the connection is closed): reads fail, the last
	// copy stays in use.
	loaded := r.Loaded()
	src.Close(ctx)
	select {
	case err := <-failures:
		if err == nil {
			t.Fatal("OnRefresh(nil) while the database is gone")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no failed refresh reported within 5s")
	}
	if !r.Loaded().Equal(loaded) {
		t.Fatalf("the copy changed while the database was gone")
	}
	checks()
}

func TestRegistryCloseWithoutStart(t *testing.T) {
	r := sites.NewRegistry(nil, sites.RegistryConfig{})
	r.Close()
	r.Close()
	if _, ok := r.Site("x"); ok || r.HasTokens() {
		t.Fatal("an empty registry knows something")
	}
}

type memSource struct{ sites []sites.Site }

func (m memSource) LoadSites(context.Context) ([]sites.Site, error)   { return m.sites, nil }
func (m memSource) LoadTokens(context.Context) ([]sites.Token, error) { return nil, nil }
func (m memSource) LoadReporterAccess(context.Context) (sites.ReporterAccess, error) {
	return sites.ReporterAccess{}, nil
}

// BenchmarkAdmit is the registry lookup on the collector's hot path: a
// browser event checked against its site's domains, and a server-side one
// against its write key (a SHA-256 each), among 10,000 sites.
func BenchmarkAdmit(b *testing.B) {
	key := sites.NewSecret(sites.WriteKeyPrefix)
	var src memSource
	for i := range 10000 {
		src.sites = append(src.sites, sites.Site{ID: fmt.Sprintf("site-%d", i), Domains: []string{fmt.Sprintf("www%d.example", i), "*.example.org"}, KeyHash: sites.HashSecret(key)})
	}
	r := sites.NewRegistry(src, sites.RegistryConfig{})
	if err := r.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Run("browser", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				host, browser := sites.PageHost("https://www5000.example", "")
				if err := r.Admit("site-5000", host, browser, sites.Key{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("write key", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := r.Admit("site-5000", "", false, sites.NewKey(key)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// TestSiteForDomain: a site is found by its id, a domain it lists (www.
// ignored, any case) or a "*.parent" entry; the first site by id keeps a
// domain two list.
func TestSiteForDomain(t *testing.T) {
	reg := sites.NewRegistry(memSource{sites: []sites.Site{
		{ID: "shop", Domains: []string{"shop.example", "*.shop.example"}},
		{ID: "blog", Domains: []string{"blog.example", "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", "shop.example"}},
		{ID: "example.org"},
	}}, sites.RegistryConfig{})
	if err := reg.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]string{
		"shop.example": "blog", "www.shop.example": "blog", "a.b.shop.example": "shop", "Blog.Example.": "blog",
		"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d": "blog", "example.org": "example.org", "www.example.org": "example.org",
		"other.example": "", "example": "", "": "",
	} {
		got, ok := reg.SiteForDomain(domain)
		if got != want || ok != (want != "") {
			t.Errorf("SiteForDomain(%q) = %q, %v; want %q", domain, got, ok, want)
		}
	}
}
