//! TLS (rustls with the `ring` provider) and the collector's key files.
//!
//! With no certificate configured, the first start creates a self-signed certificate
//! (rcgen, ECDSA P-256) in `<data_dir>/tls/` and prints its SHA-256 fingerprint, which
//! agents pin. `--tls-cert/--tls-key` take real ones. Key files are created 0600 and
//! refused when others may read them (or the group write them).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error(
        "{path} may be read by others (mode {mode:o}): a private key must be 0600 or 0640 \
         (chmod 600 {path})"
    )]
    LooseKey { path: PathBuf, mode: u32 },
    #[error("creating the self-signed certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error(transparent)]
    Mode(#[from] crate::files::ModeError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The crypto provider of every TLS connection: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where the self-signed certificate and its key live.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Creates a directory (and parents) with mode 0700, or makes an existing one 0700
/// ([`crate::files::private_dir`]).
pub fn private_dir(dir: &Path) -> Result<(), TlsError> {
    Ok(crate::files::private_dir(dir)?)
}

/// Writes a new file with mode 0600; fails if it exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Reads a key file, refusing it when others may read it.
pub fn read_private(path: &Path) -> Result<Vec<u8>, TlsError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(TlsError::LooseKey {
            path: path.to_path_buf(),
            mode,
        });
    }
    std::fs::read(path).map_err(io(path))
}

/// Creates the self-signed certificate in the data directory unless it exists.
/// Returns whether it was created.
pub fn ensure_self_signed(data_dir: &Path) -> Result<bool, TlsError> {
    let (cert_path, key_path) = self_signed_paths(data_dir);
    if cert_path.exists() && key_path.exists() {
        return Ok(false);
    }
    private_dir(data_dir)?;
    if let Some(dir) = cert_path.parent() {
        private_dir(dir)?;
    }
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    // Key first: a certificate without its key would be unusable.
    write_private(&key_path, certified.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, certified.cert.pem()).map_err(io(&cert_path))?;
    Ok(true)
}

/// The SHA-256 fingerprint of a DER certificate: 64 lowercase hex digits.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Normalizes a pin as people write it (`sha256:`, colons, upper case) to 64
/// lowercase hex digits.
pub fn normalize_pin(pin: &str) -> Option<String> {
    let pin = pin.trim();
    let pin = pin.strip_prefix("sha256:").unwrap_or(pin);
    let hex: String = pin
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The certificate chain of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            message: "no certificate in the file".into(),
        });
    }
    Ok(certs)
}

/// The fingerprint of the first (leaf) certificate of a PEM file.
pub fn fingerprint_of(cert_path: &Path) -> Result<String, TlsError> {
    let certs = load_certs(cert_path)?;
    Ok(certs.first().map(|c| fingerprint(c)).unwrap_or_default())
}

/// A server TLS configuration (HTTP/1.1) and the leaf certificate's fingerprint.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    pub fingerprint: String,
}

/// Loads a certificate chain and its key into a server configuration.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<ServerTls, TlsError> {
    let certs = load_certs(cert_path)?;
    let fingerprint = certs.first().map(|c| fingerprint(c)).unwrap_or_default();
    let key_pem = read_private(key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        path: key_path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(ensure_self_signed(&data).unwrap());
        let (cert, key) = self_signed_paths(&data);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let fp = fingerprint_of(&cert).unwrap();
        assert_eq!(fp.len(), 64);
        assert!(!ensure_self_signed(&data).unwrap());
        assert_eq!(fingerprint_of(&cert).unwrap(), fp);
        let tls = server_config(&cert, &key).unwrap();
        assert_eq!(tls.fingerprint, fp);
        // A key others can read is refused.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            server_config(&cert, &key),
            Err(TlsError::LooseKey { .. })
        ));
    }

    #[test]
    fn pins_are_normalized() {
        let hex = "ab".repeat(32);
        assert_eq!(normalize_pin(&hex), Some(hex.clone()));
        assert_eq!(
            normalize_pin(&format!("sha256:{}", hex.to_uppercase())),
            Some(hex.clone())
        );
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(normalize_pin(&colons), Some(hex));
        assert_eq!(normalize_pin("abc"), None);
        assert_eq!(normalize_pin(&"zz".repeat(32)), None);
    }
}
