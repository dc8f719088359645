-- Version 10 (PostgreSQL): the fleet's state at the end of each day, for the dashboard's trend.
-- One row per (basis, day): `counts` is a JSON object of hosts per state for each
-- control (ui/trend.rs), exactly what an as-of evaluation at `day_end` (the last
-- millisecond of a UTC day) finds. A finished day's state never changes (every input
-- is dated: reports by arrival, waivers, revocations, chain events), so a row is made
-- once and kept. `basis` names what the counts depend on besides the stored data:
-- the control mapping, the freshness window and the evaluating release; a collector
-- with another basis makes its own rows.
CREATE TABLE day_counts (
    basis    TEXT NOT NULL,
    day_end  BIGINT NOT NULL,
    counts   TEXT NOT NULL,
    made_at  BIGINT NOT NULL,
    PRIMARY KEY (basis, day_end)
);
