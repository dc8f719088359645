//! Local users of the dashboard: their names, roles and passwords.
//!
//! A password is kept only as an argon2id hash in PHC form
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`): the parameters travel with the hash,
//! so raising them later rehashes at the next sign-in without locking anyone out. The
//! parameters are the OWASP minimum for argon2id (19 MiB, two passes, one lane); the
//! work of a sign-in is bounded by the sign-in throttle and [`MAX_PASSWORD_BYTES`].
//!
//! A sign-in with an unknown name spends the same work ([`verify_unknown`]), so the
//! answer time does not tell which names exist.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::{OsRng, RngCore as _};

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The most bytes a password may have: argon2 takes any length, so this bounds the
/// work an unauthenticated sign-in can ask for.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest user name.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a name or password is refused, or the hash could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error(
        "user name {0:?}: 1 to 64 characters, lower-case letters, digits, '.', '_' or '-', \
         starting with a letter or digit"
    )]
    BadName(String),
    #[error("password: {0}")]
    WeakPassword(&'static str),
    #[error("password hashing: {0}")]
    Hash(String),
}

/// The argon2id context every hash is made with.
fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 passes, 1 lane: argon2's own defaults, which are OWASP's minimum.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a user name.
pub fn check_name(name: &str) -> Result<(), UserError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadName(crate::logsafe::esc(name).to_string()))
    }
}

/// Checks a new password for `name`: long enough, not too long, not the name, not one
/// character repeated.
pub fn check_password(name: &str, password: &str) -> Result<(), UserError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(UserError::WeakPassword("longer than 1024 bytes"));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::WeakPassword("shorter than 12 characters"));
    }
    if password.eq_ignore_ascii_case(name) {
        return Err(UserError::WeakPassword("the same as the user name"));
    }
    let mut chars = password.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return Err(UserError::WeakPassword("one character repeated"));
    }
    Ok(())
}

/// The argon2id hash of `password`, with a fresh random salt, in PHC form.
pub fn hash_password(password: &str) -> Result<String, UserError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(UserError::WeakPassword("longer than 1024 bytes"));
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` is the one `phc` was made from (constant time in the
/// comparison). A malformed stored hash, or an oversized password, is `false`.
pub fn verify_password(phc: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether a stored hash was made with other parameters than today's (rehash it at
/// the next successful sign-in).
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let current = argon2();
    let want = current.params();
    parsed.algorithm.as_str() != "argon2id"
        || Params::try_from(&parsed).map_or(true, |p| {
            p.m_cost() != want.m_cost()
                || p.t_cost() != want.t_cost()
                || p.p_cost() != want.p_cost()
        })
}

/// Spends the work of one [`verify_password`] and answers `false`: a sign-in with an
/// unknown (or disabled) name takes as long as one with a wrong password.
pub fn verify_unknown(password: &str) -> bool {
    // A fixed hash of a random password nobody knows, made with today's parameters.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy =
        DUMMY.get_or_init(|| hash_password(&crate::auth::random_hex(16)).unwrap_or_default());
    let _ = verify_password(dummy, password);
    false
}

/// A one-time password for a new account (the demo's admin): 24 characters of a
/// 32-letter alphabet without look-alikes (120 bits).
pub fn one_time_password() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789-";
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterY"));
        assert!(!verify_password(&h, ""));
        // Salted: the same password hashes differently.
        assert_ne!(h, hash_password("correct horse battery").unwrap());
        assert!(!needs_rehash(&h));
    }

    #[test]
    fn malformed_or_weaker_hashes_never_verify_or_ask_for_a_rehash() {
        assert!(!verify_password("", "x"));
        assert!(!verify_password("$argon2id$v=19$garbage", "x"));
        assert!(!verify_password(
            "plain-text-password",
            "plain-text-password"
        ));
        assert!(needs_rehash("not a hash"));
        // A hash made with cheaper parameters verifies but asks to be made again.
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"a long enough one", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify_password(&weak, "a long enough one"));
        assert!(needs_rehash(&weak));
    }

    #[test]
    fn oversized_passwords_are_refused_before_any_work() {
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            hash_password(&long),
            Err(UserError::WeakPassword("longer than 1024 bytes"))
        );
        let h = hash_password("correct horse battery").unwrap();
        assert!(!verify_password(&h, &long));
        assert!(!verify_unknown(&long));
        assert!(!verify_unknown("correct horse battery"));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        for ok in ["alice", "a", "bob.smith", "x_1-2", "0admin"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Alice", "-x", ".x", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(
                matches!(check_name(bad), Err(UserError::BadName(_))),
                "{bad}"
            );
        }
        assert_eq!(check_password("alice", "twelve chars"), Ok(()));
        assert!(check_password("alice", "eleven char").is_err());
        assert!(check_password("alicealice12", "ALICEALICE12").is_err());
        assert!(check_password("alice", &"z".repeat(20)).is_err());
        assert!(check_password("alice", &"ab".repeat(600)).is_err());
    }

    #[test]
    fn one_time_passwords_are_long_random_and_unambiguous() {
        let a = one_time_password();
        let b = one_time_password();
        assert_eq!(a.chars().count(), 24);
        assert_ne!(a, b);
        assert!(!a.contains(['0', 'o', '1', 'l', 'i']), "{a}");
        assert_eq!(check_password("admin", &a), Ok(()));
    }
}
