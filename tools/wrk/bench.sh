#!/bin/bash
# Compares two collector binaries with wrk, alternated, each alone against a
# Redis of its own (no persistence, flushed between runs) on this machine:
# POST /event, POST /events with 100 events of 50 sites, and POST /v1/batch
# with 100 Segment messages (the new binary only, when the old has none).
#
#   git worktree add --detach /tmp/base <commit> && (cd /tmp/base && go build -o /tmp/collector-old ./cmd/collector)
#   go build -o /tmp/collector-new ./cmd/collector
#   tools/wrk/bench.sh /tmp/collector-old /tmp/collector-new
set -euo pipefail
old=$1 new=$2 runs=${RUNS:-2} secs=${SECS:-8} conns=${CONNS:-50}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'redis-cli -p 6399 shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go run "$here/bodies.go" "$work"
redis-server --port 6399 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --dir "$work" --logfile "$work/redis.log"
for _ in $(seq 50); do redis-cli -p 6399 ping >/dev/null 2>&1 && break; sleep 0.1; done
auth="Basic $(printf 'load-site:' | base64)"
run() { # name binary path body [auth]
  local name=$1 bin=$2 path=$3 body=$4 a=${5:-}
  redis-cli -p 6399 flushall >/dev/null
  env REDIS_URL=redis://127.0.0.1:6399/0 INGESTION_PORT=3199 PARTITIONS=8 MAX_BACKLOG=0 LOG_LEVEL=warn \
    TRUSTED_PROXIES=127.0.0.1 "$bin" >"$work/collector.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:3199/healthz >/dev/null && break; sleep 0.1; done
  local out rps reqs c0 c1 r0 r1
  c0=$(cpu "$pid"); r0=$(rcpu)
  out=$(BODY="$work/$body" AUTH="$a" wrk -t1 -c"$conns" -d"${secs}s" -s "$here/post.lua" "http://127.0.0.1:3199$path")
  c1=$(cpu "$pid"); r1=$(rcpu)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  local bad; bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  # CPU per request (collector, Redis): steadier than req/s on a shared machine.
  printf '%-4s %-10s %10s req/s  %7.1f us collector + %6.1f us redis CPU/req  non-2xx %s  %s stream entries\n' "$name" "$path" "$rps" \
    "$(echo "($c1 - $c0) * 1000000 / $reqs" | bc -l)" "$(echo "($r1 - $r0) * 1000000 / $reqs" | bc -l)" "${bad:-0}" \
    "$(for p in 0 1 2 3 4 5 6 7; do redis-cli -p 6399 xlen "analytics:events:{$p}"; done | paste -sd+ | bc)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
# cpu prints the seconds of CPU process $1 has used; rcpu Redis's.
hz=$(getconf CLK_TCK)
cpu() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
rcpu() { redis-cli -p 6399 info cpu | awk -F: '/used_cpu_(sys|user):/ {s += $2} END {print s}'; }
for _ in $(seq "$runs"); do
  for who in old new; do
    bin=$old; [ $who = new ] && bin=$new
    run $who "$bin" /event event.json
    run $who "$bin" /events events.json
    if [ $who = new ]; then
      run $who "$bin" /v1/batch batch.json "$auth"
    fi
  done
done
