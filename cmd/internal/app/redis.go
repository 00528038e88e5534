package app

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/config"
)

// Timeouts of the Redis client. A call with a context deadline (every call
// made for a request) ends at that deadline; these bound the calls made
// without one, so a hung or partitioned server holds nothing for long.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 3 * time.Second
	redisPoolTimeout = time.Second
	// redisDialAttempts: a refused dial is retried by the command's own
	// retries already; go-redis's default of 5 attempts per dial makes every
	// command against a dead server take seconds.
	redisDialAttempts = 2
)

// RedisClient returns a client for the Redis c configures: REDIS_URL, else
// REDIS_ADDRS (Cluster, or Sentinel with REDIS_MASTER_NAME), else
// REDIS_HOST:REDIS_PORT, else localhost:6379. Whatever the kind, the client
// honours context deadlines on the socket (go-redis does so only when asked)
// and has short dial, read, write and pool timeouts, unless the URL sets its
// own (dial_timeout=, read_timeout=, ...).
func RedisClient(c *config.Config) (redis.UniversalClient, error) {
	rw := redisIOTimeout
	if c.QueueTimeout > rw {
		rw = c.QueueTimeout // a longer queue deadline must not be cut short
	}
	orDefault := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if c.RedisURL != "" {
		opt, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w (expected redis://[user:password@]host:port/db)", err)
		}
		opt.ContextTimeoutEnabled = true
		orDefault(&opt.DialTimeout, redisDialTimeout)
		orDefault(&opt.ReadTimeout, rw)
		orDefault(&opt.WriteTimeout, rw)
		orDefault(&opt.PoolTimeout, redisPoolTimeout)
		if opt.DialerRetries == 0 {
			opt.DialerRetries = redisDialAttempts
		}
		return redis.NewClient(opt), nil
	}
	opt := &redis.UniversalOptions{
		Password: c.RedisPassword, MasterName: c.RedisMaster, ContextTimeoutEnabled: true,
		DialTimeout: redisDialTimeout, ReadTimeout: rw, WriteTimeout: rw, PoolTimeout: redisPoolTimeout,
		DialerRetries: redisDialAttempts,
	}
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
func RedisDescription(c *config.Config) string {
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
