package redisqueue

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// JobLease is the key whose value names the processor running a periodic
// job (retention). Its keys share a hash slot (Redis Cluster).
func (k Keys) JobLease(job string) string { return k.Prefix + "job:{" + job + "}:lease" }

// JobDone is the key set when job completes, living for the job's interval.
func (k Keys) JobDone(job string) string { return k.Prefix + "job:{" + job + "}:done" }

// Job is a fleet-wide periodic job: at most one holder at a time runs it,
// and only when no run completed within its interval.
type Job struct {
	rdb   redis.UniversalClient
	keys  Keys
	name  string
	owner string
	ttl   time.Duration
}

// NewJob returns the job name for owner (a unique name per process); its
// lease lives ttl unless renewed.
func NewJob(rdb redis.UniversalClient, keys Keys, name, owner string, ttl time.Duration) *Job {
	return &Job{rdb: rdb, keys: keys, name: name, owner: owner, ttl: ttl}
}

var (
	jobAcquire = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`)
	jobRenew = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)
	jobRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
return 1`)
)

// Acquire takes the job's lease when nobody holds it and no run completed
// within the interval; it reports whether this owner holds it now.
func (j *Job) Acquire(ctx context.Context) (bool, error) {
	n, err := jobAcquire.Run(ctx, j.rdb, []string{j.keys.JobLease(j.name), j.keys.JobDone(j.name)}, j.owner, j.ttl.Milliseconds()).Int()
	return n == 1, err
}

// Renew extends the lease; false means it was lost (expired and taken).
func (j *Job) Renew(ctx context.Context) (bool, error) {
	n, err := jobRenew.Run(ctx, j.rdb, []string{j.keys.JobLease(j.name)}, j.owner, j.ttl.Milliseconds()).Int()
	return n == 1, err
}

// Release gives the lease back; done > 0 marks the job as run for that
// long, so no processor starts it again before.
func (j *Job) Release(ctx context.Context, done time.Duration) error {
	return jobRelease.Run(ctx, j.rdb, []string{j.keys.JobLease(j.name), j.keys.JobDone(j.name)}, j.owner, done.Milliseconds()).Err()
}
