package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/sites"
)

// openRegistry opens the sites and tokens of the configured MongoDB (or of
// the running serve's, found by discovering) for one command.
func openRegistry(c *cli.Context, cfg *config.Config) (*mongostore.Registry, error) {
	if cfg.MongoURI == "" {
		return nil, errors.New("no MongoDB: set MONGODB_URI (or --mongodb-uri), or run this where `analytics-cli serve` runs (its data folder: DATA_DIR)")
	}
	return mongostore.OpenRegistry(c.Context, cfg.MongoURI)
}

// withRegistry runs do with the registry open, closing it after.
func withRegistry(cfg *config.Config, do func(c *cli.Context, reg *mongostore.Registry) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		reg, err := openRegistry(c, cfg)
		if err != nil {
			return err
		}
		defer reg.Close(context.Background())
		return do(c, reg)
	}
}

// oneArg returns what the command acts on: the value of its flag what
// (--site, --name), else its one argument. Flags go before an argument
// (urfave/cli stops parsing flags at the first argument), which the error
// for leftovers says.
func oneArg(c *cli.Context, what string) (string, error) {
	v := c.String(what)
	switch {
	case c.NArg() > 1 || (v != "" && c.NArg() > 0):
		return "", fmt.Errorf("unexpected arguments %q: give the %s once, as --%s or as the last argument, after the flags (analytics-cli %s [flags] <%s>)",
			c.Args().Slice(), what, what, c.Command.FullName(), what)
	case v != "":
		return v, nil
	case c.NArg() == 1:
		return c.Args().First(), nil
	}
	return "", fmt.Errorf("give the %s: analytics-cli %s [flags] <%s> (or --%s)", what, c.Command.FullName(), what, what)
}

// domains checks and canonicalises --domain values (repeated or
// comma-separated).
func domains(values []string) ([]string, error) {
	out := []string{}
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			if strings.TrimSpace(d) == "" {
				continue
			}
			d, err := sites.ValidateDomain(d)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func sitesCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	const domainFlag, publicFlag, retentionFlag = "domain", "public", "retention-days"
	var (
		domainFlags    cli.StringSlice
		public, rotate bool
		retention      int
	)
	idFlag := func() *cli.StringFlag {
		return &cli.StringFlag{Name: "site", Usage: "the site id (or give it as the last argument)"}
	}
	siteFlags := func(extra ...cli.Flag) []cli.Flag {
		return append(append([]cli.Flag{idFlag(),
			&cli.StringSliceFlag{Name: domainFlag, Destination: &domainFlags, Usage: "a host its pages are served from (example.com; *.example.com for its subdomains); repeat or comma-separate"},
			&cli.BoolFlag{Name: publicFlag, Destination: &public, Usage: "its stats are readable without a reporter token"},
			&cli.IntFlag{Name: retentionFlag, Destination: &retention, Usage: "days its raw events are kept; 0 uses RETENTION_DAYS"},
			timeZoneFlag(),
		}, extra...), cfg.MongoFlags()...)
	}
	return &cli.Command{
		Name:  "sites",
		Usage: "register the sites a collector in registered mode (SITES_MODE=registered) takes events for",
		Subcommands: []*cli.Command{{
			Name:      "add",
			Usage:     "register a site: prints its write key (once), its script tag and a curl line",
			UsageText: "analytics-cli sites add --domain example.com --domain www.example.com [--public] [--retention-days 400] [--timezone America/Los_Angeles] example.com",
			Flags:     siteFlags(),
			Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
				id, err := oneArg(c, "site")
				if err != nil {
					return err
				}
				if err := analytics.ValidateSiteID(id); err != nil {
					return err
				}
				ds, err := domains(domainFlags.Value())
				if err != nil {
					return err
				}
				if retention < 0 {
					return fmt.Errorf("--retention-days %d: give a number of days, or 0 for RETENTION_DAYS", retention)
				}
				zone, err := zoneFlag(c)
				if err != nil {
					return err
				}
				key := sites.NewSecret(sites.WriteKeyPrefix)
				s := sites.Site{ID: id, Domains: ds, KeyHash: sites.HashSecret(key), Public: public, RetentionDays: retention, Created: time.Now().UTC().Truncate(time.Millisecond)}
				if err := reg.AddSite(c.Context, s); err != nil {
					return err
				}
				if zone != "" {
					if err := reg.SetTimeZone(c.Context, id, zone); err != nil {
						return fmt.Errorf("site %s is registered, but its time zone is not set (set it with `analytics-cli sites update --timezone %s %s`): %w", id, zone, id, err)
					}
				}
				fmt.Fprintf(stdout, "Registered site %s.\n\n", id)
				printSite(stdout, s)
				if err := printTimeZone(c, reg, stdout, id); err != nil {
					return err
				}
				printKey(stdout, cfg, s, key)
				return nil
			}),
		},
			sitesListCommand(cfg, stdout), {
				Name:      "show",
				Usage:     "show a registered site (never its write key: it is stored hashed)",
				UsageText: "analytics-cli sites show example.com",
				Flags:     append([]cli.Flag{idFlag()}, cfg.MongoFlags()...),
				Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
					s, err := registeredSite(c, reg)
					if err != nil {
						return err
					}
					printSite(stdout, s)
					return printTimeZone(c, reg, stdout, s.ID)
				}),
			}, {
				Name:      "update",
				Usage:     "change a site's domains (--domain replaces them all), public flag, retention or time zone, or make a new write key (--rotate-key); --timezone alone needs no registered site (open mode)",
				UsageText: "analytics-cli sites update [--domain example.com,www.example.com] [--public=false] [--retention-days 90] [--timezone Europe/Berlin] [--rotate-key] example.com",
				Flags:     siteFlags(&cli.BoolFlag{Name: "rotate-key", Destination: &rotate, Usage: "make a new write key (printed once); the old one stops working"}),
				Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
					zone, err := zoneFlag(c)
					if err != nil {
						return err
					}
					if zone != "" && !c.IsSet(domainFlag) && !c.IsSet(publicFlag) && !c.IsSet(retentionFlag) && !rotate {
						id, err := settingsSite(c)
						if err != nil {
							return err
						}
						return setTimeZone(c, reg, stdout, id, zone)
					}
					s, err := registeredSite(c, reg)
					if err != nil {
						return err
					}
					changed := false
					if c.IsSet(domainFlag) {
						if s.Domains, err = domains(domainFlags.Value()); err != nil {
							return err
						}
						changed = true
					}
					if c.IsSet(publicFlag) {
						s.Public, changed = public, true
					}
					if c.IsSet(retentionFlag) {
						if retention < 0 {
							return fmt.Errorf("--retention-days %d: give a number of days, or 0 for RETENTION_DAYS", retention)
						}
						s.RetentionDays, changed = retention, true
					}
					var key string
					if rotate {
						key = sites.NewSecret(sites.WriteKeyPrefix)
						s.KeyHash, changed = sites.HashSecret(key), true
					}
					if !changed {
						return fmt.Errorf("nothing to change: give --domain, --public, --retention-days, --timezone or --rotate-key")
					}
					if err := reg.UpdateSite(c.Context, s); err != nil {
						return err
					}
					if zone != "" {
						if err := reg.SetTimeZone(c.Context, s.ID, zone); err != nil {
							return err
						}
					}
					fmt.Fprintf(stdout, "Updated site %s (running collectors and reporters apply it within their SITES_REFRESH, 5s by default).\n\n", s.ID)
					printSite(stdout, s)
					if err := printTimeZone(c, reg, stdout, s.ID); err != nil {
						return err
					}
					if key != "" {
						printKey(stdout, cfg, s, key)
					}
					return nil
				}),
			},
			deleteCommand(cfg, stdout, "remove", "unregister a site (its events and stats stay; in registered mode its events are refused)",
				"analytics-cli sites remove example.com", idFlag(), (*mongostore.Registry).RemoveSite,
				"Removed site %s from the registry (its events and stats stay).\n"),
		},
	}
}

func printSite(w io.Writer, s sites.Site) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Site\t%s\n", s.ID)
	fmt.Fprintf(tw, "Domains\t%s\n", orDash(strings.Join(s.Domains, ", ")))
	fmt.Fprintf(tw, "Public\t%s\n", yesNo(s.Public))
	fmt.Fprintf(tw, "Retention\t%s\n", retentionText(s.RetentionDays))
	fmt.Fprintf(tw, "Created\t%s\n", s.Created.UTC().Format(time.RFC3339))
	tw.Flush()
}

// printKey shows a new write key, once, with the script tag and a curl
// line that uses it.
func printKey(w io.Writer, cfg *config.Config, s sites.Site, key string) {
	collector := strings.TrimRight(cfg.CollectorURL, "/")
	fmt.Fprintf(w, `
Write key (shown only now; it is stored hashed: keep it in your secrets):
  %s

Script tag for its pages (browser events need no key: they are taken from its domains):
  <script defer src="%s/t.js" data-site="%s"></script>

Server-side events (SDK: sdk.Config{WriteKey: ...}; Segment: the key as write key):
  curl -X POST %s/event -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '{"site_id":"%s","event_type":"page_view","path":"/"}'
`, key, collector, s.ID, collector, key, s.ID)
	if len(s.Domains) == 0 {
		fmt.Fprintf(w, "\nNote: no --domain given, so in registered mode only requests with the write key are taken.\n")
	}
}

// registeredSite reads the site the command names (--site, or its
// argument).
func registeredSite(c *cli.Context, reg *mongostore.Registry) (sites.Site, error) {
	id, err := oneArg(c, "site")
	if err != nil {
		return sites.Site{}, err
	}
	return reg.GetSite(c.Context, id)
}

// deleteCommand is a subcommand deleting the one thing named by its flag
// arg (or its argument) with del, then printing done with its name.
func deleteCommand(cfg *config.Config, stdout io.Writer, name, usage, usageText string, arg *cli.StringFlag,
	del func(*mongostore.Registry, context.Context, string) error, done string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, UsageText: usageText,
		Flags: append([]cli.Flag{arg}, cfg.MongoFlags()...),
		Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
			id, err := oneArg(c, arg.Name)
			if err != nil {
				return err
			}
			if err := del(reg, c.Context, id); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, done, id)
			return err
		}),
	}
}

// listCommand is a `list` subcommand: what load returns, a row each (row
// gives its tab-separated cells) under header, or empty when there is
// nothing.
func listCommand[T any](cfg *config.Config, stdout io.Writer, usage string, load func(*mongostore.Registry, context.Context) ([]T, error),
	empty, header string, row func(T) string) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: usage,
		Flags: cfg.MongoFlags(),
		Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
			list, err := load(reg, c.Context)
			if err != nil {
				return err
			}
			if len(list) == 0 {
				_, err := fmt.Fprintln(stdout, empty)
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, header)
			for _, item := range list {
				fmt.Fprintln(tw, row(item))
			}
			return tw.Flush()
		}),
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func retentionText(days int) string {
	if days == 0 {
		return "RETENTION_DAYS"
	}
	return plural(days, "day")
}

func tokensCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var site, name string
	var all bool
	return &cli.Command{
		Name:  "tokens",
		Usage: "reporter tokens: who may read which site's stats",
		Subcommands: []*cli.Command{{
			Name:      "create",
			Usage:     "make a token reading one site (--site) or every site (--all); printed once, stored hashed",
			UsageText: "analytics-cli tokens create --site example.com [--name ci-dashboard]",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "site", Destination: &site, Usage: "the site it may read"},
				&cli.BoolFlag{Name: "all", Destination: &all, Usage: "it may read every site"},
				&cli.StringFlag{Name: "name", Destination: &name, Usage: "its name, to list and revoke it (default: the site or all, and a random suffix)"},
			}, cfg.MongoFlags()...),
			Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
				if (site == "") == !all {
					return errors.New("give --site <site-id> or --all (one of them)")
				}
				if site != "" {
					if err := analytics.ValidateSiteID(site); err != nil {
						return err
					}
				}
				if name == "" {
					name = sites.NewSecret("")[:6]
					if all {
						name = "all-" + name
					} else {
						name = site + "-" + name
					}
				}
				wasOpen, err := reporterOpen(c.Context, reg)
				if err != nil {
					return err
				}
				secret := sites.NewSecret(sites.TokenPrefix)
				t := sites.Token{Name: name, Hash: sites.HashSecret(secret), Site: site, Created: time.Now().UTC().Truncate(time.Millisecond)}
				if err := reg.AddToken(c.Context, t); err != nil {
					return err
				}
				if wasOpen {
					fmt.Fprintf(stdout, "The reporter is closed from now on: every request needs a token that may read its site (public sites excepted). It stays closed when the last token is revoked, until `analytics-cli tokens open`.\n\n")
				}
				_, err = fmt.Fprintf(stdout, `Created token %s, reading %s.
Token (shown only now; it is stored hashed):
  %s

Use it as a bearer token (running reporters accept it within their SITES_REFRESH, 5s by default):
  curl -H 'Authorization: Bearer %s' '%s/stats?site_id=%s'
`, t.Name, t.Scope(), secret, secret, strings.TrimRight(cfg.ReporterURL, "/"), orExample(site))
				return err
			}),
		},
			listCommand(cfg, stdout, "list the tokens: name, what they read, when made (never the token)", (*mongostore.Registry).LoadTokens,
				"No tokens. Make one with `analytics-cli tokens create --site <site-id>` (or --all).", "NAME\tREADS\tCREATED",
				func(t sites.Token) string {
					return t.Name + "\t" + t.Scope() + "\t" + t.Created.UTC().Format(time.RFC3339)
				}),
			{
				Name: "revoke", Usage: "delete a token by name; reporters refuse it within SITES_REFRESH (revoking the last one leaves the reporter closed)",
				UsageText: "analytics-cli tokens revoke ci-dashboard",
				Flags:     append([]cli.Flag{&cli.StringFlag{Name: "name", Usage: "the token's name (or give it as the argument)"}}, cfg.MongoFlags()...),
				Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
					name, err := oneArg(c, "name")
					if err != nil {
						return err
					}
					if err := reg.RevokeToken(c.Context, name); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "Revoked token %s.\n", name)
					left, err := reg.LoadTokens(c.Context)
					if err != nil {
						return err
					}
					if len(left) == 0 {
						_, err = fmt.Fprintf(stdout, "No token is left. The reporter stays closed: only REPORTER_TOKEN reads, and anyone reads public sites. To let anyone read every site, open it on purpose with `analytics-cli tokens open`.\n")
					}
					return err
				}),
			}, {
				Name:  "open",
				Usage: "let anyone read every site's stats without a token, while no token exists (after a token existed the reporter stays closed until this)",
				Flags: cfg.MongoFlags(),
				Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
					toks, err := reg.LoadTokens(c.Context)
					if err != nil {
						return err
					}
					if len(toks) > 0 {
						return fmt.Errorf("%s exist, so the reporter wants a token whatever this says: revoke them first (`analytics-cli tokens list`, `tokens revoke <name>`), then run `tokens open`", plural(len(toks), "token"))
					}
					if err := reg.SetReporterClosed(c.Context, false); err != nil {
						return err
					}
					_, err = fmt.Fprintf(stdout, "The reporter is open: anyone who reaches it reads every site's stats without a token. Running reporters apply it within SITES_REFRESH (5s by default); one started with REPORTER_TOKEN stays closed.\nClose it again with `analytics-cli tokens close`, or by creating a token.\n")
					return err
				}),
			}, {
				Name:  "close",
				Usage: "make the reporter want a token even while none exists (only REPORTER_TOKEN reads, and anyone reads public sites)",
				Flags: cfg.MongoFlags(),
				Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
					if err := reg.SetReporterClosed(c.Context, true); err != nil {
						return err
					}
					_, err := fmt.Fprintf(stdout, "The reporter is closed: every request needs a token that may read its site (public sites excepted). Running reporters apply it within SITES_REFRESH (5s by default). Open it with `analytics-cli tokens open`.\n")
					return err
				}),
			}, {
				Name:  "status",
				Usage: "say whether the reporter is open to anyone or wants a token, and why",
				Flags: cfg.MongoFlags(),
				Action: withRegistry(cfg, func(c *cli.Context, reg *mongostore.Registry) error {
					toks, err := reg.LoadTokens(c.Context)
					if err != nil {
						return err
					}
					acc, err := reg.LoadReporterAccess(c.Context)
					if err != nil {
						return err
					}
					var state string
					switch {
					case len(toks) > 0:
						state = fmt.Sprintf("closed: %s exist (`analytics-cli tokens list`)", plural(len(toks), "token"))
					case acc.Closed:
						state = "closed since " + acc.Changed.UTC().Format(time.RFC3339) + ": no token exists, but one did (or `tokens close` was run); `analytics-cli tokens open` opens it"
					case !acc.Changed.IsZero():
						state = "open since " + acc.Changed.UTC().Format(time.RFC3339) + " (`analytics-cli tokens open`): anyone reads every site"
					default:
						state = "open: no token has existed; anyone reads every site (the first token closes it)"
					}
					_, err = fmt.Fprintf(stdout, "Reporter %s.\nA reporter started with REPORTER_TOKEN is closed whatever this says; one started with REPORTER_OPEN=true is open while no token exists.\n", state)
					return err
				}),
			},
		},
	}
}

// reporterOpen reports whether the registry leaves the reporter open (no
// token, and not closed).
func reporterOpen(ctx context.Context, reg *mongostore.Registry) (bool, error) {
	toks, err := reg.LoadTokens(ctx)
	if err != nil {
		return false, err
	}
	acc, err := reg.LoadReporterAccess(ctx)
	if err != nil {
		return false, err
	}
	return len(toks) == 0 && !acc.Closed, nil
}

func orExample(site string) string {
	if site == "" {
		return "site-abc-123"
	}
	return site
}
