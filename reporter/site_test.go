package reporter_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/block"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/reporter"
	"github.com/siteanalytics/analytics/sites"
)

// blockSource hands out real blocks built from events, and records the
// range it was asked for.
type blockSource struct {
	blocks   []*block.Block
	err      error
	from, to time.Time
}

func (b *blockSource) Blocks(_ context.Context, _ string, from, to time.Time) ([]*block.Block, error) {
	b.from, b.to = from, to
	return b.blocks, b.err
}

func builtBlock(hour time.Time, props ...map[string]any) *block.Block {
	b := block.NewBuilder(hour)
	for i, p := range props {
		b.AddEvent(&analytics.Event{SiteID: "s", EventType: "signup", UserID: "u", Timestamp: hour.Add(time.Duration(i) * time.Minute), Props: p})
	}
	return b.Block()
}

// TestSiteDetails: GET /api/v1/sites/{site_id} answers the site's zone,
// goals, funnels and the custom property keys of the asked period's
// blocks, sorted and once each; bad input and a failing store are told
// apart; a token of another site is refused.
func TestSiteDetails(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	hour := time.Date(2026, 11, 12, 18, 0, 0, 0, time.UTC)
	src := &blockSource{blocks: []*block.Block{
		builtBlock(hour, map[string]any{"plan": "pro", "Author": "x"}, map[string]any{"color": "red"}),
		builtBlock(hour.Add(time.Hour), map[string]any{"plan": "free"}, nil),
	}}
	f := &fakeEngine{}
	settings := fakeSettings{loc: la, goals: []engine.Goal{{Name: "signup", Event: "signup"}, {Name: "Visit /pricing/**", Page: "/pricing/**"}},
		funnels: []engine.Funnel{{Name: "checkout", Steps: []engine.Goal{{Name: "Visit /pricing/**", Page: "/pricing/**"}, {Name: "signup", Event: "signup"}}}}}
	srv := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{Settings: settings, Blocks: src}).Handler())
	defer srv.Close()

	resp, body := send(t, "GET", srv.URL+"/api/v1/sites/shop.example?period=custom&date=2026-11-01,2026-11-30")
	want := `{"site_id":"shop.example","domain":"shop.example","timezone":"America/Los_Angeles","custom_properties":["Author","color","plan"],` +
		`"goals":[{"name":"signup","event":"signup"},{"name":"Visit /pricing/**","page":"/pricing/**"}],` +
		`"funnels":[{"name":"checkout","steps":["Visit /pricing/**","signup"]}]}`
	if resp.StatusCode != 200 || trim(body) != want {
		t.Errorf("site details: %d %s\nwant %s", resp.StatusCode, body, want)
	}
	// The range is the site's days: November in Los Angeles.
	if wf, wt := time.Date(2026, 11, 1, 0, 0, 0, 0, la), time.Date(2026, 12, 1, 0, 0, 0, 0, la); !src.from.Equal(wf) || !src.to.Equal(wt) {
		t.Errorf("blocks asked for %v to %v, want %v to %v", src.from, src.to, wf, wt)
	}

	for _, tt := range []struct {
		name, path string
		status     int
		want       string
	}{
		{"bad site id", "/api/v1/sites/bad%20site", 400, `site_id`},
		{"bad period", "/api/v1/sites/shop.example?period=fortnight", 400, `period`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := send(t, "GET", srv.URL+tt.path)
			if resp.StatusCode != tt.status || !contains(body, tt.want) {
				t.Errorf("%s: %d %s; want %d naming %q", tt.path, resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}

	src.err = analytics.Wrap(analytics.Unavailable, "read blocks", errors.New("store down"))
	if resp, body := send(t, "GET", srv.URL+"/api/v1/sites/shop.example"); resp.StatusCode != 503 {
		t.Errorf("a failing store: %d %s, want 503", resp.StatusCode, body)
	}

	// Without a block source: no keys, the rest as before.
	bare := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{}).Handler())
	defer bare.Close()
	if resp, body := send(t, "GET", bare.URL+"/api/v1/sites/s"); resp.StatusCode != 200 || trim(body) != `{"site_id":"s","domain":"s","timezone":"UTC","custom_properties":[],"goals":[],"funnels":[]}` {
		t.Errorf("without settings and blocks: %d %s", resp.StatusCode, body)
	}

	// With tokens: a token of another site is refused.
	closed := httptest.NewServer(reporter.New(f, f, zerolog.Nop(), reporter.Config{Token: "all", Access: siteToken{}}).Handler())
	defer closed.Close()
	resp, body = send(t, "GET", closed.URL+"/api/v1/sites/shop.example", "Authorization", "Bearer one")
	if resp.StatusCode != 403 {
		t.Errorf("a token of another site: %d %s, want 403", resp.StatusCode, body)
	}
	if resp, body := send(t, "GET", closed.URL+"/api/v1/sites/shop.example"); resp.StatusCode != 401 {
		t.Errorf("no token: %d %s, want 401", resp.StatusCode, body)
	}
	if resp, body := send(t, "GET", closed.URL+"/api/v1/sites/other.example", "Authorization", "Bearer one"); resp.StatusCode != 200 {
		t.Errorf("a token of the site: %d %s, want 200", resp.StatusCode, body)
	}
}

// siteToken knows one token, "one", of site other.example.
type siteToken struct{}

func (siteToken) HasTokens() bool { return true }
func (siteToken) Closed() bool    { return true }
func (siteToken) Token(secret string) (*sites.Token, bool) {
	if secret == "one" {
		return &sites.Token{Name: "one", Site: "other.example"}, true
	}
	return nil, false
}
func (siteToken) Public(string) bool { return false }

func trim(s string) string { return strings.TrimSpace(s) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
