package config

import (
	"slices"

	"github.com/urfave/cli/v2"
)

// CollectorFlags are the collector's flags, writing into c.
func (c *Config) CollectorFlags() []cli.Flag {
	return slices.Concat(c.listenFlags(&c.IngestionPort, "HTTP port; 0 picks a free one (env INGESTION_PORT)"), []cli.Flag{
		&cli.Int64Flag{Name: "max-backlog", Value: c.MaxBacklog, Destination: &c.MaxBacklog, Usage: "answer 503 when this many events wait in Redis; 0 turns it off (env MAX_BACKLOG)"},
		&cli.StringFlag{Name: "cors-origins", Value: c.CORSOrigins, Destination: &c.CORSOrigins, Usage: "comma-separated origins allowed to send from browsers, * for any (env CORS_ORIGINS)"},
		c.QueueTimeoutFlag(),
	}, c.EnrichFlags(), c.AccessFlags(), c.RedisFlags(), c.MongoFlags(), c.LogFlags())
}

// ProcessorFlags are the processor's flags, writing into c.
func (c *Config) ProcessorFlags() []cli.Flag {
	return slices.Concat(c.listenFlags(&c.ProcessorPort, "HTTP port of /healthz, /readyz and /metrics; 0 picks a free one (env PROCESSOR_PORT)"), []cli.Flag{
		&cli.IntFlag{Name: "batch-size", Value: c.BatchSize, Destination: &c.BatchSize, Usage: "entries per batch (env BATCH_SIZE)"},
		&cli.IntFlag{Name: "workers", Value: c.Workers, Destination: &c.Workers, Usage: "batches (of different partitions) stored at once, 1-64 (env PROCESSOR_WORKERS)"},
		&cli.IntFlag{Name: "retention-days", Value: c.RetentionDays, Destination: &c.RetentionDays, Usage: "days of raw events kept for sites without a retention of their own; 0 keeps them forever (env RETENTION_DAYS)"},
		&cli.DurationFlag{Name: "lease-ttl", Value: c.LeaseTTL, Destination: &c.LeaseTTL, Usage: "how long a dead processor's partitions wait before takeover (env LEASE_TTL)"},
		&cli.BoolFlag{Name: "store-events", Value: c.StoreEvents, Destination: &c.StoreEvents, Usage: "keep raw events (needed by rebuild) (env STORE_EVENTS)"},
	}, c.RedisFlags(), c.MongoFlags(), c.LogFlags())
}

// ReporterFlags are the reporter's flags, writing into c.
func (c *Config) ReporterFlags() []cli.Flag {
	return slices.Concat(c.listenFlags(&c.ReportingPort, "HTTP port; 0 picks a free one (env REPORTING_PORT)"), []cli.Flag{
		&cli.StringFlag{Name: "token", Value: c.ReporterToken, Destination: &c.ReporterToken, Usage: "require Authorization: Bearer <token> (env REPORTER_TOKEN)"},
		&cli.BoolFlag{Name: "open", Value: c.ReporterOpen, Destination: &c.ReporterOpen, Usage: "answer without a token while none exists, even after one existed (env REPORTER_OPEN)"},
		&cli.StringFlag{Name: "collector-url", Value: c.CollectorURL, Destination: &c.CollectorURL, Usage: "the collector's address as browsers reach it, for the dashboard's script tag (env COLLECTOR_URL)"},
	}, c.MongoFlags(), c.RedisFlags(), c.LogFlags())
}

// listenFlags are a daemon's --port (into port; usage names its variable),
// --host and the metrics flags.
func (c *Config) listenFlags(port *int, usage string) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: FlagPort, Value: *port, Destination: port, Usage: usage},
		&cli.StringFlag{Name: "host", Value: c.Host, Destination: &c.Host, Usage: "interface to listen on; empty means all (env HOST)"},
		c.MetricsPortFlag(), c.MetricsHostFlag(),
	}
}
