-- Attest collector schema, version 1 (PostgreSQL).
-- Times are Unix milliseconds (BIGINT). Hashes are raw 32-byte BLOBs unless named *_sha256 (hex).
-- Every index on the high-volume tables (reports, results, log_nodes) is append-only
-- or per agent: there is deliberately no (host, check, time) index on results.

CREATE TABLE enroll_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    uses_total  BIGINT NOT NULL,
    uses_left   BIGINT NOT NULL,
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    keyid         TEXT NOT NULL UNIQUE,
    public_key    BYTEA NOT NULL,
    hostname      TEXT NOT NULL,
    machine_id    TEXT NOT NULL,
    os_id         TEXT NOT NULL,
    os_version_id TEXT NOT NULL,
    os_pretty_name TEXT NOT NULL,
    kernel        TEXT NOT NULL,
    token_id      TEXT NOT NULL REFERENCES enroll_tokens(id),
    enrolled_at   BIGINT NOT NULL,
    revoked_at    BIGINT,
    head_seq      BIGINT,
    head_link     TEXT,
    last_report_at BIGINT
);

-- One row per accepted report: the raw envelope, verbatim, and its Merkle leaf.
CREATE TABLE reports (
    log_index      BIGINT PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents(id),
    seq            BIGINT NOT NULL,
    prev           TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    leaf_hash      BYTEA NOT NULL,
    collected_at   BIGINT NOT NULL,
    received_at    BIGINT NOT NULL,
    result_count   BIGINT NOT NULL,
    envelope       BYTEA NOT NULL,
    UNIQUE (agent_id, seq)
);

-- The results of each report, flattened for queries; keyed by the report's log index.
CREATE TABLE results (
    log_index  BIGINT NOT NULL,
    position   BIGINT NOT NULL,
    agent_id   TEXT NOT NULL,
    check_id   TEXT NOT NULL,
    status     TEXT NOT NULL,
    summary    TEXT NOT NULL,
    reason     TEXT,
    PRIMARY KEY (log_index, position)
);

-- Chain events: gaps, late reports, forks and broken links (with the refused envelope).
CREATE TABLE chain_events (
    id             BIGSERIAL PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents(id),
    kind           TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    detail         TEXT NOT NULL,
    payload_sha256 TEXT,
    envelope       BYTEA,
    at             BIGINT NOT NULL
);
CREATE INDEX chain_events_agent ON chain_events (agent_id, id);

-- Complete Merkle subtrees at levels 4, 8, 12, … (level 0 is reports.leaf_hash).
CREATE TABLE log_nodes (
    level BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The log head: one row, locked by every batch that appends.
CREATE TABLE log_state (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    tree_size  BIGINT NOT NULL,
    root       BYTEA NOT NULL,
    frontier   BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO log_state (id, tree_size, root, frontier, updated_at)
VALUES (1, 0, '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea, ''::bytea, 0);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE audit_log (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE TABLE collector_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Envelopes are base64 and barely compress: store them out of line, uncompressed, and
-- spare the database the CPU.
ALTER TABLE reports ALTER COLUMN envelope SET STORAGE EXTERNAL;
ALTER TABLE chain_events ALTER COLUMN envelope SET STORAGE EXTERNAL;
