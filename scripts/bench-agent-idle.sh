#!/usr/bin/env bash
# The agent service's idle footprint (docs/benchmarks.md, "Agent service footprint").
#
#   scripts/bench-agent-idle.sh [IDLE_SECONDS]     (default 60)
#
# Starts a minimal HTTPS collector stand-in (Python, loopback only) that answers
# enrollment and receipts, enrolls a release-build agent with a pinned certificate,
# runs `attest-agent run` with its default hourly schedule, waits until the first
# report is delivered, then reads the agent's RSS from /proc/PID/status and its CPU
# time from /proc/PID/stat, before and after IDLE_SECONDS of idling.
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-60}

cargo build --release -p attest-agent --quiet
agent=target/release/attest-agent
work=$(mktemp -d)
cleanup() {
    [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null || true
    [ -n "${collector_pid:-}" ] && kill "$collector_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
pin=$(openssl x509 -in "$work/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)

cat > "$work/collector.py" <<'PY'
import base64, hashlib, http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/enroll":
            out = {"agent_id": "agt_bench"}
        else:
            env = json.loads(body)
            payload = base64.b64decode(env["payload"])
            seq = json.loads(payload)["predicate"]["seq"]
            out = {"agent_id": "agt_bench", "seq": seq, "log_index": seq - 1, "duplicate": False,
                   "payload_sha256": hashlib.sha256(payload).hexdigest()}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$work/collector.py" "$work/cert.pem" "$work/key.pem" > "$work/port" &
collector_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

printf 'version = 1\n' > "$work/agent.toml"
chmod 0600 "$work/agent.toml"
args=(--config "$work/agent.toml" --state-dir "$work/state")
"$agent" enroll --server "https://127.0.0.1:$port" --token bench --pin "$pin" "${args[@]}"
"$agent" run "${args[@]}" 2> "$work/agent.log" &
agent_pid=$!
for _ in $(seq 300); do
    "$agent" status "${args[@]}" | grep -q "^last upload: .*seq 1" && break
    sleep 0.1
done
"$agent" status "${args[@]}" | grep "^last upload"
sleep 2

rss() { awk '/^VmRSS|^VmHWM|^Threads/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$agent_pid/status"; echo; }
ticks() { awk '{print $14 + $15}' "/proc/$agent_pid/stat"; }
hz=$(getconf CLK_TCK)
echo "after the first collection and delivery: $(rss)"
t0=$(ticks)
sleep "$idle"
t1=$(ticks)
echo "after ${idle}s idle:                      $(rss)"
echo "CPU while idle: $((t1 - t0)) ticks (1 tick = 1/${hz} s) over ${idle}s"
echo "binary: $(stat -c %s "$agent") bytes"
