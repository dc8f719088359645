-- Version 5 (SQLite): report envelopes stored by difference (store/codec.rs).
-- Runs in place: every row stored before keeps its envelope verbatim as codec 'raw';
-- new rows are zstd keyframes or zstd deltas against a keyframe of the same agent
-- (base_index).
ALTER TABLE reports ADD COLUMN codec TEXT NOT NULL DEFAULT 'raw'
    CHECK (codec IN ('raw', 'zstd', 'zstd-delta'));
ALTER TABLE reports ADD COLUMN base_index INTEGER;
