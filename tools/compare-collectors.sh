#!/bin/bash
# Compares two collector binaries on the same requests, alternated, against
# one Redis (REDIS_URL, default the local one), with the load tool's ingest
# run (browser User-Agent, Origin and X-Forwarded-For on every request).
#
#   git worktree add /tmp/oldmain <commit> && (cd /tmp/oldmain && go build -o /tmp/collector-old ./cmd/collector)
#   go build -o /tmp/collector-new ./cmd/collector && go build -o /tmp/loadtest ./tools/loadtest
#   tools/compare-collectors.sh /tmp/collector-old /tmp/collector-new
#
# LOADTEST_ARGS are added to the load tool's arguments on both sides (e.g.
# "-sites 1 -key sak_..." to send as a server with a write key).
#
# OLD_ENV and NEW_ENV are the settings of each side (default: none, and
# TRUSTED_PROXIES=127.0.0.1). One binary against itself with the visit
# annotation off on the baseline side:
#
#   OLD_ENV="TRUSTED_PROXIES=127.0.0.1 VISIT_TIMEOUT=0" NEW_ENV="TRUSTED_PROXIES=127.0.0.1" \
#     tools/compare-collectors.sh /tmp/collector-new /tmp/collector-new
set -euo pipefail
old=$1 new=$2 runs=${RUNS:-2} n=${N:-30000} port=${PORT:-3100}
read -r -a old_env <<<"${OLD_ENV:-}"
read -r -a new_env <<<"${NEW_ENV-TRUSTED_PROXIES=127.0.0.1}"
redis=${REDIS_URL:-redis://127.0.0.1:6379/0}
loadtest=${LOADTEST:-/tmp/loadtest}
cpu() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # clock ticks (1/100 s) of a Linux process
run() { # name binary port [env...]
  local name=$1 bin=$2 port=$3; shift 3
  local prefix="ltc-$name-$RANDOM:"
  env REDIS_URL="$redis" QUEUE_PREFIX="$prefix" INGESTION_PORT="$port" PARTITIONS=8 MAX_BACKLOG=0 LOG_LEVEL=warn "$@" "$bin" >"/tmp/collector-$name-$port.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  echo "== $name"
  local cpu0; cpu0=$(cpu "$pid")
  "$loadtest" ingest -url "http://127.0.0.1:$port" -c 50 -n "$n" ${LOADTEST_ARGS:-} | grep -E "GET|POST"
  # CPU time is steadier than req/s on a shared machine: both sides serve the same requests.
  [ -r "/proc/$pid/stat" ] && echo "collector CPU (user+sys) for the run: $(( ($(cpu "$pid") - cpu0) * 10 )) ms"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  redis-cli -u "$redis" --scan --pattern "${prefix}*" | xargs -r -n 500 redis-cli -u "$redis" del >/dev/null
}
for _ in $(seq "$runs"); do
  run old "$old" "$port" "${old_env[@]}"
  run new "$new" $((port + 1)) "${new_env[@]}"
done
