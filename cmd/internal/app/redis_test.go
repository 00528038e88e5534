package app

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/config"
)

// TestRedisClientHonoursDeadlines checks every kind of client: each must
// honour context deadlines on the socket and have short timeouts, or a hung
// Redis holds requests for seconds.
func TestRedisClientHonoursDeadlines(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(c *config.Config)
	}{
		{"url", func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1/0" }},
		{"host and port", func(c *config.Config) { c.RedisHost, c.RedisPort = "127.0.0.1", 1 }},
		{"default", func(c *config.Config) {}},
		{"cluster", func(c *config.Config) { c.RedisAddrs = "127.0.0.1:1,127.0.0.1:2" }},
		{"sentinel", func(c *config.Config) { c.RedisAddrs, c.RedisMaster = "127.0.0.1:1,127.0.0.1:2", "mymaster" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.set(&c)
			rdb, err := RedisClient(&c)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			var ctxOK bool
			var dial, read, write, pool time.Duration
			switch r := rdb.(type) {
			case *redis.Client:
				o := r.Options()
				ctxOK, dial, read, write, pool = o.ContextTimeoutEnabled, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout
			case *redis.ClusterClient:
				o := r.Options()
				ctxOK, dial, read, write, pool = o.ContextTimeoutEnabled, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout
			default:
				t.Fatalf("client of type %T", rdb)
			}
			if !ctxOK || dial <= 0 || dial > 2*time.Second || read <= 0 || read > 3*time.Second ||
				write <= 0 || write > 3*time.Second || pool <= 0 || pool > time.Second {
				t.Fatalf("context deadlines honoured %v, dial %v, read %v, write %v, pool %v", ctxOK, dial, read, write, pool)
			}
		})
	}
}

func TestRedisClientKeepsTimeoutsSetInTheURL(t *testing.T) {
	c := config.Default()
	c.RedisURL = "redis://127.0.0.1:1/0?read_timeout=7s&dial_timeout=4s"
	rdb, err := RedisClient(&c)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	o := rdb.(*redis.Client).Options()
	if o.ReadTimeout != 7*time.Second || o.DialTimeout != 4*time.Second || !o.ContextTimeoutEnabled {
		t.Fatalf("read %v dial %v ctx %v", o.ReadTimeout, o.DialTimeout, o.ContextTimeoutEnabled)
	}
}
