package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/exportfmt"
	"github.com/siteanalytics/analytics/internal/tty"
)

// exported is one raw event as export writes it: the fields the collector
// takes, then what it derived from the request (never the IP or the
// User-Agent, which are not stored).
type exported struct {
	ID        string         `json:"id"`
	SiteID    string         `json:"site_id"`
	EventType string         `json:"event_type"`
	Timestamp string         `json:"timestamp"`
	Path      string         `json:"path,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	Props     map[string]any `json:"props,omitempty"`
	exportfmt.Derived
}

func toExported(ev analytics.Event) exported {
	return exported{ID: ev.ID, SiteID: ev.SiteID, EventType: ev.EventType, Timestamp: ev.Timestamp.UTC().Format(time.RFC3339Nano),
		Path: ev.Path, UserID: ev.UserID, Props: ev.Props, Derived: exportfmt.DerivedOf(&ev)}
}

var csvHeader = []string{"id", "site_id", "event_type", "timestamp", "path", "user_id", "source", "referrer_host",
	"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "browser", "os", "device", "country", "props", "referrer_url"}

func (e exported) csvRow() []string {
	props := ""
	if len(e.Props) > 0 {
		b, _ := json.Marshal(e.Props)
		props = string(b)
	}
	row := []string{e.ID, e.SiteID, e.EventType, e.Timestamp, e.Path, e.UserID, e.Source, e.ReferrerHost,
		e.UTMSource, e.UTMMedium, e.UTMCampaign, e.UTMContent, e.UTMTerm, e.Browser, e.OS, e.Device, e.Country, props, e.ReferrerURL}
	for i, v := range row {
		row[i] = csvCell(v)
	}
	return row
}

// csvCell defuses a value a spreadsheet would run as a formula: any
// visitor can put one in a user id, a path or a prop, and the export is
// opened by an admin. A leading quote makes it text, as OWASP recommends
// (CSV injection); the quote is visible in a text editor, which is the
// price of that.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// progressOut returns where progress goes: stderr with a bar when it is a
// terminal, else nothing (the final summary line is printed either way).
func progressOut(c *cli.Context) io.Writer {
	return tty.Or(errWriter(c))
}

func errWriter(c *cli.Context) io.Writer {
	if c.App.ErrWriter != nil {
		return c.App.ErrWriter
	}
	return os.Stderr
}

// parseDay parses a --from/--to flag ("" is open).
func parseDay(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(analytics.DateLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: use YYYY-MM-DD (UTC)", flag, v)
	}
	return t, nil
}

func exportCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var site, from, to, format, output string
	return &cli.Command{
		Name:  "export",
		Usage: "write a site's raw events as NDJSON or CSV (to stdout, or -o FILE)",
		Description: "Days are UTC; --to is included. Events come a month at a time, oldest first. A progress bar is\n" +
			"drawn on stderr when it is a terminal; otherwise only the final count is printed there.\n" +
			"`analytics-cli import` reads the NDJSON back through a collector. In CSV, a value that starts with\n" +
			"= + - @, a tab or a carriage return gets a leading ' so a spreadsheet shows it as text instead of\n" +
			"running it as a formula (OWASP, CSV injection); the NDJSON keeps every value as stored.",
		UsageText: "analytics-cli export --site site-abc-123 [--from 2025-11-01 --to 2025-11-30] [--format ndjson|csv] [-o FILE]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "site", Required: true, Destination: &site, Usage: "site id"},
			&cli.StringFlag{Name: "from", Destination: &from, Usage: "first day (YYYY-MM-DD, UTC)"},
			&cli.StringFlag{Name: "to", Destination: &to, Usage: "last day, included (YYYY-MM-DD, UTC)"},
			&cli.StringFlag{Name: "format", Value: "ndjson", Destination: &format, Usage: "ndjson or csv"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Destination: &output, Usage: "write to this file instead of stdout"},
		}, cfg.MongoFlags()...),
		Action: func(c *cli.Context) error {
			if format != "ndjson" && format != "csv" {
				return fmt.Errorf("--format %q: use ndjson or csv", format)
			}
			fromT, err := parseDay("from", from)
			if err != nil {
				return err
			}
			toT, err := parseDay("to", to)
			if err != nil {
				return err
			}
			if !toT.IsZero() {
				toT = toT.AddDate(0, 0, 1)
			}
			store, err := app.OpenStore(c.Context, cfg)
			if err != nil {
				return err
			}
			defer store.Close(context.Background())
			var w io.Writer = stdout
			var f *os.File
			if output != "" && output != "-" {
				if f, err = os.Create(output); err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriterSize(w, 1<<16)
			total, err := store.CountEvents(c.Context, site, fromT, toT)
			if err != nil {
				return err
			}
			bar := newProgressBar(progressOut(c))
			var cw *csv.Writer
			if format == "csv" {
				cw = csv.NewWriter(bw)
				_ = cw.Write(csvHeader)
			}
			enc := json.NewEncoder(bw)
			enc.SetEscapeHTML(false)
			n := 0
			err = store.EachEvent(c.Context, site, fromT, toT, func(ev analytics.Event) error {
				e := toExported(ev)
				var err error
				if cw != nil {
					err = cw.Write(e.csvRow())
				} else {
					err = enc.Encode(e)
				}
				n++
				bar.update(n, int(max(total, int64(n))))
				return err
			})
			bar.done()
			if cw != nil {
				cw.Flush()
				err = errorsJoin(err, cw.Error())
			}
			err = errorsJoin(err, bw.Flush())
			if f != nil {
				err = errorsJoin(err, f.Close())
			}
			if err != nil {
				return fmt.Errorf("export of %s stopped after %s: %w", site, plural(n, "event"), err)
			}
			fmt.Fprintf(errWriter(c), "exported %s of %s\n", plural(n, "event"), site)
			return nil
		},
	}
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// importBatch is how many events one POST /import carries, at most;
// importBatchBytes how many bytes of them, past which a batch goes (below
// the collector's 1 MiB bound on a body, even with a last large line).
const (
	importBatch      = 500
	importBatchBytes = 512 << 10
)

func importCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var collector, key, from, site string
	var direct bool
	return &cli.Command{
		Name:  "import",
		Usage: "send an export (or any NDJSON of events with ids) through the collector, or with --direct straight into the queue",
		Description: "Each line is one event; events go to the collector's POST /import, " + fmt.Sprint(importBatch) + " at a time, with their ids,\n" +
			"so importing a file twice counts its events once. A bad line stops the import with an error naming it;\n" +
			"fix it and run the import again (what was sent before counts once). FILE - reads stdin.\n" +
			"The collector keeps every field of the file (source, campaign, browser, OS, device, country) when the import\n" +
			"is authenticated: with the site's write key (--key) in registered mode; in open mode, from a server (no\n" +
			"Origin or Referer, as this command sends). With --direct the events go straight into the pipeline's Redis queue (REDIS_URL, or the\n" +
			"running serve's), keeping every field of the file, and are stored exactly once like collected events;\n" +
			"the collector's access rules, rate limits and bot filter do not apply: it is for whoever runs the pipeline.\n\n" +
			"--from reads another tool's export. goatcounter: GoatCounter's CSV export (version 2, gzipped or not), one\n" +
			"event per hit; umami: Umami's data export (CSV of website_event rows), one event per row. Their events are\n" +
			"queued as with --direct, every field kept, with ids derived from the rows, so importing again stores nothing\n" +
			"twice. plausible: Plausible's CSV export (the zip of imported_*.csv daily aggregates), kept as the site's\n" +
			"imported data beside its events (a day imported again replaces that day); answers include it only when\n" +
			"asked (v2 include.imports, v1 with_imported=true) and then say so. A file of another kind is refused with\n" +
			"what it looks like; progress shows on a terminal; Ctrl+C leaves FILE.import-checkpoint and the same command\n" +
			"resumes from it; the end prints rows read, events queued, duplicates and refused rows by reason.",
		UsageText: "analytics-cli import [--collector URL] [--key WRITE_KEY] FILE\n   analytics-cli import --direct [--redis-url URL] FILE\n" +
			"   analytics-cli import --from goatcounter|umami --site SITE FILE\n   analytics-cli import --from plausible --site SITE FILE",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "collector", Value: cfg.CollectorURL, Destination: &collector, EnvVars: []string{"COLLECTOR_URL"}, Usage: "the collector's URL"},
			&cli.StringFlag{Name: "key", Destination: &key, EnvVars: []string{"ANALYTICS_WRITE_KEY"}, Usage: "the site's write key, for a collector in registered mode (sent as Authorization: Bearer)"},
			&cli.BoolFlag{Name: "direct", Destination: &direct, Usage: "queue the events straight into the pipeline's Redis, keeping every derived field of the file (source, browser, OS, device, country, campaign)"},
			&cli.StringFlag{Name: "from", Destination: &from, Usage: "read another tool's export: plausible, umami or goatcounter"},
			&cli.StringFlag{Name: "site", Destination: &site, Usage: "with --from: the site id the data is for (umami: default the file's website_id)"},
		}, append(cfg.RedisFlags(), cfg.MongoFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("import needs one FILE (or - for stdin)")
			}
			if from != "" {
				if c.IsSet("collector") || c.IsSet("key") || direct {
					return fmt.Errorf("--from queues events into Redis (plausible: writes the store), not through a collector: drop --collector, --key and --direct")
				}
				return importFrom(c, cfg, stdout, from, site, c.Args().First())
			}
			if site != "" {
				return fmt.Errorf("--site is for --from; an analytics-cli export names each event's site")
			}
			if direct {
				if c.IsSet("collector") || c.IsSet("key") {
					return fmt.Errorf("--direct queues into Redis, not through a collector: drop --collector and --key")
				}
				return importDirect(c, cfg, stdout)
			}
			if !c.IsSet("collector") && cfg.CollectorURL != "" {
				collector = cfg.CollectorURL
			}
			name := c.Args().First()
			r, total, closeInput, err := openInput(name)
			if err != nil {
				return err
			}
			defer closeInput()
			cr := &countingReader{r: r}
			sc := bufio.NewScanner(cr)
			sc.Buffer(make([]byte, 64<<10), 2<<20)
			bar := newProgressBar(progressOut(c))
			client := &http.Client{Timeout: 30 * time.Second}
			var batch []json.RawMessage
			batchBytes := 0
			var lines []int
			sent, accepted, lineNo := 0, 0, 0
			send := func() error {
				if len(batch) == 0 {
					return nil
				}
				n, err := postEvents(c.Context, client, collector, key, batch, lines)
				accepted += n
				sent += len(batch)
				batch, lines = batch[:0], lines[:0]
				if total > 0 {
					bar.update(int(min(cr.n, total)), int(total))
				}
				return err
			}
			for sc.Scan() {
				lineNo++
				line := bytes.TrimSpace(sc.Bytes())
				if len(line) == 0 {
					continue
				}
				// A line that is no event stops the import before its batch
				// is sent; the collector checks the rest, each event apart.
				if err := exportfmt.Check(line); err != nil {
					bar.done()
					return fmt.Errorf("%s line %d: %v (%s before it were sent; fix the line and import again: they count once)", name, lineNo, err, plural(sent, "event"))
				}
				batch = append(batch, json.RawMessage(bytes.Clone(line)))
				lines = append(lines, lineNo)
				batchBytes += len(line) + 1
				// The collector takes at most 1 MiB a request: events with
				// large props go fewer at a time.
				if len(batch) == importBatch || batchBytes > importBatchBytes {
					batchBytes = 0
					if err := send(); err != nil {
						bar.done()
						return fmt.Errorf("%s: %w", name, err)
					}
				}
			}
			if err := sc.Err(); err != nil {
				bar.done()
				return fmt.Errorf("%s line %d: %v", name, lineNo+1, err)
			}
			err = send()
			bar.done()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Fprintf(stdout, "imported %s from %s through %s (accepted: %d; an event imported before counts once)\n", plural(sent, "event"), name, collector, accepted)
			return nil
		},
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// postEvents sends one batch, with the write key when given; lines are the
// input lines of its events, for errors. It retries a 503 (the collector's Retry-After) a few times.
func postEvents(ctx context.Context, client *http.Client, collector, key string, batch []json.RawMessage, lines []int) (int, error) {
	body, err := json.Marshal(batch)
	if err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(collector, "/")+"/import", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, fmt.Errorf("cannot reach the collector at %s (is it running? set --collector or COLLECTOR_URL): %v", collector, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		var res struct {
			Accepted int    `json:"accepted"`
			Error    string `json:"error"`
			Rejected []struct {
				Index int    `json:"index"`
				Error string `json:"error"`
			} `json:"rejected"`
		}
		_ = json.Unmarshal(b, &res)
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable && attempt < 5:
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Duration(attempt+1) * time.Second):
			}
			continue
		case resp.StatusCode == http.StatusAccepted && len(res.Rejected) == 0:
			return res.Accepted, nil
		case len(res.Rejected) > 0:
			sort.Slice(res.Rejected, func(i, j int) bool { return res.Rejected[i].Index < res.Rejected[j].Index })
			var msgs []string
			for _, r := range res.Rejected {
				if r.Index >= 0 && r.Index < len(lines) {
					msgs = append(msgs, fmt.Sprintf("line %d: %s", lines[r.Index], r.Error))
				}
			}
			return res.Accepted, fmt.Errorf("the collector refused %s (the other %d of that batch were accepted; fix and import again: they count once): %s",
				plural(len(res.Rejected), "event"), res.Accepted, strings.Join(slices.Compact(msgs), "; "))
		default:
			msg := res.Error
			if msg == "" {
				msg = strings.TrimSpace(string(b))
			}
			return 0, fmt.Errorf("the collector answered %d for lines %d-%d: %s", resp.StatusCode, lines[0], lines[len(lines)-1], msg)
		}
	}
}

// openInput opens the file an import reads, or standard input for "-",
// with its size when known (0 otherwise) for the progress bar.
func openInput(name string) (r io.Reader, size int64, closeFn func(), err error) {
	if name == "-" {
		return os.Stdin, 0, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	return f, size, func() { f.Close() }, nil
}
