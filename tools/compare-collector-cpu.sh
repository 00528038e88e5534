#!/bin/bash
# Compares the CPU time two collector binaries spend per request (from
# /proc/PID/stat, Linux), both running side by side against one Redis and
# measured in turn, ORDER deciding who goes first in each round. On a shared
# machine CPU time per request varies less than req/s does.
#
#   OLD=/tmp/old-collector NEW=/tmp/collector-new LOADTEST=/tmp/loadtest tools/compare-collector-cpu.sh
#
# Both sides get ENV (default TRUSTED_PROXIES=127.0.0.1); ports PORT and PORT+1.
set -euo pipefail
old=${OLD:?OLD=old collector binary} new=${NEW:?NEW=new collector binary}
loadtest=${LOADTEST:-/tmp/loadtest} redis=${REDIS_URL:-redis://127.0.0.1:6379/0}
port=${PORT:-3370} rounds=${ROUNDS:-3} n=${N:-20000} order=${ORDER:-old new}
read -r -a env_ <<<"${ENV-TRUSTED_PROXIES=127.0.0.1}"
tag=$RANDOM
start() { # side binary port
  env REDIS_URL="$redis" QUEUE_PREFIX="cpu-$1-$tag:" INGESTION_PORT="$3" PARTITIONS=8 MAX_BACKLOG=0 LOG_LEVEL=warn "${env_[@]}" "$2" >"/tmp/collector-cpu-$1.log" 2>&1 &
  echo $!
}
declare -A pid=([old]=$(start old "$old" "$port") [new]=$(start new "$new" $((port + 1))))
declare -A url=([old]=http://127.0.0.1:$port [new]=http://127.0.0.1:$((port + 1)))
trap 'kill ${pid[old]} ${pid[new]} 2>/dev/null || true' EXIT
for side in old new; do
  for _ in $(seq 100); do curl -sf "${url[$side]}/healthz" >/dev/null && break; sleep 0.1; done
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for round in $(seq "$rounds"); do
  for what in healthz event; do
    for side in $order; do
      a=$(ticks "${pid[$side]}")
      "$loadtest" ingest -url "${url[$side]}" -c 50 -n "$n" -only "$what" >/dev/null
      b=$(ticks "${pid[$side]}")
      echo "round $round  $what  $side  $(((b - a) * 1000000 / hz / n)) µs CPU per request"
    done
  done
done
kill "${pid[old]}" "${pid[new]}"; wait 2>/dev/null || true
for side in old new; do
  redis-cli -u "$redis" --scan --pattern "cpu-$side-$tag:*" | xargs -r -n 500 redis-cli -u "$redis" del >/dev/null
done
