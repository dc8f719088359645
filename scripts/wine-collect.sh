#!/usr/bin/env bash
# The Windows agent, run for real under Wine (docs/agent.md, "Windows under Wine").
#
# Cross-compiles attest-agent.exe (release, x86_64-pc-windows-gnu), checks its size
# against the 15 MB budget, and runs it in a throw-away Wine prefix under
# target/wine/:
#
#   1. `collect --format json`: exit 0 within the timeout; every check id of
#      proto/data/catalogue.toml answers; the host is judged Windows (the live
#      Windows path: the build target decides, not the files under the root);
#      `patch.os_supported` shows the CurrentBuild that Wine's own registry file
#      (system.reg, read here from Linux) holds, so the live registry read is real;
#      what Wine lacks is `unknown` with a reason, nothing crashes or hangs.
#   2. `capture --out C:\capture`: every Windows source of the source table is
#      called live once; each Win32 source answers its documented layout or an
#      error text (Wine implements some of them, stubs others), and no password
#      field appears in the user list.
#   3. a user's live hive: a value written with `wine reg add HKCU\…` is read
#      back through Host::registry_user (agent/examples/registry-user.rs) for
#      Wine's profile directory (ProfileList → HKEY_USERS\<SID>), in any case; a
#      profile whose hive is not loaded, and one not in ProfileList, are errors
#      that say so;
#   4. `enroll` + `run --once` against a collector on loopback (the Linux build of
#      attest-collector, self-signed certificate pinned): the Windows agent signs,
#      spools and delivers one report over TLS through Wine's sockets.
#
# Wine 8.0 (Debian 12) has no bcryptprimitives.dll, whose ProcessPrng Rust's std
# imports on windows-gnu: a ten-line shim over RtlGenRandom
# (scripts/wine/bcryptprimitives.c) is built with MinGW and copied into the
# prefix's system32. It is a test fixture, never shipped.
#
# Needs: wine (wine64), x86_64-w64-mingw32-gcc, the rustup target
# x86_64-pc-windows-gnu, python3; .ci/run installs them. Environment:
#   ATTEST_WINE_TIMEOUT  seconds allowed per agent command (default 300)
#   ATTEST_COLLECTOR_BIN the Linux attest-collector (default target/debug/…, built
#                        when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=x86_64-pc-windows-gnu
timeout_s=${ATTEST_WINE_TIMEOUT:-300}
work=$root/target/wine
max_bytes=15000000

for tool in wine x86_64-w64-mingw32-gcc python3; do
    command -v "$tool" >/dev/null || { echo "wine-collect: $tool is not installed" >&2; exit 1; }
done

echo "== attest-agent.exe (release, $target)"
cargo build --release -p attest-agent --target "$target"
exe=$root/target/$target/release/attest-agent.exe
size=$(stat -c %s "$exe")
echo "attest-agent.exe: $size bytes ($(python3 -c "print(f'{$size/1e6:.1f}')") MB; budget $max_bytes bytes)"
if [ "$size" -gt "$max_bytes" ]; then
    echo "wine-collect: attest-agent.exe is over the 15 MB budget" >&2
    exit 1
fi

echo "== Wine prefix (throw-away, $work/prefix)"
rm -rf "$work"
mkdir -p "$work"
export WINEPREFIX=$work/prefix
export WINEDEBUG=-all
# No Mono or Gecko download prompts; no display needed.
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
wineserver_stop() { WINEPREFIX=$WINEPREFIX wineserver -k >/dev/null 2>&1 || true; }
collector_pid=
cleanup() {
    if [ -n "$collector_pid" ]; then kill "$collector_pid" 2>/dev/null || true; fi
    wineserver_stop
}
trap cleanup EXIT
prefix_start=$(date +%s)
timeout 600 wine wineboot -i >"$work/wineboot.log" 2>&1
# Windows 10, the oldest release the agent supports (Wine 8.0's prefix says 7).
timeout 120 wine winecfg -v win10 >>"$work/wineboot.log" 2>&1
WINEPREFIX=$WINEPREFIX timeout 120 wineserver -w
echo "prefix ready in $(( $(date +%s) - prefix_start )) s"

echo "== bcryptprimitives.dll shim (ProcessPrng over RtlGenRandom)"
x86_64-w64-mingw32-gcc -shared -O2 -s -o "$work/bcryptprimitives.dll" \
    scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -ladvapi32
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
cp "$exe" "$WINEPREFIX/drive_c/attest-agent.exe"

# Runs the agent in the prefix with C:\ as the current directory, so that `/` is
# C:\ (from a Linux directory Wine's current drive is Z:, the Linux root).
win() {
    (cd "$WINEPREFIX/drive_c" && timeout "$timeout_s" wine "$@")
}
agent() { win 'C:\attest-agent.exe' "$@"; }

echo "== collect --format json"
start=$(date +%s%N)
set +e
agent collect --format json >"$work/collect.json" 2>"$work/collect.err"
rc=$?
set -e
echo "collect: exit $rc in $(( ($(date +%s%N) - start) / 1000000 )) ms"
if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "wine-collect: collect did not finish in $timeout_s s" >&2
    cat "$work/collect.err" >&2
    exit 1
fi
python3 - "$work/collect.json" "$work/collect.err" proto/data/catalogue.toml "$WINEPREFIX/system.reg" <<'PY'
import json, re, sys, tomllib

report_path, err_path, catalogue_path, system_reg = sys.argv[1:5]
report = json.load(open(report_path, encoding="utf-8"))
stderr = open(err_path, encoding="utf-8", errors="replace").read()
catalogue = [c["id"] for c in tomllib.load(open(catalogue_path, "rb"))["check"]]
failures = []

def need(ok, what):
    if not ok:
        failures.append(what)

for word in ("panicked", "RUST_BACKTRACE", "stack overflow"):
    need(word not in stderr, f"stderr mentions {word!r}: {stderr[-500:]}")

results = {r["check"]: r for r in report["results"]}
need([r["check"] for r in report["results"]] == catalogue,
     f"the report's checks are not the catalogue's: {sorted(set(catalogue) ^ set(results))}")
need(report["host"]["os"]["id"] == "windows", f"host judged {report['host']['os']!r}, not Windows")
need(report["agent"].get("replay", False) is False, "a live collection is marked replay")

# Wine's own CurrentBuild, read from the prefix's registry file on the Linux side.
text = open(system_reg, encoding="utf-8", errors="replace").read()
section = re.search(r'^\[Software\\\\Microsoft\\\\Windows NT\\\\CurrentVersion\][^\n]*\n(.*?)(?:\n\n|\Z)',
                    text, re.S | re.M)
build = re.search(r'^"CurrentBuild"="([^"]+)"', section.group(1), re.M) if section else None
need(build is not None, "system.reg has no CurrentBuild")
if build:
    os_supported = json.dumps(results.get("patch.os_supported", {}))
    need(build.group(1) in os_supported,
         f"patch.os_supported does not show Wine's CurrentBuild {build.group(1)}: {os_supported[:600]}")
    print(f"Wine's CurrentBuild {build.group(1)} (system.reg) is in patch.os_supported")

for r in report["results"]:
    if r["status"] in ("unknown", "not_applicable"):
        need(bool(r.get("reason")), f"{r['check']}: {r['status']} without a reason")
    else:
        need(not r.get("reason"), f"{r['check']}: decided with a reason")

counts = {}
for r in report["results"]:
    counts[r["status"]] = counts.get(r["status"], 0) + 1
print("statuses:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
for r in report["results"]:
    detail = r.get("reason") or r.get("summary") or ""
    print(f"  {r['check']:<34} {r['status']:<15} {detail[:110]}")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
PY

echo "== capture --out C:\\capture (every Windows source called live once)"
set +e
agent capture --out 'C:\capture' >"$work/capture.out" 2>"$work/capture.err"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
    echo "wine-collect: capture exited $rc" >&2
    cat "$work/capture.out" "$work/capture.err" >&2
    exit 1
fi
python3 - "$WINEPREFIX/drive_c/capture/_captures" <<'PY'
import json, os, sys

import base64, re, struct

captures = sys.argv[1]
manifest = json.load(open(os.path.join(captures, "manifest.json"), encoding="utf-8"))
sources = manifest["sources"]
failures = []
# The Win32 sources of host/win_api.rs and the keys of their documented layouts.
layouts = {
    "win.api.netusermodals": ["level0", "level3"],
    "win.api.netuserenum": ["users"],
    "win.api.localgroup_admins": ["group_sid", "group_name", "members"],
    "win.api.localgroup_remote_desktop": ["group_sid", "group_name", "members"],
    "win.api.auditpolicy": ["subcategories"],
    "win.api.smbios_rsmb": ["base64"],
    "win.api.firmware_type": ["FirmwareType"],
    "win.api.join_information": ["name", "status"],
}
for sid, entry in sorted(sources.items()):
    status = entry.get("status")
    if status == "ok":
        path = os.path.join(captures, sid + ".json")
        value = json.load(open(path, encoding="utf-8"))
        shown = json.dumps(value)[:150]
        for key in layouts.get(sid, []):
            if key not in value:
                failures.append(f"{sid}: no {key!r} in {shown}")
    else:
        shown = entry.get("error", "")
        if not shown:
            failures.append(f"{sid}: {status} without an error text")
    print(f"  {sid:<36} {status:<6} {shown[:150]}")
for sid in layouts:
    if sid not in sources:
        failures.append(f"{sid}: not in the capture")
        continue
    if sources[sid].get("status") != "ok":
        # A failed Win32 call names its number, or why it was not called.
        error = sources[sid].get("error", "")
        if not re.search(r"error \d+ \(0x[0-9A-F]{8}\)|not called", error):
            failures.append(f"{sid}: the error names no Win32 error number: {error}")
# What Wine 8.0 implements must answer, and answer right.
def value(sid):
    if sources.get(sid, {}).get("status") != "ok":
        failures.append(f"{sid}: Wine implements it, yet it failed: {sources.get(sid)}")
        return None
    return json.load(open(os.path.join(captures, sid + ".json"), encoding="utf-8"))
for sid, group in [("win.api.localgroup_admins", "S-1-5-32-544"),
                   ("win.api.localgroup_remote_desktop", "S-1-5-32-555")]:
    v = value(sid)
    if v and (v["group_sid"] != group or not v["group_name"] or not isinstance(v["members"], list)):
        failures.append(f"{sid}: {v}")
v = value("win.api.smbios_rsmb")
if v:
    raw = base64.b64decode(v["base64"])
    # RawSMBIOSData: calling method, major, minor, DMI revision, u32 length, table.
    if len(raw) < 8 or struct.unpack_from("<I", raw, 4)[0] != len(raw) - 8:
        failures.append(f"win.api.smbios_rsmb: not a RawSMBIOSData of {len(raw)} bytes")
    else:
        print(f"  SMBIOS {raw[1]}.{raw[2]}, {len(raw) - 8} bytes of structures")
v = value("win.api.join_information")
if v and (v["status"] not in (0, 1, 2, 3) or not isinstance(v["name"], str)):
    failures.append(f"win.api.join_information: {v}")
users = os.path.join(captures, "win.api.netuserenum.json")
if os.path.exists(users) and "passw" in open(users, encoding="utf-8").read().lower():
    failures.append("the user list names a password field")
ok = sum(1 for e in sources.values() if e.get("status") == "ok")
print(f"{ok} of {len(sources)} sources answered; the rest are errors with their text")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
PY

echo "== a user's live hive: HKEY_USERS\\<SID>, the SID found in ProfileList"
# No check of this agent version reads a user's hive yet: the small example
# program agent/examples/registry-user.rs reads one value through Host::registry_user.
cargo build --release -p attest-agent --example registry-user --target "$target"
cp "$root/target/$target/release/examples/registry-user.exe" "$WINEPREFIX/drive_c/"
# The profile directory of Wine's user, from Wine's ProfileList (read from Linux).
profile=$(python3 - "$WINEPREFIX/system.reg" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
m = re.search(r'^\[Software\\\\Microsoft\\\\Windows NT\\\\CurrentVersion\\\\ProfileList\\\\S-1-5-21-[^\]]*\][^\n]*\n'
              r'(?:(?!\n\[).)*?^"ProfileImagePath"="([^"]+)"', text, re.S | re.M)
print(m.group(1).replace("\\\\", "\\").rstrip("\\").rsplit("\\", 1)[-1] if m else "")
PY
)
[ -n "$profile" ] || { echo "wine-collect: no user profile in Wine's ProfileList" >&2; exit 1; }
marker="wine-collect-$$-$(date +%s)"
win reg add 'HKCU\Software\Attest\WineCollect' /v Marker /d "$marker" /f >/dev/null
# A profile without a session: listed in ProfileList, its hive never loaded.
win reg add 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1-5-21-0-0-0-1999' \
    /v ProfileImagePath /t REG_EXPAND_SZ /d '%SystemDrive%\users\attest-ghost' /f >/dev/null
user_hive() { win 'C:\registry-user.exe' "$@" | tr -d '\r'; }
check_line() {
    echo "  $2"
    [ "$2" = "$1" ] || { echo "wine-collect: expected: $1" >&2; exit 1; }
}
upper=$(printf '%s' "$profile" | tr '[:lower:]' '[:upper:]')
check_line "ok \"$marker\" (REG_SZ)" "$(user_hive "$profile" 'Software\Attest\WineCollect' Marker)"
check_line "ok \"$marker\" (REG_SZ)" "$(user_hive "$upper" 'software\attest\winecollect' marker)"
check_line "absent HKU\\$profile\\Software\\Attest\\WineCollect\\Nothing" \
    "$(user_hive "$profile" 'Software\Attest\WineCollect' Nothing)"
check_line "error HKU\\attest-ghost\\Software\\Attest\\WineCollect\\Marker: hive of attest-ghost not loaded (no session)" \
    "$(user_hive attest-ghost 'Software\Attest\WineCollect' Marker)"
check_line "error HKU\\nobody-here\\Software\\Attest\\WineCollect\\Marker: no profile directory \"nobody-here\" in HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList" \
    "$(user_hive nobody-here 'Software\Attest\WineCollect' Marker)"

echo "== enroll and run --once against a collector on loopback"
collector_bin=${ATTEST_COLLECTOR_BIN:-$root/target/debug/attest-collector}
[ -x "$collector_bin" ] || cargo build -p attest-collector
data=$work/collector
mkdir -p "$data"
collector() { "$collector_bin" --data-dir "$data" "$@"; }
ATTEST_LOG=info "$collector_bin" --data-dir "$data" serve --listen 127.0.0.1:0 2>"$work/serve.log" &
collector_pid=$!
for _ in $(seq 1 150); do grep -q "listening on" "$work/serve.log" && break; sleep 0.2; done
addr=$(sed -n 's/.*listening on https:\/\///p' "$work/serve.log" | head -n 1)
[ -n "$addr" ] || { cat "$work/serve.log" >&2; exit 1; }
pin=$(collector fingerprint)
collector token create >"$WINEPREFIX/drive_c/token.txt" 2>/dev/null
printf 'version = 1\n' >"$WINEPREFIX/drive_c/agent.toml"
set +e
agent enroll --server "https://$addr" --token-file 'C:\token.txt' --pin "$pin" \
    --state-dir 'C:\attest-state' --config 'C:\agent.toml' >"$work/enroll.out" 2>&1
rc=$?
set -e
cat "$work/enroll.out"
[ "$rc" -eq 0 ] || { echo "wine-collect: enroll exited $rc" >&2; tail -n 20 "$work/serve.log" >&2; exit 1; }
set +e
agent run --once --state-dir 'C:\attest-state' --config 'C:\agent.toml' >"$work/run.out" 2>&1
rc=$?
set -e
cat "$work/run.out"
[ "$rc" -eq 0 ] || { echo "wine-collect: run --once exited $rc" >&2; tail -n 20 "$work/serve.log" >&2; exit 1; }
grep -q "delivered 1, quarantined 0, waiting in the spool 0" "$work/run.out" \
    || { echo "wine-collect: run --once did not deliver exactly one report" >&2; exit 1; }
collector agents list | tee "$work/agents.txt"
kill "$collector_pid"
wait "$collector_pid" 2>/dev/null || true
collector_pid=
collector fsck
echo "wine-collect: passed"
