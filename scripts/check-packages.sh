#!/usr/bin/env bash
# Builds the release binaries once, then from them the agent's and the collector's
# Debian packages (cargo-deb --no-build) and the agent's RPM (cargo generate-rpm), and
# checks each one:
#   - contents, modes and owners (dpkg-deb -c, rpm -qlp/--dump), control fields
#     (dpkg-deb -I, rpm -qip), conffiles / %config;
#   - maintainer scripts: `sh -n`, then really run by dpkg (install, remove, purge) and
#     rpm (install, erase) inside a scratch root where they run chrooted (a minimal
#     root with dash and the few coreutils the scripts call), so the directories they
#     make, with their modes, are checked on disk, and nothing touches this machine;
#   - the packaged binaries on the packaged configs (`validate`), and the collector
#     started the way its unit starts it: the unit's own ExecStartPre/ExecStart lines,
#     as an unprivileged user, with the config handed over as a 0400 credential;
#   - the units' hardening lines and `systemd-analyze verify`;
#   - the macOS .pkg's payload and postinstall script (build-pkg.sh --layout-only:
#     pkgbuild exists only on macOS): paths, modes, owners, the launchd plist, `sh -n`.
# Needs root (chroot), cargo-deb, cargo-generate-rpm, dpkg and rpm (.ci/run installs
# them). Prints how long each step took. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-packages: $*" >&2; exit 1; }
t0=$(date +%s)
lap=$t0
timing() { # what
    local now
    now=$(date +%s)
    echo "check-packages: $1 took $((now - lap)) s"
    lap=$now
}

[ "$(id -u)" = 0 ] || fail "must run as root (the maintainer scripts run chrooted)"
for tool in cargo-deb cargo-generate-rpm dpkg dpkg-deb rpm; do
    command -v "$tool" >/dev/null || fail "$tool is missing (.ci/run installs it)"
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# --- One release build for every package --------------------------------------------
cargo build --release --quiet --bin attest-agent --bin attest-collector
timing "the release build (attest-agent, attest-collector)"

agent_deb=$(cargo deb -p attest-agent --no-build --quiet)
collector_deb=$(cargo deb -p attest-collector --no-build --quiet)
cargo generate-rpm -p agent
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
rpm_file=$(ls -t target/generate-rpm/attest-agent-"$version"-*.rpm | head -n 1)
for f in "$agent_deb" "$collector_deb" "$rpm_file"; do
    [ -f "$f" ] || fail "no package at $f"
    echo "built $f ($(stat -c %s "$f") bytes)"
done
timing "cargo deb x2 and cargo generate-rpm"

# --- Debian packages: contents and control ------------------------------------------
# expect_files DEB "MODE PATH"...: exactly these regular files, with these modes,
# owned by root (cargo-deb adds copyright and changelog under usr/share/doc).
expect_files() {
    local deb=$1 listing want got
    shift
    listing=$(dpkg-deb -c "$deb")
    grep -Eq '^-' <<<"$listing" || fail "$deb: empty?"
    if grep -E '^-' <<<"$listing" | grep -Evq '^-[rwx-]{9} (root/root|0/0) '; then
        fail "$deb: a file not owned by root:"$'\n'"$listing"
    fi
    got=$(awk '/^-/ { sub(/^\.\//, "", $6); print $1, $6 }' <<<"$listing" \
        | grep -Ev ' usr/share/doc/[^/]+/(copyright|changelog\.gz)$' | sort)
    want=$(printf '%s\n' "$@" | sort)
    [ "$got" = "$want" ] || fail "$deb holds"$'\n'"$got"$'\n'"and should hold"$'\n'"$want"
}
expect_files "$agent_deb" \
    '-rwxr-xr-x usr/bin/attest-agent' \
    '-rw-r----- etc/attest/agent.toml' \
    '-rw-r--r-- lib/systemd/system/attest-agent.service' \
    '-rw-r--r-- usr/share/doc/attest-agent/agent.md'
expect_files "$collector_deb" \
    '-rwxr-xr-x usr/bin/attest-collector' \
    '-rw-r----- etc/attest/collector.toml' \
    '-rw-r--r-- lib/systemd/system/attest-collector.service' \
    '-rw-r--r-- usr/share/doc/attest-collector/collector.md'

check_control() { # deb package conffile
    local deb=$1 pkg=$2 conffile=$3 info field dir
    info=$(dpkg-deb -I "$deb")
    for field in "Package: $pkg" "Version: $version-1" "Architecture: amd64" \
        "Section: admin" "Priority: optional" "Maintainer: Attest developers"; do
        grep -q "^ $field" <<<"$info" || fail "$pkg: no '$field' in the control file:"$'\n'"$info"
    done
    grep -Eq '^ Depends: .*libc6' <<<"$info" || fail "$pkg: Depends lacks libc6:"$'\n'"$info"
    for script in postinst prerm postrm; do
        grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script +#!/bin/sh" <<<"$info" \
            || fail "$pkg: $script missing or not executable:"$'\n'"$info"
    done
    dir="$scratch/control-$pkg"
    dpkg-deb -e "$deb" "$dir"
    [ "$(cat "$dir/conffiles")" = "$conffile" ] \
        || fail "$pkg: conffiles is '$(cat "$dir/conffiles")', not $conffile"
    for script in postinst prerm postrm; do
        sh -n "$dir/$script" || fail "$pkg: $script: syntax error"
    done
}
check_control "$agent_deb" attest-agent /etc/attest/agent.toml
check_control "$collector_deb" attest-collector /etc/attest/collector.toml

# --- Units --------------------------------------------------------------------------
check_unit() { # unit-file lines…
    local unit=$1 line
    shift
    for line in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes "$@"; do
        grep -qx -- "$line" "$unit" || fail "$unit lacks $line"
    done
    if command -v systemd-analyze >/dev/null; then
        # The binary is not installed on this machine; anything else is a finding.
        local out
        out=$(systemd-analyze verify "$unit" 2>&1 | grep -v "is not executable: No such file" || true)
        [ -z "$out" ] || fail "systemd-analyze verify $unit:"$'\n'"$out"
    fi
}
check_unit packaging/systemd/attest-agent.service ProtectHome=read-only StateDirectory=attest \
    "ExecStartPre=/usr/bin/attest-agent validate" "ExecStart=/usr/bin/attest-agent run"
check_unit packaging/systemd/attest-collector.service ProtectHome=yes DynamicUser=yes \
    StateDirectory=attest-collector LimitNOFILE=8192 \
    "LoadCredential=collector.toml:/etc/attest/collector.toml" \
    "ExecStartPre=/usr/bin/attest-collector --config %d/collector.toml validate" \
    "ExecStart=/usr/bin/attest-collector --config %d/collector.toml serve"
timing "contents, control files, scripts' syntax and units"

# --- The macOS installer package's layout ---------------------------------------------
# pkgbuild exists only on macOS: build-pkg.sh --layout-only stops before it, and the
# payload and the postinstall script are checked here (the Linux binary stands in for
# the Mac one; nothing of it runs).
mac="$scratch/macos-pkg"
packaging/macos/build-pkg.sh --layout-only "$mac" target/release/attest-agent >/dev/null
got=$(cd "$mac" && find root scripts -printf '%M %U:%G %p\n' | sort -k3)
want=$(sort -k3 <<'EOF'
drwxr-xr-x 0:0 root
drwxr-xr-x 0:0 root/Library
drwxr-xr-x 0:0 root/Library/LaunchDaemons
-rw-r--r-- 0:0 root/Library/LaunchDaemons/com.attest.agent.plist
drwxr-xr-x 0:0 root/usr
drwxr-xr-x 0:0 root/usr/local
drwxr-xr-x 0:0 root/usr/local/bin
-rwxr-xr-x 0:0 root/usr/local/bin/attest-agent
drwxr-xr-x 0:0 root/usr/local/etc
drwxr-x--- 0:0 root/usr/local/etc/attest
-rw-r----- 0:0 root/usr/local/etc/attest/agent.toml.default
drwxr-xr-x 0:0 scripts
-rwxr-xr-x 0:0 scripts/postinstall
EOF
)
[ "$got" = "$want" ] || fail "the macOS payload holds"$'\n'"$got"$'\n'"and should hold"$'\n'"$want"
# The daemon: a valid plist that runs the installed binary's `run` as root, on the
# configuration and state directory the postinstall script prepares.
python3 - "$mac/root/Library/LaunchDaemons/com.attest.agent.plist" <<'EOF' || fail "the launchd plist is wrong"
import plistlib, sys
with open(sys.argv[1], "rb") as f:
    p = plistlib.load(f)
args = p.get("ProgramArguments", [])
def after(flag):
    return args[args.index(flag) + 1] if flag in args[:-1] else None
problems = [
    what for what, ok in [
        ("Label com.attest.agent", p.get("Label") == "com.attest.agent"),
        ("the program /usr/local/bin/attest-agent", args[:1] == ["/usr/local/bin/attest-agent"]),
        ("the command run", args[1:2] == ["run"]),
        ("--config /usr/local/etc/attest/agent.toml", after("--config") == "/usr/local/etc/attest/agent.toml"),
        ("--state-dir /usr/local/var/lib/attest", after("--state-dir") == "/usr/local/var/lib/attest"),
        ("UserName absent or root", p.get("UserName", "root") == "root"),
        ("RunAtLoad", p.get("RunAtLoad") is True),
    ] if not ok
]
if problems:
    sys.exit("com.attest.agent.plist lacks: " + "; ".join(problems))
EOF
post="$mac/scripts/postinstall"
sh -n "$post" || fail "macOS postinstall: syntax error"
# shellcheck disable=SC2016 # the script's own lines, not expanded here
for line in 'state_dir=$prefix/usr/local/var/lib/attest' '/bin/chmod 0700 "$state_dir"' \
    'config=$config_dir/agent.toml' 'plist=/Library/LaunchDaemons/com.attest.agent.plist' \
    '/bin/launchctl bootstrap system "$plist"'; do
    grep -qF -- "$line" "$post" || fail "macOS postinstall lacks: $line"
done
# A secret never on a command line: the token only through --token-file.
if grep -Eq -- '--token([= ]|$)' "$post"; then
    fail "macOS postinstall passes a token on a command line"
fi
target/release/attest-agent validate --config "$mac/root/usr/local/etc/attest/agent.toml.default" \
    --state-dir "$scratch/macos-state" >/dev/null 2>&1 \
    || fail "the macOS default configuration does not validate"
timing "the macOS .pkg layout (build-pkg.sh --layout-only), its plist and postinstall"

# --- A scratch root where the maintainer scripts run for real -----------------------
# Debian's merged /usr: /bin and /sbin are links into /usr. Only what the scripts call.
make_root() { # dir
    local root=$1 tool path lib
    mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/tmp" "$root/var/lib" "$root/run"
    ln -s usr/bin "$root/bin"
    ln -s usr/sbin "$root/sbin"
    for tool in dash install chown chmod rm rmdir mkdir cat; do
        path=$(command -v "$tool") || fail "no $tool on this machine"
        path=$(readlink -f "$path")
        cp "$path" "$root/usr/bin/$tool"
        for lib in $(ldd "$path" | grep -o '/[^ ]*'); do
            mkdir -p "$root$(dirname "$lib")"
            [ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
        done
    done
    ln -s dash "$root/usr/bin/sh"
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
}
mode_of() { stat -c '%a %U:%G' "$1"; }
expect_mode() { # path "mode owner:group"
    [ -e "$1" ] || fail "${1#"$root"} does not exist"
    [ "$(mode_of "$1")" = "$2" ] || fail "${1#"$root"} is $(mode_of "$1"), not $2"
}
expect_gone() { [ ! -e "$1" ] || fail "${1#"$root"} is still there"; }

root="$scratch/deb-root"
make_root "$root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
# The scratch root has no libc6 package: only its dependencies are forced.
dpkg_root() { dpkg --root="$root" --force-depends "$@"; }

# Both packages, as on a host that runs the collector and reports on itself: they
# share /etc/attest.
dpkg_root -i "$agent_deb" "$collector_deb" >"$scratch/dpkg.log" 2>&1 \
    || fail "dpkg -i into the scratch root failed:"$'\n'"$(cat "$scratch/dpkg.log")"
dpkg_root -s attest-agent | grep -q '^Status: install ok installed' || fail "attest-agent not installed"
dpkg_root -s attest-collector | grep -q '^Status: install ok installed' || fail "attest-collector not installed"
expect_mode "$root/etc/attest" "750 root:root"
expect_mode "$root/etc/attest/agent.toml" "640 root:root"
expect_mode "$root/etc/attest/collector.toml" "640 root:root"
expect_mode "$root/var/lib/attest" "700 root:root"
expect_mode "$root/usr/bin/attest-agent" "755 root:root"
expect_mode "$root/usr/bin/attest-collector" "755 root:root"
# The collector's data directory is systemd's (StateDirectory=), not the package's.
expect_gone "$root/var/lib/attest-collector"

# The packaged binaries on the packaged configs.
"$root/usr/bin/attest-agent" --version
"$root/usr/bin/attest-agent" validate --config "$root/etc/attest/agent.toml" \
    --state-dir "$root/var/lib/attest"
"$root/usr/bin/attest-collector" --version
"$root/usr/bin/attest-collector" --config "$root/etc/attest/collector.toml" validate

# The collector as its unit starts it: the unit's ExecStartPre and ExecStart lines as
# they are written, %d the credentials directory holding a 0400 copy of the packaged
# config owned by the service's user (what LoadCredential= makes), run as that
# (unprivileged) user with a private 0700 data directory (StateDirectory=). Only the
# listen address and the data directory's place come from the environment, so that
# nothing is bound or written outside the scratch dir.
unit="$root/lib/systemd/system/attest-collector.service"
service_user=nobody
run_dir="$scratch/collector-service"
mkdir -p "$run_dir/credentials" "$run_dir/data"
chmod 0755 "$scratch" "$run_dir"
cp "$root/etc/attest/collector.toml" "$run_dir/credentials/collector.toml"
chown -R "$service_user:" "$run_dir/credentials" "$run_dir/data"
chmod 0500 "$run_dir/credentials"
chmod 0400 "$run_dir/credentials/collector.toml"
chmod 0700 "$run_dir/data"
cp "$root/usr/bin/attest-collector" "$run_dir/attest-collector"
unit_line() { # key: the command line, %d replaced, the binary the packaged one
    sed -n "s/^$1=//p" "$unit" \
        | sed -e "s|%d|$run_dir/credentials|g" -e "s|^/usr/bin/attest-collector|$run_dir/attest-collector|"
}
# The service's environment and user; a plain command, so that `&` gives the pid of
# the collector itself (env and setpriv exec it).
as_service=(env -i PATH=/usr/bin:/bin ATTEST_COLLECTOR_LISTEN=127.0.0.1:0
    ATTEST_COLLECTOR_DATA_DIR="$run_dir/data"
    setpriv --reuid="$service_user" --regid="$(id -g "$service_user")" --clear-groups
    --inh-caps=-all)
pre=$(unit_line ExecStartPre)
start=$(unit_line ExecStart)
{ [ -n "$pre" ] && [ -n "$start" ]; } || fail "no ExecStartPre/ExecStart in $unit"
# shellcheck disable=SC2086 # the unit's words, as systemd splits them (no quotes there)
"${as_service[@]}" $pre 2>"$run_dir/validate.log" \
    || fail "the unit's ExecStartPre failed:"$'\n'"$(cat "$run_dir/validate.log")"
grep -q "credentials/collector.toml is valid" "$run_dir/validate.log" \
    || fail "ExecStartPre did not check the credential:"$'\n'"$(cat "$run_dir/validate.log")"
# shellcheck disable=SC2086
"${as_service[@]}" $start 2>"$run_dir/serve.log" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 1 100); do
    grep -q "listening on https://" "$run_dir/serve.log" && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "listening on https://" "$run_dir/serve.log" \
    || fail "the unit's ExecStart did not start serving:"$'\n'"$(cat "$run_dir/serve.log")"
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "serve did not stop cleanly on SIGTERM:"$'\n'"$(cat "$run_dir/serve.log")"
trap 'rm -rf "$scratch"' EXIT
for made in collector.db log-signing.key tls/key.pem; do
    [ "$(stat -c %U "$run_dir/data/$made")" = "$service_user" ] \
        || fail "$made is not the service user's"
done
echo "the collector's unit lines ran as $service_user: $(grep -o 'listening on .*' "$run_dir/serve.log")"

# Remove the agent: its config stays (a conffile) and so does the shared /etc/attest.
dpkg_root -r attest-agent >>"$scratch/dpkg.log" 2>&1 || fail "dpkg -r attest-agent failed"
expect_gone "$root/usr/bin/attest-agent"
expect_mode "$root/etc/attest/agent.toml" "640 root:root"
expect_mode "$root/var/lib/attest" "700 root:root"
# Purge the agent: its state and config go; the collector's config stays.
echo "key" >"$root/var/lib/attest/agent.key"
dpkg_root -P attest-agent >>"$scratch/dpkg.log" 2>&1 || fail "dpkg -P attest-agent failed"
expect_gone "$root/var/lib/attest"
expect_gone "$root/etc/attest/agent.toml"
expect_mode "$root/etc/attest/collector.toml" "640 root:root"
# Purge the collector: its config and /etc/attest go, the evidence stays.
mkdir -p "$root/var/lib/private/attest-collector"
echo "evidence" >"$root/var/lib/private/attest-collector/collector.db"
ln -s private/attest-collector "$root/var/lib/attest-collector"
dpkg_root -P attest-collector >>"$scratch/dpkg.log" 2>&1 || fail "dpkg -P attest-collector failed"
grep -q "evidence in /var/lib/attest-collector is kept" "$scratch/dpkg.log" \
    || fail "the collector's purge did not say the evidence is kept:"$'\n'"$(cat "$scratch/dpkg.log")"
expect_gone "$root/usr/bin/attest-collector"
expect_gone "$root/etc/attest"
[ "$(cat "$root/var/lib/private/attest-collector/collector.db")" = evidence ] \
    || fail "the collector's purge touched the evidence"
dpkg_root -l | grep -q '^[a-z][a-z] *attest' && fail "packages left: $(dpkg_root -l | grep attest)"
timing "dpkg install, the packaged binaries and unit lines, remove and purge in a scratch root"

# --- The agent's RPM -----------------------------------------------------------------
info=$(rpm -qip "$rpm_file" 2>/dev/null)
for field in "Name *: attest-agent" "Version *: $version" "Release *: 1" \
    "Architecture: x86_64" "License *: Apache-2.0"; do
    grep -Eq "^$field" <<<"$info" || fail "rpm: no '$field':"$'\n'"$info"
done
rpm -K "$rpm_file" | grep -q "digests OK" || fail "rpm: digests do not verify: $(rpm -K "$rpm_file")"
# Mode, owner, group, config flag and path of every file.
files=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' \
    "$rpm_file" 2>/dev/null | grep -v '^d' | sort -k4)
want=$(sort -k4 <<'EOF'
-rwxr-xr-x root:root  /usr/bin/attest-agent
-rw-r----- root:root c /etc/attest/agent.toml
-rw-r--r-- root:root  /usr/lib/systemd/system/attest-agent.service
-rw-r--r-- root:root d /usr/share/doc/attest-agent/agent.md
EOF
)
[ "$files" = "$want" ] || fail "the RPM holds"$'\n'"$files"$'\n'"and should hold"$'\n'"$want"
[ "$(rpm -qlp "$rpm_file" 2>/dev/null | grep -c .)" = 4 ] || fail "rpm -qlp: $(rpm -qlp "$rpm_file")"
# Each scriptlet parses.
rpm -qp --scripts "$rpm_file" 2>/dev/null >"$scratch/rpm-scripts"
for s in postinstall preuninstall postuninstall; do
    grep -q "^$s scriptlet" "$scratch/rpm-scripts" || fail "rpm: no $s scriptlet"
done
awk -v dir="$scratch" '/^[a-z]+ scriptlet/ { f = dir "/rpm-" $1 ".sh"; next } f { print > f }' \
    "$scratch/rpm-scripts"
for s in "$scratch"/rpm-*.sh; do sh -n "$s" || fail "rpm scriptlet $(basename "$s"): syntax error"; done

# Installed and erased in a scratch root: the scriptlets run chrooted there.
root="$scratch/rpm-root"
make_root "$root"
rpm --root "$root" --initdb
rpm --root "$root" --nodeps -i "$rpm_file" >"$scratch/rpm.log" 2>&1 \
    || fail "rpm -i into the scratch root failed:"$'\n'"$(cat "$scratch/rpm.log")"
rpm --root "$root" -q attest-agent >/dev/null || fail "rpm: attest-agent not installed"
expect_mode "$root/etc/attest" "750 root:root"
expect_mode "$root/etc/attest/agent.toml" "640 root:root"
expect_mode "$root/var/lib/attest" "700 root:root"
expect_mode "$root/usr/bin/attest-agent" "755 root:root"
expect_mode "$root/usr/lib/systemd/system/attest-agent.service" "644 root:root"
rpm --root "$root" --nodeps -e attest-agent >>"$scratch/rpm.log" 2>&1 \
    || fail "rpm -e failed:"$'\n'"$(cat "$scratch/rpm.log")"
expect_gone "$root/usr/bin/attest-agent"
rpm --root "$root" -q attest-agent >/dev/null 2>&1 && fail "rpm: attest-agent still installed"
timing "the RPM: query, scriptlets, install and erase in a scratch root"

echo "check-packages: OK ($(( $(date +%s) - t0 )) s in all)"
