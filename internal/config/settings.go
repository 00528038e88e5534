package config

// Setting documents one environment variable. The README's configuration
// table and .env.example are generated from Settings and from the flags
// the binaries define (e2e/TestConfigurationTable fails when they differ).
type Setting struct {
	Env     string
	Default string // as the README shows it (markdown)
	Meaning string // markdown
}

// Settings are every variable FromEnv reads, in the README's order.
var Settings = []Setting{
	{"MONGODB_URI", "(embedded in `serve`)", "MongoDB URI; the database is its path (default `analytics`). Production: MongoDB 6.0 or later, e.g. `mongodb://user:pass@db1,db2,db3/analytics?replicaSet=rs0`"},
	{"REDIS_URL", "", "`redis://[user:pass@]host:port/db`; the reporter uses it (optional) for the dashboard's realtime line"},
	{"REDIS_HOST", "`localhost`", "used when `REDIS_URL` is unset"},
	{"REDIS_PORT", "`6379`", "used when `REDIS_URL` is unset"},
	{"REDIS_ADDRS", "", "several comma-separated addresses: Redis Cluster; with `REDIS_MASTER_NAME`: Sentinel"},
	{"REDIS_MASTER_NAME", "", "the Sentinel master's name"},
	{"REDIS_PASSWORD", "", "password for `REDIS_HOST` or `REDIS_ADDRS`"},
	{"INGESTION_PORT", "`3000`", "collector port; `0` picks a free one"},
	{"REPORTING_PORT", "`3001`", "reporter port; `0` picks a free one"},
	{"HOST", "all interfaces (`serve`: `127.0.0.1`)", "interface to listen on; a reporter on a public interface without `REPORTER_TOKEN` warns at start"},
	{"PARTITIONS", "`8`", "stream partitions; must be the same everywhere (checked at start)"},
	{"QUEUE_PREFIX", "`analytics:`", "prefix of every Redis key"},
	{"BATCH_SIZE", "`500`", "entries a processor stores at once"},
	{"PROCESSOR_WORKERS", "`1`", "batches (each of a different partition) a processor stores at once, 1-64; a partition's batches stay in order. 4 gave +25% events/s on FerretDB/SQLite, but each batch must still finish within the lease's write deadline while they share the database: raise it only with headroom (watch the `fenced` counter)"},
	{"LEASE_TTL", "`10s`", "how soon a dead processor's partitions are taken over"},
	{"MAX_BACKLOG", "`1000000`", "events waiting in Redis above which the collector answers `503` + `Retry-After`; `0` turns it off"},
	{"QUEUE_TIMEOUT", "`500ms`", "deadline of every queue call (10ms to 1m); past it the collector answers `503` + `Retry-After`"},
	{"STORE_EVENTS", "`true`", "keep raw events (needed by `rebuild`); `false` keeps only their ids"},
	{"REPORTER_TOKEN", "", "bearer token required by `/stats`, the Stats API and the dashboard's data"},
	{"COLLECTOR_URL", "`http://localhost:3000` (`serve`: its own)", "the collector's address as browsers reach it, shown in the dashboard's script tag"},
	{"REPORTER_URL", "`http://localhost:3001`", "where `analytics-cli stats` asks"},
	{"CORS_ORIGINS", "`*`", "origins allowed to send from browsers, comma-separated"},
	{"TRUSTED_PROXIES", "none", "IPs/CIDRs of the proxies in front of the collector whose `X-Forwarded-For` is believed, e.g. `10.0.0.0/8, 127.0.0.1`"},
	{"GEOIP_DB", "embedded IP2Location LITE", "a MaxMind GeoLite2/GeoIP2-Country or DB-IP country `.mmdb` file for countries"},
	{"COOKIELESS", "`false`", "derive a daily visitor id for every event without `user_id` (the snippet's `data-cookieless` asks per request)"},
	{"VISIT_TIMEOUT", "`30m`", "longest gap between two events of one visit, `1m` to `24h`; `0` counts no visits (the collector then skips the Redis script; see [Visits](#visits))"},
	{"DATA_DIR", "`./data`", "embedded servers' data (`serve`, `embedded`), and where the other commands look for `serve.json`"},
	{"LOG_FORMAT", "`json` (`serve`: `console`)", "`json` or `console` (for humans)"},
	{"LOG_LEVEL", "`info`", "`debug`, `info`, `warn` or `error`"},
}
