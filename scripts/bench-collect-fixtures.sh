#!/usr/bin/env bash
# Benchmark: `attest-agent collect` of fixture hosts (release build), each RUNS times.
# A captured host (`"replay": true` in its expected.json) is collected with
# `--replay ROOT/_captures`, as the e2e test does. Prints, per host, the median and
# the slowest wall time and the median peak RSS (each child's own, from wait4).
#
#   scripts/bench-collect-fixtures.sh [RUNS] [HOST...]   (default 20 runs, every macos* host)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
shift || true
hosts=("$@")
if [ ${#hosts[@]} -eq 0 ]; then
  for d in tests/fixtures/hosts/macos*/; do
    d=${d%/}
    # Variants hold only their own files: they are benchmarked through their base.
    grep -q '"base"' "$d/expected.json" || hosts+=("$(basename "$d")")
  done
fi
cargo build --release -q -p attest-agent
agent=target/release/attest-agent
echo "agent: $(stat -c %s "$agent") bytes; host: $(uname -sr), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); runs: $runs"
python3 - "$agent" "$runs" "${hosts[@]}" <<'PY'
import json, os, statistics, subprocess, sys, time
agent, runs, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("host\tmedian_wall_ms\tmax_wall_ms\tmedian_peak_rss_mb")
for name in hosts:
    root = f"tests/fixtures/hosts/{name}"
    expected = json.load(open(f"{root}/expected.json"))
    argv = [agent, "collect", "--root", root, "--format", "json", "--at", expected["at"]]
    if expected.get("replay"):
        argv += ["--replay", f"{root}/_captures"]
    walls, rss = [], []
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        walls.append(time.perf_counter() - start)
        rss.append(usage.ru_maxrss)  # kB on Linux
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{name}: attest-agent exited with {os.waitstatus_to_exitcode(status)}")
    print(f"{name}\t{statistics.median(walls)*1000:.1f}\t{max(walls)*1000:.1f}\t{statistics.median(rss)/1024:.1f}")
PY
