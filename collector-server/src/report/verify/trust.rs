//! Which collector keys the person running `verify` trusts: the key given with
//! `--collector-key`, or the keys of a local trust file.
//!
//! A key is named by its key id (64 hex digits: the SHA-256 of its 32 raw bytes, what
//! `attest-collector log-key` prints), by its public key in base64 (the content of a
//! bundle's `collector.pub`), or by a PEM `PUBLIC KEY` (what `log-key --pem` prints).
//!
//! The trust file (`--trust FILE`, default `~/.config/attest/trusted-collectors`): one
//! key a line, a key id or a base64 public key, then optionally a comment saying whose
//! it is; blank lines and lines starting with `#` are ignored.
//!
//! ```text
//! # collectors whose bundles I accept
//! 3b0f…9c2e  ACME production collector (key id from ops, 2026-11-30)
//! ```

use std::path::{Path, PathBuf};

use attest_proto::{BASE64, VerifyingKey, decode_public_key, keyid, public_key_from_bytes};
use base64::Engine as _;

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// The largest key or trust file read.
const MAX_FILE: u64 = 1 << 20;

/// A trusted collector key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Lowercase hex key id.
    pub keyid: String,
    /// Where it comes from, for the verdict.
    pub source: String,
}

/// The keys `verify` accepts as signer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    pub pins: Vec<Pin>,
    /// `--collector-key` was given: any other key is a failure, not just unpinned.
    pub given: bool,
    /// The trust file read, if any, and whether it exists.
    pub file: Option<PathBuf>,
}

impl Trust {
    /// Trusts exactly `key` (as given on the command line).
    pub fn key(key: &VerifyingKey) -> Trust {
        Trust {
            pins: vec![Pin {
                keyid: keyid(key),
                source: "--collector-key".into(),
            }],
            given: true,
            file: None,
        }
    }

    /// The pin of `keyid`, if trusted.
    pub fn pin_of(&self, keyid: &str) -> Option<&Pin> {
        self.pins.iter().find(|p| p.keyid == keyid)
    }
}

/// Why a key or trust file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The public key as PEM (SubjectPublicKeyInfo), as OpenSSL writes it.
pub fn to_pem(key: &VerifyingKey) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.as_bytes());
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        BASE64.encode(der)
    )
}

fn from_pem(text: &str) -> Option<VerifyingKey> {
    let body = text
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")?
        .strip_suffix("-----END PUBLIC KEY-----")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = BASE64.decode(b64).ok()?;
    let raw: [u8; 32] = der.strip_prefix(&SPKI_PREFIX)?.try_into().ok()?;
    public_key_from_bytes(&raw).ok()
}

/// A key id from a key id (hex, any case) or a base64 public key.
pub fn parse_key(text: &str) -> Option<String> {
    let t = text.trim();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(t.to_ascii_lowercase());
    }
    decode_public_key(t).ok().map(|k| keyid(&k))
}

/// Lowercase "No such file or directory", without "(os error 2)".
pub fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_owned(),
        None => s,
    }
}

fn read_small(path: &Path) -> Result<String, TrustError> {
    use std::io::Read as _;
    let err = |message: String| TrustError::Read {
        path: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(io_message(&e)))?;
    let mut text = String::new();
    file.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| err(io_message(&e)))?;
    if text.len() as u64 > MAX_FILE {
        return Err(err(format!("larger than {MAX_FILE} bytes")));
    }
    Ok(text)
}

/// `--collector-key KEY`: a key id, a base64 public key, or a file holding one of these
/// or a PEM public key.
pub fn given_key(arg: &str) -> Result<Trust, TrustError> {
    let keyid = match parse_key(arg) {
        Some(id) => id,
        None => {
            let path = Path::new(arg);
            if !path.exists() {
                return Err(TrustError::Invalid(format!(
                    "--collector-key {arg:?} is not a key id (64 hex digits), a base64 public \
                     key, or a file"
                )));
            }
            let text = read_small(path)?;
            let from_text = from_pem(&text).map(|k| keyid(&k)).or_else(|| {
                text.lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty() && !l.starts_with('#'))
                    .and_then(|l| l.split_whitespace().next())
                    .and_then(parse_key)
            });
            from_text.ok_or_else(|| {
                TrustError::Invalid(format!(
                    "{}: holds no key id, base64 public key or PEM public key",
                    path.display()
                ))
            })?
        }
    };
    Ok(Trust {
        pins: vec![Pin {
            keyid,
            source: "--collector-key".into(),
        }],
        given: true,
        file: None,
    })
}

/// Parses a trust file's text.
pub fn parse_trust_file(path: &Path, text: &str) -> Result<Vec<Pin>, TrustError> {
    let mut pins = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, comment) = match line.split_once(char::is_whitespace) {
            Some((k, c)) => (k, c.trim()),
            None => (line, ""),
        };
        let Some(keyid) = parse_key(key) else {
            return Err(TrustError::Invalid(format!(
                "{}:{}: {key:?} is not a key id (64 hex digits) or a base64 public key",
                path.display(),
                i + 1
            )));
        };
        let source = if comment.is_empty() {
            format!("{}:{}", path.display(), i + 1)
        } else {
            format!("{}:{}: {comment}", path.display(), i + 1)
        };
        pins.push(Pin { keyid, source });
    }
    Ok(pins)
}

/// The default trust file: `$XDG_CONFIG_HOME/attest/trusted-collectors`, else
/// `$HOME/.config/attest/trusted-collectors`.
pub fn default_trust_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("attest").join("trusted-collectors"))
}

/// The trust of a trust file: `explicit` must exist; the default one may be absent.
pub fn trust_file(explicit: Option<&Path>) -> Result<Trust, TrustError> {
    let (path, must_exist) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => match default_trust_file() {
            Some(p) => (p, false),
            None => return Ok(Trust::default()),
        },
    };
    if !must_exist && !path.exists() {
        return Ok(Trust {
            pins: Vec::new(),
            given: false,
            file: Some(path),
        });
    }
    let text = read_small(&path)?;
    Ok(Trust {
        pins: parse_trust_file(&path, &text)?,
        given: false,
        file: Some(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use attest_proto::{SigningKey, encode_public_key};

    #[test]
    fn keys_are_named_three_ways() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let id = keyid(&key);
        assert_eq!(parse_key(&id), Some(id.clone()));
        assert_eq!(parse_key(&id.to_uppercase()), Some(id.clone()));
        assert_eq!(parse_key(&encode_public_key(&key)), Some(id.clone()));
        assert_eq!(from_pem(&to_pem(&key)), Some(key));
        assert_eq!(parse_key(&id[1..]), None);
        assert_eq!(parse_key("not a key"), None);
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("pem", to_pem(&key)),
            ("pub", format!("{}\n", encode_public_key(&key))),
            ("id", format!("# ops\n{id}  prod\n")),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            let t = given_key(p.to_str().unwrap()).unwrap();
            assert_eq!(t.pins[0].keyid, id, "{name}");
            assert!(t.given);
        }
        let p = dir.path().join("junk");
        std::fs::write(&p, "hello\n").unwrap();
        assert!(
            given_key(p.to_str().unwrap())
                .unwrap_err()
                .to_string()
                .contains("holds no key id")
        );
        assert!(
            given_key("/nonexistent/x")
                .unwrap_err()
                .to_string()
                .contains("is not a key id")
        );
    }

    #[test]
    fn trust_files_list_keys_with_comments() {
        let a = keyid(&SigningKey::from_bytes(&[1; 32]).verifying_key());
        let b = SigningKey::from_bytes(&[2; 32]).verifying_key();
        let path = Path::new("trusted");
        let pins = parse_trust_file(
            path,
            &format!("# mine\n\n{a}  ACME prod\n  {}\n", encode_public_key(&b)),
        )
        .unwrap();
        assert_eq!(pins.len(), 2);
        assert_eq!(pins[0].keyid, a);
        assert_eq!(pins[0].source, "trusted:3: ACME prod");
        assert_eq!(pins[1].keyid, keyid(&b));
        assert_eq!(pins[1].source, "trusted:4");
        let e = parse_trust_file(path, "# x\nnot-a-key comment\n").unwrap_err();
        assert!(e.to_string().starts_with("trusted:2: \"not-a-key\""), "{e}");
    }
}
