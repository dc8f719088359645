//! Ed25519 keys on the wire: key ids, public-key encoding, strict base64.
//!
//! - `keyid` = lowercase hex of SHA-256 over the 32 raw public-key bytes, no prefix.
//! - A public key travels as standard base64 (with padding) of its 32 raw bytes.
//!   Decoding is strict: canonical base64 only, exactly 32 bytes, a canonical encoding
//!   of a point on the curve, and not a weak (small-order) key.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

pub use ed25519_dalek::SigningKey;

use crate::error::ProtoError;

/// Standard base64 (RFC 4648 §4) with padding that decodes only canonical text:
/// padding required and exact, no trailing bits set, no whitespace.
pub const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(false),
);

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The key id of a public key: lowercase hex SHA-256 of its 32 raw bytes.
pub fn keyid(key: &VerifyingKey) -> String {
    sha256_hex(key.as_bytes())
}

/// The wire form of a public key: standard base64 of its 32 raw bytes.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    BASE64.encode(key.as_bytes())
}

/// Decodes a public key from its wire form, strictly (see the module docs).
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, ProtoError> {
    let raw = BASE64
        .decode(text)
        .map_err(|_| ProtoError::InvalidPublicKey("not canonical base64"))?;
    let bytes: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| ProtoError::InvalidPublicKey("not 32 bytes"))?;
    public_key_from_bytes(&bytes)
}

/// Checks raw public-key bytes: a point on the curve, canonically encoded, not weak.
pub fn public_key_from_bytes(bytes: &[u8; 32]) -> Result<VerifyingKey, ProtoError> {
    let key = VerifyingKey::from_bytes(bytes)
        .map_err(|_| ProtoError::InvalidPublicKey("not a point on the curve"))?;
    // Non-canonical encodings (y >= p, or a sign bit on x = 0) decompress to a point
    // whose canonical encoding differs: one key would have two key ids.
    if key.to_edwards().compress().to_bytes() != *bytes {
        return Err(ProtoError::InvalidPublicKey("not canonically encoded"));
    }
    if key.is_weak() {
        return Err(ProtoError::InvalidPublicKey("weak (small-order) key"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 8032 §7.1 test 1.
    pub(crate) const RFC8032_SECRET: &str =
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    pub(crate) const RFC8032_PUBLIC: &str =
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn rfc_key() -> SigningKey {
        let secret: [u8; 32] = hex::decode(RFC8032_SECRET).unwrap().try_into().unwrap();
        SigningKey::from_bytes(&secret)
    }

    #[test]
    fn rfc8032_public_key() {
        assert_eq!(
            hex::encode(rfc_key().verifying_key().as_bytes()),
            RFC8032_PUBLIC
        );
    }

    #[test]
    fn keyid_known_answer() {
        let vk = rfc_key().verifying_key();
        // sha256 of the 32 raw bytes d75a9801…511a.
        assert_eq!(
            keyid(&vk),
            "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"
        );
        assert_eq!(
            keyid(&vk),
            sha256_hex(&hex::decode(RFC8032_PUBLIC).unwrap())
        );
    }

    #[test]
    fn public_key_round_trip_and_known_encoding() {
        let vk = rfc_key().verifying_key();
        let text = encode_public_key(&vk);
        assert_eq!(text, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        assert_eq!(decode_public_key(&text).unwrap(), vk);
    }

    #[test]
    fn decode_rejects_bad_base64_and_lengths() {
        let vk = rfc_key().verifying_key();
        let text = encode_public_key(&vk);
        // Missing padding, whitespace, URL-safe alphabet, trailing bits set.
        assert!(decode_public_key(text.trim_end_matches('=')).is_err());
        assert!(decode_public_key(&format!(" {text}")).is_err());
        assert!(decode_public_key(&format!("{text}\n")).is_err());
        assert!(decode_public_key(&text.replace('/', "_")).is_err());
        let trailing = text.replace("URo=", "URp=");
        assert!(BASE64.decode(&trailing).is_err());
        assert!(decode_public_key(&trailing).is_err());
        // 31 and 33 bytes.
        assert!(decode_public_key(&BASE64.encode([1u8; 31])).is_err());
        assert!(decode_public_key(&BASE64.encode([1u8; 33])).is_err());
        assert!(decode_public_key("").is_err());
    }

    #[test]
    fn decode_rejects_weak_and_non_canonical_keys() {
        // The identity point (small order), canonical encoding.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = decode_public_key(&BASE64.encode(identity)).unwrap_err();
        assert_eq!(err, ProtoError::InvalidPublicKey("weak (small-order) key"));
        // The all-zero encoding: y = 0 is a point of order 4.
        assert!(decode_public_key(&BASE64.encode([0u8; 32])).is_err());
        // y = p + 1 ≡ 1: a non-canonical encoding of the identity.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert_eq!(
            decode_public_key(&BASE64.encode(non_canonical)).unwrap_err(),
            ProtoError::InvalidPublicKey("not canonically encoded")
        );
        // A sign bit on x = 0 (the identity again, "negative zero").
        let mut neg_zero = identity;
        neg_zero[31] |= 0x80;
        assert!(decode_public_key(&BASE64.encode(neg_zero)).is_err());
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(
            decode_public_key(&BASE64.encode(off_curve)).unwrap_err(),
            ProtoError::InvalidPublicKey("not a point on the curve")
        );
    }

    proptest! {
        #[test]
        fn decode_public_key_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = decode_public_key(&text);
        }

        #[test]
        fn decode_any_32_bytes_never_panics(bytes in any::<[u8; 32]>()) {
            let text = BASE64.encode(bytes);
            if let Ok(key) = decode_public_key(&text) {
                prop_assert_eq!(key.to_bytes(), bytes);
                prop_assert!(!key.is_weak());
            }
        }

        #[test]
        fn generated_keys_round_trip(seed in any::<[u8; 32]>()) {
            let vk = SigningKey::from_bytes(&seed).verifying_key();
            prop_assert_eq!(decode_public_key(&encode_public_key(&vk)).unwrap(), vk);
        }
    }
}
