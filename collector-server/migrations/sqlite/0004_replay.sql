-- Version 4 (SQLite): replayed reports are stored, never counted.
-- A report whose signed statement says `agent.replay: true` (decided from recorded
-- captures, `attest-agent collect --replay`, not from a host) is accepted like any
-- other: verified, chained, appended to the Merkle log, its envelope kept verbatim.
-- The column is set at ingest from the verified statement, and every read that picks
-- evidence (the latest report of a host, the reports of a period, the read API's
-- latest results) takes only rows with replay = 0. Reports stored before this
-- version count as before (no released collector accepted attest.report/v2); `fsck`
-- names any stored report whose signed statement is a replay but is not marked.
ALTER TABLE reports ADD COLUMN replay INTEGER NOT NULL DEFAULT 0 CHECK (replay IN (0, 1));

-- The per-agent index the reporting reads use, with the flag, so that "the latest
-- counted report received by T" and the chain counts stay index-only.
DROP INDEX reports_agent_seq_times;
CREATE INDEX reports_agent_seq_times_replay
    ON reports (agent_id, seq, received_at, collected_at, replay);
