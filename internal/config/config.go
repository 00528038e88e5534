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
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
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
	ReporterURL   string
	CORSOrigins   string
	StoreEvents   bool
	BatchSize     int
	LeaseTTL      time.Duration
	LogFormat     string
	LogLevel      string
	DataDir       string
	MaxBacklog    int64
}

// Default returns the defaults, the seed's ports included.
func Default() Config {
	return Config{
		RedisPort: 6379, Partitions: 8, IngestionPort: 3000, ReportingPort: 3001, Host: "",
		ReporterURL: "http://localhost:3001", CORSOrigins: "*", StoreEvents: true, BatchSize: 500,
		LeaseTTL: 10 * time.Second, LogFormat: "json", LogLevel: "info", DataDir: "./data", Prefix: "analytics:",
		MaxBacklog: 1_000_000,
	}
}

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
	var errs []string
	str := func(dst *string, k string) {
		if v := get(k); v != "" {
			*dst = v
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
		}
	}
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
	str(&c.Host, "HOST")
	str(&c.ReporterToken, "REPORTER_TOKEN")
	str(&c.ReporterURL, "REPORTER_URL")
	str(&c.CORSOrigins, "CORS_ORIGINS")
	num(&c.BatchSize, "BATCH_SIZE")
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
	if v := get("MAX_BACKLOG"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("MAX_BACKLOG=%q is not a number of events (0 turns the limit off)", v))
		}
		c.MaxBacklog = n
	}
	if v := get("LEASE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("LEASE_TTL=%q is not a duration like 10s", v))
		}
		c.LeaseTTL = d
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// HasRedis reports whether any Redis is configured.
func (c *Config) HasRedis() bool { return c.RedisURL != "" || c.RedisHost != "" || c.RedisAddrs != "" }

// RedisClient returns a client for the configured Redis: REDIS_URL, else
// REDIS_ADDRS (Cluster, or Sentinel with REDIS_MASTER_NAME), else
// REDIS_HOST:REDIS_PORT, else localhost:6379.
func (c *Config) RedisClient() (redis.UniversalClient, error) {
	if c.RedisURL != "" {
		opt, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w (expected redis://[user:password@]host:port/db)", err)
		}
		return redis.NewClient(opt), nil
	}
	opt := &redis.UniversalOptions{Password: c.RedisPassword, MasterName: c.RedisMaster}
	switch {
	case c.RedisAddrs != "":
		for _, a := range strings.Split(c.RedisAddrs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				opt.Addrs = append(opt.Addrs, a)
			}
		}
	case c.RedisHost != "":
		opt.Addrs = []string{fmt.Sprintf("%s:%d", c.RedisHost, c.RedisPort)}
	default:
		opt.Addrs = []string{fmt.Sprintf("localhost:%d", c.RedisPort)}
	}
	if len(opt.Addrs) > 1 && opt.MasterName == "" {
		opt.IsClusterMode = true
	}
	return redis.NewUniversalClient(opt), nil
}

// RedisDescription names the configured Redis for logs, without secrets.
func (c *Config) RedisDescription() string {
	switch {
	case c.RedisURL != "":
		opt, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return "(invalid REDIS_URL)"
		}
		return opt.Addr
	case c.RedisAddrs != "":
		return c.RedisAddrs
	case c.RedisHost != "":
		return fmt.Sprintf("%s:%d", c.RedisHost, c.RedisPort)
	}
	return fmt.Sprintf("localhost:%d", c.RedisPort)
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
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
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

// MongoFlags are the flags of every binary that talks to MongoDB.
func (c *Config) MongoFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: FlagMongo, Value: c.MongoURI, Destination: &c.MongoURI, Usage: "MongoDB URI, database in the path (env MONGODB_URI)"},
	}
}

// LogFlags are the logging flags of every daemon.
func (c *Config) LogFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: c.LogFormat, Destination: &c.LogFormat, Usage: "json or console (env LOG_FORMAT)"},
		&cli.StringFlag{Name: "log-level", Value: c.LogLevel, Destination: &c.LogLevel, Usage: "debug, info, warn or error (env LOG_LEVEL)"},
	}
}
