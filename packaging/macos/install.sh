#!/bin/sh
# Installs the Attest agent on macOS as a launchd daemon (docs/agent.md).
#
#   sudo ./install.sh ./attest-agent https://collector.example:8443 TOKEN PIN
#
# Copies the binary to /usr/local/bin, creates the config (0640) and state (0700)
# directories, enrolls, and loads the daemon. Run it again to upgrade (the
# enrollment is kept: enroll is skipped when the agent is enrolled already).
set -eu

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo)" >&2
    exit 1
fi
if [ "$#" -lt 1 ]; then
    echo "usage: install.sh BINARY [SERVER TOKEN PIN]" >&2
    exit 2
fi
binary=$1
config_dir=/usr/local/etc/attest
state_dir=/usr/local/var/lib/attest
plist=/Library/LaunchDaemons/com.attest.agent.plist
here=$(cd "$(dirname "$0")" && pwd)

install -d -m 0755 /usr/local/bin
install -m 0755 "$binary" /usr/local/bin/attest-agent
install -d -m 0750 "$config_dir"
if [ ! -f "$config_dir/agent.toml" ]; then
    install -m 0640 "$here/../agent.toml" "$config_dir/agent.toml"
fi
install -d -m 0700 "$state_dir"
/usr/local/bin/attest-agent validate --config "$config_dir/agent.toml" --state-dir "$state_dir"

if [ "$#" -ge 4 ] && [ ! -f "$state_dir/enrollment.json" ]; then
    /usr/local/bin/attest-agent enroll --server "$2" --token "$3" --pin "$4" \
        --config "$config_dir/agent.toml" --state-dir "$state_dir"
fi

install -m 0644 "$here/com.attest.agent.plist" "$plist"
launchctl bootout system "$plist" 2>/dev/null || true
launchctl bootstrap system "$plist"
echo "install.sh: attest-agent installed; status: attest-agent status --state-dir $state_dir"
