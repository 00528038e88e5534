package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// cliFails runs analytics-cli args, which must fail with an error
// containing every one of wants.
func (p *pipeline) cliFails(t *testing.T, args []string, wants ...string) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"analytics-cli"}, args...), p.getenv, &out)
	if err == nil {
		t.Fatalf("analytics-cli %s succeeded:\n%s", strings.Join(args, " "), out.String())
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("analytics-cli %s: error %q does not say %q", strings.Join(args, " "), err, w)
		}
	}
}

// mustMatch fails unless out matches every one of the patterns.
func mustMatch(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s does not match %q:\n%s", what, p, out)
		}
	}
}

// TestSiteSettings runs the real pipeline in open mode and sets a site's
// time zone, goals and funnels through the real CLI: the zone of a site
// that is not registered (open mode) shows in `sites list` and, within
// SITES_REFRESH, in /api/v1/sites; a registered site takes one at `sites
// add`; bad zones, goals and funnels are refused naming the flag.
func TestSiteSettings(t *testing.T) {
	p := startPipelineEnv(t, map[string]string{"SITES_REFRESH": "200ms"}, serveArgs)
	if code, body := post(t, p.collector+"/event", event("shop.example")); code != 202 {
		t.Fatalf("event: %d %s", code, body)
	}

	// Time zones.
	p.cliFails(t, []string{"sites", "update", "--timezone", "America/LosAngeles", "shop.example"},
		"--timezone", `"America/LosAngeles"`, "America/Los_Angeles")
	p.cliFails(t, []string{"sites", "add", "--timezone", "Mars/Base", "reg.example"}, "--timezone", "Europe/Berlin")
	p.cliFails(t, []string{"sites", "update", "--domain", "shop.example", "shop.example"}, "not registered")
	out := p.cli(t, "sites", "update", "--timezone", "America/Los_Angeles", "shop.example")
	mustMatch(t, "sites update --timezone", out, `Time zone of site shop.example: America/Los_Angeles`)
	out = p.cli(t, "sites", "add", "--timezone", "Europe/Berlin", "--domain", "reg.example", "reg.example")
	mustMatch(t, "sites add --timezone", out, `(?m)^Time zone\s+Europe/Berlin$`)
	out = p.cli(t, "sites", "update", "--public", "--timezone", "Asia/Kolkata", "reg.example")
	mustMatch(t, "sites update --public --timezone", out, `(?m)^Public\s+yes$`, `(?m)^Time zone\s+Asia/Kolkata$`)
	mustMatch(t, "sites show", p.cli(t, "sites", "show", "reg.example"), `(?m)^Time zone\s+Asia/Kolkata$`)
	out = p.cli(t, "sites", "list")
	mustMatch(t, "sites list", out, `(?m)^SITE\s+DOMAINS\s+PUBLIC\s+RETENTION\s+TIMEZONE\s+CREATED$`,
		`(?m)^reg\.example\s+reg\.example\s+yes\s+RETENTION_DAYS\s+Asia/Kolkata\s+\d{4}-\d\d-\d\d$`,
		`(?m)^shop\.example\s+\(not registered\)\s+-\s+-\s+America/Los_Angeles\s+-$`)

	testenv.Eventually(t, 30*time.Second, func() error {
		a := request(t, "GET", p.reporter+"/api/v1/sites", "")
		var r struct {
			Results []struct {
				ID       string `json:"site_id"`
				TimeZone string `json:"timezone"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(a.body), &r); err != nil || a.status != 200 {
			return fmt.Errorf("/api/v1/sites: %s", a)
		}
		for _, s := range r.Results {
			if s.ID == "shop.example" && s.TimeZone == "America/Los_Angeles" {
				return nil
			}
		}
		return fmt.Errorf("/api/v1/sites does not give shop.example in America/Los_Angeles: %s", a)
	})

	// Goals.
	mustMatch(t, "goals list (none)", p.cli(t, "goals", "list", "--site", "shop.example"), `has no goals`)
	mustMatch(t, "goals add --event", p.cli(t, "goals", "add", "--site", "shop.example", "--event", "signup"), `Added goal "signup" to site shop.example`)
	mustMatch(t, "goals add --page", p.cli(t, "goals", "add", "--site", "shop.example", "--page", "/pricing/**"), `Added goal "Visit /pricing/\*\*"`)
	p.cli(t, "goals", "add", "--page", "/docs/*", "shop.example")
	p.cliFails(t, []string{"goals", "add", "--site", "shop.example", "--event", "signup"}, "already")
	p.cliFails(t, []string{"goals", "add", "--site", "shop.example"}, "--event", "--page")
	p.cliFails(t, []string{"goals", "add", "--site", "shop.example", "--event", "a", "--page", "/b"}, "one of them")
	p.cliFails(t, []string{"goals", "add", "--site", "shop.example", "--page", "pricing"}, "give a path such as /pricing")
	p.cliFails(t, []string{"goals", "add", "--site", "bad site", "--event", "x"}, "site_id")
	out = p.cli(t, "goals", "list", "--site", "shop.example")
	mustMatch(t, "goals list", out, `(?s)GOAL\s+KIND\s+MATCHES\nsignup\s+event\s+signup\nVisit /pricing/\*\*\s+page\s+/pricing/\*\*\nVisit /docs/\*\s+page\s+/docs/\*\n$`)
	p.cli(t, "goals", "remove", "--site", "shop.example", "--page", "/docs/*")
	p.cli(t, "goals", "remove", "--site", "shop.example", "--name", "signup")
	p.cliFails(t, []string{"goals", "remove", "--site", "shop.example", "--event", "signup"}, "does not exist", "goals list --site shop.example")
	out = p.cli(t, "goals", "list", "--site", "shop.example")
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "Visit /pricing/**") {
		t.Errorf("goals list after removing two:\n%s", out)
	}

	// Funnels.
	mustMatch(t, "funnels list (none)", p.cli(t, "funnels", "list", "shop.example"), `has no funnels`)
	out = p.cli(t, "funnels", "add", "--site", "shop.example", "--name", "checkout",
		"--step", "page:/pricing", "--step", "event:signup", "--step", "/checkout/a,b", "--step", "purchase")
	mustMatch(t, "funnels add", out, `Added funnel checkout to site shop.example: page:/pricing -> event:signup -> page:/checkout/a,b -> event:purchase\.`)
	p.cliFails(t, []string{"funnels", "add", "--site", "shop.example", "--name", "one", "--step", "page:/pricing"}, "has 1 steps: give 2 to 8", "--step event:<name>")
	p.cliFails(t, []string{"funnels", "add", "--site", "shop.example", "--step", "page:/a", "--step", "page:/b"}, "--name")
	p.cliFails(t, []string{"funnels", "add", "--site", "shop.example", "--name", "x", "--step", "page:a", "--step", "event:b"}, `--step "page:a"`)
	p.cliFails(t, []string{"funnels", "add", "--site", "shop.example", "--name", "checkout", "--step", "/a", "--step", "/b"}, "already")
	mustMatch(t, "funnels list", p.cli(t, "funnels", "list", "--site", "shop.example"),
		`(?s)FUNNEL\s+STEPS\ncheckout\s+page:/pricing -> event:signup -> page:/checkout/a,b -> event:purchase\n$`)
	p.cli(t, "funnels", "remove", "--site", "shop.example", "--name", "checkout")
	p.cliFails(t, []string{"funnels", "remove", "--site", "shop.example", "--name", "checkout"}, "does not exist")

	// --help documents the step syntax.
	var help bytes.Buffer
	_ = run(context.Background(), []string{"analytics-cli", "funnels", "add", "--help"}, p.getenv, &help)
	mustMatch(t, "funnels add --help", help.String(), `event:<name>`, `page:<path pattern>`)
}
