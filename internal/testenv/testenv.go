// Package testenv gives tests real servers: Redis from REDIS_URL, else a
// redis-server started on a free port, else miniredis; MongoDB from
// MONGODB_URI, else FerretDB embedded in the test process. Each server is
// started once per test binary; each test gets its own key prefix or
// database, removed when it ends.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics/internal/embedded"
)

var (
	redisOnce sync.Once
	redisURL  string
	redisErr  error
	mongoOnce sync.Once
	mongoURI  string
	mongoErr  error
)

// RedisURL returns the URL of the test Redis, starting one if needed.
func RedisURL(t testing.TB) string {
	t.Helper()
	redisOnce.Do(func() {
		if u := os.Getenv("REDIS_URL"); u != "" {
			redisURL = u
			return
		}
		dir, err := os.MkdirTemp("", "analytics-test-redis-")
		if err != nil {
			redisErr = err
			return
		}
		s, err := embedded.Redis(context.Background(), dir)
		if err != nil {
			redisErr = err
			return
		}
		redisURL = s.URL
		fmt.Fprintf(os.Stderr, "testenv: REDIS_URL unset; started %s at %s\n", s.Kind, s.URL)
	})
	if redisErr != nil {
		t.Fatalf("testenv: no Redis for the tests: %v (set REDIS_URL)", redisErr)
	}
	return redisURL
}

// Redis returns a client of the test Redis and a key prefix unique to the
// test; the test's keys are deleted when it ends.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("testenv: REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	prefix := "test:" + Name(t) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}

// MongoURI returns the base URI of the test MongoDB, starting FerretDB in
// this process if MONGODB_URI is unset.
func MongoURI(t testing.TB) string {
	t.Helper()
	mongoOnce.Do(func() {
		if u := os.Getenv("MONGODB_URI"); u != "" {
			mongoURI = u
			return
		}
		dir, err := os.MkdirTemp("", "analytics-test-ferretdb-")
		if err != nil {
			mongoErr = err
			return
		}
		s, err := embedded.FerretDB(context.Background(), dir, "127.0.0.1:0", nil)
		if err != nil {
			mongoErr = err
			return
		}
		mongoURI = s.URL
		fmt.Fprintf(os.Stderr, "testenv: MONGODB_URI unset; started embedded FerretDB at %s\n", s.URL)
	})
	if mongoErr != nil {
		t.Fatalf("testenv: no MongoDB for the tests: %v (set MONGODB_URI)", mongoErr)
	}
	return mongoURI
}

// MongoDB returns a URI naming a database unique to the test, dropped when
// it ends.
func MongoDB(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(MongoURI(t))
	if err != nil {
		t.Fatalf("testenv: MONGODB_URI: %v", err)
	}
	db := "t_" + Name(t)
	if len(db) > 60 {
		db = db[:60]
	}
	u.Path = "/" + db
	uri := u.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			return
		}
		_ = c.Database(db).Drop(ctx)
		_ = c.Disconnect(ctx)
	})
	return uri
}

// Name returns a short name unique to this test run: the test's name,
// sanitized, plus random hex.
func Name(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return n + "_" + hex.EncodeToString(b[:])
}

// Eventually polls cond every few milliseconds until it returns nil or the
// deadline passes, then fails the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", timeout, err)
		}
		time.Sleep(wait) // polling interval, not synchronisation
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

// Poll is Eventually without failing the test: it polls cond until it
// returns nil (then Poll returns nil) or the deadline passes (then Poll
// returns cond's last error), for a test that reports what it found either
// way.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true after %v: %w", timeout, err)
		}
		time.Sleep(wait) // polling interval, not synchronisation
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}
