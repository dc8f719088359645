-- Attest collector schema, version 1 (SQLite).
-- Times are Unix milliseconds (INTEGER). Hashes are raw 32-byte BLOBs unless named *_sha256 (hex).
-- Every index on the high-volume tables (reports, results, log_nodes) is append-only
-- or per agent: there is deliberately no (host, check, time) index on results.

CREATE TABLE enroll_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    uses_total  INTEGER NOT NULL,
    uses_left   INTEGER NOT NULL,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    keyid         TEXT NOT NULL UNIQUE,
    public_key    BLOB NOT NULL,
    hostname      TEXT NOT NULL,
    machine_id    TEXT NOT NULL,
    os_id         TEXT NOT NULL,
    os_version_id TEXT NOT NULL,
    os_pretty_name TEXT NOT NULL,
    kernel        TEXT NOT NULL,
    token_id      TEXT NOT NULL REFERENCES enroll_tokens(id),
    enrolled_at   INTEGER NOT NULL,
    revoked_at    INTEGER,
    head_seq      INTEGER,
    head_link     TEXT,
    last_report_at INTEGER
);

-- One row per accepted report: the raw envelope, verbatim, and its Merkle leaf.
CREATE TABLE reports (
    log_index      INTEGER PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents(id),
    seq            INTEGER NOT NULL,
    prev           TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    leaf_hash      BLOB NOT NULL,
    collected_at   INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    result_count   INTEGER NOT NULL,
    envelope       BLOB NOT NULL,
    UNIQUE (agent_id, seq)
);

-- The results of each report, flattened for queries; keyed by the report's log index.
CREATE TABLE results (
    log_index  INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    agent_id   TEXT NOT NULL,
    check_id   TEXT NOT NULL,
    status     TEXT NOT NULL,
    summary    TEXT NOT NULL,
    reason     TEXT,
    PRIMARY KEY (log_index, position)
) WITHOUT ROWID;

-- Chain events: gaps, late reports, forks and broken links (with the refused envelope).
CREATE TABLE chain_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id       TEXT NOT NULL REFERENCES agents(id),
    kind           TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    detail         TEXT NOT NULL,
    payload_sha256 TEXT,
    envelope       BLOB,
    at             INTEGER NOT NULL
);
CREATE INDEX chain_events_agent ON chain_events (agent_id, id);

-- Complete Merkle subtrees at levels 4, 8, 12, … (level 0 is reports.leaf_hash).
CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- The log head: one row, locked by every batch that appends.
CREATE TABLE log_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    tree_size  INTEGER NOT NULL,
    root       BLOB NOT NULL,
    frontier   BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO log_state (id, tree_size, root, frontier, updated_at)
VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', X'', 0);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
    note       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE TABLE collector_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
