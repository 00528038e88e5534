package redisqueue

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// SaltStore keeps the collectors' daily salts of cookieless visitor ids in
// Redis (enrich.SaltStore), next to the queue they feed.
type SaltStore struct{ RDB redis.UniversalClient }

// GetOrSet is SET NX then GET in one round trip: whichever collector sets
// first wins, and everyone reads the winner.
func (s SaltStore) GetOrSet(ctx context.Context, key string, salt []byte, expires time.Time) ([]byte, error) {
	var get *redis.StringCmd
	_, err := s.RDB.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SetArgs(ctx, key, salt, redis.SetArgs{Mode: "NX", ExpireAt: expires})
		get = p.Get(ctx, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) { // SET NX answers nil when the key exists
		return nil, err
	}
	return get.Bytes()
}
