//! Secrets the collector hands out (enrollment tokens, API tokens) and how requests
//! prove them.
//!
//! A token is 32 random bytes, hex, behind a prefix that says what it is (`et_` for
//! enrollment, `at_` for API). Only its SHA-256 is stored: the tokens are random, so a
//! plain hash cannot be brute-forced, and a stolen database does not hand out working
//! tokens. API tokens travel as `Authorization: Bearer <token>`; each has one role,
//! `admin` or `auditor`.

use attest_proto::sha256_hex;
use rand_core::{OsRng, RngCore as _};

use crate::store::Role;

/// Prefix of enrollment tokens.
pub const ENROLL_TOKEN_PREFIX: &str = "et_";
/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "at_";

/// `n` random bytes from the operating system, hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new secret token with its prefix.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(32))
}

/// What is stored for a token.
pub fn hash_token(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The token of an `Authorization: Bearer …` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Whether a token's role may do what needs `needed`.
pub fn allows(role: Role, needed: Role) -> bool {
    match needed {
        Role::Auditor => true,
        Role::Admin => role == Role::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = new_token(ENROLL_TOKEN_PREFIX);
        let b = new_token(ENROLL_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("et_"));
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert!(!hash_token(&a).contains(&a[3..]));
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer("Bearer at_x"), Some("at_x"));
        assert_eq!(bearer("bearer  at_x "), Some("at_x"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn roles() {
        assert!(allows(Role::Admin, Role::Admin));
        assert!(allows(Role::Admin, Role::Auditor));
        assert!(allows(Role::Auditor, Role::Auditor));
        assert!(!allows(Role::Auditor, Role::Admin));
    }
}
