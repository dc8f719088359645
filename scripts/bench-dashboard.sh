#!/usr/bin/env bash
# Benchmark: the dashboard's server time per page on a fleet of HOSTS hosts × 25
# checks with DAYS daily reports each (release build). The fleet is made once by
# attest-fleetgen (--interval-hours 24) and kept in DIR; BACKEND sqlite uses DIR's
# SQLite database, postgres a database made on ATTEST_BENCH_POSTGRES_URL's server.
#
# A collector serves it (TLS on loopback); a user signs in with curl; every page is
# asked for once cold (the first evaluation of its date, or its own reads) and then
# RUNS times. Server time = curl's time_starttransfer - time_pretransfer (the TLS
# handshake and the transfer left out). Prints per page: cold, then the median and
# the maximum of the warm runs, in ms, and the collector's peak RSS.
#
#   scripts/bench-dashboard.sh [BACKEND] [HOSTS] [DAYS] [RUNS] [DIR]
#   (defaults: sqlite 10000 30 5 /tmp/dash-BACKEND-HOSTS-DAYS)
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
hosts=${2:-10000}
days=${3:-30}
runs=${4:-5}
dir=${5:-/tmp/dash-$backend-$hosts-$days}
command -v curl >/dev/null || { echo "missing curl" >&2; exit 1; }

cargo build --release -q -p attest-collector -p attest-sim --bins
bin=$PWD/target/release
db_args=()
if [ "$backend" = postgres ]; then
  base=${ATTEST_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
  name=attest_dash_${hosts}_${days}
  url="${base%/*}/$name"
  db_args=(--database "$url")
  if [ ! -f "$dir/.made" ]; then
    psql "$base" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
  fi
fi
if [ ! -f "$dir/.made" ]; then
  mkdir -p "$dir"
  t0=$(date +%s)
  "$bin/attest-fleetgen" --data-dir "$dir" "${db_args[@]}" --hosts "$hosts" \
    --rounds "$days" --interval-hours 24
  echo "fleet made in $(( $(date +%s) - t0 )) s" >&2
  touch "$dir/.made"
fi

tmp=$(mktemp -d)
log=$tmp/collector.log
started=$(date +%s.%N)
"$bin/attest-collector" --data-dir "$dir" "${db_args[@]}" serve --listen 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 600); do
  grep -q "listening on" "$log" && break
  sleep 0.1
done
addr=$(sed -n 's/.*listening on https:\/\///p' "$log" | head -1)
[ -n "$addr" ] || { cat "$log" >&2; exit 1; }
user=bench$$
printf 'a long bench passphrase\n' | "$bin/attest-collector" --data-dir "$dir" "${db_args[@]}" \
  user add "$user" --role admin --password-stdin 2>/dev/null
curl -sk -o /dev/null -c "$tmp/jar" -d "name=$user&password=a+long+bench+passphrase&next=/ui/" \
  "https://$addr/ui/login"
grep -q attest_session "$tmp/jar" || { echo "sign-in failed" >&2; exit 1; }

server_ms() {
  curl -sk -o /dev/null -b "$tmp/jar" -w '%{http_code} %{time_pretransfer} %{time_starttransfer}\n' "https://$addr$1" |
    awk '{ if ($1 != 200) { print "HTTP " $1 > "/dev/stderr"; exit 1 } printf "%.1f\n", ($3 - $2) * 1000 }'
}

# Until a page is shown, not the "evaluating" page that answers (within 250 ms) while
# the evaluation of its date is under way: ms from the first request.
until_shown() {
  local t0 t1
  t0=$(date +%s%N)
  while curl -sk -b "$tmp/jar" "https://$addr$1" | grep -q data-evaluating; do
    sleep 0.2
  done
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}

# The first page after the start: answered at once with how far the evaluation of now
# (started at start) is, shown when it is done.
first=$(server_ms "/ui/hosts")
first_shown=$(until_shown "/ui/hosts")
# One host and its latest report, from the hosts page.
hosts_page=$(curl -sk -b "$tmp/jar" "https://$addr/ui/hosts")
agent=$(grep -o 'href="/ui/hosts/[^"?]*' <<<"$hosts_page" | head -1 | sed 's/.*\/ui\/hosts\///')
host_page=$(curl -sk -b "$tmp/jar" "https://$addr/ui/hosts/$agent")
seq=$(grep -o "/ui/hosts/$agent/reports/[0-9]*" <<<"$host_page" | head -1 | sed 's/.*\///')

# The trend's day counts: made in the background after the start (the last 90 days,
# each once); wait for that to end (pages are served meanwhile, the trend with gaps).
during=$(server_ms "/ui/?period=30")
for _ in $(seq 3600); do
  grep -q "trend days counted" "$log" && break
  sleep 1
done
counted=$(grep "trend days counted" "$log" | head -1 | grep -o 'days[^0-9]\{1,3\}[0-9]*' | grep -o '[0-9]*$' || true)
filled_s=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')

echo "host: $(nproc) cores, kernel $(uname -r); backend: $backend; fleet: $hosts hosts × $days daily reports; runs: $runs"
echo "first page after the start: answered in $first ms, shown after $first_shown ms more (the evaluation of now)"
past=$(date -u -d "@$(( $(date +%s) - 15 * 86400 ))" +%Y-%m-%d)
past_first=$(server_ms "/ui/?as_of=$past")
past_shown=$(until_shown "/ui/?as_of=$past")
echo "first page of a past date ($past): answered in $past_first ms, shown after $past_shown ms more"
echo "/ui/?period=30 while the trend's days were being counted: $during ms"
echo "trend days counted after the start: ${counted:-none} days, done ${filled_s} s after the start"
printf 'page\tcold_ms\tmedian_ms\tmax_ms\n'
for page in "/ui/" "/ui/?period=7" "/ui/?period=30" "/ui/?period=90" "/ui/controls/8.24" "/ui/controls/8.24?period=30" \
  "/ui/hosts" "/ui/hosts?q=srv-0001&state=not_satisfied&control=8.8" "/ui/hosts?page=50" \
  "/ui/hosts/$agent" "/ui/hosts/$agent/reports/$seq" "/ui/waivers" "/ui/agents" \
  "/ui/audit" "/ui/downloads"; do
  cold=$(server_ms "$page")
  warm=$(for _ in $(seq "$runs"); do server_ms "$page"; done | sort -n)
  median=$(sed -n "$(( (runs + 1) / 2 ))p" <<<"$warm")
  max=$(tail -1 <<<"$warm")
  printf '%s\t%s\t%s\t%s\n' "$page" "$cold" "$median" "$max"
done
echo "collector peak RSS: $(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' /proc/$pid/status)"
