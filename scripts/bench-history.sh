#!/usr/bin/env bash
# Benchmark: stored bytes per report of one host's hourly history (issue 14:
# envelopes stored by difference, results stored as changes), and bytes on the wire
# per upload of the same stream (reports sent by difference).
#
#   scripts/bench-history.sh [HOST] [REPORTS]
#
# Collects one report of the fixture host HOST (default debian12-laptop) with the
# agent, then stores REPORTS (default 1000) consecutive hourly reports of it (time
# every hour, a package upgraded every 168 reports, a verdict changed every 720),
# signed, through the collector's batch ingest, one report per batch, into SQLite and,
# when ATTEST_TEST_POSTGRES_URL is set (at build and run time), PostgreSQL. Prints the
# envelope bytes per report as sent (what the envelope column held before) and as
# stored, the keyframe/delta split, the database size per report (envelopes and the
# result change rows), the results' own bytes per report as change rows and as one
# row per check per report (schema 5, before), and the codec's own time per report.
# Then the same stream as uploads: body bytes per upload in full, with zstd alone,
# and as a delta against the report before it (mean, p50, p99). Runs the ignored
# tests `store::delta_tests::bench_history_bytes_per_report` (attest-collector) and
# `history::tests::bench_upload_bytes_per_report` (attest-sim) (debug build, zstd at -O3).
set -euo pipefail
cd "$(dirname "$0")/.."
host=${1:-debian12-laptop}
reports=${2:-1000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo build -q -p attest-agent --bin attest-agent
target/debug/attest-agent collect --root "tests/fixtures/hosts/$host" --format json \
  --at 2026-11-25T14:00:00Z >"$tmp/report.json"
echo "host: $host ($(wc -c <"$tmp/report.json") B of report JSON), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
ATTEST_BENCH_REPORT="$tmp/report.json" ATTEST_BENCH_REPORTS="$reports" \
  cargo test -q -p attest-collector --lib store::delta_tests::bench_history_bytes_per_report \
  -- --ignored --nocapture 2>&1 | grep '^history'
ATTEST_BENCH_REPORT="$tmp/report.json" ATTEST_BENCH_REPORTS="$reports" \
  cargo test -q -p attest-sim --lib history::tests::bench_upload_bytes_per_report \
  -- --ignored --nocapture 2>&1 | grep '^history'
