//! How the agent trusts its collector: a CA file, a pinned certificate, or the
//! system's roots; and the rustls client configuration for each, always on the `ring`
//! crypto provider.
//!
//! A **pin** is the SHA-256 of the collector certificate's DER bytes (what
//! `attest-collector fingerprint` prints), written as 64 hex digits, colons allowed
//! (`AB:CD:…`), optionally prefixed by `sha256:`. [`PinnedCertVerifier`] accepts exactly
//! the end-entity certificate with that digest — no chain, name or expiry check, since
//! the pin names the certificate itself, as SSH's known-hosts does — and still
//! verifies the handshake signature with the provider's algorithms, so only the holder
//! of that certificate's private key can complete the handshake.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin(pub [u8; 32]);

impl Pin {
    /// The pin of a certificate: SHA-256 of its DER bytes.
    pub fn of_der(der: &[u8]) -> Pin {
        Pin(Sha256::digest(der).into())
    }
}

/// A pin that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a SHA-256 fingerprint: expected 64 hex digits (colons allowed), as `attest-collector fingerprint` prints"
)]
pub struct BadPin;

impl std::str::FromStr for Pin {
    type Err = BadPin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let s = match s.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => s.get(7..).unwrap_or(""),
            _ => s,
        };
        let digits: String = s.chars().filter(|c| *c != ':').collect();
        if digits.len() != 64 {
            return Err(BadPin);
        }
        let bytes = hex::decode(digits.to_ascii_lowercase()).map_err(|_| BadPin)?;
        bytes.try_into().map(Pin).map_err(|_| BadPin)
    }
}

impl fmt::Display for Pin {
    /// Lowercase hex, no colons.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({self})")
    }
}

impl Serialize for Pin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Pin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What the agent trusts when it connects to its collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trust {
    /// Certificates chaining to the CA certificates in this PEM file (and nothing else).
    CaCert(PathBuf),
    /// Exactly the certificate with this SHA-256 fingerprint.
    Pin(Pin),
    /// The operating system's trusted roots.
    System,
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::CaCert(path) => write!(f, "CA file {}", path.display()),
            Trust::Pin(pin) => write!(f, "pinned certificate sha256:{pin}"),
            Trust::System => f.write_str("the system's trusted roots"),
        }
    }
}

/// The rustls client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {path}: {detail}; check --ca-cert / ca_cert")]
    CaFile { path: String, detail: String },
    #[error("the CA file {path} holds no certificate usable as a root: {detail}")]
    CaRoots { path: String, detail: String },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The `ring` provider: the only one the agent uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration trusting what `trust` says.
pub fn client_config(trust: &Trust) -> Result<rustls::ClientConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match trust {
        Trust::CaCert(path) => {
            let roots = load_roots(path)?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Pin(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCertVerifier::new(*pin, &provider)))
            .with_no_client_auth(),
        Trust::System => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

fn load_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let shown = path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::CaFile {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::CaRoots {
            path: shown,
            detail: "no PEM CERTIFICATE block parsed".into(),
        });
    }
    Ok(roots)
}

/// Accepts exactly the server certificate whose DER SHA-256 is the pin; see the
/// module docs.
#[derive(Debug)]
pub struct PinnedCertVerifier {
    pin: Pin,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertVerifier {
    pub fn new(pin: Pin, provider: &CryptoProvider) -> Self {
        PinnedCertVerifier {
            pin,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Pin::of_der(end_entity.as_ref());
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch { got }))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The certificate presented did not have the pinned fingerprint.
#[derive(Debug, thiserror::Error)]
#[error(
    "certificate does not match the pinned SHA-256 fingerprint (the server presented sha256:{got})"
)]
pub struct PinMismatch {
    pub got: Pin,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pins_parse_with_and_without_colons() {
        let hex = "ab".repeat(32);
        let pin: Pin = hex.parse().unwrap();
        assert_eq!(pin.0, [0xab; 32]);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(colons.parse::<Pin>().unwrap(), pin);
        assert_eq!(format!("sha256:{hex}").parse::<Pin>().unwrap(), pin);
        assert_eq!(format!("SHA256:{colons}").parse::<Pin>().unwrap(), pin);
        assert_eq!(pin.to_string(), hex);
        assert_eq!("ab".repeat(31).parse::<Pin>(), Err(BadPin));
        assert_eq!(format!("{}zz", "ab".repeat(31)).parse::<Pin>(), Err(BadPin));
        assert_eq!("".parse::<Pin>(), Err(BadPin));
        assert_eq!("é".repeat(64).parse::<Pin>(), Err(BadPin));
    }

    #[test]
    fn trust_serializes_by_kind() {
        let pin: Pin = "01".repeat(32).parse().unwrap();
        let json = serde_json::to_string(&Trust::Pin(pin)).unwrap();
        assert_eq!(json, format!("{{\"pin\":\"{}\"}}", "01".repeat(32)));
        assert_eq!(
            serde_json::from_str::<Trust>(&json).unwrap(),
            Trust::Pin(pin)
        );
        let ca = Trust::CaCert("/etc/attest/ca.pem".into());
        let json = serde_json::to_string(&ca).unwrap();
        assert_eq!(json, r#"{"ca_cert":"/etc/attest/ca.pem"}"#);
        assert_eq!(
            serde_json::to_string(&Trust::System).unwrap(),
            r#""system""#
        );
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = client_config(&Trust::CaCert(missing.clone())).unwrap_err();
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let err = client_config(&Trust::CaCert(empty)).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    proptest! {
        #[test]
        fn pin_parsing_never_panics(s in ".{0,100}") {
            if let Ok(pin) = s.parse::<Pin>() {
                prop_assert_eq!(pin.to_string().parse::<Pin>().unwrap(), pin);
            }
        }
    }
}
