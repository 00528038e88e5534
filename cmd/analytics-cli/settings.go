package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/sites"
)

// Site settings (time zone, goals, funnels): `sites add|update --timezone`,
// `goals` and `funnels`. They are kept per site id whether or not the site
// is registered, so they work in open mode too.

const timeZoneFlagName = "timezone"

func timeZoneFlag() cli.Flag {
	return &cli.StringFlag{Name: timeZoneFlagName, Usage: "its IANA time zone (America/Los_Angeles, Europe/Berlin; default UTC): its days, hours and `today` in stats; works in open mode too"}
}

// zoneFlag returns the checked --timezone, "" when not given.
func zoneFlag(c *cli.Context) (string, error) {
	if !c.IsSet(timeZoneFlagName) {
		return "", nil
	}
	zone := c.String(timeZoneFlagName)
	if zone == "" {
		return "", fmt.Errorf("--timezone \"\": give an IANA time zone name such as America/Los_Angeles, Europe/Berlin or UTC")
	}
	if _, err := sites.LoadTimeZone(zone); err != nil {
		return "", fmt.Errorf("--timezone: %s", analytics.Message(err))
	}
	return zone, nil
}

// setTimeZone stores zone for site and says so.
func setTimeZone(c *cli.Context, reg *mongostore.Registry, stdout io.Writer, site, zone string) error {
	if err := reg.SetTimeZone(c.Context, site, zone); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "Time zone of site %s: %s (running reporters use it within their SITES_REFRESH, 5s by default, for all its history).\n", site, zone)
	return err
}

// printTimeZone prints the site's time zone as one more line of printSite.
func printTimeZone(c *cli.Context, reg *mongostore.Registry, w io.Writer, site string) error {
	st, err := reg.SiteSettings(c.Context, site)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Time zone\t%s\n", zoneText(st.TimeZone))
	return tw.Flush()
}

func zoneText(zone string) string {
	if zone == "" {
		return "UTC"
	}
	return zone
}

// sitesListCommand lists the registered sites and the sites that have only
// settings (open mode), with their time zones.
func sitesListCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the registered sites, and the sites with settings (time zone, goals, funnels) in open mode",
		Flags: cfg.MongoFlags(),
		Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
			list, err := reg.LoadSites(c.Context)
			if err != nil {
				return err
			}
			settings, err := reg.LoadSettings(c.Context)
			if err != nil {
				return err
			}
			zones := map[string]string{}
			for _, s := range settings {
				zones[s.Site] = s.TimeZone
			}
			if len(list) == 0 && len(settings) == 0 {
				_, err := fmt.Fprintln(stdout, "No sites registered. Add one with `analytics-cli sites add --domain <host> <site-id>`.")
				return err
			}
			rows := map[string]string{}
			for _, s := range list {
				rows[s.ID] = strings.Join([]string{s.ID, orDash(strings.Join(s.Domains, ",")), yesNo(s.Public), retentionText(s.RetentionDays),
					zoneText(zones[s.ID]), s.Created.UTC().Format(time.DateOnly)}, "\t")
			}
			for _, s := range settings {
				if _, ok := rows[s.Site]; !ok {
					rows[s.Site] = strings.Join([]string{s.Site, "(not registered)", "-", "-", zoneText(s.TimeZone), "-"}, "\t")
				}
			}
			ids := make([]string, 0, len(rows))
			for id := range rows {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SITE\tDOMAINS\tPUBLIC\tRETENTION\tTIMEZONE\tCREATED")
			for _, id := range ids {
				fmt.Fprintln(tw, rows[id])
			}
			return tw.Flush()
		}),
	}
}

// settingsSite is the site a goals or funnels command acts on: --site, or
// its one argument.
func settingsSite(c *cli.Context) (string, error) {
	site, err := oneArg(c, "site")
	if err != nil {
		return "", err
	}
	return site, analytics.ValidateSiteID(site)
}

func siteFlag() cli.Flag {
	return &cli.StringFlag{Name: "site", Usage: "the site id (or give it as the last argument)"}
}

// goalFlags are --event and --page, which name one goal.
func goalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "event", Usage: "a custom event's name, as sent in event_type (signup); the goal is named after it"},
		&cli.StringFlag{Name: "page", Usage: "a page path or pattern: * matches within a path segment, ** across segments (/pricing, /blog/**); the goal is named \"Visit <page>\""},
	}
}

// goalOf reads the one goal --event or --page names.
func goalOf(c *cli.Context) (engine.Goal, error) {
	event, page := c.String("event"), c.String("page")
	switch {
	case c.IsSet("event") && c.IsSet("page"), !c.IsSet("event") && !c.IsSet("page"):
		return engine.Goal{}, fmt.Errorf("give --event <name> or --page <path pattern> (one of them), e.g. --event signup or --page \"/pricing/**\"")
	case c.IsSet("event"):
		return sites.EventGoal(event)
	default:
		return sites.PageGoal(page)
	}
}

func goalsCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "goals",
		Usage: "a site's goals (custom events or page views it counts as conversions), for the event:goal dimension and conversion rates",
		Subcommands: []*cli.Command{{
			Name:      "add",
			Usage:     "add a goal: a custom event (--event) or a page view of a path pattern (--page)",
			UsageText: "analytics-cli goals add --site example.com --event signup\n   analytics-cli goals add --site example.com --page \"/pricing/**\"",
			Flags:     append(append([]cli.Flag{siteFlag()}, goalFlags()...), cfg.MongoFlags()...),
			Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
				site, err := settingsSite(c)
				if err != nil {
					return err
				}
				g, err := goalOf(c)
				if err != nil {
					return err
				}
				if err := reg.AddGoal(c.Context, site, g); err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "Added goal %q to site %s (running reporters count it within their SITES_REFRESH, 5s by default, over all its history).\n", g.Name, site)
				return err
			}),
		}, {
			Name:      "list",
			Usage:     "list a site's goals",
			UsageText: "analytics-cli goals list --site example.com",
			Flags:     append([]cli.Flag{siteFlag()}, cfg.MongoFlags()...),
			Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
				site, err := settingsSite(c)
				if err != nil {
					return err
				}
				st, err := reg.SiteSettings(c.Context, site)
				if err != nil {
					return err
				}
				if len(st.Goals) == 0 {
					_, err := fmt.Fprintf(stdout, "Site %s has no goals. Add one with `analytics-cli goals add --site %s --event signup` (or --page \"/pricing/**\").\n", site, site)
					return err
				}
				tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "GOAL\tKIND\tMATCHES")
				for _, g := range st.Goals {
					kind, match := "page", g.Page
					if g.Event != "" {
						kind, match = "event", g.Event
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Name, kind, match)
				}
				return tw.Flush()
			}),
		}, {
			Name:      "remove",
			Usage:     "remove a goal, named by --event, --page or --name (as `goals list` shows it)",
			UsageText: "analytics-cli goals remove --site example.com --event signup\n   analytics-cli goals remove --site example.com --name \"Visit /pricing/**\"",
			Flags: append(append([]cli.Flag{siteFlag(), &cli.StringFlag{Name: "name", Usage: "the goal's name, as `goals list` shows it"}},
				goalFlags()...), cfg.MongoFlags()...),
			Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
				site, err := settingsSite(c)
				if err != nil {
					return err
				}
				name := c.String("name")
				if !c.IsSet("name") {
					g, err := goalOf(c)
					if err != nil {
						return fmt.Errorf("%v (or --name \"<goal>\")", err)
					}
					name = g.Name
				} else if c.IsSet("event") || c.IsSet("page") {
					return fmt.Errorf("give --name, --event or --page (one of them)")
				}
				if err := reg.RemoveGoal(c.Context, site, name); err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "Removed goal %q from site %s (funnels keep their own steps).\n", name, site)
				return err
			}),
		}},
	}
}

// stepList collects --step values: repeated, never split at commas (a
// path may hold one).
type stepList []string

func (s *stepList) Set(v string) error { *s = append(*s, v); return nil }
func (s *stepList) String() string     { return strings.Join(*s, " ") }

func funnelsCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var steps stepList
	nameFlag := func(usage string) cli.Flag { return &cli.StringFlag{Name: "name", Usage: usage} }
	return &cli.Command{
		Name:  "funnels",
		Usage: "a site's funnels: ordered steps (2 to 8) a visitor takes within one visit",
		Subcommands: []*cli.Command{{
			Name:  "add",
			Usage: "add a funnel of 2 to 8 steps, in order; a step is event:<name> or page:<path pattern> (a bare /path is a page, a bare word an event)",
			UsageText: "analytics-cli funnels add --site example.com --name checkout --step page:/pricing --step event:signup --step \"page:/checkout/**\"\n\n" +
				"   Steps: event:<name> is a custom event (event_type); page:<pattern> a page view of a path, * matching within a segment and ** across segments.",
			Flags: append([]cli.Flag{siteFlag(), nameFlag("the funnel's name (checkout)"),
				&cli.GenericFlag{Name: "step", Value: &steps, Usage: "a step, in order: event:<name> or page:<path pattern>; repeat 2 to 8 times"}}, cfg.MongoFlags()...),
			Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
				site, err := settingsSite(c)
				if err != nil {
					return err
				}
				var goals []engine.Goal
				for _, s := range steps {
					g, err := sites.ParseStep(s)
					if err != nil {
						return fmt.Errorf("--step %q: %s", s, analytics.Message(err))
					}
					goals = append(goals, g)
				}
				f, err := sites.NewFunnel(c.String("name"), goals)
				if err != nil {
					if c.String("name") == "" {
						return fmt.Errorf("give the funnel a --name, e.g. --name checkout")
					}
					return fmt.Errorf("%s (--step event:<name> or --step page:<path pattern>, in order)", analytics.Message(err))
				}
				if err := reg.AddFunnel(c.Context, site, f); err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "Added funnel %s to site %s: %s.\n", f.Name, site, stepsText(f))
				return err
			}),
		}, {
			Name:      "list",
			Usage:     "list a site's funnels and their steps",
			UsageText: "analytics-cli funnels list --site example.com",
			Flags:     append([]cli.Flag{siteFlag()}, cfg.MongoFlags()...),
			Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
				site, err := settingsSite(c)
				if err != nil {
					return err
				}
				st, err := reg.SiteSettings(c.Context, site)
				if err != nil {
					return err
				}
				if len(st.Funnels) == 0 {
					_, err := fmt.Fprintf(stdout, "Site %s has no funnels. Add one with `analytics-cli funnels add --site %s --name checkout --step page:/pricing --step event:signup`.\n", site, site)
					return err
				}
				tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "FUNNEL\tSTEPS")
				for _, f := range st.Funnels {
					fmt.Fprintf(tw, "%s\t%s\n", f.Name, stepsText(f))
				}
				return tw.Flush()
			}),
		}, {
			Name:      "remove",
			Usage:     "remove a funnel by name",
			UsageText: "analytics-cli funnels remove --site example.com --name checkout",
			Flags:     append([]cli.Flag{siteFlag(), nameFlag("the funnel's name")}, cfg.MongoFlags()...),
			Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
				site, err := settingsSite(c)
				if err != nil {
					return err
				}
				name := c.String("name")
				if name == "" {
					return fmt.Errorf("give the funnel's --name (see `analytics-cli funnels list --site %s`)", site)
				}
				if err := reg.RemoveFunnel(c.Context, site, name); err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "Removed funnel %s from site %s.\n", name, site)
				return err
			}),
		}},
	}
}

func stepsText(f engine.Funnel) string {
	parts := make([]string, len(f.Steps))
	for i, s := range f.Steps {
		parts[i] = sites.StepText(s)
	}
	return strings.Join(parts, " -> ")
}
