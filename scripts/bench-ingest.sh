#!/usr/bin/env bash
# Benchmark: collector ingest over HTTPS on loopback (release build).
#
#   scripts/bench-ingest.sh sqlite   [PREFILL] [AGENTS] [REPORTS_PER_AGENT] [CONCURRENCY] [STREAM] [WARM_UP]
#   scripts/bench-ingest.sh postgres [PREFILL] [AGENTS] [REPORTS_PER_AGENT] [CONCURRENCY] [STREAM] [WARM_UP]
#
# STREAM (default synthetic) is passed to both `prefill` and `run`; a comma-separated
# list (`realistic,synthetic`) prefills with the first and runs one load of each in
# turn against the same collector and database (new agents each time): `synthetic`, the
# same full 25-check report again and again; `realistic`, each agent's hourly history
# (a 25-check report with a software inventory of 400 packages, a package upgraded
# every 168 reports, a verdict changed every 720; agents start at hours spread over a
# year) as the agent sends it: attest.report/v3 with the package list apart as an
# inventory list (posted before the first report and after each upgrade), each report
# after an agent's first as a delta against the report before it; prefilled with the
# same shape; `realistic-inline`, the same history with the list inline in every
# report (attest.report/v1, as before inventory lists).
#
# 1. `attest-loadgen prefill` stores PREFILL reports (default 1,000,000) of 10,000
#    synthetic agents straight through the store (the server's batch write path, no
#    HTTP), so the database is not fresh;
# 2. starts `attest-collector serve` on that database and waits for the dashboard's
#    first count of the trend's days (a one-time cost per database, printed);
# 3. `attest-loadgen run` enrolls AGENTS agents (default 10,000) over HTTPS, signs
#    REPORTS_PER_AGENT 25-check reports each in advance, posts them from CONCURRENCY
#    keep-alive connections, and prints reports/s, p50/p99 latency, errors, wire
#    bytes per upload, the collector's peak RSS and CPU, and the load generator's own
#    CPU (it shares the machine's cores with the collector). With WARM_UP (default 0)
#    each agent first sends that many reports before the clock starts (uncounted):
#    `1` measures an enrolled fleet's steady state, every agent's first report (full,
#    with its inventory list) already sent, as hour after hour in a real fleet.
#
# ATTEST_BENCH_DATA_FROM=DIR (SQLite): copy a data directory that an earlier
# `attest-loadgen prefill` filled (and nothing else wrote to) instead of prefilling
# again; PREFILL must then be 0. A million realistic reports take ~9 minutes to
# prefill on 2 cores, the copy seconds. ATTEST_BENCH_POSTGRES_TEMPLATE=NAME does the
# same for PostgreSQL: the fresh database is made as a copy of database NAME
# (`create database … template NAME`), which an earlier prefill filled.
#
# PostgreSQL: ATTEST_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test);
# a fresh database is created next to it and dropped at the end. SQLite: a temp dir.
# ATTEST_BENCH_SERVE_LOG=FILE keeps the collector's log (its standard error) there.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:?usage: $0 sqlite|postgres [PREFILL] [AGENTS] [REPORTS_PER_AGENT] [CONCURRENCY] [STREAM] [WARM_UP]}
prefill=${2:-1000000}
agents=${3:-10000}
per_agent=${4:-5}
concurrency=${5:-64}
stream=${6:-synthetic}
warm_up=${7:-0}

# A prefilled copy replaces the prefill, on its own backend only: refused before
# anything is made.
reuse=${ATTEST_BENCH_DATA_FROM:+sqlite}${ATTEST_BENCH_POSTGRES_TEMPLATE:+postgres}
if [ -n "$reuse" ] && { [ "$reuse" != "$backend" ] || [ "$prefill" != 0 ]; }; then
  echo "ATTEST_BENCH_DATA_FROM (sqlite) or ATTEST_BENCH_POSTGRES_TEMPLATE (postgres) needs its backend and PREFILL 0" >&2
  exit 2
fi

# ATTEST_BENCH_BIN: a directory with release binaries already built (else: build them).
if [ -n "${ATTEST_BENCH_BIN:-}" ]; then
  bin=$ATTEST_BENCH_BIN
else
  cargo build --release -q -p attest-collector -p attest-sim
  bin=target/release
fi
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/attest-bench.XXXXXX")
db_name=""
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if [ -n "$db_name" ]; then
    psql "$base_url" -qc "drop database if exists $db_name" >/dev/null 2>&1 || true
  fi
  [ -n "${ATTEST_BENCH_SERVE_LOG:-}" ] && cp "$tmp/serve.log" "$ATTEST_BENCH_SERVE_LOG" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

case "$backend" in
  sqlite) database="sqlite://$tmp/data/collector.db" ;;
  postgres)
    base_url=${ATTEST_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
    db_name="attest_bench_$$"
    if [ -n "${ATTEST_BENCH_POSTGRES_TEMPLATE:-}" ]; then
      psql "$base_url" -qc "create database $db_name template $ATTEST_BENCH_POSTGRES_TEMPLATE"
      echo "== database copied from $ATTEST_BENCH_POSTGRES_TEMPLATE"
    else
      psql "$base_url" -qc "create database $db_name"
    fi
    database="${base_url%/*}/$db_name"
    ;;
  *) echo "backend must be sqlite or postgres" >&2; exit 2 ;;
esac
mkdir -p "$tmp/data"
if [ -n "${ATTEST_BENCH_DATA_FROM:-}" ]; then
  cp -a "$ATTEST_BENCH_DATA_FROM/." "$tmp/data/"
  echo "== data copied from $ATTEST_BENCH_DATA_FROM ($(du -sh "$tmp/data" | cut -f1))"
fi

IFS=, read -r -a streams <<<"$stream"
if [ "$prefill" -gt 0 ]; then
  echo "== prefill: $prefill reports (${streams[0]})"
  "$bin/attest-loadgen" prefill --database "$database" --reports "$prefill" --agents 10000 \
    --stream "${streams[0]}"
fi

echo "== serve ($backend)"
"$bin/attest-collector" --data-dir "$tmp/data" --database "$database" \
  serve --listen 127.0.0.1:0 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$tmp/serve.log" && break; sleep 0.2; done
addr=$(sed -n 's/.*listening on https:\/\///p' "$tmp/serve.log")
# The dashboard counts the trend's last 90 days in the background after a start,
# once per database (a fleet evaluation per day; on a prefilled database minutes of
# CPU): wait for its first round, so the load measures ingest, not that.
serve_started=$(date +%s.%N)
for _ in $(seq 3600); do
  grep -q "trend days counted" "$tmp/serve.log" && break
  sleep 1
done
counted=$(grep "trend days counted" "$tmp/serve.log" | head -1 | grep -o 'days[^0-9]\{1,3\}[0-9]*' | grep -o '[0-9]*$' || true)
awk -v a="$serve_started" -v b="$(date +%s.%N)" -v n="${counted:-none}" \
  'BEGIN { printf "== dashboard trend: %s days counted after the start, %.1f s (before the load)\n", n, b - a }'
# The peak RSS the load reports is the load's own: reset the high-water mark the
# counting left (Linux: `5` to clear_refs resets VmHWM).
echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || echo "(peak RSS not reset: it includes the trend's counting)"
pin=$("$bin/attest-collector" --data-dir "$tmp/data" --database "$database" fingerprint)
token=$("$bin/attest-collector" --data-dir "$tmp/data" --database "$database" token create --uses "$((agents * ${#streams[@]}))" 2>/dev/null)

# CPU seconds of every PostgreSQL server process (the database's share of the work).
pg_cpu() {
  local ticks=0 t
  for stat in /proc/[0-9]*/stat; do
    read -r line < "$stat" 2>/dev/null || continue
    case "$line" in *"(postgres)"*) ;; *) continue ;; esac
    t=$(echo "${line##*)}" | awk '{print $12 + $13}')
    ticks=$((ticks + t))
  done
  echo "$ticks"
}
seed=0
for one in "${streams[@]}"; do
seed=$((seed + 1))
pg_before=$(pg_cpu)
load_start=$(date +%s.%N)

echo "== load: $agents agents x $per_agent reports ($one, after $warm_up each uncounted), $concurrency connections"
"$bin/attest-loadgen" run --server "$addr" --pin "$pin" --token "$token" \
  --agents "$agents" --warm-up "$warm_up" --reports-per-agent "$per_agent" --concurrency "$concurrency" \
  --collector-pid "$pid" --stream "$one" --seed "$seed"
if [ "$backend" = postgres ]; then
  pg_after=$(pg_cpu)
  awk -v a="$pg_before" -v b="$pg_after" -v s="$load_start" -v e="$(date +%s.%N)" \
    'BEGIN { printf "postgres CPU        %.1f s (%.2f cores, enrollment included)\n", (b - a) / 100, (b - a) / 100 / (e - s) }'
else
  echo "== database size: $(du -sh "$tmp/data" | cut -f1) (data dir)"
fi
done
