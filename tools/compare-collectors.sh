#!/bin/bash
# Compares two collector binaries on the same requests, alternated, against
# one Redis (REDIS_URL, default the local one), with the load tool's ingest
# run (browser User-Agent, Origin and X-Forwarded-For on every request).
#
#   git worktree add /tmp/oldmain <commit> && (cd /tmp/oldmain && go build -o /tmp/collector-old ./cmd/collector)
#   go build -o /tmp/collector-new ./cmd/collector && go build -o /tmp/loadtest ./tools/loadtest
#   tools/compare-collectors.sh /tmp/collector-old /tmp/collector-new
set -euo pipefail
old=$1 new=$2 runs=${RUNS:-2} n=${N:-30000}
redis=${REDIS_URL:-redis://127.0.0.1:6379/0}
loadtest=${LOADTEST:-/tmp/loadtest}
run() { # name binary port [env...]
  local name=$1 bin=$2 port=$3; shift 3
  local prefix="ltc-$name-$RANDOM:"
  env REDIS_URL="$redis" QUEUE_PREFIX="$prefix" INGESTION_PORT="$port" PARTITIONS=8 MAX_BACKLOG=0 LOG_LEVEL=warn "$@" "$bin" >"/tmp/collector-$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  echo "== $name"
  "$loadtest" ingest -url "http://127.0.0.1:$port" -c 50 -n "$n" | grep -E "GET|POST"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  redis-cli -u "$redis" --scan --pattern "${prefix}*" | xargs -r -n 500 redis-cli -u "$redis" del >/dev/null
}
for _ in $(seq "$runs"); do
  run old "$old" 3100
  run new "$new" 3101 TRUSTED_PROXIES=127.0.0.1
done
