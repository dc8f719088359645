-- Version 6 (PostgreSQL): results stored as changes (store/changes.rs).
-- Per agent, a row is written only when a check's state (position, status, summary,
-- reason, SHA-256 of its facts) differs from the agent's previous stored report (by
-- seq); a check that stops appearing gets a tombstone (position and state NULL).
-- A row holds from seq_from up to, not including, seq_to: the seq of the next row of
-- the same check, or 9223372036854775807 while it is the latest. The results of the
-- report at seq S are the rows with seq_from <= S < seq_to that are not tombstones.
--
-- The rows of the `results` table (one per check per report) are converted by the
-- collector right after this migration, in one transaction, which then drops
-- `results` (store::postgres, `convert_results`).
CREATE TABLE result_changes (
    agent_id     TEXT NOT NULL,
    check_id     TEXT NOT NULL,
    nth          BIGINT NOT NULL,
    seq_from     BIGINT NOT NULL,
    seq_to       BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    position     BIGINT,
    status       TEXT,
    summary      TEXT,
    reason       TEXT,
    facts_sha256 BYTEA,
    CHECK ((position IS NULL) = (status IS NULL) AND (status IS NULL) = (summary IS NULL)),
    PRIMARY KEY (agent_id, check_id, nth, seq_from)
);

-- "The results as of seq S": per agent, the rows still open at S.
CREATE INDEX result_changes_agent_to ON result_changes (agent_id, seq_to, seq_from);
