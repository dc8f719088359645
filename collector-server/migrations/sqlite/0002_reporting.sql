-- Reporting, version 2 (SQLite): waivers, and the index that reads "as of a time" use.

-- Exceptions: a check or a control accepted as not satisfied on some hosts, for a time.
CREATE TABLE waivers (
    id            TEXT PRIMARY KEY,
    scope_kind    TEXT NOT NULL CHECK (scope_kind IN ('check', 'control')),
    scope_id      TEXT NOT NULL,
    hosts         TEXT NOT NULL,   -- JSON array of agent ids or hostnames; [] = every host
    justification TEXT NOT NULL,
    approver      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoked_by    TEXT
);

-- Per agent (like the UNIQUE (agent_id, seq) index): the latest report received by a
-- time, chain counts and period reads are index-only and never touch the envelopes.
CREATE INDEX reports_agent_seq_times ON reports (agent_id, seq, received_at, collected_at);
