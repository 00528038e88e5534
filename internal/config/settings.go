package config

// Setting documents one environment variable. The configuration
// table and .env.example are generated from Settings and from the flags
// the binaries define (e2e/TestConfigurationTable fails when they differ).
type Setting struct {
	Env     string
	Default string // as docs/configuration.md shows it (markdown)
	Meaning string // markdown
	// Runtime: read by the Go runtime, not by FromEnv.
	Runtime bool
}

// Settings are every variable FromEnv reads, in the order of
// docs/configuration.md.
var Settings = []Setting{
	{Env: "MONGODB_URI", Default: "(embedded in `serve`)", Meaning: "MongoDB URI; the database is its path (default `analytics`). Production: MongoDB 6.0 or later, e.g. `mongodb://user:pass@db1,db2,db3/analytics?replicaSet=rs0`"},
	{Env: "REDIS_URL", Default: "", Meaning: "`redis://[user:pass@]host:port/db`; the reporter uses it (optional) for the dashboard's realtime line"},
	{Env: "REDIS_HOST", Default: "`localhost`", Meaning: "used when `REDIS_URL` is unset"},
	{Env: "REDIS_PORT", Default: "`6379`", Meaning: "used when `REDIS_URL` is unset"},
	{Env: "REDIS_ADDRS", Default: "", Meaning: "several comma-separated addresses: Redis Cluster; with `REDIS_MASTER_NAME`: Sentinel"},
	{Env: "REDIS_MASTER_NAME", Default: "", Meaning: "the Sentinel master's name"},
	{Env: "REDIS_PASSWORD", Default: "", Meaning: "password for `REDIS_HOST` or `REDIS_ADDRS`"},
	{Env: "INGESTION_PORT", Default: "`3000`", Meaning: "collector port; `0` picks a free one"},
	{Env: "REPORTING_PORT", Default: "`3001`", Meaning: "reporter port; `0` picks a free one"},
	{Env: "PROCESSOR_PORT", Default: "`3002`", Meaning: "processor's HTTP port: `/healthz`, `/readyz` and `/metrics`; `0` picks a free one (several processors on one machine need different ports)"},
	{Env: "METRICS_PORT", Default: "`0`: `/metrics` on the main port", Meaning: "serve `/metrics` on this port of its own (on `METRICS_HOST`) instead; the main port then answers `404` for it. Set it in production so the public collector port does not expose metrics (see [Metrics and health](operations.md#metrics-and-health))"},
	{Env: "METRICS_HOST", Default: "`HOST`", Meaning: "interface of `METRICS_PORT`, e.g. `0.0.0.0` for a collector sidecar kept to `127.0.0.1` that Prometheus must still scrape"},
	{Env: "HOST", Default: "all interfaces (`serve`: `127.0.0.1`)", Meaning: "interface to listen on; a reporter on a public interface without `REPORTER_TOKEN` warns at start"},
	{Env: "PARTITIONS", Default: "`8`", Meaning: "stream partitions; must be the same everywhere (checked at start)"},
	{Env: "QUEUE_PREFIX", Default: "`analytics:`", Meaning: "prefix of every Redis key"},
	{Env: "BLOCK_CACHE_MB", Default: "`512`", Meaning: "MiB of decoded event blocks the reporter keeps in memory (least recently used out); shown in `/metrics` as `analytics_block_cache_bytes`. The reporter's soft memory limit is this plus 384 MiB unless `GOMEMLIMIT` is set"},
	{Env: "BATCH_SIZE", Default: "`1000`", Meaning: "events a processor stores at once (the events of one queue entry may be spread over several batches)"},
	{Env: "PROCESSOR_WORKERS", Default: "`1`", Meaning: "batches (each of a different partition) a processor stores at once, 1-64; a partition's batches stay in order. 4 gave +25% events/s on FerretDB/SQLite, but each batch must still finish within the lease's write deadline while they share the database: raise it only with headroom (watch the `fenced` counter)"},
	{Env: "LEASE_TTL", Default: "`10s`", Meaning: "how soon a dead processor's partitions are taken over"},
	{Env: "MAX_BACKLOG", Default: "`1000000`", Meaning: "events waiting in Redis above which the collector answers `503` + `Retry-After`; `0` turns it off"},
	{Env: "QUEUE_TIMEOUT", Default: "`500ms`", Meaning: "deadline of every queue call (10ms to 1m); past it the collector answers `503` + `Retry-After`"},
	{Env: "STORE_EVENTS", Default: "`true`", Meaning: "keep raw events (needed by `rebuild`); `false` keeps only their ids"},
	{Env: "RETENTION_DAYS", Default: "`0` (forever)", Meaning: "days of raw events a site keeps when it has no `retention_days` of its own (`sites`); the processors delete older ones in the background, a month at a time; the event blocks stay, so stats of older days stay too (see [Retention](operations.md#retention))"},
	{Env: "REPORTER_TOKEN", Default: "", Meaning: "bearer token required by `/stats`, the Stats API and the dashboard's data; it reads every site, as do tokens made with `analytics-cli tokens create --all` (`--site S` ones read one site)"},
	{Env: "REPORTER_OPEN", Default: "`false`", Meaning: "answer without a token while no token exists, even after one existed (the first token closes the reporter for good; `analytics-cli tokens open` opens it again); refused together with `REPORTER_TOKEN`"},
	{Env: "COLLECTOR_URL", Default: "`http://localhost:3000` (`serve`: its own)", Meaning: "the collector's address as browsers reach it, shown in the dashboard's script tag"},
	{Env: "REPORTER_URL", Default: "`http://localhost:3001`", Meaning: "where `analytics-cli stats` asks"},
	{Env: "CORS_ORIGINS", Default: "`*`", Meaning: "origins allowed to send from browsers, comma-separated (`https://example.com`); a request from another origin (its `Origin`, else its `Referer`) is refused `403`, whatever its content type"},
	{Env: "SITES_MODE", Default: "`open`", Meaning: "`open`: any site id from anyone (the quick start); `registered`: only sites added with `analytics-cli sites add`, browser events only from their domains, others with their write key (see [Running it in production](operations.md#running-it-in-production)); the collector then needs `MONGODB_URI`"},
	{Env: "SITES_REFRESH", Default: "`5s`", Meaning: "how often the collector and the reporter read the sites and tokens again (100ms to 10m): a change takes effect within it"},
	{Env: "RATE_LIMIT_IP", Default: "`0` (none)", Meaning: "requests a second per client address (an IPv6 /64 is one client) at each collector (`429` + `Retry-After` beyond); production: `10`"},
	{Env: "RATE_LIMIT_IP_BURST", Default: "`20`", Meaning: "requests a client address may send at once above `RATE_LIMIT_IP`; production: `50`"},
	{Env: "RATE_LIMIT_SITE", Default: "`0` (none)", Meaning: "events a second per site at each collector; production: a few times the site's peak, e.g. `500`"},
	{Env: "RATE_LIMIT_SITE_BURST", Default: "`2000`", Meaning: "events a site may send at once above `RATE_LIMIT_SITE` (a batch larger than it is taken from a full bucket and leaves it in debt, so the long-run rate holds)"},
	{Env: "TRUSTED_PROXIES", Default: "none", Meaning: "IPs/CIDRs of the proxies in front of the collector whose `X-Forwarded-For` is believed, e.g. `10.0.0.0/8, 127.0.0.1`"},
	{Env: "GEOIP_DB", Default: "embedded IP2Location LITE", Meaning: "a MaxMind GeoLite2/GeoIP2-Country or DB-IP country `.mmdb` file for countries"},
	{Env: "COOKIELESS", Default: "`false`", Meaning: "derive a daily visitor id for every event without `user_id` (the snippet's `data-cookieless` asks per request)"},
	{Env: "VISIT_TIMEOUT", Default: "`30m`", Meaning: "longest gap between two events of one visit, `1m` to `24h`; `0` counts no visits (the collector then skips the Redis script; see [Visits](counting.md#visits))"},
	{Env: "DATA_DIR", Default: "`./data`", Meaning: "embedded servers' data (`serve`, `embedded`), and where the other commands (`stats`, `queue`, `rebuild`, `sites`, `tokens`, `forget`, `export`, `import`, each with `--data-dir`) look for the `serve.json` of a running `serve`"},
	{Env: "LOG_FORMAT", Default: "`json` (`serve`: `console`)", Meaning: "`json` or `console` (for humans; coloured only on a terminal, plain in a file or a pipe)"},
	{Env: "LOG_LEVEL", Default: "`info`", Meaning: "`debug`, `info`, `warn` or `error`"},
	{Env: "GOGC", Default: "`400` in `collector`", Meaning: "Go's garbage collector setting; the standalone collector uses 400 unless it is set: its live heap is a few MB while each batch request allocates about its body's size again, so at Go's default of 100 it collects hundreds of times a second (400 costs it about a third less CPU per batch request, see [Performance](performance.md))", Runtime: true},
}
