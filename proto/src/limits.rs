//! Size and nesting limits of the wire format.
//!
//! The collector applies them before doing any real work (before base64 decoding,
//! before signature verification, before a typed parse), and the agent applies the same
//! limits when it builds a statement, so that what an agent signs the collector accepts.

use crate::error::ProtoError;

/// The largest envelope (the body of `POST /v1/reports`) accepted: 4 MiB.
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;

/// The largest statement (the envelope's decoded payload) accepted: 3,000,000 bytes.
///
/// Its base64 form is 4,000,000 bytes, which leaves more than 190 KB of
/// [`MAX_ENVELOPE_BYTES`] for the rest of the envelope, so every statement within this
/// limit fits in an envelope with up to [`MAX_SIGNATURES`] signatures.
pub const MAX_STATEMENT_BYTES: usize = 3_000_000;

/// The deepest JSON nesting accepted, counting every object and array: a top-level
/// object is depth 1; a statement's fact values are at depth 6, so checks have ample
/// room. serde_json's own limit (128) gives only a generic error; this one is checked
/// first, without recursion, and reported as `too_deeply_nested`.
pub const MAX_JSON_DEPTH: usize = 32;

/// The most signatures an envelope may carry (each costs one verification at most).
pub const MAX_SIGNATURES: usize = 8;

/// The largest enrollment request body accepted: 64 KiB.
pub const MAX_ENROLL_BYTES: usize = 64 * 1024;

/// Rejects JSON text nested deeper than `limit` objects/arrays.
///
/// A linear scan that tracks only string state and a depth counter: no recursion and no
/// allocation, so it is safe on any input. It does not validate the JSON (the parser
/// that runs afterwards does); on invalid JSON it may count brackets a parser would
/// never reach, which can only make it stricter.
pub fn check_json_depth(bytes: &[u8], limit: usize) -> Result<(), ProtoError> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                // Past the string in one search per quote or escape (most of a wire
                // message is strings: a base64 payload, summaries, package names).
                i += 1;
                loop {
                    let Some(at) = bytes
                        .get(i..)
                        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                    else {
                        // Unterminated: the rest is inside the string.
                        return Ok(());
                    };
                    i += at;
                    if bytes[i] == b'\\' {
                        i += 2;
                    } else {
                        break;
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(ProtoError::TooDeeplyNested { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    /// The check byte by byte, as it was first written: the reference the searching
    /// one must agree with.
    fn reference(bytes: &[u8], limit: usize) -> Result<(), ()> {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        for &b in bytes {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > limit {
                        return Err(());
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    proptest::proptest! {
        /// Any bytes, weighted to the ones that matter: the same verdict as the
        /// byte-by-byte check.
        #[test]
        fn agrees_with_the_byte_by_byte_check(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'"', b'\\', b'{', b'[', b'}', b']', b'a', b':', b',']),
                0..200,
            ),
            limit in 0usize..6,
        ) {
            proptest::prop_assert_eq!(
                check_json_depth(&bytes, limit).is_ok(),
                reference(&bytes, limit).is_ok(),
                "{:?}", String::from_utf8_lossy(&bytes)
            );
        }
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn depth_at_the_limit_is_accepted_one_more_is_not() {
        assert!(check_json_depth(nested(MAX_JSON_DEPTH).as_bytes(), MAX_JSON_DEPTH).is_ok());
        let err =
            check_json_depth(nested(MAX_JSON_DEPTH + 1).as_bytes(), MAX_JSON_DEPTH).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TooDeeplyNested);
    }

    #[test]
    fn siblings_do_not_add_up() {
        let wide = format!("[{}]", vec!["{\"a\":[1]}"; 1000].join(","));
        assert!(check_json_depth(wide.as_bytes(), 3).is_ok());
        assert!(check_json_depth(wide.as_bytes(), 2).is_err());
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let s = r#"{"a":"[[[[{{{{\"[[[[","b":"\\","c":[1]}"#;
        assert!(check_json_depth(s.as_bytes(), 2).is_ok());
        assert!(check_json_depth(s.as_bytes(), 1).is_err());
    }

    #[test]
    fn huge_nesting_is_rejected_without_recursion() {
        let deep = "[".repeat(1_000_000);
        assert!(check_json_depth(deep.as_bytes(), MAX_JSON_DEPTH).is_err());
    }

    #[test]
    fn limits_fit_together() {
        // A statement at the limit, base64-encoded, leaves room for the envelope.
        let b64 = MAX_STATEMENT_BYTES.div_ceil(3) * 4;
        assert!(b64 + 190_000 < MAX_ENVELOPE_BYTES);
    }
}
