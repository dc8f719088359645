//! Errors of the wire format and the stable error codes of the HTTP API.
//!
//! [`ErrorCode`] crosses the wire (`{"error": "<code>", "message": "…"}`, see
//! [`crate::ErrorBody`]): its strings are part of the API and are never renamed or
//! reused for another meaning; new codes may be added. [`ProtoError`] is what decoding
//! and verification in this crate return; every variant maps to one code with
//! [`ProtoError::code`]. Messages describe the client's input only (sizes, limits, field
//! names) and never echo it in bulk: anything taken from the input is cut to
//! [`MAX_ECHO_CHARS`] characters.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How many characters of a client-supplied value an error message may repeat.
pub const MAX_ECHO_CHARS: usize = 64;

/// A stable, machine-readable error code. Serialized as its snake_case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request body is not what the endpoint expects: bad JSON, bad base64, a
    /// missing or unknown field, a value of the wrong shape or an invalid public key.
    Malformed,
    /// The verified payload is not an Attest in-toto statement.
    NotAStatement,
    /// The envelope's `payloadType` is not `application/vnd.in-toto+json`.
    UnsupportedPayloadType,
    /// JSON nested deeper than [`crate::MAX_JSON_DEPTH`].
    TooDeeplyNested,
    /// A body or payload over its size limit.
    TooLarge,
    /// The signature does not verify.
    BadSignature,
    /// No enrolled agent has a key with the envelope's key id.
    UnknownKey,
    /// The envelope is not signed by the key enrolled for the agent it claims to be.
    WrongKey,
    /// The agent id is not known to the collector.
    UnknownAgent,
    /// The enrollment token does not exist.
    BadToken,
    /// The enrollment token has expired.
    TokenExpired,
    /// The enrollment token has no uses left.
    TokenUsedUp,
    /// The agent has been revoked.
    Revoked,
    /// Signed in, but the role does not allow this.
    Forbidden,
    /// Not signed in, or the credentials are wrong.
    Unauthorized,
    /// The report does not continue the agent's hash chain (fork or broken link).
    ChainConflict,
    /// Too many requests; retry later.
    RateLimited,
    /// The requested thing does not exist.
    NotFound,
    /// The collector cannot serve the request right now (e.g. its database is down);
    /// retry later.
    Unavailable,
    /// A bug or an unexpected failure in the server; details are in its log only.
    Internal,
    /// The report's signed subject is another host than the one the agent's key is
    /// enrolled for: the SHA-256 of the machine id differs, or the name is that of
    /// another enrolled machine.
    HostMismatch,
    /// A report sent by difference names a base the collector cannot use: not a
    /// stored report of the signing agent, another payload than the one named, or a
    /// delta that does not rebuild an envelope from it. Send the report in full.
    DeltaBaseUnknown,
    /// The v3 report names an inventory list (by address) that the collector does
    /// not hold: send the list (`POST /v1/inventory-lists`), then the report again.
    InventoryListUnknown,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::Malformed,
        ErrorCode::NotAStatement,
        ErrorCode::UnsupportedPayloadType,
        ErrorCode::TooDeeplyNested,
        ErrorCode::TooLarge,
        ErrorCode::BadSignature,
        ErrorCode::UnknownKey,
        ErrorCode::WrongKey,
        ErrorCode::UnknownAgent,
        ErrorCode::BadToken,
        ErrorCode::TokenExpired,
        ErrorCode::TokenUsedUp,
        ErrorCode::Revoked,
        ErrorCode::Forbidden,
        ErrorCode::Unauthorized,
        ErrorCode::ChainConflict,
        ErrorCode::RateLimited,
        ErrorCode::NotFound,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::HostMismatch,
        ErrorCode::DeltaBaseUnknown,
        ErrorCode::InventoryListUnknown,
    ];

    /// The wire string, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::NotAStatement => "not_a_statement",
            ErrorCode::UnsupportedPayloadType => "unsupported_payload_type",
            ErrorCode::TooDeeplyNested => "too_deeply_nested",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::WrongKey => "wrong_key",
            ErrorCode::UnknownAgent => "unknown_agent",
            ErrorCode::BadToken => "bad_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::TokenUsedUp => "token_used_up",
            ErrorCode::Revoked => "revoked",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::ChainConflict => "chain_conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::HostMismatch => "host_mismatch",
            ErrorCode::DeltaBaseUnknown => "delta_base_unknown",
            ErrorCode::InventoryListUnknown => "inventory_list_unknown",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Malformed
            | ErrorCode::NotAStatement
            | ErrorCode::UnsupportedPayloadType
            | ErrorCode::TooDeeplyNested => 400,
            ErrorCode::BadSignature
            | ErrorCode::UnknownKey
            | ErrorCode::WrongKey
            | ErrorCode::UnknownAgent
            | ErrorCode::BadToken
            | ErrorCode::TokenExpired
            | ErrorCode::TokenUsedUp
            | ErrorCode::Unauthorized => 401,
            ErrorCode::Revoked | ErrorCode::Forbidden | ErrorCode::HostMismatch => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::ChainConflict | ErrorCode::InventoryListUnknown => 409,
            ErrorCode::DeltaBaseUnknown => 412,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    /// Whether a client should send the same request again later (the agent keeps
    /// such a report in its spool); every other error is final for that request.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited | ErrorCode::Unavailable | ErrorCode::Internal
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownErrorCode)
    }
}

/// [`ErrorCode::from_str`](std::str::FromStr) got a string that is no code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code")]
pub struct UnknownErrorCode;

/// A failure to decode or verify a wire message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Not valid JSON / base64, or the wrong shape for the message.
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// Valid JSON, but not an Attest in-toto statement.
    #[error("not an Attest statement: {0}")]
    NotAStatement(String),
    /// The envelope's `payloadType` is not ours.
    #[error("unsupported payloadType {0:?}; expected \"application/vnd.in-toto+json\"")]
    UnsupportedPayloadType(String),
    /// JSON nested deeper than the limit.
    #[error("JSON nested deeper than {limit} levels")]
    TooDeeplyNested { limit: usize },
    /// Over a size limit.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    /// A public key that is not a valid, canonical, non-weak Ed25519 key.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    /// No signature of the envelope carries the key id of the key we verify with.
    #[error("envelope is not signed by key {expected}")]
    WrongKey { expected: String },
    /// A signature with our key id does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// Serialization failed (a bug, not bad input).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProtoError {
    /// The stable code that goes on the wire for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtoError::Malformed { .. } | ProtoError::InvalidPublicKey(_) => ErrorCode::Malformed,
            ProtoError::NotAStatement(_) => ErrorCode::NotAStatement,
            ProtoError::UnsupportedPayloadType(_) => ErrorCode::UnsupportedPayloadType,
            ProtoError::TooDeeplyNested { .. } => ErrorCode::TooDeeplyNested,
            ProtoError::TooLarge { .. } => ErrorCode::TooLarge,
            ProtoError::WrongKey { .. } => ErrorCode::WrongKey,
            ProtoError::BadSignature => ErrorCode::BadSignature,
            ProtoError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status for this error (that of its code).
    pub fn http_status(&self) -> u16 {
        self.code().http_status()
    }

    pub(crate) fn malformed(what: &'static str, detail: impl fmt::Display) -> Self {
        ProtoError::Malformed {
            what,
            detail: echo(&detail.to_string()),
        }
    }
}

/// Cuts a client-supplied string to [`MAX_ECHO_CHARS`] characters for a message.
pub(crate) fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_wire_string() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
        }
        assert_eq!("nope".parse::<ErrorCode>(), Err(UnknownErrorCode));
    }

    /// The codes and statuses are part of the API: this table is the contract.
    #[test]
    fn codes_and_statuses_are_stable() {
        let expected = [
            ("malformed", 400),
            ("not_a_statement", 400),
            ("unsupported_payload_type", 400),
            ("too_deeply_nested", 400),
            ("too_large", 413),
            ("bad_signature", 401),
            ("unknown_key", 401),
            ("wrong_key", 401),
            ("unknown_agent", 401),
            ("bad_token", 401),
            ("token_expired", 401),
            ("token_used_up", 401),
            ("revoked", 403),
            ("forbidden", 403),
            ("unauthorized", 401),
            ("chain_conflict", 409),
            ("rate_limited", 429),
            ("not_found", 404),
            ("unavailable", 503),
            ("internal", 500),
            ("host_mismatch", 403),
            ("delta_base_unknown", 412),
            ("inventory_list_unknown", 409),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (code, (name, status)) in ErrorCode::ALL.into_iter().zip(expected) {
            assert_eq!(code.as_str(), name);
            assert_eq!(code.http_status(), status, "{name}");
        }
    }

    #[test]
    fn errors_map_to_codes() {
        assert_eq!(
            ProtoError::malformed("envelope", "x").code(),
            ErrorCode::Malformed
        );
        assert_eq!(ProtoError::InvalidPublicKey("weak").http_status(), 400);
        assert_eq!(ProtoError::BadSignature.http_status(), 401);
        assert_eq!(
            ProtoError::TooLarge {
                what: "envelope",
                size: 5,
                limit: 4
            }
            .http_status(),
            413
        );
        assert_eq!(
            ProtoError::TooDeeplyNested { limit: 32 }.code(),
            ErrorCode::TooDeeplyNested
        );
        assert!(ErrorCode::RateLimited.is_retryable());
        assert!(!ErrorCode::ChainConflict.is_retryable());
        assert!(!ErrorCode::HostMismatch.is_retryable());
    }

    #[test]
    fn echo_cuts_long_input_on_char_boundaries() {
        assert_eq!(echo("short"), "short");
        let long = "é".repeat(200);
        let cut = echo(&long);
        assert_eq!(cut.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
