//! Dashboard sessions: the cookie, its expiry and the CSRF token of each session.
//!
//! A session is a random 32-byte token in a cookie (`Secure; HttpOnly;
//! SameSite=Strict`, path `/ui/`); the database keeps only its SHA-256 (as for API
//! tokens, `crate::auth`), so sessions live in the database that several collectors
//! share and a stolen database hands out no working cookie. Each session has its own
//! random CSRF token, put in every form the dashboard serves and compared in constant
//! time on every POST. A session ends at sign-out (revoked, so a copied cookie stops
//! working at once), after [`SessionPolicy::idle`] without a request, or
//! [`SessionPolicy::absolute`] after sign-in, whichever comes first.

use subtle::ConstantTimeEq as _;

use crate::store::Millis;

/// The session cookie's name.
pub const COOKIE: &str = "attest_session";
/// The path the cookie is sent for.
pub const COOKIE_PATH: &str = "/ui/";
/// Prefix of session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "st_";

/// When sessions end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Without a request for this long (ms), a session ends.
    pub idle: Millis,
    /// This long (ms) after sign-in, a session ends whatever its use.
    pub absolute: Millis,
}

impl Default for SessionPolicy {
    /// 30 minutes idle, 12 hours in all (a working day; OWASP's ranges for a
    /// low-risk-to-medium-risk application).
    fn default() -> Self {
        SessionPolicy {
            idle: 30 * 60 * 1000,
            absolute: 12 * 3600 * 1000,
        }
    }
}

/// What a session is at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Live,
    /// No request for longer than the idle time.
    Idle,
    /// Older than the absolute lifetime.
    Expired,
    /// Signed out (or ended by an admin).
    Revoked,
}

/// The state at `now` of a session signed in at `created_at`, last used at
/// `last_seen_at`.
pub fn state_at(
    policy: &SessionPolicy,
    created_at: Millis,
    last_seen_at: Millis,
    revoked_at: Option<Millis>,
    now: Millis,
) -> SessionState {
    if revoked_at.is_some_and(|r| r <= now) {
        SessionState::Revoked
    } else if now.saturating_sub(created_at) >= policy.absolute {
        SessionState::Expired
    } else if now.saturating_sub(last_seen_at) >= policy.idle {
        SessionState::Idle
    } else {
        SessionState::Live
    }
}

/// A new session's secrets: the token for the cookie (never stored), what is stored
/// of it, and its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub token: String,
    pub token_hash: String,
    pub csrf: String,
}

/// Makes a new session's secrets.
pub fn new_session() -> NewSession {
    let token = crate::auth::new_token(SESSION_TOKEN_PREFIX);
    NewSession {
        token_hash: crate::auth::hash_token(&token),
        token,
        csrf: crate::auth::random_hex(32),
    }
}

/// The `Set-Cookie` value that signs the browser in: it lasts as long as the session
/// can at most.
pub fn set_cookie(token: &str, policy: &SessionPolicy) -> String {
    format!(
        "{COOKIE}={token}; Path={COOKIE_PATH}; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        policy.absolute / 1000
    )
}

/// The `Set-Cookie` value that removes the cookie (sign-out).
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path={COOKIE_PATH}; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

/// The session token of a `Cookie` header value, when it carries one of the right
/// form (other cookies are ignored; a malformed one is `None`).
pub fn token_of(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| {
            v.strip_prefix(SESSION_TOKEN_PREFIX)
                .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        })
}

/// Whether the CSRF token a form sent is the session's, in constant time.
pub fn csrf_matches(session_csrf: &str, sent: &str) -> bool {
    !session_csrf.is_empty()
        && session_csrf.len() == sent.len()
        && bool::from(session_csrf.as_bytes().ct_eq(sent.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    #[test]
    fn sessions_end_idle_absolute_or_revoked() {
        let p = SessionPolicy::default();
        let t0 = 1_000_000_000;
        assert_eq!(state_at(&p, t0, t0, None, t0), SessionState::Live);
        assert_eq!(
            state_at(&p, t0, t0, None, t0 + 29 * MIN),
            SessionState::Live
        );
        assert_eq!(
            state_at(&p, t0, t0, None, t0 + 30 * MIN),
            SessionState::Idle
        );
        // Used every 20 minutes: live until the absolute end, then expired.
        let last = t0 + 12 * 60 * MIN - 10 * MIN;
        assert_eq!(state_at(&p, t0, last, None, last + MIN), SessionState::Live);
        assert_eq!(
            state_at(&p, t0, last, None, t0 + 12 * 60 * MIN),
            SessionState::Expired
        );
        // Revoked wins from its time on.
        assert_eq!(
            state_at(&p, t0, t0, Some(t0 + MIN), t0 + MIN),
            SessionState::Revoked
        );
        assert_eq!(
            state_at(&p, t0, t0, Some(t0 + MIN), t0 + 1),
            SessionState::Live
        );
    }

    #[test]
    fn the_cookie_is_secure_http_only_strict_and_read_back() {
        let s = new_session();
        assert!(s.token.starts_with(SESSION_TOKEN_PREFIX));
        assert_eq!(s.token_hash, crate::auth::hash_token(&s.token));
        assert_ne!(s.csrf, new_session().csrf);
        let c = set_cookie(&s.token, &SessionPolicy::default());
        for part in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/ui/",
            "Max-Age=43200",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
        let header = format!("theme=dark; {COOKIE}={}; other=1", s.token);
        assert_eq!(token_of(&header), Some(s.token.as_str()));
        assert_eq!(token_of("theme=dark"), None);
        assert_eq!(token_of(&format!("{COOKIE}=st_short")), None);
        assert_eq!(token_of(&format!("{COOKIE}={}x", s.token)), None);
        assert_eq!(token_of(&format!("{COOKIE}=at_{}", "0".repeat(64))), None);
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let s = new_session();
        assert!(csrf_matches(&s.csrf, &s.csrf.clone()));
        assert!(!csrf_matches(&s.csrf, ""));
        assert!(!csrf_matches(&s.csrf, &s.csrf[1..]));
        assert!(!csrf_matches(&s.csrf, &s.csrf.to_uppercase()));
        assert!(!csrf_matches("", ""));
    }
}
