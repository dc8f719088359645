//! Enrollment, receipts and error bodies: the small JSON messages of the HTTP API.
//!
//! - `POST /v1/enroll`: [`EnrollRequest`] → [`EnrollResponse`].
//! - `POST /v1/reports`: an envelope → [`Receipt`].
//! - Any error: [`ErrorBody`] with the HTTP status of its code.
//!
//! Requests (read by the collector) refuse unknown fields. Responses (read by agents)
//! ignore them: a newer collector may add a field to a receipt without making every
//! older agent in the fleet refuse its receipts and resend its spool forever. Both
//! refuse duplicate keys and wrong types. The enrollment token is a secret: it never
//! appears in `Debug` output.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ProtoError, echo};
use crate::json::parse_strict;
use crate::keys::decode_public_key;
use crate::limits::MAX_ENROLL_BYTES;
use crate::report::HostInfo;

use ed25519_dalek::VerifyingKey;

/// The largest response the agent accepts from the collector (receipts, enrollment
/// responses, error bodies): 64 KiB.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// `POST /v1/enroll`: an agent asks to join with a token and its new public key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment token an admin created (secret).
    pub token: String,
    /// The agent's Ed25519 public key ([`crate::encode_public_key`]).
    pub public_key: String,
    pub host: HostInfo,
}

impl fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("token", &"<redacted>")
            .field("public_key", &self.public_key)
            .field("host", &self.host)
            .finish()
    }
}

impl EnrollRequest {
    /// Decodes a request body strictly (limit [`MAX_ENROLL_BYTES`]; every failure is
    /// `malformed`, or `too_large` / `too_deeply_nested`) and checks its public key.
    pub fn from_json(bytes: &[u8]) -> Result<(EnrollRequest, VerifyingKey), ProtoError> {
        let request: EnrollRequest =
            parse_strict(bytes, "enrollment request", MAX_ENROLL_BYTES, |d| {
                ProtoError::Malformed {
                    what: "enrollment request",
                    detail: echo(&d),
                }
            })?;
        let key = decode_public_key(&request.public_key)?;
        Ok((request, key))
    }
}

/// The answer to a successful enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The id the agent puts in every report.
    pub agent_id: String,
    /// The collector's log-signing public key ([`crate::encode_public_key`]), so the
    /// agent can check checkpoints; absent when the collector does not offer it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector_key: Option<String>,
}

impl EnrollResponse {
    /// Decodes a response (limit [`MAX_RESPONSE_BYTES`]; unknown fields ignored).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProtoError> {
        parse_response(bytes, "enrollment response")
    }
}

/// The answer to an accepted report (also to a duplicate of a stored one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub agent_id: String,
    pub seq: u64,
    /// Lowercase hex SHA-256 of the statement bytes (the envelope payload), no prefix.
    pub payload_sha256: String,
    /// The report's leaf index in the collector's Merkle log.
    pub log_index: u64,
    /// `true` when this exact report was already stored: nothing new was written and
    /// the receipt is that of the first delivery.
    pub duplicate: bool,
}

impl Receipt {
    /// Decodes a receipt (limit [`MAX_RESPONSE_BYTES`]; unknown fields ignored).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProtoError> {
        parse_response(bytes, "receipt")
    }
}

/// Every error response: `{"error": "<code>", "message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// For people; says what was wrong with the request, never server internals.
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error,
            message: message.into(),
        }
    }

    /// The HTTP status to send this body with.
    pub fn http_status(&self) -> u16 {
        self.error.http_status()
    }

    /// Decodes an error body strictly (limit [`MAX_RESPONSE_BYTES`]). A client that
    /// cannot decode one (e.g. a code added after it was built) goes by the status.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProtoError> {
        parse_response(bytes, "error body")
    }
}

impl From<&ProtoError> for ErrorBody {
    /// The body for a decode or verification failure. An internal error's details stay
    /// in the server log; the body says only that something went wrong.
    fn from(err: &ProtoError) -> Self {
        let message = match err {
            ProtoError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        ErrorBody::new(err.code(), message)
    }
}

fn parse_response<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, ProtoError> {
    parse_strict(bytes, what, MAX_RESPONSE_BYTES, |d| ProtoError::Malformed {
        what: "response",
        detail: echo(&d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_ignore_unknown_fields_but_not_duplicates_or_wrong_types() {
        let newer = br#"{"agent_id":"agt_1","seq":3,"payload_sha256":"ab","log_index":9,"duplicate":false,"checkpoint":{"size":10}}"#;
        let r = Receipt::from_json(newer).unwrap();
        assert_eq!((r.agent_id.as_str(), r.seq, r.log_index), ("agt_1", 3, 9));
        let r = EnrollResponse::from_json(br#"{"agent_id":"agt_1","policy":{}}"#).unwrap();
        assert_eq!((r.agent_id.as_str(), r.collector_key), ("agt_1", None));
        let dup = br#"{"agent_id":"agt_1","agent_id":"agt_2","seq":3,"payload_sha256":"ab","log_index":9,"duplicate":false}"#;
        assert!(Receipt::from_json(dup).is_err());
        let wrong = br#"{"agent_id":"agt_1","seq":"3","payload_sha256":"ab","log_index":9,"duplicate":false}"#;
        assert!(Receipt::from_json(wrong).is_err());
        assert!(Receipt::from_json(br#"{"agent_id":"agt_1"}"#).is_err());
    }
    use crate::{SigningKey, encode_public_key};
    use base64::Engine as _;
    use proptest::prelude::*;

    fn request() -> EnrollRequest {
        EnrollRequest {
            token: "tok_secret_123".into(),
            public_key: encode_public_key(&SigningKey::from_bytes(&[7u8; 32]).verifying_key()),
            host: HostInfo {
                hostname: "web-1".into(),
                machine_id: "abc".into(),
                ..HostInfo::default()
            },
        }
    }

    #[test]
    fn enroll_request_round_trip_and_key() {
        let req = request();
        let json = serde_json::to_vec(&req).unwrap();
        let (back, key) = EnrollRequest::from_json(&json).unwrap();
        assert_eq!(back, req);
        assert_eq!(key, SigningKey::from_bytes(&[7u8; 32]).verifying_key());
        assert!(
            std::str::from_utf8(&json)
                .unwrap()
                .starts_with("{\"token\":\"tok_secret_123\",\"public_key\":\"")
        );
    }

    #[test]
    fn token_is_not_in_debug_output() {
        let debug = format!("{:?}", request());
        assert!(!debug.contains("tok_secret_123"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn enroll_request_is_strict() {
        let mut v = serde_json::to_value(request()).unwrap();
        v["extra"] = 1.into();
        let err = EnrollRequest::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Malformed);

        let mut v = serde_json::to_value(request()).unwrap();
        v["host"]["os"] = serde_json::json!(["debian", "12", "Debian"]);
        let err = EnrollRequest::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Malformed);

        let mut v = serde_json::to_value(request()).unwrap();
        v["public_key"] = crate::BASE64.encode([0u8; 32]).into();
        let err = EnrollRequest::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, ProtoError::InvalidPublicKey(_)), "{err}");

        let big = vec![b' '; MAX_ENROLL_BYTES + 1];
        assert_eq!(
            EnrollRequest::from_json(&big).unwrap_err().code(),
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn responses_round_trip_and_keep_their_shape() {
        let resp = EnrollResponse {
            agent_id: "agt_01".into(),
            collector_key: None,
        };
        let json = serde_json::to_vec(&resp).unwrap();
        assert_eq!(json, b"{\"agent_id\":\"agt_01\"}");
        assert_eq!(EnrollResponse::from_json(&json).unwrap(), resp);
        let with_key = EnrollResponse {
            collector_key: Some("AAAA".into()),
            ..resp
        };
        let json = serde_json::to_vec(&with_key).unwrap();
        assert_eq!(EnrollResponse::from_json(&json).unwrap(), with_key);
        // A field a newer collector added is ignored (see the module docs).
        assert!(EnrollResponse::from_json(b"{\"agent_id\":\"a\",\"x\":1}").is_ok());
        assert!(EnrollResponse::from_json(b"[\"a\"]").is_err());

        let receipt = Receipt {
            agent_id: "agt_01".into(),
            seq: 42,
            payload_sha256: crate::sha256_hex(b"x"),
            log_index: 7,
            duplicate: true,
        };
        let json = serde_json::to_vec(&receipt).unwrap();
        assert_eq!(Receipt::from_json(&json).unwrap(), receipt);
        assert!(Receipt::from_json(b"{\"agent_id\":\"a\"}").is_err());
        assert!(Receipt::from_json(b"[\"a\",1,\"x\",2,false]").is_err());
    }

    #[test]
    fn error_bodies() {
        let body = ErrorBody::new(ErrorCode::ChainConflict, "seq 5 is already used");
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(
            json,
            r#"{"error":"chain_conflict","message":"seq 5 is already used"}"#
        );
        assert_eq!(body.http_status(), 409);
        assert_eq!(ErrorBody::from_json(json.as_bytes()).unwrap(), body);
        assert!(ErrorBody::from_json(br#"{"error":"no_such_code","message":""}"#).is_err());

        let from_err = ErrorBody::from(&ProtoError::BadSignature);
        assert_eq!(from_err.error, ErrorCode::BadSignature);
        assert_eq!(from_err.message, "signature does not verify");
        let internal = ErrorBody::from(&ProtoError::Internal("db password wrong".into()));
        assert_eq!(internal.message, "internal error");
        assert_eq!(internal.http_status(), 500);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = EnrollRequest::from_json(&bytes);
            let _ = EnrollResponse::from_json(&bytes);
            let _ = Receipt::from_json(&bytes);
            let _ = ErrorBody::from_json(&bytes);
        }
    }
}
