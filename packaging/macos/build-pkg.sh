#!/bin/sh
# Builds the macOS installer package of the Attest agent (packaging/README.md, "macOS
# installer package").
#
#   packaging/macos/build-pkg.sh [--version V] [--sign IDENTITY] [--out DIR] BINARY
#   packaging/macos/build-pkg.sh --layout-only DIR BINARY
#
# BINARY is attest-agent built for macOS (aarch64-apple-darwin, x86_64-apple-darwin,
# or a universal binary made with lipo). The package installs
#
#   /usr/local/bin/attest-agent                          0755 root:wheel
#   /Library/LaunchDaemons/com.attest.agent.plist         0644 root:wheel
#   /usr/local/etc/attest/                               0750 root:wheel
#   /usr/local/etc/attest/agent.toml.default             0640 root:wheel
#
# and its postinstall script creates the state directory /usr/local/var/lib/attest
# (0700), puts the default configuration in place when there is none, validates it,
# enrolls when an MDM left the enrollment files (the token is read from a file, never
# given on a command line), and bootstraps the launchd daemon once the agent is
# enrolled (`launchctl bootstrap system …`; an upgrade boots the old one out first).
#
# --layout-only DIR writes the payload (DIR/root) and the scripts (DIR/scripts) and
# stops before pkgbuild: that runs anywhere, and scripts/check-packages.sh checks it on
# Linux. Without it, pkgbuild and productbuild (Xcode command line tools) make
# DIR/attest-agent-V.pkg (--out, default target/macos); --sign IDENTITY signs the
# product with a "Developer ID Installer" identity.
set -eu

usage() {
    echo "usage: build-pkg.sh [--version V] [--sign IDENTITY] [--out DIR] BINARY" >&2
    echo "       build-pkg.sh --layout-only DIR BINARY" >&2
    exit 2
}
fail() {
    echo "build-pkg.sh: $*" >&2
    exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
identifier=com.attest.agent
layout_only=
out=$top/target/macos
version=
sign=
# Each option takes a value.
while [ "$#" -gt 0 ]; do
    case $1 in
    --layout-only | --out | --version | --sign) [ "$#" -ge 2 ] || usage ;;
    -*) usage ;;
    *) break ;;
    esac
    case $1 in
    --layout-only) layout_only=$2 ;;
    --out) out=$2 ;;
    --version) version=$2 ;;
    --sign) sign=$2 ;;
    esac
    shift 2
done
[ "$#" -eq 1 ] || usage
binary=$1
[ -f "$binary" ] || fail "$binary: no such file"
if [ -z "$version" ]; then
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$top/Cargo.toml" | head -n 1)
fi
[ -n "$version" ] || fail "no version (give --version)"

if [ -n "$layout_only" ]; then
    work=$layout_only
    [ ! -e "$work" ] || [ -z "$(ls -A "$work")" ] || fail "$work is not empty"
else
    command -v pkgbuild >/dev/null || fail "pkgbuild is missing (macOS: xcode-select --install)"
    command -v productbuild >/dev/null || fail "productbuild is missing"
    # A Linux or Windows binary would install and never start.
    case $(file -b "$binary") in
    Mach-O*) ;;
    *) fail "$binary is not a macOS (Mach-O) binary: $(file -b "$binary")" ;;
    esac
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi

# --- The payload, laid out as it lands on / -------------------------------------------
root=$work/root
mkdir -p "$root/usr/local/bin" "$root/Library/LaunchDaemons" "$root/usr/local/etc/attest"
cp "$binary" "$root/usr/local/bin/attest-agent"
cp "$here/com.attest.agent.plist" "$root/Library/LaunchDaemons/com.attest.agent.plist"
# The configuration ships as a default, copied into place by postinstall only when
# there is none: an upgrade never overwrites the administrator's agent.toml.
cp "$top/packaging/agent.toml" "$root/usr/local/etc/attest/agent.toml.default"
chmod 0755 "$root/usr" "$root/usr/local" "$root/usr/local/bin" "$root/usr/local/etc" \
    "$root/Library" "$root/Library/LaunchDaemons"
chmod 0755 "$root/usr/local/bin/attest-agent"
chmod 0644 "$root/Library/LaunchDaemons/com.attest.agent.plist"
chmod 0750 "$root/usr/local/etc/attest"
chmod 0640 "$root/usr/local/etc/attest/agent.toml.default"

# --- The scripts ----------------------------------------------------------------------
mkdir -p "$work/scripts"
cp "$here/postinstall" "$work/scripts/postinstall"
chmod 0755 "$work/scripts" "$work/scripts/postinstall"

# root:wheel (uid 0, gid 0 on macOS); pkgbuild --ownership recommended sets the same.
if [ "$(id -u)" -eq 0 ]; then
    chown -R 0:0 "$root" "$work/scripts"
fi

if [ -n "$layout_only" ]; then
    echo "build-pkg.sh: layout of attest-agent $version in $work (root/, scripts/); pkgbuild not run"
    exit 0
fi

# --- The package ----------------------------------------------------------------------
mkdir -p "$out"
component=$work/attest-agent-component.pkg
pkgbuild --root "$root" --scripts "$work/scripts" --identifier "$identifier" \
    --version "$version" --install-location / --ownership recommended "$component"
product=$out/attest-agent-$version.pkg
if [ -n "$sign" ]; then
    productbuild --package "$component" --sign "$sign" "$product"
else
    productbuild --package "$component" "$product"
fi
echo "build-pkg.sh: $product"
