-- Version 9 (PostgreSQL): dashboard users and their sessions.
-- A user signs in to the dashboard (/ui/) with a name and password; the password is
-- kept only as an argon2id hash in PHC form (users.rs). `role` is admin or auditor.
-- A disabled user cannot sign in and their sessions stop working at once.
CREATE TABLE users (
    name                TEXT PRIMARY KEY,
    role                TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
    password_hash       TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    disabled_at         BIGINT
);

-- A session is a random token in a cookie; only its SHA-256 is kept (session.rs), so
-- several collectors on one database share sessions and a copy of the database hands
-- out no working cookie. It ends at sign-out (ended_at), after the idle time without
-- a request (last_seen_at) or the absolute lifetime after sign-in (created_at).
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES users(name),
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at     BIGINT,
    client       TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);
CREATE INDEX sessions_created ON sessions (created_at);
