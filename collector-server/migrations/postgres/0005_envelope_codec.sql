-- Version 5 (PostgreSQL): report envelopes stored by difference (store/codec.rs).
-- Runs in place (a constant default adds no rewrite): every row stored before keeps
-- its envelope verbatim as codec 'raw'; new rows are zstd keyframes or zstd deltas
-- against a keyframe of the same agent (base_index).
ALTER TABLE reports
    ADD COLUMN codec TEXT NOT NULL DEFAULT 'raw'
        CHECK (codec IN ('raw', 'zstd', 'zstd-delta')),
    ADD COLUMN base_index BIGINT;
-- Bytes of envelopes that are stored compressed already.
ALTER TABLE reports ALTER COLUMN envelope SET STORAGE EXTERNAL;
