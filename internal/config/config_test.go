package config

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(c *Config)
		want []string // substrings of the error; none: valid
	}{
		{"defaults", func(c *Config) {}, nil},
		{"limits at their edges", func(c *Config) {
			c.LeaseTTL, c.QueueTimeout, c.BatchSize, c.Partitions = time.Second, 10*time.Millisecond, 1, 1
			c.IngestionPort, c.ReportingPort, c.MaxBacklog, c.LogFormat, c.LogLevel = 0, 65535, 0, "console", "debug"
		}, nil},
		{"upper limits", func(c *Config) {
			c.LeaseTTL, c.QueueTimeout, c.BatchSize, c.Partitions = 10*time.Minute, time.Minute, 10000, 1024
		}, nil},
		{"lease ttl zero", func(c *Config) { c.LeaseTTL = 0 }, []string{"lease TTL 0s is out of range: use 1s to 10m0s", "set LEASE_TTL or --lease-ttl"}},
		{"lease ttl too long", func(c *Config) { c.LeaseTTL = 11 * time.Minute }, []string{"lease TTL 11m0s", "LEASE_TTL"}},
		{"queue timeout too short", func(c *Config) { c.QueueTimeout = time.Millisecond }, []string{"queue timeout 1ms is out of range: use 10ms to 1m0s", "set QUEUE_TIMEOUT or --queue-timeout"}},
		{"queue timeout too long", func(c *Config) { c.QueueTimeout = 2 * time.Minute }, []string{"queue timeout 2m0s", "QUEUE_TIMEOUT"}},
		{"batch size zero", func(c *Config) { c.BatchSize = 0 }, []string{"batch size 0 is out of range: use 1 to 10000", "set BATCH_SIZE or --batch-size"}},
		{"batch size too big", func(c *Config) { c.BatchSize = 10001 }, []string{"batch size 10001", "BATCH_SIZE"}},
		{"partitions zero", func(c *Config) { c.Partitions = 0 }, []string{"partitions 0 is out of range: use 1 to 1024", "set PARTITIONS or --partitions"}},
		{"partitions too many", func(c *Config) { c.Partitions = 1025 }, []string{"partitions 1025", "PARTITIONS"}},
		{"negative collector port", func(c *Config) { c.IngestionPort = -1 }, []string{"collector port -1 is out of range", "set INGESTION_PORT or --port"}},
		{"reporter port too big", func(c *Config) { c.ReportingPort = 65536 }, []string{"reporter port 65536 is out of range", "(set REPORTING_PORT)"}},
		{"redis port zero", func(c *Config) { c.RedisPort = 0 }, []string{"Redis port 0 is out of range", "(set REDIS_PORT)"}},
		{"negative max backlog", func(c *Config) { c.MaxBacklog = -1 }, []string{"max backlog -1 is negative", "MAX_BACKLOG"}},
		{"unknown log format", func(c *Config) { c.LogFormat = "xml" }, []string{`log format "xml" is unknown: use json or console`, "set LOG_FORMAT or --log-format"}},
		{"unknown log level", func(c *Config) { c.LogLevel = "trace" }, []string{`log level "trace" is unknown: use debug, info, warn or error`, "set LOG_LEVEL or --log-level"}},
		{"visit timeout off", func(c *Config) { c.VisitTimeout = 0 }, nil},
		{"visit timeout at its edges", func(c *Config) { c.VisitTimeout = time.Minute }, nil},
		{"visit timeout too short", func(c *Config) { c.VisitTimeout = 30 * time.Second }, []string{"visit timeout 30s is out of range: use 1m0s to 24h0m0s, or 0 to count no visits", "VISIT_TIMEOUT"}},
		{"visit timeout too long", func(c *Config) { c.VisitTimeout = 25 * time.Hour }, []string{"visit timeout 25h0m0s", "VISIT_TIMEOUT"}},
		{"reporter open without a token", func(c *Config) { c.ReporterOpen = true }, nil},
		{"reporter open with a token", func(c *Config) { c.ReporterOpen, c.ReporterToken = true, "t" }, []string{"REPORTER_OPEN=true and REPORTER_TOKEN are both set", "(set REPORTER_OPEN)"}},
		{"every problem at once", func(c *Config) { c.LeaseTTL, c.BatchSize = 0, 0 }, []string{"LEASE_TTL", "BATCH_SIZE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.set(&c)
			// The flags of a collector-like command: --port sets the
			// collector's port, nothing sets the reporter's.
			flags := append(append([]cli.Flag{
				&cli.IntFlag{Name: "port", Destination: &c.IngestionPort},
				&cli.DurationFlag{Name: "lease-ttl", Destination: &c.LeaseTTL},
				&cli.IntFlag{Name: "batch-size", Destination: &c.BatchSize},
				c.QueueTimeoutFlag(),
			}, c.RedisFlags()...), c.LogFlags()...)
			err := c.Validate(flags)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted it; want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateNamesOnlyFlagsTheCommandHas(t *testing.T) {
	c := Default()
	c.LeaseTTL = 0
	err := c.Validate(c.RedisFlags()) // a command without --lease-ttl
	if err == nil || !strings.Contains(err.Error(), "(set LEASE_TTL)") || strings.Contains(err.Error(), "--") {
		t.Fatalf("error %v; want LEASE_TTL named and no flag", err)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"QUEUE_TIMEOUT": "250ms", "LEASE_TTL": "0s", "LOG_FORMAT": "console"}
	c, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.QueueTimeout != 250*time.Millisecond || c.LeaseTTL != 0 || !c.SetInEnv("LOG_FORMAT") || c.SetInEnv("LOG_LEVEL") {
		t.Fatalf("config %+v", c)
	}
	if err := c.Validate(nil); err == nil || !strings.Contains(err.Error(), "LEASE_TTL") {
		t.Fatalf("LEASE_TTL=0s validated: %v", err)
	}
	if c.VisitTimeout != 30*time.Minute {
		t.Fatalf("default visit timeout %v, want 30m", c.VisitTimeout)
	}
	for v, want := range map[string]time.Duration{"0": 0, "45m": 45 * time.Minute} {
		c, err := FromEnv(func(k string) string { return map[string]string{"VISIT_TIMEOUT": v}[k] })
		if err != nil || c.VisitTimeout != want || !c.SetInEnv("VISIT_TIMEOUT") {
			t.Fatalf("VISIT_TIMEOUT=%s: %v, %v", v, c.VisitTimeout, err)
		}
	}
	env = map[string]string{"QUEUE_TIMEOUT": "soon"}
	if _, err := FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), `QUEUE_TIMEOUT="soon" is not a duration`) {
		t.Fatalf("bad QUEUE_TIMEOUT: %v", err)
	}
}

// The console log (serve's default) has colours only on a terminal: a
// buffer, a file or a pipe gets plain text.
func TestConsoleLogWithoutColoursOffATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, w := range []io.Writer{&buf, f} {
		cfg := Default()
		cfg.LogFormat = "console"
		log, err := cfg.Logger(w, "collector")
		if err != nil {
			t.Fatal(err)
		}
		log.Warn().Str("site_id", "s").Msg("hello")
	}
	written, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"buffer": buf.String(), "file": string(written)} {
		if strings.Contains(out, "\x1b[") || !strings.Contains(out, "WRN") || !strings.Contains(out, "site_id=s") {
			t.Errorf("console log into a %s: %q; want plain text", name, out)
		}
	}
}
