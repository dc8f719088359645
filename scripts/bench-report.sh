#!/usr/bin/env bash
# Benchmark: a fleet report of 10,000 hosts × 25 checks in each format (release
# build), from a SQLite database made by attest-fleetgen (two rounds of signed
# reports per host; made once and kept in DIR). Each format RUNS times under
# /usr/bin/time; prints the 1-minute load average before each run, every run, and
# per format the median wall time, CPU (user + sys) and peak RSS.
#
# Peer, in the same run: a Python script (stdlib sqlite3 and python3-zstandard) that
# only reads what a report reads — the latest envelope of every host, decompressed
# (keyframe, then delta: docs/collector.md, "Storage format") and JSON-decoded, its
# payload SHA-256 checked, and the results of those reports — with no signature
# check, no evaluation and no output.
#
#   scripts/bench-report.sh [RUNS] [DIR]     (defaults: 3, /tmp/fleet10k)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
dir=${2:-/tmp/fleet10k}
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 1; }

cargo build --release -q -p attest-collector -p attest-sim --bins
bin=target/release
if [ ! -f "$dir/collector.db" ]; then
  "$bin/attest-fleetgen" --data-dir "$dir" --hosts 10000 --rounds 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "host: $(nproc) cores, kernel $(uname -r); runs: $runs; data: $dir"
printf 'format\trun\tload1\twall_s\tcpu_s\tmaxrss_mb\toutput_mb\n'
cat >"$tmp/peer.py" <<'PY'
import base64, hashlib, json, sqlite3, struct, sys
try:
    import zstandard  # envelopes are stored by difference (docs/collector.md)
except ImportError:
    sys.exit("the peer needs zstandard: apt-get install -y python3-zstandard, or pip install zstandard")
db = sqlite3.connect(sys.argv[1])
latest = db.execute(
    "SELECT r.log_index, r.payload_sha256, r.envelope, r.codec, b.codec, b.envelope "
    "FROM reports r JOIN "
    "(SELECT agent_id, max(seq) AS seq FROM reports GROUP BY agent_id) m "
    "ON r.agent_id = m.agent_id AND r.seq = m.seq "
    "LEFT JOIN reports b ON b.log_index = r.base_index").fetchall()
def form(codec, data, base=None):
    if codec == "zstd":
        return zstandard.ZstdDecompressor().decompress(data)
    if codec == "zstd-delta" and base is not None:
        d = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        return zstandard.ZstdDecompressor(dict_data=d).decompress(data)
    raise SystemExit(f"codec {codec} (or a raw base) not read by the peer")
def statement(codec, env, bcodec, benv):
    if codec == "raw":
        return base64.b64decode(json.loads(env)["payload"])
    f = form(codec, env, form(bcodec, benv) if codec == "zstd-delta" else None)
    if f[0] == 0:
        return base64.b64decode(json.loads(f[1:])["payload"])
    start, n = struct.unpack_from("<II", f, 1)
    return f[9 + start:9 + start + n]
results = 0
for _, sha, env, codec, bcodec, benv in latest:
    payload = statement(codec, env, bcodec, benv)
    assert hashlib.sha256(payload).hexdigest() == sha
    results += len(json.loads(payload)["predicate"]["results"])
# Results are stored as changes (docs/collector.md): a report's are the rows open at its seq.
rows = db.execute(
    "SELECT r.log_index, c.check_id, c.status, c.summary, c.reason FROM reports r "
    "JOIN result_changes c ON c.agent_id = r.agent_id AND c.seq_to > r.seq "
    "AND c.seq_from <= r.seq "
    "WHERE r.log_index IN (SELECT value FROM json_each(?)) AND c.position IS NOT NULL",
    (json.dumps([l[0] for l in latest]),)).fetchall()
assert len(rows) == results
open(sys.argv[2], "w").write(f"{len(latest)} reports, {len(rows)} results\n")
PY
for f in html csv json oscal peer; do
  for i in $(seq "$runs"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if [ "$f" = peer ]; then
      cmd=(python3 "$tmp/peer.py" "$dir/collector.db" "$dir/report.$f")
    else
      cmd=("$bin/attest-collector" --data-dir "$dir" report --format "$f" --out "$dir/report.$f")
    fi
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/$f.$i" "${cmd[@]}" \
      >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    read -r wall user sys rss <"$tmp/$f.$i"
    size=$(stat -c %s "$dir/report.$f")
    printf '%s\t%s\t%s\t%s\t%.2f\t%d\t%.1f\n' "$f" "$i" "$load" "$wall" \
      "$(echo "$user + $sys" | bc)" "$((rss / 1024))" "$(echo "$size / 1000000" | bc -l)" |
      tee -a "$tmp/rows"
  done
done
python3 - "$tmp/rows" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
print("\nformat\tmedian_wall_s\trange_s\tmedian_cpu_s\tmedian_maxrss_mb\tloads")
for f in ("html", "csv", "json", "oscal", "peer"):
    r = [x for x in rows if x[0] == f]
    walls = [float(x[3]) for x in r]
    print(f"{f}\t{statistics.median(walls):.2f}\t{min(walls):.2f}-{max(walls):.2f}\t"
          f"{statistics.median(float(x[4]) for x in r):.2f}\t"
          f"{statistics.median(int(x[5]) for x in r)}\t{' '.join(x[2] for x in r)}")
PY
