#!/usr/bin/env bash
# Benchmark: `attest-agent collect` of fixture hosts (release build), each RUNS times.
# A captured host (`"replay": true` in its expected.json) is collected with
# `--replay ROOT/_captures`, as the e2e test does. Prints, per host, the median and
# the slowest wall time and the median peak RSS (GNU time's %M: the agent's own; a
# child forked from Python would count Python's pages until it execs).
#
# A Windows host (a `hives/` directory of .reg text) is collected from the root the
# e2e test builds in target/tmp/fixture-windows/NAME, made first when missing.
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
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 1; }
for name in "${hosts[@]}"; do
  if [ -d "tests/fixtures/hosts/$name/hives" ] && [ ! -d "target/tmp/fixture-windows/$name" ]; then
    echo "building the Windows fixture roots (the e2e test's fixture_hosts_are_told_apart_as_the_agent_does)"
    cargo test -q -p attest-tests --test e2e fixtures::fixture_hosts_are_told_apart_as_the_agent_does >/dev/null
    break
  fi
done
cargo build --release -q -p attest-agent
agent=target/release/attest-agent
echo "agent: $(stat -c %s "$agent") bytes; host: $(uname -sr), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); runs: $runs"
python3 - "$agent" "$runs" "${hosts[@]}" <<'PY'
import json, os, statistics, subprocess, sys, time
agent, runs, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("host\tmedian_wall_ms\tmax_wall_ms\tmedian_peak_rss_mb")
for name in hosts:
    source = f"tests/fixtures/hosts/{name}"
    expected = json.load(open(f"{source}/expected.json"))
    root = f"target/tmp/fixture-windows/{name}" if os.path.isdir(f"{source}/hives") else source
    argv = [agent, "collect", "--root", root, "--format", "json", "--at", expected["at"]]
    if expected.get("replay"):
        argv += ["--replay", f"{root}/_captures"]
    walls, rss = [], []
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", *argv],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - start)
        if p.returncode != 0:
            sys.exit(f"{name}: attest-agent exited with {p.returncode}")
        rss.append(int(p.stderr.strip().splitlines()[-1]))  # kB
    print(f"{name}\t{statistics.median(walls)*1000:.1f}\t{max(walls)*1000:.1f}\t{statistics.median(rss)/1024:.1f}")
PY
