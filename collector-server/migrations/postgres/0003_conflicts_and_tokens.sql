-- Version 3 (PostgreSQL): bounds for a stolen agent key, and the API token lifecycle.
-- Runs in place on a version-2 database: columns are added with defaults and the new
-- counters are filled from what is already stored.

-- Chain conflicts (forks and broken links) per agent, kept in the agent row that every
-- ingest batch locks: how many are recorded, how many of them keep the whole refused
-- envelope, and how many were refused without a record since the last recorded one
-- (the quota was used up).
ALTER TABLE agents ADD COLUMN conflicts_recorded BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN conflict_envelopes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN conflicts_unrecorded BIGINT NOT NULL DEFAULT 0;
UPDATE agents SET
    conflicts_recorded = (SELECT count(*) FROM chain_events e
        WHERE e.agent_id = agents.id AND e.kind IN ('fork', 'broken_link')),
    conflict_envelopes = (SELECT count(*) FROM chain_events e
        WHERE e.agent_id = agents.id AND e.kind IN ('fork', 'broken_link')
          AND e.envelope IS NOT NULL);

-- Is a conflict at this seq already stored whole? (only conflicts look this up)
CREATE INDEX chain_events_agent_seq ON chain_events (agent_id, seq);

-- Does another machine report under this name? (only a report under a new name asks)
CREATE INDEX agents_hostname ON agents (lower(hostname));

-- API tokens: an optional expiry, and the last use (to the minute).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
