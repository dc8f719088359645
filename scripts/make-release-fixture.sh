#!/usr/bin/env bash
# Makes the fixture databases of tests/fixtures/databases/ with the binaries of the
# previous release (commit a787b93, schema 4: raw envelopes, one `results` row per
# check per report), as real processes: a collector serving, three agents enrolled
# from host fixtures reporting over TLS, a gap, replays, a waiver, an API token, audit
# entries and the signed checkpoint at the end. Once on SQLite, once on PostgreSQL.
#
#   scripts/make-release-fixture.sh [OLD_WORKTREE] [OUT_DIR]
#
# OLD_WORKTREE: a checkout of the release (default: a temporary `git worktree` of
# a787b93, built here with `cargo build -p attest-collector -p attest-agent`).
# OUT_DIR: where the fixtures go (default tests/fixtures/databases).
# PostgreSQL: ATTEST_FIXTURE_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test),
# a server on which this user may CREATE DATABASE; `psql` and `pg_dump` on PATH. The dump
# is plain SQL with INSERT statements (`--inserts`), without the `\restrict` lines of
# psql that newer pg_dump versions write, so the tests load it without `psql`.
# Needs `sqlite3`, `gzip`, `curl`. Keys, ids and times differ on every run.
set -euo pipefail

RELEASE=a787b93
REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
OUT=${2:-$REPO/tests/fixtures/databases}
PG_BASE=${ATTEST_FIXTURE_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "${MADE_WORKTREE:-}" ]; then git -C "$REPO" worktree remove --force "$OLD"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${1:-}" ]; then
    OLD=$(cd "$1" && pwd)
else
    OLD=$WORK/oldrel
    git -C "$REPO" worktree add --detach "$OLD" "$RELEASE"
    MADE_WORKTREE=1
fi
[ "$(git -C "$OLD" rev-parse --short=7 HEAD)" = "$RELEASE" ] || {
    echo "make-release-fixture: $OLD is not at $RELEASE" >&2
    exit 1
}
(cd "$OLD" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build -p attest-collector -p attest-agent)
COLLECTOR=$OLD/target/debug/attest-collector
AGENT=$OLD/target/debug/attest-agent
HOSTS=$WORK/hosts
mkdir -p "$OUT" "$HOSTS"
# The host fixtures as the release has them; the variant `rocky9-server+captured` is
# its base with its own files laid over (tests/fixtures/hosts/README.md, "Variants").
for h in debian12-laptop ubuntu2404-laptop; do
    cp -a "$OLD/tests/fixtures/hosts/$h" "$HOSTS/$h"
done
cp -a "$OLD/tests/fixtures/hosts/rocky9-server" "$HOSTS/rocky9-server+captured"
cp -a "$OLD/tests/fixtures/hosts/rocky9-server+captured/." "$HOSTS/rocky9-server+captured/"

# One run on one database: $1 = sqlite | postgres, $2 = database URL ("" = SQLite).
make_one() {
    local kind=$1 database=$2
    local data=$WORK/$kind/data
    mkdir -p "$WORK/$kind"
    local db_args=(--data-dir "$data")
    if [ -n "$database" ]; then db_args+=(--database "$database"); fi
    "$COLLECTOR" "${db_args[@]}" serve --listen 127.0.0.1:0 2>"$WORK/$kind/serve.log" &
    SERVER_PID=$!
    local url=
    for _ in $(seq 1 300); do
        url=$(grep -o 'listening on https://[0-9.:]*' "$WORK/$kind/serve.log" | head -1 | sed 's/listening on //') || true
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { cat "$WORK/$kind/serve.log" >&2; exit 1; }
    local pin token
    pin=$("$COLLECTOR" "${db_args[@]}" fingerprint)
    token=$("$COLLECTOR" "${db_args[@]}" token create --uses 3 --expires 24h)

    # name, host fixture, extra `run` arguments (the lab host is replayed from captures).
    local agents=(
        "debian|debian12-laptop|"
        "ubuntu|ubuntu2404-laptop|"
        "lab|rocky9-server+captured|--replay $HOSTS/rocky9-server+captured/_captures"
    )
    local a name host extra
    for a in "${agents[@]}"; do
        IFS='|' read -r name host extra <<<"$a"
        mkdir -p "$WORK/$kind/$name"
        printf 'version = 1\n' >"$WORK/$kind/$name/agent.toml"
        chmod 600 "$WORK/$kind/$name/agent.toml"
        "$AGENT" enroll --server "$url" --token "$token" --pin "$pin" --root "$HOSTS/$host" \
            --config "$WORK/$kind/$name/agent.toml" --state-dir "$WORK/$kind/$name/state"
    done
    run_once() { # name, host, extra
        # shellcheck disable=SC2086
        "$AGENT" run --once --root "$HOSTS/$2" $3 \
            --config "$WORK/$kind/$1/agent.toml" --state-dir "$WORK/$kind/$1/state"
    }
    for round in 1 2 3; do
        for a in "${agents[@]}"; do
            IFS='|' read -r name host extra <<<"$a"
            run_once "$name" "$host" "$extra"
        done
    done
    # A gap: the debian agent's seq 4 is collected while the collector cannot be
    # reached, and lost from its spool; seq 5 then arrives after seq 3.
    printf 'version = 1\nserver = "https://127.0.0.1:9"\n' >"$WORK/$kind/debian/agent.toml"
    run_once debian debian12-laptop "" || true
    rm "$WORK/$kind/debian/state/spool/"*.rec
    printf 'version = 1\n' >"$WORK/$kind/debian/agent.toml"
    run_once debian debian12-laptop ""
    run_once ubuntu ubuntu2404-laptop ""

    "$COLLECTOR" "${db_args[@]}" waiver add --check system.screen_lock --host nb-alice \
        --justification "kiosk: no interactive user" --approver "J. Doe, CISO" --until 2030-01-01
    "$COLLECTOR" "${db_args[@]}" apitoken create --role auditor --note "release fixture" >/dev/null
    curl -sSf --insecure "$url/v1/log/checkpoint" >"$OUT/$kind-checkpoint.txt"
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
    # The agent that the tests continue (its key and chain state).
    rm -rf "$OUT/$kind-agent"
    mkdir -p "$OUT/$kind-agent"
    cp -a "$WORK/$kind/debian/state/." "$OUT/$kind-agent/"
    rm -f "$OUT/$kind-agent/lock"
}

# SQLite.
rm -rf "$WORK/sqlite"
make_one sqlite ""
sqlite3 "$WORK/sqlite/data/collector.db" 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE; VACUUM;'
gzip -9 -n -c "$WORK/sqlite/data/collector.db" >"$OUT/collector-v4.db.gz"
# The data directory around it: the log-signing key and the TLS pair the agent pins.
rm -rf "$OUT/sqlite-data"
mkdir -p "$OUT/sqlite-data"
cp -r "$WORK/sqlite/data/log-signing.key" "$WORK/sqlite/data/tls" "$OUT/sqlite-data/"

# PostgreSQL: a fresh database, dumped as plain SQL, then dropped.
PG_NAME=attest_release_fixture_$$
psql -q "$PG_BASE" -c "CREATE DATABASE $PG_NAME"
PG_URL=${PG_BASE%/*}/$PG_NAME
make_one postgres "$PG_URL"
pg_dump --no-owner --no-privileges --inserts "$PG_URL" |
    sed -E '/^\\(un)?restrict /d' | gzip -9 -n >"$OUT/collector-v4.pg.sql.gz"
psql -q "$PG_BASE" -c "DROP DATABASE $PG_NAME"
rm -rf "$OUT/postgres-data"
mkdir -p "$OUT/postgres-data"
cp -r "$WORK/postgres/data/log-signing.key" "$WORK/postgres/data/tls" "$OUT/postgres-data/"
ls -l "$OUT"
