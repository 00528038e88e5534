package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/internal/ratelimit"
	"github.com/siteanalytics/analytics/sites"
)

type benchSites []sites.Site

func (s benchSites) LoadSites(context.Context) ([]sites.Site, error)   { return s, nil }
func (s benchSites) LoadTokens(context.Context) ([]sites.Token, error) { return nil, nil }
func (s benchSites) LoadReporterAccess(context.Context) (sites.ReporterAccess, error) {
	return sites.ReporterAccess{}, nil
}

// BenchmarkAccess is the seed event and a batch of 100 through the whole
// handler (enrichment included), in open mode and in registered mode (a
// browser's Origin checked against the site's domains, or a server's write
// key), with and without the two rate limits (set high enough never to
// refuse): what the access rules add to a request.
func BenchmarkAccess(b *testing.B) {
	key := sites.NewSecret(sites.WriteKeyPrefix)
	var reg benchSites
	for i := range 1000 {
		reg = append(reg, sites.Site{ID: fmt.Sprintf("load-%d", i), Domains: []string{"shop.example"}, KeyHash: sites.HashSecret(key)})
	}
	reg = append(reg, sites.Site{ID: "site-abc-123", Domains: []string{"shop.example"}, KeyHash: sites.HashSecret(key)})
	registry := sites.NewRegistry(reg, sites.RegistryConfig{})
	if err := registry.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	registered := func(c *collector.Config) { c.Sites, c.SiteForKey = registry, registry.SiteForKey }
	limited := func(c *collector.Config) {
		trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.Limits = collector.NewLimits(ratelimit.Config{Rate: 1e9, Burst: 1 << 30}, ratelimit.Config{Rate: 1e9, Burst: 1 << 30}, trusted)
	}
	var evs []string
	for i := range 100 {
		evs = append(evs, fmt.Sprintf(`{"site_id":"load-%d","event_type":"page_view","path":"/p/%d","user_id":"u%d","timestamp":"2025-11-12T19:30:01Z"}`, i%50, i%97, i))
	}
	batch := "[" + strings.Join(evs, ",") + "]"
	for _, mode := range []struct {
		name string
		opts []func(*collector.Config)
		hdr  []string
	}{
		{"open", nil, []string{"Origin", "https://shop.example"}},
		{"registered-origin", []func(*collector.Config){registered}, []string{"Origin", "https://shop.example"}},
		{"registered-key", []func(*collector.Config){registered}, []string{"Authorization", "Bearer " + key}},
		{"registered-origin-limits", []func(*collector.Config){registered, limited}, []string{"Origin", "https://shop.example"}},
	} {
		b.Run("event/"+mode.name, func(b *testing.B) {
			benchPostTo(b, benchHandler(b, mode.opts...), "/event", seedEvent, http.StatusAccepted, mode.hdr...)
		})
		b.Run("events100/"+mode.name, func(b *testing.B) {
			benchPostTo(b, benchHandler(b, mode.opts...), "/events", batch, http.StatusAccepted, mode.hdr...)
		})
	}
}
