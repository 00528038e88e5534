#!/usr/bin/env bash
# test.sh runs every test of the repository, on a machine with only Go:
#
#   ./test.sh                 # go vet, then go test -count=1 ./... ./sdk/...
#   ./test.sh -run TestStats  # arguments go to go test
#
# What the tests need besides Go, and what this script does about it:
#   redis-server  the queue tests and the fault suite run a real one;
#   Chrome        the snippet's and the dashboard's browser tests
#                 (Debian's chromium; on macOS Google Chrome or Chromium);
#   node          the test that runs Segment's Node library (committed bundle).
# On Debian or Ubuntu, as root or with sudo, it installs what is missing with
# apt-get (redis-server, chromium, nodejs); elsewhere it names what to
# install and stops. It downloads the Go modules (the tests fetch nothing
# later), uses REDIS_URL when set, else the Redis on 127.0.0.1:6379 when one
# answers, else starts a redis-server on a free port for the run and stops it
# at the end. MONGODB_URI is used when set, else the tests embed FerretDB.
# .ci/run calls this script.
set -euo pipefail
cd "$(dirname "$0")"

say() { echo "test.sh: $*" >&2; }

command -v go >/dev/null 2>&1 || { say "Go is needed: https://go.dev/dl/"; exit 1; }

# have_chrome mirrors internal/testenv/chrome: CHROME_PATH, else where each
# system installs Chrome or Chromium.
have_chrome() {
  if [ -n "${CHROME_PATH:-}" ]; then
    command -v "$CHROME_PATH" >/dev/null 2>&1
    return
  fi
  local p
  for p in /usr/bin/chromium chromium chromium-browser google-chrome google-chrome-stable \
    /snap/bin/chromium headless_shell headless-shell chrome \
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" \
    "/Applications/Chromium.app/Contents/MacOS/Chromium" \
    "$HOME/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" \
    "$HOME/Applications/Chromium.app/Contents/MacOS/Chromium"; do
    command -v "$p" >/dev/null 2>&1 && return 0
  done
  return 1
}

# missing lists what is not installed, by Debian package name.
missing() {
  command -v redis-server >/dev/null 2>&1 || echo redis-server
  have_chrome || echo chromium
  command -v node >/dev/null 2>&1 || echo nodejs
}

need=$(missing | tr '\n' ' ')
need=${need% }
if [ -n "$need" ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    say "installing $need with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # A package this release lacks (Ubuntu's chromium is a snap) is
    # reported below with what to do instead.
    # shellcheck disable=SC2086 # one word per package
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq $need >/dev/null; } || say "apt-get install $need failed"
    need=$(missing | tr '\n' ' ')
    need=${need% }
  fi
fi
if [ -n "$need" ]; then
  say "missing: $need (the tests need them; see docs/testing.md)"
  case "$(uname -s)" in
  Darwin)
    say "on macOS: brew install redis node, and Google Chrome (https://www.google.com/chrome/)"
    say "or brew install --cask chromium; CHROME_PATH names any other Chrome" ;;
  *)
    say "on Debian or Ubuntu: sudo apt-get install $need, then run ./test.sh again"
    case " $need " in *" chromium "*)
      say "(Ubuntu's chromium is a snap: snap install chromium, or Google Chrome's .deb; CHROME_PATH names any other Chrome)" ;;
    esac ;;
  esac
  exit 1
fi

# Every module the tests use, now, so no test run fetches one. (The SDK
# module needs none; outside workspace mode no go.work.sum is written.)
GOWORK=off go mod download

# redis_ping answers whether a Redis answers PING on host:port.
redis_ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h "$1" -p "$2" ping 2>/dev/null | grep -q PONG
    return
  fi
  (exec 3<>"/dev/tcp/$1/$2" && printf 'PING\r\n' >&3 && IFS= read -r -t 2 line <&3 && [ "${line%$'\r'}" = "+PONG" ]) 2>/dev/null
}

redis_dir=""
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true; fi
  if [ -n "$redis_dir" ]; then rm -rf "$redis_dir"; fi
}
trap cleanup EXIT

if [ -z "${REDIS_URL:-}" ]; then
  if redis_ping 127.0.0.1 6379; then
    export REDIS_URL="redis://127.0.0.1:6379/0"
  else
    redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/analytics-test-redis.XXXXXX")
    # A port nothing listens on: redis-server exits at once when its port
    # is taken, so try the next one.
    for port in $(seq 16379 16479); do
      redis_ping 127.0.0.1 "$port" && continue
      redis-server --bind 127.0.0.1 --port "$port" --dir "$redis_dir" --save "" \
        --appendonly yes --appendfsync everysec --maxmemory-policy noeviction \
        --logfile "$redis_dir/redis.log" &
      redis_pid=$!
      for _ in $(seq 1 100); do
        redis_ping 127.0.0.1 "$port" && break
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.1 # polling interval while it starts
      done
      redis_ping 127.0.0.1 "$port" && break
      wait "$redis_pid" 2>/dev/null || true
      redis_pid=""
    done
    [ -n "$redis_pid" ] || { say "could not start redis-server"; cat "$redis_dir/redis.log" >&2 || true; exit 1; }
    export REDIS_URL="redis://127.0.0.1:$port/0"
    say "no Redis on 127.0.0.1:6379: started redis-server on $port for this run"
  fi
fi
say "REDIS_URL=$REDIS_URL; MONGODB_URI=${MONGODB_URI:-(unset: embedded FerretDB)}"

go vet ./... ./sdk/...
go test -count=1 -timeout 30m "$@" ./... ./sdk/...
