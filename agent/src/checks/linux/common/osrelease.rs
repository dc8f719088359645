//! `/etc/os-release` (else `/usr/lib/os-release`), as os-release(5) describes it.

use std::sync::Arc;

use crate::checks::Context;

/// The package family a distribution belongs to, decided from `ID` and `ID_LIKE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `debian` is `ID` or a word of `ID_LIKE` (Debian, Ubuntu, derivatives).
    Debian,
    /// `rhel`, `fedora`, `centos` or `suse` is `ID` or a word of `ID_LIKE`.
    Rpm,
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// The file it came from (`/etc/os-release` or `/usr/lib/os-release`).
    pub path: String,
    pub id: String,
    pub id_like: Vec<String>,
    pub version_id: String,
    pub version_codename: String,
    pub pretty_name: String,
    pub name: String,
    /// The raw bytes, for evidence.
    pub raw: Vec<u8>,
}

impl OsRelease {
    pub fn family(&self) -> Family {
        let is = |word: &str| self.id == word || self.id_like.iter().any(|w| w == word);
        if is("debian") {
            Family::Debian
        } else if ["rhel", "fedora", "centos", "suse"].iter().any(|w| is(w)) {
            Family::Rpm
        } else {
            Family::Other
        }
    }

    /// The lines of the file that name the release, for evidence excerpts.
    pub fn excerpt(&self) -> String {
        String::from_utf8_lossy(&self.raw)
            .lines()
            .filter(|l| {
                let key = l.split('=').next().unwrap_or("").trim();
                matches!(
                    key,
                    "ID" | "ID_LIKE" | "VERSION_ID" | "PRETTY_NAME" | "VERSION_CODENAME"
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Parses os-release text: `KEY=value` lines, values optionally quoted with `"` or
/// `'`, backslash escapes inside double quotes, `#` comments.
pub fn parse(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "ID" => os.id = value.to_ascii_lowercase(),
            "ID_LIKE" => {
                os.id_like = value
                    .split_whitespace()
                    .map(|w| w.to_ascii_lowercase())
                    .collect()
            }
            "VERSION_ID" => os.version_id = value,
            "VERSION_CODENAME" => os.version_codename = value,
            "PRETTY_NAME" => os.pretty_name = value,
            "NAME" => os.name = value,
            _ => {}
        }
    }
    os
}

fn unquote(value: &str) -> String {
    let bytes = value.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        let inner = &value[1..value.len() - 1];
        if bytes[0] == b'"' {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            return out;
        }
        return inner.to_owned();
    }
    value.to_owned()
}

/// The host's os-release, read once per run; `Err` holds why it could not be read.
pub struct Memo(pub Result<OsRelease, String>);

/// The host's os-release: `/etc/os-release`, else `/usr/lib/os-release`.
pub fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| {
        let mut last_err = String::new();
        for path in ["/etc/os-release", "/usr/lib/os-release"] {
            match ctx.host.read(path) {
                Ok(raw) => {
                    let mut os = parse(&String::from_utf8_lossy(&raw));
                    os.path = path.to_owned();
                    os.raw = raw;
                    return Memo(Ok(os));
                }
                Err(e) if e.is_not_found() => {
                    last_err = "no /etc/os-release or /usr/lib/os-release".to_owned()
                }
                Err(e) => {
                    last_err = e.to_string();
                    break;
                }
            }
        }
        Memo(Err(last_err))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ubuntu() {
        let os = parse(
            "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\n",
        );
        assert_eq!(os.id, "ubuntu");
        assert_eq!(os.version_id, "24.04");
        assert_eq!(os.pretty_name, "Ubuntu 24.04.1 LTS");
        assert_eq!(os.family(), Family::Debian);
    }

    #[test]
    fn id_like_words_decide_the_family() {
        assert_eq!(
            parse("ID=rocky\nID_LIKE=\"rhel centos fedora\"").family(),
            Family::Rpm
        );
        assert_eq!(
            parse("ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"").family(),
            Family::Rpm
        );
        assert_eq!(parse("ID=fedora").family(), Family::Rpm);
        assert_eq!(parse("ID=arch").family(), Family::Other);
        // "debianish" is not the word "debian".
        assert_eq!(parse("ID=foo\nID_LIKE=debianish").family(), Family::Other);
    }

    #[test]
    fn quotes_and_escapes() {
        let os =
            parse("PRETTY_NAME='single quoted'\nNAME=\"a \\\"b\\\"\"\n# comment\nbroken line\n");
        assert_eq!(os.pretty_name, "single quoted");
        assert_eq!(os.name, "a \"b\"");
    }
}
