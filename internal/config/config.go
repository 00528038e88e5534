// Package config holds the settings of every binary: defaults, then the
// environment (and a .env file in the working directory), then flags.
package config

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/tty"
)

// Config is every setting; each binary uses the ones it needs.
type Config struct {
	MongoURI      string
	RedisURL      string
	RedisHost     string
	RedisPort     int
	RedisAddrs    string // comma-separated: several mean Cluster, or Sentinel with RedisMaster
	RedisMaster   string
	RedisPassword string
	Prefix        string
	Partitions    int
	IngestionPort int
	ReportingPort int
	Host          string
	ReporterToken string
	// ReporterOpen (REPORTER_OPEN) opens a reporter that has no token to
	// anyone even after a token existed (reporter.Config.Open).
	ReporterOpen bool
	ReporterURL  string
	// CollectorURL is the collector's address as browsers reach it: the
	// dashboard shows it in the script tag of its empty state.
	CollectorURL string
	CORSOrigins  string
	StoreEvents  bool
	BatchSize    int
	// BlockCacheMB bounds the decoded event blocks a reporter keeps, in MiB.
	BlockCacheMB int
	Workers      int // batches a processor stores at once
	// RetentionDays is how many days of raw events sites without a
	// retention of their own keep; 0 keeps them forever.
	RetentionDays int
	LeaseTTL      time.Duration
	LogFormat     string
	LogLevel      string
	DataDir       string
	MaxBacklog    int64
	// QueueTimeout is the deadline of every queue call made for a request:
	// past it the collector answers 503 with Retry-After instead of waiting
	// on a stalled Redis.
	QueueTimeout time.Duration
	// GeoIPDB is an optional MaxMind or DB-IP country .mmdb file used
	// instead of the embedded IP2Location LITE data.
	GeoIPDB string
	// TrustedProxies lists the proxies (IPs or CIDRs) whose X-Forwarded-For
	// the collector believes; none by default.
	TrustedProxies string
	// Cookieless makes the collector derive a daily visitor id for every
	// event without user_id, as the snippet's data-cookieless asks per
	// request.
	Cookieless bool
	// VisitTimeout is the longest gap between two events of one visit; 0
	// turns visit counting off at the collector.
	VisitTimeout time.Duration
	// ProcessorPort is the processor's HTTP port: /healthz, /readyz and
	// (unless MetricsPort is set) /metrics.
	ProcessorPort int
	// MetricsPort, when not 0, serves /metrics on a port of its own instead
	// of the daemon's main port (which then answers 404 for it).
	MetricsPort int
	// MetricsHost is the interface of MetricsPort; "" means Host. A
	// collector kept to 127.0.0.1 (a sidecar) can still be scraped.
	MetricsHost string
	// SitesMode is open (any site id) or registered (see package sites).
	SitesMode string
	// SitesRefresh is how often the collector and the reporter read the
	// sites and tokens again.
	SitesRefresh time.Duration
	// IPRate and IPBurst limit each client address's requests at a
	// collector; SiteRate and SiteBurst each site's events. A rate of 0 is
	// no limit.
	IPRate, SiteRate   float64
	IPBurst, SiteBurst int

	inEnv map[string]bool // variables the environment (or .env) set
}

// Default returns the defaults, the seed's ports included.
func Default() Config {
	return Config{
		RedisPort: 6379, Partitions: 8, IngestionPort: 3000, ReportingPort: 3001, ProcessorPort: 3002, Host: "",
		ReporterURL: "http://localhost:3001", CollectorURL: "http://localhost:3000", CORSOrigins: "*", StoreEvents: true, BatchSize: 1000, BlockCacheMB: 512, Workers: 1,
		LeaseTTL: 10 * time.Second, LogFormat: "json", LogLevel: "info", DataDir: "./data", Prefix: "analytics:",
		MaxBacklog: 1_000_000, QueueTimeout: DefaultQueueTimeout, VisitTimeout: DefaultVisitTimeout,
		SitesMode: "open", SitesRefresh: 5 * time.Second, IPBurst: DefaultIPBurst, SiteBurst: DefaultSiteBurst,
	}
}

// DefaultQueueTimeout is QUEUE_TIMEOUT's default: long enough for a loaded
// Redis, short enough that a stalled one is answered 503 at once.
const DefaultQueueTimeout = 500 * time.Millisecond

// Default bursts of the rate limits: a page's few beacons, and a site's
// largest batches.
const (
	DefaultIPBurst   = 20
	DefaultSiteBurst = 2000
)

// DefaultVisitTimeout is VISIT_TIMEOUT's default, as Plausible and Google
// Analytics count visits.
const DefaultVisitTimeout = 30 * time.Minute

// SetInEnv reports whether the environment (or the .env file) set the
// variable name, so a command can change a default without overriding the
// user's choice.
func (c *Config) SetInEnv(name string) bool { return c.inEnv[name] }

// FromEnv returns the defaults overridden by the environment. Variables in a
// .env file in the working directory apply where the environment has none.
func FromEnv(getenv func(string) string) (Config, error) {
	dotenv, err := godotenv.Read(".env")
	if err != nil && !os.IsNotExist(err) {
		return Config{}, fmt.Errorf(".env: %w", err)
	}
	get := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dotenv[k]
	}
	c := Default()
	c.inEnv = map[string]bool{}
	var errs []string
	str := func(dst *string, k string) {
		if v := get(k); v != "" {
			*dst = v
			c.inEnv[k] = true
		}
	}
	num := func(dst *int, k string) {
		if v := get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a number", k, v))
				return
			}
			*dst = n
			c.inEnv[k] = true
		}
	}
	dur := func(dst *time.Duration, k string) {
		if v := get(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a duration like 10s or 500ms", k, v))
				return
			}
			*dst = d
			c.inEnv[k] = true
		}
	}
	float := func(dst *float64, k string) {
		if v := get(k); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a number", k, v))
				return
			}
			*dst = f
			c.inEnv[k] = true
		}
	}
	str(&c.SitesMode, "SITES_MODE")
	dur(&c.SitesRefresh, "SITES_REFRESH")
	float(&c.IPRate, "RATE_LIMIT_IP")
	num(&c.IPBurst, "RATE_LIMIT_IP_BURST")
	float(&c.SiteRate, "RATE_LIMIT_SITE")
	num(&c.SiteBurst, "RATE_LIMIT_SITE_BURST")
	str(&c.MongoURI, "MONGODB_URI")
	str(&c.RedisURL, "REDIS_URL")
	str(&c.RedisHost, "REDIS_HOST")
	num(&c.RedisPort, "REDIS_PORT")
	str(&c.RedisAddrs, "REDIS_ADDRS")
	str(&c.RedisMaster, "REDIS_MASTER_NAME")
	str(&c.RedisPassword, "REDIS_PASSWORD")
	str(&c.Prefix, "QUEUE_PREFIX")
	num(&c.Partitions, "PARTITIONS")
	num(&c.IngestionPort, "INGESTION_PORT")
	num(&c.ReportingPort, "REPORTING_PORT")
	num(&c.ProcessorPort, "PROCESSOR_PORT")
	num(&c.MetricsPort, "METRICS_PORT")
	str(&c.MetricsHost, "METRICS_HOST")
	str(&c.Host, "HOST")
	str(&c.ReporterToken, "REPORTER_TOKEN")
	str(&c.ReporterURL, "REPORTER_URL")
	str(&c.CollectorURL, "COLLECTOR_URL")
	str(&c.CORSOrigins, "CORS_ORIGINS")
	num(&c.BatchSize, "BATCH_SIZE")
	num(&c.BlockCacheMB, "BLOCK_CACHE_MB")
	num(&c.Workers, "PROCESSOR_WORKERS")
	num(&c.RetentionDays, "RETENTION_DAYS")
	str(&c.LogFormat, "LOG_FORMAT")
	str(&c.LogLevel, "LOG_LEVEL")
	str(&c.DataDir, "DATA_DIR")
	if v := get("STORE_EVENTS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("STORE_EVENTS=%q is not true or false", v))
		}
		c.StoreEvents = b
	}
	str(&c.GeoIPDB, "GEOIP_DB")
	str(&c.TrustedProxies, "TRUSTED_PROXIES")
	if v := get("REPORTER_OPEN"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("REPORTER_OPEN=%q is not true or false", v))
		}
		c.ReporterOpen = b
	}
	if v := get("COOKIELESS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("COOKIELESS=%q is not true or false", v))
		}
		c.Cookieless = b
	}
	if v := get("MAX_BACKLOG"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("MAX_BACKLOG=%q is not a number of events (0 turns the limit off)", v))
		}
		c.MaxBacklog = n
	}
	dur(&c.LeaseTTL, "LEASE_TTL")
	dur(&c.QueueTimeout, "QUEUE_TIMEOUT")
	if v := get("VISIT_TIMEOUT"); v == "0" {
		c.VisitTimeout, c.inEnv["VISIT_TIMEOUT"] = 0, true
	} else {
		dur(&c.VisitTimeout, "VISIT_TIMEOUT")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// HasRedis reports whether any Redis is configured.
func (c *Config) HasRedis() bool { return c.RedisURL != "" || c.RedisHost != "" || c.RedisAddrs != "" }

// Limits Validate enforces.
const (
	MinLeaseTTL, MaxLeaseTTL         = time.Second, 10 * time.Minute
	MinQueueTimeout, MaxQueueTimeout = 10 * time.Millisecond, time.Minute
	MaxBatchSize                     = 10000
	MaxPartitions                    = 1024
	MaxRetentionDays                 = 36500
	MinVisitTimeout, MaxVisitTimeout = time.Minute, 24 * time.Hour
	MinSitesRefresh, MaxSitesRefresh = 100 * time.Millisecond, 10 * time.Minute
)

// Validate checks every setting once, at start, after the flags are parsed,
// and returns one error listing every problem. Each problem names the
// environment variable and, when one of flags (the running command's flags)
// sets that setting, the flag too: a message never points at a flag the
// command does not have.
func (c *Config) Validate(flags []cli.Flag) error {
	var errs []string
	bad := func(env string, dst any, format string, args ...any) {
		where := env
		if name := flagFor(flags, dst); name != "" {
			where += " or --" + name
		}
		errs = append(errs, fmt.Sprintf(format, args...)+" (set "+where+")")
	}
	if c.LeaseTTL < MinLeaseTTL || c.LeaseTTL > MaxLeaseTTL {
		bad("LEASE_TTL", &c.LeaseTTL, "lease TTL %v is out of range: use %v to %v", c.LeaseTTL, MinLeaseTTL, MaxLeaseTTL)
	}
	if c.QueueTimeout < MinQueueTimeout || c.QueueTimeout > MaxQueueTimeout {
		bad("QUEUE_TIMEOUT", &c.QueueTimeout, "queue timeout %v is out of range: use %v to %v", c.QueueTimeout, MinQueueTimeout, MaxQueueTimeout)
	}
	if c.VisitTimeout != 0 && (c.VisitTimeout < MinVisitTimeout || c.VisitTimeout > MaxVisitTimeout) {
		bad("VISIT_TIMEOUT", &c.VisitTimeout, "visit timeout %v is out of range: use %v to %v, or 0 to count no visits", c.VisitTimeout, MinVisitTimeout, MaxVisitTimeout)
	}
	if c.BlockCacheMB < 16 || c.BlockCacheMB > 1<<20 {
		bad("BLOCK_CACHE_MB", &c.BlockCacheMB, "block cache of %d MiB is out of range: use 16 to 1048576 (MiB)", c.BlockCacheMB)
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchSize {
		bad("BATCH_SIZE", &c.BatchSize, "batch size %d is out of range: use 1 to %d", c.BatchSize, MaxBatchSize)
	}
	if c.RetentionDays < 0 || c.RetentionDays > MaxRetentionDays {
		bad("RETENTION_DAYS", &c.RetentionDays, "retention %d days is out of range: use 0 (keep forever) to %d", c.RetentionDays, MaxRetentionDays)
	}
	if c.Workers < 1 || c.Workers > 64 {
		bad("PROCESSOR_WORKERS", &c.Workers, "processor workers %d is out of range: use 1 to 64", c.Workers)
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		bad("PARTITIONS", &c.Partitions, "partitions %d is out of range: use 1 to %d", c.Partitions, MaxPartitions)
	}
	if c.IngestionPort < 0 || c.IngestionPort > 65535 {
		bad("INGESTION_PORT", &c.IngestionPort, "collector port %d is out of range: use 0 (any free port) to 65535", c.IngestionPort)
	}
	if c.ReportingPort < 0 || c.ReportingPort > 65535 {
		bad("REPORTING_PORT", &c.ReportingPort, "reporter port %d is out of range: use 0 (any free port) to 65535", c.ReportingPort)
	}
	if c.ProcessorPort < 0 || c.ProcessorPort > 65535 {
		bad("PROCESSOR_PORT", &c.ProcessorPort, "processor port %d is out of range: use 0 (any free port) to 65535", c.ProcessorPort)
	}
	if c.MetricsPort < 0 || c.MetricsPort > 65535 {
		bad("METRICS_PORT", &c.MetricsPort, "metrics port %d is out of range: use 1 to 65535, or 0 to answer /metrics on the main port", c.MetricsPort)
	}
	if c.RedisPort < 1 || c.RedisPort > 65535 {
		bad("REDIS_PORT", &c.RedisPort, "Redis port %d is out of range: use 1 to 65535", c.RedisPort)
	}
	if c.MaxBacklog < 0 {
		bad("MAX_BACKLOG", &c.MaxBacklog, "max backlog %d is negative: use a number of events, or 0 to turn the limit off", c.MaxBacklog)
	}
	switch c.SitesMode {
	case "open", "registered":
	default:
		bad("SITES_MODE", &c.SitesMode, "sites mode %q is unknown: use open or registered", c.SitesMode)
	}
	if c.SitesRefresh < MinSitesRefresh || c.SitesRefresh > MaxSitesRefresh {
		bad("SITES_REFRESH", &c.SitesRefresh, "sites refresh %v is out of range: use %v to %v", c.SitesRefresh, MinSitesRefresh, MaxSitesRefresh)
	}
	if c.IPRate < 0 {
		bad("RATE_LIMIT_IP", &c.IPRate, "rate limit %v is negative: use requests a second, or 0 for none", c.IPRate)
	}
	if c.SiteRate < 0 {
		bad("RATE_LIMIT_SITE", &c.SiteRate, "rate limit %v is negative: use events a second, or 0 for none", c.SiteRate)
	}
	if c.IPBurst < 1 {
		bad("RATE_LIMIT_IP_BURST", &c.IPBurst, "burst %d is below 1", c.IPBurst)
	}
	if c.SiteBurst < 1 {
		bad("RATE_LIMIT_SITE_BURST", &c.SiteBurst, "burst %d is below 1", c.SiteBurst)
	}
	if c.ReporterOpen && c.ReporterToken != "" {
		bad("REPORTER_OPEN", &c.ReporterOpen, "REPORTER_OPEN=true and REPORTER_TOKEN are both set: a reporter with a token is closed; unset one of them")
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		bad("LOG_FORMAT", &c.LogFormat, "log format %q is unknown: use json or console", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", &c.LogLevel, "log level %q is unknown: use debug, info, warn or error", c.LogLevel)
	}
	if len(errs) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// flagFor returns the name of the flag among flags that writes to dst, or "".
func flagFor(flags []cli.Flag, dst any) string {
	for _, f := range flags {
		if d := flagDestination(f); d != nil && d == dst {
			return f.Names()[0]
		}
	}
	return ""
}

// Logger returns the zerolog logger the settings ask for.
func (c *Config) Logger(w io.Writer, component string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log-level %q: use debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json":
	case "console":
		// Colours only for a terminal: a file or a pipe gets plain text.
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !tty.Is(w)}
	default:
		return zerolog.Nop(), fmt.Errorf("log-format %q: use json or console", c.LogFormat)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("component", component).Logger(), nil
}

// Flag names, shared by the binaries.
const (
	FlagMongo, FlagRedis, FlagPartitions, FlagPort = "mongodb-uri", "redis-url", "partitions", "port"
)

// RedisFlags are the flags of every binary that talks to Redis. Their
// defaults come from the environment already read into c.
func (c *Config) RedisFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: FlagRedis, Value: c.RedisURL, Destination: &c.RedisURL, Usage: "Redis URL (env REDIS_URL; or REDIS_HOST/REDIS_PORT, REDIS_ADDRS for Cluster/Sentinel)"},
		&cli.IntFlag{Name: FlagPartitions, Value: c.Partitions, Destination: &c.Partitions, Usage: "stream partitions; the same on every daemon (env PARTITIONS)"},
		&cli.StringFlag{Name: "queue-prefix", Value: c.Prefix, Destination: &c.Prefix, Usage: "prefix of the queue's Redis keys (env QUEUE_PREFIX)"},
	}
}

// QueueTimeoutFlag is the flag of the commands that queue events.
func (c *Config) QueueTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "queue-timeout", Value: c.QueueTimeout, Destination: &c.QueueTimeout,
		Usage: "deadline of each queue call; past it the collector answers 503 with Retry-After, 10ms to 1m (env QUEUE_TIMEOUT)"}
}

// EnrichFlags are the flags of the commands that run a collector.
func (c *Config) EnrichFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "geoip-db", Value: c.GeoIPDB, Destination: &c.GeoIPDB, Usage: "MaxMind/DB-IP country .mmdb file; the embedded IP2Location LITE data when empty (env GEOIP_DB)"},
		&cli.StringFlag{Name: "trusted-proxies", Value: c.TrustedProxies, Destination: &c.TrustedProxies, Usage: "comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed (env TRUSTED_PROXIES)"},
		&cli.BoolFlag{Name: "cookieless", Value: c.Cookieless, Destination: &c.Cookieless, Usage: "derive a daily visitor id for events without user_id (env COOKIELESS)"},
		&cli.DurationFlag{Name: "visit-timeout", Value: c.VisitTimeout, Destination: &c.VisitTimeout,
			Usage: "longest gap between two events of one visit, 1m to 24h; 0 counts no visits (env VISIT_TIMEOUT)"},
	}
}

// AccessFlags are the flags of the commands that run a collector: who may
// send events, and how fast.
func (c *Config) AccessFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sites-mode", Value: c.SitesMode, Destination: &c.SitesMode, Usage: "open (any site id) or registered (only sites added with analytics-cli sites add) (env SITES_MODE)"},
		&cli.Float64Flag{Name: "rate-limit-ip", Value: c.IPRate, Destination: &c.IPRate, Usage: "requests a second per client address; 0 for no limit (env RATE_LIMIT_IP)"},
		&cli.Float64Flag{Name: "rate-limit-site", Value: c.SiteRate, Destination: &c.SiteRate, Usage: "events a second per site; 0 for no limit (env RATE_LIMIT_SITE)"},
	}
}

// MongoFlags are the flags of every binary that talks to MongoDB.
func (c *Config) MongoFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: FlagMongo, Value: c.MongoURI, Destination: &c.MongoURI, Usage: "MongoDB URI, database in the path (env MONGODB_URI)"},
	}
}

// MetricsPortFlag and MetricsHostFlag are flags of every daemon that
// serves /metrics.
func (c *Config) MetricsPortFlag() cli.Flag {
	return &cli.IntFlag{Name: "metrics-port", Value: c.MetricsPort, Destination: &c.MetricsPort,
		Usage: "serve /metrics on this port instead of the main one; 0 keeps it on the main port (env METRICS_PORT)"}
}

// MetricsHostFlag: see MetricsPortFlag.
func (c *Config) MetricsHostFlag() cli.Flag {
	return &cli.StringFlag{Name: "metrics-host", Value: c.MetricsHost, Destination: &c.MetricsHost,
		Usage: "interface of --metrics-port; empty means --host's (env METRICS_HOST)"}
}

// LogFlags are the logging flags of every daemon.
func (c *Config) LogFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: c.LogFormat, Destination: &c.LogFormat, Usage: "json or console (env LOG_FORMAT)"},
		&cli.StringFlag{Name: "log-level", Value: c.LogLevel, Destination: &c.LogLevel, Usage: "debug, info, warn or error (env LOG_LEVEL)"},
	}
}
