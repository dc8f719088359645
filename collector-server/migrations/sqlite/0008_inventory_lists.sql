-- Version 8 (SQLite): inventory lists, stored once by address.
-- An attest.report/v3 report names its inventory.software package list by address
-- (`sha256:<hex>` of the list document's exact bytes) instead of carrying it. The
-- agent sends the list on its own (POST /v1/inventory-lists, signed by its key) when
-- it changes; it is kept here once per address, whichever agents send it, compressed
-- with zstd. `size` is the document's length, `agent_id` the agent that sent it
-- first. A list is never changed; reading one checks its address again.
CREATE TABLE inventory_lists (
    address     TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES agents(id),
    size        INTEGER NOT NULL CHECK (size >= 0),
    body        BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
