//! The DSSE envelope that signs a statement.
//!
//! ```json
//! {"payloadType":"application/vnd.in-toto+json",
//!  "payload":"<standard base64 of the exact statement bytes>",
//!  "signatures":[{"keyid":"<hex SHA-256 of the public key>","sig":"<standard base64>"}]}
//! ```
//!
//! The signature is Ed25519 over DSSE's pre-authentication encoding ([`pae`]) of the
//! payload type and the raw payload bytes, so standard DSSE/in-toto tooling verifies
//! Attest evidence. [`Envelope::from_json`] is strict (size and nesting limits,
//! unknown fields refused, canonical base64 only, 1 to [`MAX_SIGNATURES`] signatures of
//! 64 bytes), and [`Envelope::verify`] checks the signature *without* parsing the
//! payload: the collector verifies first, and parses the statement only afterwards.

use std::borrow::Cow;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{ProtoError, echo};
use crate::json::{at_most_objects, parse_strict};
use crate::keys::{BASE64, keyid};
use crate::limits::{MAX_ENVELOPE_BYTES, MAX_SIGNATURES};

/// The DSSE `payloadType` of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope with its payload and signatures decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    /// The exact signed bytes (for us: the statement).
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// Which key signed ([`crate::keyid`]).
    pub keyid: String,
    /// The raw Ed25519 signature.
    pub sig: [u8; 64],
}

#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    payload: String,
    signatures: Vec<WireSignatureOut<'a>>,
}

#[derive(Serialize)]
struct WireSignatureOut<'a> {
    keyid: &'a str,
    sig: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn<'a> {
    #[serde(rename = "payloadType")]
    payload_type: String,
    /// Borrowed from the body when it holds no escape (base64 never needs one), so
    /// [`Envelope::from_json_split`] can tell where in the body it stands.
    #[serde(borrow)]
    payload: Cow<'a, str>,
    #[serde(deserialize_with = "signatures")]
    signatures: Vec<WireSignatureIn>,
}

/// At most [`MAX_SIGNATURES`], refused while reading, so a body of thousands of
/// signatures is never held.
fn signatures<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<WireSignatureIn>, D::Error> {
    at_most_objects(d, MAX_SIGNATURES, "signatures")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSignatureIn {
    keyid: String,
    sig: String,
}

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in decimal ASCII.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let header = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        body.len()
    );
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

impl Envelope {
    /// Signs statement bytes (from [`crate::Statement::to_bytes`]) with the agent key.
    pub fn sign(statement_bytes: &[u8], key: &SigningKey) -> Envelope {
        let sig = sign_message(key, &pae(PAYLOAD_TYPE, statement_bytes));
        Envelope {
            payload_type: PAYLOAD_TYPE.to_owned(),
            payload: statement_bytes.to_vec(),
            signatures: vec![EnvelopeSignature {
                keyid: keyid(&key.verifying_key()),
                sig,
            }],
        }
    }

    /// Signs `payload` of another DSSE payload type than a statement (e.g.
    /// [`crate::INVENTORY_LIST_PAYLOAD_TYPE`]) with the agent key.
    pub fn sign_payload(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
        let sig = sign_message(key, &pae(payload_type, payload));
        Envelope {
            payload_type: payload_type.to_owned(),
            payload: payload.to_vec(),
            signatures: vec![EnvelopeSignature {
                keyid: keyid(&key.verifying_key()),
                sig,
            }],
        }
    }

    /// Compact JSON, fields in the order shown in the module docs.
    pub fn to_json(&self) -> Result<Vec<u8>, ProtoError> {
        let wire = WireOut {
            payload_type: &self.payload_type,
            payload: BASE64.encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSignatureOut {
                    keyid: &s.keyid,
                    sig: BASE64.encode(s.sig),
                })
                .collect(),
        };
        serde_json::to_vec(&wire)
            .map_err(|e| ProtoError::Internal(format!("serializing an envelope: {e}")))
    }

    /// Decodes an envelope strictly; does not verify it.
    ///
    /// Errors: `too_large` (over [`MAX_ENVELOPE_BYTES`]), `too_deeply_nested`, and
    /// `malformed` for everything else (bad JSON, unknown or missing fields,
    /// non-canonical base64, no or too many signatures, a signature not 64 bytes).
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, ProtoError> {
        Self::from_json_split(bytes, None)
    }

    /// [`Envelope::from_json`] of an envelope whose bytes `start..` are known to be
    /// the base64 of `statement` (it was made so by [`crate::form::open_form`]): when
    /// the strict decoding finds the payload's string exactly there, the payload is
    /// `statement` and its base64 is not decoded again. Anywhere else (a form split
    /// at another string than the payload's) the payload is decoded as usual.
    pub(crate) fn from_json_split(
        bytes: &[u8],
        split: Option<(usize, &[u8])>,
    ) -> Result<Envelope, ProtoError> {
        let wire: WireIn<'_> = parse_strict(bytes, "envelope", MAX_ENVELOPE_BYTES, |detail| {
            ProtoError::Malformed {
                what: "envelope",
                detail: echo(&detail),
            }
        })?;
        if wire.signatures.is_empty() {
            return Err(ProtoError::malformed("envelope", "no signatures"));
        }
        if wire.signatures.len() > MAX_SIGNATURES {
            return Err(ProtoError::malformed(
                "envelope",
                format!("more than {MAX_SIGNATURES} signatures"),
            ));
        }
        let known = split.and_then(|(start, statement)| match &wire.payload {
            Cow::Borrowed(text) => {
                let at = (text.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
                (at == start && text.len() == base64::encoded_len(statement.len(), true)?)
                    .then(|| statement.to_vec())
            }
            Cow::Owned(_) => None,
        });
        let payload = match known {
            Some(payload) => payload,
            None => BASE64
                .decode(wire.payload.as_bytes())
                .map_err(|e| ProtoError::malformed("envelope payload (base64)", e))?,
        };
        let signatures = wire
            .signatures
            .into_iter()
            .map(|s| {
                let raw = BASE64
                    .decode(s.sig.as_bytes())
                    .map_err(|e| ProtoError::malformed("envelope signature (base64)", e))?;
                let sig: [u8; 64] = raw.as_slice().try_into().map_err(|_| {
                    ProtoError::malformed("envelope signature", "not 64 bytes (Ed25519)")
                })?;
                Ok(EnvelopeSignature {
                    keyid: s.keyid,
                    sig,
                })
            })
            .collect::<Result<Vec<_>, ProtoError>>()?;
        Ok(Envelope {
            payload_type: wire.payload_type,
            payload,
            signatures,
        })
    }

    /// The key ids of the signatures, for looking up the signer's key.
    pub fn keyids(&self) -> impl Iterator<Item = &str> {
        self.signatures.iter().map(|s| s.keyid.as_str())
    }

    /// Verifies the envelope against `key` and returns the payload bytes.
    ///
    /// Succeeds only if `payloadType` is exactly [`PAYLOAD_TYPE`] and a signature whose
    /// `keyid` is [`keyid`]`(key)` passes Ed25519 `verify_strict` over the PAE. Does not
    /// look inside the payload. Errors: `unsupported_payload_type`, `wrong_key` (no
    /// signature with this key's id), `bad_signature`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Vec<u8>, ProtoError> {
        self.verified_payload(key).map(<[u8]>::to_vec)
    }

    /// [`Envelope::verify`] without copying the payload.
    pub fn verified_payload(&self, key: &VerifyingKey) -> Result<&[u8], ProtoError> {
        self.verified_payload_of_type(PAYLOAD_TYPE, key)
    }

    /// [`Envelope::verified_payload`] for an envelope whose `payloadType` must be
    /// exactly `payload_type`.
    pub fn verified_payload_of_type(
        &self,
        payload_type: &str,
        key: &VerifyingKey,
    ) -> Result<&[u8], ProtoError> {
        if self.payload_type != payload_type {
            return Err(ProtoError::UnsupportedPayloadType(echo(&self.payload_type)));
        }
        let id = keyid(key);
        let mut candidates = self.signatures.iter().filter(|s| s.keyid == id).peekable();
        if candidates.peek().is_none() {
            return Err(ProtoError::WrongKey { expected: id });
        }
        let message = pae(&self.payload_type, &self.payload);
        for candidate in candidates {
            if verify_message(key, &message, &candidate.sig) {
                return Ok(&self.payload);
            }
        }
        Err(ProtoError::BadSignature)
    }
}

/// Ed25519 (RFC 8032, pure) signature of `message`: the one signing primitive of the
/// crate.
fn sign_message(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    let sig: Signature = key.sign(message);
    sig.to_bytes()
}

/// Ed25519 strict verification: rejects non-canonical `s`, small-order `R` and weak
/// keys, so one message has one valid signature per key.
fn verify_message(key: &VerifyingKey, message: &[u8], sig: &[u8; 64]) -> bool {
    key.verify_strict(message, &Signature::from_bytes(sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{Statement, tests::sample_report};
    use crate::{ErrorCode, MAX_JSON_DEPTH};
    use ed25519_dalek::Verifier as _;
    use proptest::prelude::*;

    fn rfc_key() -> SigningKey {
        let secret: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        SigningKey::from_bytes(&secret)
    }

    fn statement_bytes() -> Vec<u8> {
        Statement::for_report(sample_report()).to_bytes().unwrap()
    }

    fn signed_json() -> Vec<u8> {
        Envelope::sign(&statement_bytes(), &rfc_key())
            .to_json()
            .unwrap()
    }

    fn open(json: &[u8], key: &VerifyingKey) -> Result<Vec<u8>, ProtoError> {
        Envelope::from_json(json)?.verify(key)
    }

    #[test]
    fn pae_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        // Lengths count bytes, not characters.
        assert_eq!(pae("é", "ü".as_bytes()), "DSSEv1 2 é 2 ü".as_bytes());
    }

    #[test]
    fn rfc8032_test_vector_1() {
        let key = rfc_key();
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = sign_message(&key, b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(verify_message(&key.verifying_key(), b"", &sig));
        assert!(!verify_message(&key.verifying_key(), b"x", &sig));
    }

    /// The statement of `sample_report()`; the same text is the worked example in
    /// docs/proto.md. Cross-checked with Python's `cryptography` (Ed25519 over the PAE).
    const KNOWN_STATEMENT: &str = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"host/web-1","digest":{"sha256":"3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9"}}],"predicateType":"urn:attest:evidence-report:v1","predicate":{"schema":"attest.report/v1","agent_id":"agt_01","seq":1,"prev":"sha256:21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9","collected_at":"2026-11-25T14:00:00Z","agent":{"version":"0.1.0"},"host":{"hostname":"web-1","machine_id":"0123456789abcdef0123456789abcdef","os":{"id":"debian","version_id":"12","pretty_name":"Debian GNU/Linux 12 (bookworm)"},"kernel":"6.1.0-18-amd64"},"results":[{"check":"disk.root_encrypted","status":"pass","summary":"The root file system is on a LUKS2 volume.","facts":{"cipher":"aes-xts-plain64"},"evidence":[{"kind":"file","path":"/etc/crypttab","excerpt":"root_crypt UUID=… none luks","sha256":"sha256:9c772b2521ae92a7eb73dac339403f63d1607b4292a67b25eee07a5211c3bf07"}]}]}}"#;

    /// A fixed key signing a fixed statement gives a fixed envelope. If this changes,
    /// the wire format changed: that is a schema change, not a test to update.
    #[test]
    fn known_answer_envelope() {
        let json = signed_json();
        let text = std::str::from_utf8(&json).unwrap();
        let sig = "5/AIr4TNnsEUKqBNysgsW79QwtniVL9LsQIXlekZ4O4Ch31AOWCGSkNvK7o/ojXzrJVIOYh3BY2KdTkk7HmdDw==";
        let expected = format!(
            "{{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"{}\",\"signatures\":[{{\"keyid\":\"21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9\",\"sig\":\"{sig}\"}}]}}",
            BASE64.encode(statement_bytes())
        );
        assert_eq!(text, expected);
        assert_eq!(
            std::str::from_utf8(&statement_bytes()).unwrap(),
            KNOWN_STATEMENT
        );
        assert_eq!(
            crate::keys::sha256_hex(&statement_bytes()),
            "330ac18043c28648798b9382d1d8370e073aa9d05fc2263595aacda5acfa6907"
        );
        assert_eq!(
            open(&json, &rfc_key().verifying_key()).unwrap(),
            statement_bytes()
        );
    }

    #[test]
    fn round_trip() {
        let env = Envelope::sign(&statement_bytes(), &rfc_key());
        let json = env.to_json().unwrap();
        let back = Envelope::from_json(&json).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.to_json().unwrap(), json);
        assert_eq!(
            back.keyids().collect::<Vec<_>>(),
            vec![keyid(&rfc_key().verifying_key())]
        );
        let payload = back.verify(&rfc_key().verifying_key()).unwrap();
        assert_eq!(
            Statement::from_slice(&payload).unwrap(),
            Statement::for_report(sample_report())
        );
    }

    #[test]
    fn field_order_and_whitespace_do_not_matter() {
        let env = Envelope::sign(b"payload", &rfc_key());
        let s = &env.signatures[0];
        let json = format!(
            "{{ \"signatures\" : [ {{\"sig\":\"{}\", \"keyid\":\"{}\"}} ],\n \"payload\":\"{}\", \"payloadType\":\"{PAYLOAD_TYPE}\" }}",
            BASE64.encode(s.sig),
            s.keyid,
            BASE64.encode(b"payload")
        );
        assert_eq!(
            open(json.as_bytes(), &rfc_key().verifying_key()).unwrap(),
            b"payload"
        );
    }

    #[test]
    fn verification_failures_have_their_codes() {
        let key = rfc_key();
        let vk = key.verifying_key();
        let other = SigningKey::from_bytes(&[9u8; 32]);

        // Another payload type, correctly signed for it.
        let mut env = Envelope::sign(b"x", &key);
        env.payload_type = "application/json".into();
        env.signatures[0].sig = sign_message(&key, &pae("application/json", b"x"));
        assert_eq!(
            env.verify(&vk).unwrap_err().code(),
            ErrorCode::UnsupportedPayloadType
        );

        // Signed by another key.
        let env = Envelope::sign(b"x", &other);
        let err = env.verify(&vk).unwrap_err();
        assert_eq!(err.code(), ErrorCode::WrongKey);
        assert_eq!(err.http_status(), 401);

        // Our key id, another key's signature.
        let mut env = Envelope::sign(b"x", &other);
        env.signatures[0].keyid = keyid(&vk);
        assert_eq!(env.verify(&vk).unwrap_err().code(), ErrorCode::BadSignature);

        // A signature over other bytes (the raw payload instead of the PAE).
        let mut env = Envelope::sign(b"x", &key);
        env.signatures[0].sig = sign_message(&key, b"x");
        assert_eq!(env.verify(&vk).unwrap_err().code(), ErrorCode::BadSignature);

        // Payload swapped after signing.
        let mut env = Envelope::sign(b"x", &key);
        env.payload = b"y".to_vec();
        assert_eq!(env.verify(&vk).unwrap_err().code(), ErrorCode::BadSignature);

        // Key id in upper case is not our key id.
        let mut env = Envelope::sign(b"x", &key);
        env.signatures[0].keyid = env.signatures[0].keyid.to_uppercase();
        assert_eq!(env.verify(&vk).unwrap_err().code(), ErrorCode::WrongKey);

        // One good signature among others is enough.
        let mut env = Envelope::sign(b"x", &key);
        let mut bad = env.signatures[0].clone();
        bad.sig[0] ^= 1;
        env.signatures.insert(0, bad);
        env.signatures
            .push(Envelope::sign(b"x", &other).signatures[0].clone());
        assert_eq!(env.verify(&vk).unwrap(), b"x");
        assert_eq!(env.verify(&other.verifying_key()).unwrap(), b"x");
    }

    /// A weak key accepts the signature (R = identity, s = 0) for every message under
    /// plain verification; `verify_strict` must not.
    #[test]
    fn weak_keys_never_verify() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).unwrap();
        assert!(weak.is_weak());
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let message = pae(PAYLOAD_TYPE, b"anything");
        assert!(weak.verify(&message, &Signature::from_bytes(&sig)).is_ok());
        let env = Envelope {
            payload_type: PAYLOAD_TYPE.into(),
            payload: b"anything".to_vec(),
            signatures: vec![EnvelopeSignature {
                keyid: keyid(&weak),
                sig,
            }],
        };
        assert_eq!(
            env.verify(&weak).unwrap_err().code(),
            ErrorCode::BadSignature
        );
    }

    /// A non-canonical `s` (s + L) is the same signature under plain verification.
    #[test]
    fn malleated_signatures_are_refused() {
        let key = rfc_key();
        let env = Envelope::sign(b"x", &key);
        let mut sig = env.signatures[0].sig;
        // L = 2^252 + 27742317777372353535851937790883648493, little endian.
        let l: [u8; 32] =
            hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .unwrap()
                .try_into()
                .unwrap();
        let mut carry = 0u16;
        for (i, b) in l.iter().enumerate() {
            let sum = u16::from(sig[32 + i]) + u16::from(*b) + carry;
            sig[32 + i] = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        let mut bad = env.clone();
        bad.signatures[0].sig = sig;
        assert_ne!(bad, env);
        assert!(bad.verify(&key.verifying_key()).is_err());
    }

    fn json_with(payload: &str, sigs: &str) -> String {
        format!(
            "{{\"payloadType\":\"{PAYLOAD_TYPE}\",\"payload\":\"{payload}\",\"signatures\":[{sigs}]}}"
        )
    }

    #[test]
    fn strict_decoding() {
        let env = Envelope::sign(b"hi!?", &rfc_key());
        let sig = BASE64.encode(env.signatures[0].sig);
        let good_sig = format!(
            "{{\"keyid\":\"{}\",\"sig\":\"{sig}\"}}",
            env.signatures[0].keyid
        );
        let good = json_with("aGkhPw==", &good_sig);
        assert!(open(good.as_bytes(), &rfc_key().verifying_key()).is_ok());

        let malformed = [
            // No signatures; too many.
            json_with("aGkhPw==", ""),
            json_with(
                "aGkhPw==",
                &vec![good_sig.clone(); MAX_SIGNATURES + 1].join(","),
            ),
            // Base64: no padding, trailing bits, URL-safe alphabet, whitespace, junk.
            json_with("aGkhPw", &good_sig),
            json_with("aGkhPx==", &good_sig),
            json_with("aGkh-w==", &good_sig),
            json_with("aGkh Pw==", &good_sig),
            json_with("aGkhPw==\\n", &good_sig),
            json_with("%%%%", &good_sig),
            // Signature: not base64, 63 bytes, missing keyid, extra field.
            json_with("aGkhPw==", &good_sig.replace(&sig, "!!")),
            json_with(
                "aGkhPw==",
                &good_sig.replace(&sig, &BASE64.encode([0u8; 63])),
            ),
            json_with("aGkhPw==", &format!("{{\"sig\":\"{sig}\"}}")),
            json_with("aGkhPw==", &good_sig.replace("{", "{\"x\":1,")),
            // Unknown top-level field, duplicate field, arrays for objects.
            good.replacen('{', "{\"extra\":null,", 1),
            good.replacen('{', "{\"payload\":\"aGkhPw==\",", 1),
            format!("[\"{PAYLOAD_TYPE}\",\"aGkhPw==\",[{good_sig}]]"),
            json_with(
                "aGkhPw==",
                &format!("[\"{}\",\"{sig}\"]", env.signatures[0].keyid),
            ),
            // Not JSON, trailing data, wrong types.
            String::new(),
            format!("{good} x"),
            good.replace("\"aGkhPw==\"", "null"),
        ];
        for bad in &malformed {
            let err = Envelope::from_json(bad.as_bytes()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Malformed, "{bad}: {err}");
        }
    }

    /// Hostile bodies near the size limit cost the parser a few KiB, not a tree of
    /// the whole body: an unknown field is refused at its key, a list of signatures at
    /// its ninth element.
    #[test]
    fn hostile_bodies_are_refused_with_bounded_memory() {
        let mut zeros = b"{\"z\":[0".to_vec();
        while zeros.len() < crate::MAX_ENVELOPE_BYTES - 4 {
            zeros.extend_from_slice(b",0");
        }
        zeros.extend_from_slice(b"]}");
        let sig = format!(
            "{{\"keyid\":\"{}\",\"sig\":\"{}\"}}",
            "a".repeat(64),
            BASE64.encode([0u8; 64])
        );
        let mut many =
            format!("{{\"payloadType\":\"{PAYLOAD_TYPE}\",\"payload\":\"\",\"signatures\":[{sig}");
        while many.len() < crate::MAX_ENVELOPE_BYTES - sig.len() - 4 {
            many.push(',');
            many.push_str(&sig);
        }
        many.push_str("]}");
        for (body, says) in [(zeros, "unknown field"), (many.into_bytes(), "more than 8")] {
            assert!(body.len() > 4_000_000 && body.len() <= crate::MAX_ENVELOPE_BYTES);
            let mut result = None;
            let info = allocation_counter::measure(|| result = Some(Envelope::from_json(&body)));
            let err = result.unwrap().unwrap_err();
            assert_eq!(err.code(), ErrorCode::Malformed);
            assert!(err.to_string().contains(says), "{err}");
            assert!(
                info.bytes_max < 64 * 1024,
                "{says}: peak {} bytes",
                info.bytes_max
            );
        }
    }

    #[test]
    fn limits() {
        let big = vec![b' '; crate::MAX_ENVELOPE_BYTES + 1];
        let err = Envelope::from_json(&big).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TooLarge);
        assert_eq!(err.http_status(), 413);
        let deep = format!(
            "{{\"payloadType\":{}1{}}}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert_eq!(
            Envelope::from_json(deep.as_bytes()).unwrap_err().code(),
            ErrorCode::TooDeeplyNested
        );
        // The largest statement fits in an envelope.
        let payload = vec![b'x'; crate::MAX_STATEMENT_BYTES];
        let json = Envelope::sign(&payload, &rfc_key()).to_json().unwrap();
        assert!(json.len() <= crate::MAX_ENVELOPE_BYTES);
        assert_eq!(open(&json, &rfc_key().verifying_key()).unwrap(), payload);
    }

    /// Changing any single byte of a signed envelope makes it fail to decode or verify.
    /// Exhaustive over a small envelope (every position, several replacement values;
    /// Ed25519 in a debug build is slow); `changed_bytes_anywhere_are_detected` samples
    /// positions and values in the full sample envelope.
    #[test]
    fn every_single_byte_change_is_detected() {
        let json = Envelope::sign(br#"{"seq":1}"#, &rfc_key())
            .to_json()
            .unwrap();
        let vk = rfc_key().verifying_key();
        assert!(open(&json, &vk).is_ok());
        let mut checked = 0;
        for i in 0..json.len() {
            let orig = json[i];
            for r in [
                orig ^ 0x01,
                orig ^ 0x20,
                b'A',
                b' ',
                b'"',
                b'\\',
                b'=',
                0xff,
            ] {
                if r == orig {
                    continue;
                }
                let mut mutated = json.clone();
                mutated[i] = r;
                assert!(
                    open(&mutated, &vk).is_err(),
                    "byte {i} ({:?} -> {:?}) went unnoticed",
                    orig as char,
                    r as char
                );
                checked += 1;
            }
        }
        assert!(checked > json.len() * 6);
    }

    proptest! {
        #[test]
        fn from_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(env) = Envelope::from_json(&bytes) {
                let _ = env.verify(&rfc_key().verifying_key());
            }
        }

        #[test]
        fn from_json_never_panics_on_json_like_text(text in "[{}\\[\\]\":,a-zA-Z0-9+/= \\\\]{0,200}") {
            let _ = Envelope::from_json(text.as_bytes());
        }

        #[test]
        fn any_payload_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..300), seed in any::<[u8; 32]>()) {
            let key = SigningKey::from_bytes(&seed);
            let env = Envelope::sign(&payload, &key);
            let json = env.to_json().unwrap();
            let back = Envelope::from_json(&json).unwrap();
            prop_assert_eq!(&back, &env);
            prop_assert_eq!(back.verify(&key.verifying_key()).unwrap(), payload);
        }

        #[test]
        fn changed_bytes_anywhere_are_detected(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let json = signed_json();
            let i = pos.index(json.len());
            prop_assume!(json[i] != byte);
            let mut mutated = json;
            mutated[i] = byte;
            prop_assert!(open(&mutated, &rfc_key().verifying_key()).is_err());
        }
    }
}
