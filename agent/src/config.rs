//! The agent's configuration file: `/etc/attest/agent.toml` (`--config` overrides).
//!
//! ```toml
//! version = 1                                  # required; the format of this file
//! server = "https://collector.example:8443"    # default: the server enrolled with
//! pin = "AB:CD:…"                              # or ca_cert = "/etc/attest/ca.pem"
//! interval = "1h"                              # between collections (default 1h)
//! jitter = "5m"                                # random extra delay, 0..jitter (default 5m)
//! disabled_checks = ["system.screen_lock"]     # check ids not to run
//! proxy = "http://proxy.example:3128"          # default: $HTTPS_PROXY / $https_proxy
//! spool_max_size = "500MB"                     # bytes, or with B/KB/MB/GB/KiB/MiB/GiB
//! log_level = "info"                           # error, warn, info, debug, trace
//! log_json = false                             # one JSON object per log line
//!
//! [thresholds]                                 # verdict thresholds (docs/checks.md)
//! password_max_days = 365
//! ```
//!
//! Every key but `version` is optional. Unknown keys are refused, and every error names
//! the file and line. The file may be readable by a group (0640) but never by others
//! or writable by anyone but its owner. `attest-agent validate` checks it without
//! starting the service.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::checks::{self, Thresholds};
use crate::durable::{self, CONFIG_FORBIDDEN};
use crate::tls::{Pin, Trust};

/// The default configuration file.
#[cfg(not(windows))]
pub const DEFAULT_PATH: &str = "/etc/attest/agent.toml";
/// The default configuration file.
#[cfg(windows)]
pub const DEFAULT_PATH: &str = r"C:\ProgramData\Attest\agent.toml";
/// The format version this agent reads.
pub const VERSION: u32 = 1;
/// Default time between collections.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// Default jitter added to each interval.
pub const DEFAULT_JITTER: Duration = Duration::from_secs(300);
/// Default spool size bound: 500 MB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 500_000_000;
/// The shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// The agent's configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The collector's base URL; `None`: the one enrolled with.
    pub server: Option<reqwest::Url>,
    /// How to trust the collector; `None`: as enrolled.
    pub trust: Option<Trust>,
    pub interval: Duration,
    pub jitter: Duration,
    pub thresholds: Thresholds,
    pub disabled_checks: Vec<String>,
    /// HTTPS proxy URL; `None`: connect directly.
    pub proxy: Option<String>,
    pub spool_max_bytes: u64,
    pub log_level: LogLevel,
    pub log_json: bool,
}

impl Config {
    /// The configuration with every default, as when no file exists; the proxy comes
    /// from the environment (`env` looks a variable up).
    pub fn defaults(env: &dyn Fn(&str) -> Option<String>) -> Config {
        Config {
            server: None,
            trust: None,
            interval: DEFAULT_INTERVAL,
            jitter: DEFAULT_JITTER,
            thresholds: Thresholds::default(),
            disabled_checks: Vec::new(),
            proxy: proxy_from_env(env),
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            log_level: LogLevel::Info,
            log_json: false,
        }
    }

    /// The checks to run: every check of the catalogue but the disabled ones (empty
    /// when none is disabled, which means "all" to [`crate::collect::collect`]).
    pub fn enabled_checks(&self) -> Vec<String> {
        if self.disabled_checks.is_empty() {
            return Vec::new();
        }
        checks::ids()
            .into_iter()
            .filter(|id| !self.disabled_checks.iter().any(|d| d == id))
            .map(str::to_owned)
            .collect()
    }
}

/// A log level of `log_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Why a configuration file was refused. Each renders as one line naming the file
/// (and the line, when the problem is in one) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{path}: no such file; create it (docs/agent.md, \"Configuration\") or pass --config FILE"
    )]
    NotFound { path: String },
    #[error("{path}: cannot read: {detail}")]
    Read { path: String, detail: String },
    #[error(
        "{path}: permission denied; run as root (sudo attest-agent …), or pass --config FILE naming a configuration you can read"
    )]
    PermissionDenied { path: String },
    #[error(transparent)]
    Loose(durable::LoosePermissions),
    #[error(
        "{path}:{line}: {message}; fix the file (docs/agent.md lists every key) and run `attest-agent validate`"
    )]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
}

/// The raw file, as TOML gives it; every value is checked while it is read, so that a
/// bad value's error carries its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)] // checked while it is read
    version: FormatVersion,
    #[serde(default, deserialize_with = "de_url")]
    server: Option<reqwest::Url>,
    #[serde(default)]
    ca_cert: Option<PathBuf>,
    #[serde(default)]
    pin: Option<toml::Spanned<Pin>>,
    #[serde(default, deserialize_with = "de_interval")]
    interval: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    jitter: Option<Duration>,
    #[serde(default)]
    thresholds: Option<Thresholds>,
    #[serde(default)]
    disabled_checks: Vec<CheckId>,
    #[serde(default, deserialize_with = "de_proxy")]
    proxy: Option<String>,
    #[serde(default, deserialize_with = "de_size")]
    spool_max_size: Option<u64>,
    #[serde(default)]
    log_level: Option<LogLevel>,
    #[serde(default)]
    log_json: Option<bool>,
}

struct FormatVersion;

impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if v == i64::from(VERSION) {
            Ok(FormatVersion)
        } else {
            Err(serde::de::Error::custom(format!(
                "version {v} is not supported: this agent reads version = {VERSION}"
            )))
        }
    }
}

struct CheckId(String);

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        let ids = checks::ids();
        if ids.contains(&id.as_str()) {
            Ok(CheckId(id))
        } else {
            Err(serde::de::Error::custom(format!(
                "unknown check id {id:?} in disabled_checks; known ids: {}",
                ids.join(", ")
            )))
        }
    }
}

fn de_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<reqwest::Url>, D::Error> {
    let text = String::deserialize(d)?;
    parse_server_url(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("server {e}")))
}

/// Parses a collector URL: `https://host[:port][/path]`. The error is a sentence
/// without a subject (`must be an https:// URL, e.g. https://x:8443 (got "x:8443")`)
/// for the caller to put `--server` or `server` before.
pub fn parse_server_url(text: &str) -> Result<reqwest::Url, String> {
    // The agent talks to its collector over TLS only.
    let wrong = || {
        format!(
            "must be an https:// URL, e.g. {} (got {text:?})",
            suggest_https(text)
        )
    };
    let Ok(url) = reqwest::Url::parse(text) else {
        return Err(wrong());
    };
    // `collector.example:8443` parses, as the scheme `collector.example`.
    if url.scheme() != "https" || !text.contains("://") {
        return Err(wrong());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "has no host name, e.g. https://collector.example:8443 (got {text:?})"
        ));
    }
    Ok(url)
}

/// `text` made into an https:// URL when that gives one (`collector:8443` →
/// `https://collector:8443`), else the documentation's example.
fn suggest_https(text: &str) -> String {
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let candidate = format!("https://{}", rest.trim());
    match reqwest::Url::parse(&candidate) {
        Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) && !rest.trim().is_empty() => {
            candidate
        }
        _ => "https://collector.example:8443".to_owned(),
    }
}

fn de_proxy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    reqwest::Proxy::https(&text)
        .map_err(|e| serde::de::Error::custom(format!("proxy {text:?} is not usable: {e}")))?;
    Ok(Some(text))
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let interval = de_duration(d)?;
    if interval.is_some_and(|i| i < MIN_INTERVAL) {
        return Err(serde::de::Error::custom(
            "interval must be at least 1m: collecting more often than once a minute only loads the host",
        ));
    }
    Ok(interval)
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    let bytes = match Size::deserialize(d)? {
        Size::Bytes(n) => n,
        Size::Text(text) => parse_size(&text).map_err(serde::de::Error::custom)?,
    };
    if bytes < 1_000_000 {
        return Err(serde::de::Error::custom(
            "spool_max_size must be at least 1MB: one report can be several hundred KB",
        ));
    }
    Ok(Some(bytes))
}

/// Parses a duration: a whole number and a unit `s`, `m`, `h` or `d` (`90s`, `1h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad =
        || format!("{text:?} is not a duration: write a number and s, m, h or d, e.g. \"1h\"");
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_secs(secs))
}

/// Parses a size: a whole number and a unit `B`, `KB`, `MB`, `GB` (powers of 1000) or
/// `KiB`, `MiB`, `GiB` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "{text:?} is not a size: write a number and B, KB, MB, GB, KiB, MiB or GiB, e.g. \"500MB\""
        )
    };
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim() {
        "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
}

fn proxy_from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    ["HTTPS_PROXY", "https_proxy"]
        .into_iter()
        .filter_map(env)
        .find(|v| !v.trim().is_empty())
}

/// Parses configuration text; `path` is only for messages.
pub fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: shown.clone(),
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
    })?;
    let defaults = Config::defaults(env);
    let trust = match (raw.ca_cert, raw.pin) {
        (Some(_), Some(pin)) => {
            return Err(ConfigError::Invalid {
                path: shown,
                line: line_of(text, pin.span().start),
                message: "set either ca_cert or pin, not both".into(),
            });
        }
        (Some(ca), None) => Some(Trust::CaCert(ca)),
        (None, Some(pin)) => Some(Trust::Pin(pin.into_inner())),
        (None, None) => None,
    };
    let interval = raw.interval.unwrap_or(defaults.interval);
    let jitter = raw.jitter.unwrap_or(defaults.jitter);
    if jitter > interval {
        return Err(ConfigError::Invalid {
            path: shown,
            line: key_line(text, "jitter"),
            message: "jitter must not be longer than interval".into(),
        });
    }
    Ok(Config {
        server: raw.server,
        trust,
        interval,
        jitter,
        thresholds: raw.thresholds.unwrap_or_default(),
        disabled_checks: raw.disabled_checks.into_iter().map(|c| c.0).collect(),
        proxy: raw.proxy.or(defaults.proxy),
        spool_max_bytes: raw.spool_max_size.unwrap_or(defaults.spool_max_bytes),
        log_level: raw.log_level.unwrap_or(defaults.log_level),
        log_json: raw.log_json.unwrap_or(defaults.log_json),
    })
}

/// Loads and checks the configuration file. When `explicit` is false (the default
/// path) a missing file means every default; an explicit `--config` must exist.
pub fn load(
    path: &Path,
    explicit: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if explicit {
                Err(ConfigError::NotFound { path: shown })
            } else {
                Ok(Config::defaults(env))
            };
        }
        Err(e) => return Err(read_error(shown, &e)),
        Ok(_) => {}
    }
    durable::check_mode(path, CONFIG_FORBIDDEN).map_err(|e| match e {
        durable::CheckModeError::Loose(l) => ConfigError::Loose(l),
        durable::CheckModeError::Io { source, .. } => read_error(shown.clone(), &source),
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| read_error(shown.clone(), &e))?;
    parse(&text, path, env)
}

/// A configuration file that cannot be read; permission denied says what to do.
fn read_error(path: String, e: &std::io::Error) -> ConfigError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        ConfigError::PermissionDenied { path }
    } else {
        ConfigError::Read {
            path,
            detail: e.to_string(),
        }
    }
}

/// The 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(at)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The line where `key = …` is set at the top level (1 when not found).
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse_ok(text: &str) -> Config {
        parse(text, Path::new("/etc/attest/agent.toml"), &no_env).unwrap()
    }

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("/etc/attest/agent.toml"), &no_env)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn minimal_file_gives_every_default() {
        let config = parse_ok("version = 1\n");
        assert_eq!(config, Config::defaults(&no_env));
        assert_eq!(config.interval, Duration::from_secs(3600));
        assert_eq!(config.spool_max_bytes, 500_000_000);
        assert!(config.enabled_checks().is_empty());
    }

    #[test]
    fn full_file() {
        let pin = vec!["AB"; 32].join(":");
        let config = parse_ok(&format!(
            r#"
version = 1
server = "https://collector.example:8443"
pin = "{pin}"
interval = "2h"
jitter = "10m"
disabled_checks = ["system.screen_lock", "malware.protection"]
proxy = "http://proxy.example:3128"
spool_max_size = "1GiB"
log_level = "debug"
log_json = true

[thresholds]
password_max_days = 90
xprotect_max_age_days = 14
av_signature_max_age_days = 3
"#
        ));
        assert_eq!(
            config.server.as_ref().map(reqwest::Url::as_str),
            Some("https://collector.example:8443/")
        );
        assert_eq!(config.trust, Some(Trust::Pin(Pin([0xab; 32]))));
        assert_eq!(config.interval, Duration::from_secs(7200));
        assert_eq!(config.jitter, Duration::from_secs(600));
        assert_eq!(config.thresholds.password_max_days, 90);
        assert_eq!(config.thresholds.password_min_length, 12);
        assert_eq!(config.thresholds.xprotect_max_age_days, 14);
        assert_eq!(config.thresholds.av_signature_max_age_days, 3);
        assert_eq!(config.spool_max_bytes, 1 << 30);
        assert_eq!(config.log_level, LogLevel::Debug);
        assert!(config.log_json);
        assert_eq!(config.proxy.as_deref(), Some("http://proxy.example:3128"));
        let enabled = config.enabled_checks();
        assert_eq!(enabled.len(), checks::ids().len() - 2);
        assert!(!enabled.iter().any(|c| c == "system.screen_lock"));
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let err = parse_err("version = 1\nintervall = \"1h\"\n");
        assert!(err.starts_with("/etc/attest/agent.toml:2: "), "{err}");
        assert!(err.contains("intervall"), "{err}");
        assert!(err.contains("attest-agent validate"), "{err}");
        let err = parse_err("version = 1\n[thresholds]\npassword_max_dayz = 3\n");
        assert!(err.starts_with("/etc/attest/agent.toml:3: "), "{err}");
    }

    #[test]
    fn bad_or_missing_version() {
        let err = parse_err("version = 2\n");
        assert!(err.contains(":1: version 2 is not supported"), "{err}");
        let err = parse_err("interval = \"1h\"\n");
        assert!(err.contains("version"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn server_urls_say_what_is_wrong_and_what_to_write() {
        let err = |t: &str| parse_server_url(t).unwrap_err();
        assert_eq!(
            err("collector.example:8443"),
            "must be an https:// URL, e.g. https://collector.example:8443 (got \"collector.example:8443\")"
        );
        assert_eq!(
            err("10.0.0.5:8443"),
            "must be an https:// URL, e.g. https://10.0.0.5:8443 (got \"10.0.0.5:8443\")"
        );
        assert!(
            err("http://c.example").contains("e.g. https://c.example "),
            "{}",
            err("http://c.example")
        );
        assert!(err("").contains("e.g. https://collector.example:8443 (got \"\")"));
        assert!(parse_server_url("https://c.example:8443").is_ok());
    }

    #[test]
    fn bad_values_name_their_line() {
        for (text, line, needle) in [
            ("version = 1\n\ninterval = \"soon\"\n", 3, "not a duration"),
            ("version = 1\ninterval = \"10s\"\n", 2, "at least 1m"),
            ("version = 1\nserver = \"http://x\"\n", 2, "https://"),
            ("version = 1\npin = \"abc\"\n", 2, "SHA-256 fingerprint"),
            (
                "version = 1\ndisabled_checks = [\"disk.nope\"]\n",
                2,
                "unknown check id",
            ),
            (
                "version = 1\nspool_max_size = \"12 parsecs\"\n",
                2,
                "not a size",
            ),
            ("version = 1\nspool_max_size = 10\n", 2, "at least 1MB"),
            ("version = 1\nlog_level = \"loud\"\n", 2, "loud"),
            ("version = 1\nlog_json = \"yes\"\n", 2, "bool"),
            (
                "version = 1\njitter = \"2h\"\n",
                2,
                "jitter must not be longer",
            ),
            ("version = 1\nversion = 1\n", 2, "duplicate"),
            ("version = 1\n[thresholds\n", 2, ""),
        ] {
            let err = parse_err(text);
            assert!(
                err.starts_with(&format!("/etc/attest/agent.toml:{line}: ")),
                "{text:?}: {err}"
            );
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn ca_cert_and_pin_exclude_each_other() {
        let pin = "ab".repeat(32);
        let err = parse_err(&format!(
            "version = 1\nca_cert = \"/etc/attest/ca.pem\"\npin = \"{pin}\"\n"
        ));
        assert!(err.contains(":3: set either ca_cert or pin"), "{err}");
        let config = parse_ok("version = 1\nca_cert = \"/etc/attest/ca.pem\"\n");
        assert_eq!(
            config.trust,
            Some(Trust::CaCert("/etc/attest/ca.pem".into()))
        );
    }

    #[test]
    fn proxy_defaults_from_the_environment() {
        let env = |k: &str| (k == "https_proxy").then(|| "http://envproxy:8080".to_owned());
        let config = parse("version = 1\n", Path::new("a.toml"), &env).unwrap();
        assert_eq!(config.proxy.as_deref(), Some("http://envproxy:8080"));
        let config = parse(
            "version = 1\nproxy = \"http://fileproxy:1\"\n",
            Path::new("a.toml"),
            &env,
        )
        .unwrap();
        assert_eq!(config.proxy.as_deref(), Some("http://fileproxy:1"));
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("0m"), Ok(Duration::ZERO));
        assert!(parse_duration("1").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration(&format!("{}d", u64::MAX)).is_err());
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("500 MiB"), Ok(500 << 20));
        assert_eq!(parse_size("7B"), Ok(7));
        assert!(parse_size("5mb").is_err());
        assert!(parse_size(&format!("{}GB", u64::MAX)).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn load_refuses_loose_modes_and_missing_explicit_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        let err = load(&path, true, &no_env).unwrap_err().to_string();
        assert!(err.contains("no such file"), "{err}");
        assert_eq!(
            load(&path, false, &no_env).unwrap(),
            Config::defaults(&no_env)
        );
        std::fs::write(&path, "version = 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path, true, &no_env).unwrap_err().to_string();
        assert!(err.contains("mode 0644"), "{err}");
        assert!(err.contains("chmod 0640"), "{err}");
        assert!(!err.contains('\n'));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        load(&path, true, &no_env).unwrap();
        std::fs::write(&path, "version = 1\nbogus = 1\n").unwrap();
        let err = load(&path, true, &no_env).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:2: ", path.display())), "{err}");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "[ -~\n]{0,200}") {
            let _ = parse(&text, Path::new("x.toml"), &no_env);
            let _ = parse_duration(&text);
            let _ = parse_size(&text);
        }
    }
}
