-- Version 7 (SQLite): retention (`attest-collector prune`).
-- A pruned report keeps its row (log index, agent, seq, payload SHA-256, leaf hash,
-- times: all the Merkle log needs) but not its envelope: `pruned_at` is when it was
-- pruned, its `envelope` is empty and its flattened results are deleted. Every read
-- of an envelope answers "report N was pruned on DATE" for such a row. Runs in place:
-- the rows already stored are not pruned (NULL).
ALTER TABLE reports ADD COLUMN pruned_at INTEGER;
