#!/usr/bin/env bash
# Builds the agent's Debian package and checks its contents, modes, conffiles and
# maintainer scripts; then unpacks it into a scratch root and runs the packaged
# binary on the packaged config. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo deb -p attest-agent --quiet
deb=$(ls -t target/debian/attest-agent_*.deb | head -n 1)
echo "checking $deb"
fail() { echo "check-agent-deb: $*" >&2; exit 1; }

contents=$(dpkg-deb -c "$deb")
expect_entry() { # mode path
    grep -Eq "^$1 (root/root|0/0) +[0-9]+ [0-9-]+ [0-9:]+ \./$2\$" <<<"$contents" \
        || fail "expected $1 ./$2 in the package; it holds:"$'\n'"$contents"
}
expect_entry '-rwxr-xr-x' 'usr/bin/attest-agent'
expect_entry '-rw-r-----' 'etc/attest/agent.toml'
expect_entry '-rw-r--r--' 'lib/systemd/system/attest-agent.service'
expect_entry '-rw-r--r--' 'usr/share/doc/attest-agent/agent.md'

info=$(dpkg-deb -I "$deb")
for script in postinst prerm postrm; do
    grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script +#!/bin/sh" <<<"$info" \
        || fail "$script missing or not executable:"$'\n'"$info"
done
grep -q "Package: attest-agent" <<<"$info" || fail "no Package: attest-agent"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
dpkg-deb -e "$deb" "$scratch/DEBIAN"
grep -qx "/etc/attest/agent.toml" "$scratch/DEBIAN/conffiles" || fail "agent.toml is not a conffile"
for script in postinst prerm postrm; do
    sh -n "$scratch/DEBIAN/$script" || fail "$script: syntax error"
done
grep -q "install -d -m 0700 -o root -g root /var/lib/attest" "$scratch/DEBIAN/postinst" \
    || fail "postinst does not create /var/lib/attest 0700"
grep -q "systemctl enable attest-agent.service" "$scratch/DEBIAN/postinst" \
    || fail "postinst does not enable the service"

dpkg-deb -x "$deb" "$scratch/root"
"$scratch/root/usr/bin/attest-agent" --version
"$scratch/root/usr/bin/attest-agent" validate \
    --config "$scratch/root/etc/attest/agent.toml" --state-dir "$scratch/state"
unit="$scratch/root/lib/systemd/system/attest-agent.service"
for line in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=read-only PrivateTmp=yes \
    StateDirectory=attest "ExecStartPre=/usr/bin/attest-agent validate"; do
    grep -qx "$line" "$unit" || fail "the unit lacks $line"
done
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$unit" 2>&1 | grep -v "is not executable" || true
fi
echo "check-agent-deb: OK"
