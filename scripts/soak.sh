#!/usr/bin/env bash
# Soak: the collector on loopback while honest agents upload and hostile clients
# stall, flood, replay and send garbage (docs/security.md, docs/benchmarks.md).
#
#   scripts/soak.sh [SECONDS] [AGENTS] [MAX_RSS_MB]      (defaults: 300, 20, 400)
#
# 1. starts `attest-collector serve` on 127.0.0.1 with tight limits (config below);
# 2. `attest-loadgen soak`: AGENTS honest agents on 127.0.0.1 send a report every
#    250 ms each, retrying as an agent's spool does; from 127.0.0.2 and up, 40 stalled
#    half-bodies, 8 addresses opening connections that never start TLS, replays of
#    accepted reports, and garbage (bad JSON, a 4 MB hostile body, forged signatures,
#    unknown routes); it fails unless every honest report is stored exactly once,
#    no replay is stored, and the collector's RSS stays under MAX_RSS_MB;
# 3. stops the collector (SIGTERM) and runs `attest-collector fsck`: every report
#    whole, the Merkle log consistent.
#
# Binaries: ATTEST_SOAK_BIN (a directory with attest-collector and attest-loadgen
# already built, e.g. target/debug in CI); else a release build. Loopback only; the
# run is bounded by SECONDS plus start-up and a 2-minute guard.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
agents=${2:-20}
max_rss_mb=${3:-400}

if [ -n "${ATTEST_SOAK_BIN:-}" ]; then
  bin=$ATTEST_SOAK_BIN
else
  cargo build --release -q -p attest-collector -p attest-sim
  bin=target/release
fi
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/attest-soak.XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/data"
cat >"$tmp/collector.toml" <<'EOF'
version = 1
[limits]
max_connections = 256
max_connections_per_ip = 64
request_timeout_seconds = 5
min_body_rate = 1024
ip_failures_per_minute = 30
ip_failure_burst = 20
EOF
chmod 600 "$tmp/collector.toml"
collector() { "$bin/attest-collector" --config "$tmp/collector.toml" --data-dir "$tmp/data" "$@"; }

echo "== serve"
ATTEST_LOG=warn "$bin/attest-collector" --config "$tmp/collector.toml" --data-dir "$tmp/data" \
  serve --listen 127.0.0.1:0 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 1 150); do grep -q "listening on" "$tmp/serve.log" && break; sleep 0.2; done
addr=$(sed -n 's/.*listening on https:\/\///p' "$tmp/serve.log")
[ -n "$addr" ] || { cat "$tmp/serve.log"; exit 1; }
pin=$(collector fingerprint)
token=$(collector token create --uses "$agents" 2>/dev/null)

echo "== soak: $seconds s, $agents honest agents"
status=0
timeout $((seconds + 120)) "$bin/attest-loadgen" soak --server "$addr" --pin "$pin" \
  --token "$token" --seconds "$seconds" --agents "$agents" --collector-pid "$pid" \
  --max-rss-mb "$max_rss_mb" || status=$?

echo "== stop and fsck"
kill -TERM "$pid"
wait "$pid" || true
pid=""
lines=$(wc -l <"$tmp/serve.log")
echo "collector log: $lines lines at level warn in $seconds s"
grep -c "accept failed" "$tmp/serve.log" | sed 's/^/"accept failed" lines: /' || true
collector fsck || status=1
if [ "$status" -ne 0 ]; then
  tail -20 "$tmp/serve.log"
  echo "soak: FAILED"
  exit 1
fi
echo "soak: passed"
