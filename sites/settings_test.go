package sites_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/sites"
)

func TestLoadTimeZone(t *testing.T) {
	for _, tt := range []struct{ name, zone, want, err string }{
		{"empty is UTC", "", "UTC", ""},
		{"UTC", "UTC", "UTC", ""},
		{"IANA name", "America/Los_Angeles", "America/Los_Angeles", ""},
		{"half-hour offset", "Asia/Kolkata", "Asia/Kolkata", ""},
		{"misspelled", "America/LosAngeles", "", "unknown: give an IANA time zone name such as America/Los_Angeles"},
		{"Local depends on the machine", "Local", "", "such as America/Los_Angeles"},
		{"spaces", " Europe/Berlin", "", "such as America/Los_Angeles"},
		{"an offset is not a zone", "+02:00", "", "unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := sites.LoadTimeZone(tt.zone)
			if tt.err != "" {
				if analytics.KindOf(err) != analytics.Invalid || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.zone)) {
					t.Fatalf("LoadTimeZone(%q) = %v, %v; want an Invalid error naming it and containing %q", tt.zone, loc, err, tt.err)
				}
				return
			}
			if err != nil || loc.String() != tt.want {
				t.Fatalf("LoadTimeZone(%q) = %v, %v; want %s", tt.zone, loc, err, tt.want)
			}
		})
	}
}

func TestGoalsAndSteps(t *testing.T) {
	for _, tt := range []struct {
		name, step string
		want       engine.Goal
		err        string
	}{
		{"event", "event:signup", engine.Goal{Name: "signup", Event: "signup"}, ""},
		{"page", "page:/pricing", engine.Goal{Name: "Visit /pricing", Page: "/pricing"}, ""},
		{"page pattern", "page:/blog/**", engine.Goal{Name: "Visit /blog/**", Page: "/blog/**"}, ""},
		{"bare path is a page", "/docs/*", engine.Goal{Name: "Visit /docs/*", Page: "/docs/*"}, ""},
		{"bare word is an event", "purchase", engine.Goal{Name: "purchase", Event: "purchase"}, ""},
		{"page in canonical form", "page:https://example.com/caf%c3%a9?x=1", engine.Goal{Name: "Visit /caf%C3%A9", Page: "/caf%C3%A9"}, ""},
		{"empty event", "event:", engine.Goal{}, "give the event's name"},
		{"event too long", "event:" + strings.Repeat("x", 65), engine.Goal{}, "1-64 characters"},
		{"page without slash", "page:pricing", engine.Goal{}, "give a path such as /pricing"},
		{"empty", "", engine.Goal{}, "give event:<name> or page:<path pattern>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sites.ParseStep(tt.step)
			if tt.err != "" {
				if analytics.KindOf(err) != analytics.Invalid || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseStep(%q) = %+v, %v; want an error containing %q", tt.step, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseStep(%q) = %+v, %v; want %+v", tt.step, got, err, tt.want)
			}
			if back, _ := sites.ParseStep(sites.StepText(got)); back != got {
				t.Fatalf("StepText(%+v) = %q reads back as %+v", got, sites.StepText(got), back)
			}
		})
	}
}

func TestNewFunnel(t *testing.T) {
	a, _ := sites.ParseStep("page:/pricing")
	b, _ := sites.ParseStep("event:signup")
	many := make([]engine.Goal, 9)
	for i := range many {
		many[i], _ = sites.ParseStep(fmt.Sprintf("event:e%d", i))
	}
	for _, tt := range []struct {
		name, funnel string
		steps        []engine.Goal
		err          string
	}{
		{"two steps", "checkout", []engine.Goal{a, b}, ""},
		{"eight steps", "long", many[:8], ""},
		{"one step", "checkout", []engine.Goal{a}, "has 1 steps: give 2 to 8"},
		{"nine steps", "checkout", many, "has 9 steps: give 2 to 8"},
		{"a step twice", "checkout", []engine.Goal{a, b, a}, "is given twice"},
		{"no name", "", []engine.Goal{a, b}, "give 1-64 characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := sites.NewFunnel(tt.funnel, tt.steps)
			if tt.err != "" {
				if analytics.KindOf(err) != analytics.Invalid || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("NewFunnel = %v; want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || f.Name != tt.funnel || !reflect.DeepEqual(f.Steps, tt.steps) {
				t.Fatalf("NewFunnel = %+v, %v", f, err)
			}
		})
	}
}

// TestMongoSettings stores settings in the real database for a registered
// and an unregistered site, and reads them through a SettingsCache, whose
// background refresh picks up a change (polled).
func TestMongoSettings(t *testing.T) {
	ctx := context.Background()
	reg := registry(t)
	if err := reg.AddSite(ctx, sites.Site{ID: "reg.example", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	signup, _ := sites.EventGoal("signup")
	pricing, _ := sites.PageGoal("/pricing/**")
	funnel, _ := sites.NewFunnel("checkout", []engine.Goal{pricing, signup})
	for _, err := range []error{
		reg.SetTimeZone(ctx, "open.example", "America/Los_Angeles"),
		reg.SetTimeZone(ctx, "reg.example", "Europe/Berlin"),
		reg.SetTimeZone(ctx, "reg.example", "Asia/Kolkata"), // the second replaces the first
		reg.AddGoal(ctx, "open.example", pricing),
		reg.AddGoal(ctx, "open.example", signup),
		reg.AddGoal(ctx, "other.example", signup),
		reg.AddFunnel(ctx, "open.example", funnel),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.AddGoal(ctx, "open.example", signup); analytics.KindOf(err) != analytics.Invalid || !strings.Contains(err.Error(), "already") {
		t.Fatalf("a goal twice: %v", err)
	}
	if err := reg.AddFunnel(ctx, "open.example", funnel); analytics.KindOf(err) != analytics.Invalid || !strings.Contains(err.Error(), "already") {
		t.Fatalf("a funnel twice: %v", err)
	}
	if err := reg.RemoveGoal(ctx, "open.example", "nope"); analytics.KindOf(err) != analytics.NotFound {
		t.Fatalf("removing a goal that is not there: %v", err)
	}
	if err := reg.RemoveFunnel(ctx, "other.example", "checkout"); analytics.KindOf(err) != analytics.NotFound {
		t.Fatalf("removing another site's funnel: %v", err)
	}
	st, err := reg.SiteSettings(ctx, "open.example")
	want := sites.Settings{Site: "open.example", TimeZone: "America/Los_Angeles", Goals: []engine.Goal{pricing, signup}, Funnels: []engine.Funnel{funnel}}
	if err != nil || !reflect.DeepEqual(st, want) {
		t.Fatalf("SiteSettings = %+v, %v; want %+v", st, err, want)
	}
	if st, err := reg.SiteSettings(ctx, "none.example"); err != nil || !reflect.DeepEqual(st, sites.Settings{Site: "none.example"}) {
		t.Fatalf("SiteSettings of a site without any = %+v, %v", st, err)
	}

	cache := sites.NewSettingsCache(reg, sites.RegistryConfig{Refresh: 50 * time.Millisecond})
	defer cache.Close()
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	loc, goals, funnels, err := cache.SiteSettings(ctx, "open.example")
	if err != nil || loc.String() != "America/Los_Angeles" || !reflect.DeepEqual(goals, want.Goals) || !reflect.DeepEqual(funnels, want.Funnels) {
		t.Fatalf("cache: %v %+v %+v %v", loc, goals, funnels, err)
	}
	if loc, _, _, _ := cache.SiteSettings(ctx, "reg.example"); loc.String() != "Asia/Kolkata" {
		t.Fatalf("cache: reg.example in %v", loc)
	}
	loc, goals, funnels, err = cache.SiteSettings(ctx, "none.example")
	if err != nil || loc != time.UTC || goals != nil || funnels != nil || cache.TimeZone("none.example") != "UTC" {
		t.Fatalf("cache, a site without settings: %v %v %v %v", loc, goals, funnels, err)
	}

	if err := reg.RemoveGoal(ctx, "open.example", pricing.Name); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetTimeZone(ctx, "none.example", "Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if _, goals, _, _ := cache.SiteSettings(ctx, "open.example"); len(goals) != 1 || cache.TimeZone("none.example") != "Europe/Berlin" {
			return fmt.Errorf("after the refresh: goals %+v, none.example in %s", goals, cache.TimeZone("none.example"))
		}
		return nil
	})
}

// unknownZone is a source holding a zone this machine does not know.
type unknownZone struct{}

func (unknownZone) LoadSettings(context.Context) ([]sites.Settings, error) {
	return []sites.Settings{{Site: "x", TimeZone: "Mars/Olympus_Mons"}}, nil
}

func TestSettingsCacheUnknownZone(t *testing.T) {
	c := sites.NewSettingsCache(unknownZone{}, sites.RegistryConfig{})
	defer c.Close()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.SiteSettings(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "Mars/Olympus_Mons") {
		t.Fatalf("a stored zone this machine does not know: %v", err)
	}
}
