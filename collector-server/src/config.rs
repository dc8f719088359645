//! Collector configuration: a TOML file (with a `version` field; unknown keys are
//! refused), then environment variables, then command-line flags, each overriding the
//! one before. `attest-collector validate` loads and checks it without starting.
//!
//! ```toml
//! version = 1
//! listen = "0.0.0.0:8443"
//! data_dir = "/var/lib/attest-collector"
//! database = "postgres://attest@db.example/attest"   # default: SQLite in data_dir
//! insecure_http = false                               # tests only
//!
//! [tls]                        # default: a self-signed certificate in data_dir
//! cert = "/etc/attest/collector.crt"
//! key = "/etc/attest/collector.key"
//!
//! [limits]
//! body_bytes = 4194304         # largest request body
//! rate_per_second = 5.0        # reports per agent per second, per collector instance
//! rate_burst = 30
//! max_connections = 4096       # client connections at once (below LimitNOFILE)
//! max_connections_per_ip = 256 # from one client address
//! request_timeout_seconds = 30 # a whole request (headers and body) from its first byte
//! min_body_rate = 1024         # bytes/s over each 5 s of a request; 0: off
//! ip_failures_per_minute = 60  # failed requests an address may make (after the burst)
//! ip_failure_burst = 120
//! body_memory_bytes = 536870912 # all request bodies being read at once
//!
//! [ingest]
//! max_batch = 512              # reports per transaction
//! queue = 8192                 # reports waiting for the writer before 503
//!
//! [database_pool]
//! max_connections = 16
//!
//! [sqlite]
//! synchronous = "full"         # or "normal": safe against a collector crash, not a power cut
//!
//! [chain_conflicts]            # what a stolen agent key can make the collector store
//! recorded_per_agent = 1000    # forks and broken links recorded; beyond, refused unrecorded
//! envelopes_per_agent = 8      # of those kept whole (the first per seq); the rest as hashes
//!
//! [retention]                  # unset: keep everything (`prune` needs --before)
//! keep_days = 400              # the default of `prune --before`: this many days ago
//! audit_period_start = "04-01" # MM-DD every year, or YYYY-MM-DD: never pruned without --force
//!
//! [dashboard]
//! session_idle = "30m"         # a session ends after this long without a request
//! session_lifetime = "12h"     # and this long after sign-in, whatever its use
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::guard::NetLimits;
use crate::retention::{AuditPeriodStart, Retention};
use crate::store::ConflictQuota;

/// The config file version this collector reads.
pub const CONFIG_VERSION: u32 = 1;
/// Where `serve` looks for a config file when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/attest/collector.toml";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/attest-collector";
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "{path} is readable or writable by others (mode {mode:o}); it may hold database \
         credentials: chmod 640 or 600"
    )]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    version: u32,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    insecure_http: Option<bool>,
    tls: Option<FileTls>,
    limits: Option<FileLimits>,
    ingest: Option<FileIngest>,
    database_pool: Option<FilePool>,
    sqlite: Option<FileSqlite>,
    chain_conflicts: Option<FileConflicts>,
    retention: Option<FileRetention>,
    dashboard: Option<FileDashboard>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDashboard {
    session_idle: Option<String>,
    session_lifetime: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    keep_days: Option<u32>,
    audit_period_start: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConflicts {
    recorded_per_agent: Option<i64>,
    envelopes_per_agent: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSqlite {
    synchronous: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    body_bytes: Option<usize>,
    rate_per_second: Option<f64>,
    rate_burst: Option<u32>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    request_timeout_seconds: Option<u64>,
    min_body_rate: Option<u64>,
    ip_failures_per_minute: Option<u32>,
    ip_failure_burst: Option<u32>,
    body_memory_bytes: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIngest {
    max_batch: Option<usize>,
    queue: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePool {
    max_connections: Option<u32>,
}

/// Values from the command line and the environment (clap reads both).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_http: bool,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`.
    pub database: String,
    /// Certificate and key files; `None`: the self-signed pair in the data directory.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub insecure_http: bool,
    pub body_limit: usize,
    pub rate_per_second: f64,
    pub rate_burst: u32,
    /// Connection and request limits (`crate::guard`).
    pub net: NetLimits,
    pub max_batch: usize,
    pub queue: usize,
    pub db_max_connections: u32,
    /// SQLite `synchronous=FULL` (else `NORMAL`).
    pub sqlite_full_sync: bool,
    /// How many forks and broken links are recorded per agent, and kept whole.
    pub conflict_quota: ConflictQuota,
    /// `[retention]`: what `prune` keeps by default and never prunes without `--force`.
    pub retention: Retention,
    /// `[dashboard]`: when sessions end.
    pub sessions: crate::session::SessionPolicy,
    /// Where the file came from, if any.
    pub source: Option<PathBuf>,
}

impl Config {
    /// Reads the config file (the one given, or the default path when it exists) and
    /// applies the overrides.
    pub fn load(o: &Overrides) -> Result<Config, ConfigError> {
        let (file, source) = match &o.config {
            Some(path) => (read_file(path)?, Some(path.clone())),
            None => {
                let default = Path::new(DEFAULT_CONFIG_PATH);
                if default.exists() {
                    (read_file(default)?, Some(default.to_path_buf()))
                } else {
                    (
                        FileConfig {
                            version: CONFIG_VERSION,
                            ..FileConfig::default()
                        },
                        None,
                    )
                }
            }
        };
        resolve(file, o, source)
    }

    /// Parses config text (no file, no permission check): for tests and `validate`.
    pub fn from_toml(text: &str, o: &Overrides) -> Result<Config, ConfigError> {
        let file = parse(text, Path::new("<config>"))?;
        resolve(file, o, None)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    check_private(path, &meta)?;
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Refuses a file that others may read or that its group may write.
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(ConfigError::LoosePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_owned(),
    })?;
    if file.version != CONFIG_VERSION {
        return Err(ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!(
                "version {} is not supported; this collector reads version {CONFIG_VERSION}",
                file.version
            ),
        });
    }
    Ok(file)
}

fn resolve(
    file: FileConfig,
    o: &Overrides,
    source: Option<PathBuf>,
) -> Result<Config, ConfigError> {
    let listen_text = o
        .listen
        .clone()
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        ConfigError::Invalid(format!(
            "listen address {listen_text:?} is not IP:PORT (e.g. 0.0.0.0:8443)"
        ))
    })?;
    let data_dir = o
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let database = o
        .database
        .clone()
        .or(file.database)
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("collector.db").display()));
    if !(database.starts_with("sqlite:")
        || database.starts_with("postgres://")
        || database.starts_with("postgresql://"))
    {
        return Err(ConfigError::Invalid(
            "database must be sqlite://PATH or postgres://USER@HOST/DB".into(),
        ));
    }
    let tls = match (o.tls_cert.clone(), o.tls_key.clone(), file.tls) {
        (Some(c), Some(k), _) => Some((c, k)),
        (None, None, Some(t)) => Some((t.cert, t.key)),
        (None, None, None) => None,
        _ => {
            return Err(ConfigError::Invalid(
                "--tls-cert and --tls-key go together".into(),
            ));
        }
    };
    let sqlite_full_sync = match file.sqlite.and_then(|s| s.synchronous).as_deref() {
        None | Some("full") => true,
        Some("normal") => false,
        Some(other) => {
            return Err(ConfigError::Invalid(format!(
                "sqlite.synchronous must be \"full\" or \"normal\", not {other:?}"
            )));
        }
    };
    let limits = file.limits.unwrap_or_default();
    let ingest = file.ingest.unwrap_or_default();
    let conflicts = file.chain_conflicts.unwrap_or_default();
    let retention = file.retention.unwrap_or_default();
    let retention = Retention {
        keep_days: retention.keep_days,
        audit_period_start: retention
            .audit_period_start
            .as_deref()
            .map(AuditPeriodStart::parse)
            .transpose()
            .map_err(ConfigError::Invalid)?,
    };
    let dashboard = file.dashboard.unwrap_or_default();
    let session_default = crate::session::SessionPolicy::default();
    let millis = |text: &Option<String>, key: &str, default: i64| -> Result<i64, ConfigError> {
        match text {
            None => Ok(default),
            Some(t) => parse_duration(t)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .map_err(|e| ConfigError::Invalid(format!("dashboard.{key}: {e}"))),
        }
    };
    let sessions = crate::session::SessionPolicy {
        idle: millis(
            &dashboard.session_idle,
            "session_idle",
            session_default.idle,
        )?,
        absolute: millis(
            &dashboard.session_lifetime,
            "session_lifetime",
            session_default.absolute,
        )?,
    };
    let net_default = NetLimits::default();
    let net = NetLimits {
        max_connections: limits
            .max_connections
            .unwrap_or(net_default.max_connections),
        // Unset: the default, or the whole cap when that is lower.
        max_connections_per_ip: limits.max_connections_per_ip.unwrap_or_else(|| {
            net_default
                .max_connections_per_ip
                .min(limits.max_connections.unwrap_or(usize::MAX))
        }),
        request_timeout: limits
            .request_timeout_seconds
            .map_or(net_default.request_timeout, Duration::from_secs),
        min_body_rate: limits.min_body_rate.unwrap_or(net_default.min_body_rate),
        ip_failures_per_minute: limits
            .ip_failures_per_minute
            .unwrap_or(net_default.ip_failures_per_minute),
        ip_failure_burst: limits
            .ip_failure_burst
            .unwrap_or(net_default.ip_failure_burst),
        body_memory: limits.body_memory_bytes.unwrap_or(net_default.body_memory),
    };
    let config = Config {
        listen,
        data_dir,
        database,
        tls,
        insecure_http: o.insecure_http || file.insecure_http.unwrap_or(false),
        body_limit: limits
            .body_bytes
            .unwrap_or(attest_proto::MAX_ENVELOPE_BYTES),
        rate_per_second: limits.rate_per_second.unwrap_or(5.0),
        rate_burst: limits.rate_burst.unwrap_or(30),
        net,
        max_batch: ingest.max_batch.unwrap_or(512),
        queue: ingest.queue.unwrap_or(8192),
        db_max_connections: file
            .database_pool
            .and_then(|p| p.max_connections)
            .unwrap_or(16),
        sqlite_full_sync,
        conflict_quota: ConflictQuota {
            recorded_per_agent: conflicts
                .recorded_per_agent
                .unwrap_or(ConflictQuota::DEFAULT.recorded_per_agent),
            envelopes_per_agent: conflicts
                .envelopes_per_agent
                .unwrap_or(ConflictQuota::DEFAULT.envelopes_per_agent),
        },
        retention,
        sessions,
        source,
    };
    validate(&config)?;
    Ok(config)
}

fn validate(c: &Config) -> Result<(), ConfigError> {
    let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
    if c.body_limit < attest_proto::MAX_ENROLL_BYTES || c.body_limit > 64 * 1024 * 1024 {
        return bad("limits.body_bytes must be between 65536 and 67108864");
    }
    if !(c.rate_per_second.is_finite() && c.rate_per_second > 0.0) {
        return bad("limits.rate_per_second must be a positive number");
    }
    if c.rate_burst == 0 {
        return bad("limits.rate_burst must be at least 1");
    }
    let n = &c.net;
    if n.max_connections == 0 || n.max_connections > 1_000_000 {
        return bad("limits.max_connections must be between 1 and 1000000");
    }
    if n.max_connections_per_ip == 0 || n.max_connections_per_ip > n.max_connections {
        return bad("limits.max_connections_per_ip must be between 1 and limits.max_connections");
    }
    if n.request_timeout.is_zero() || n.request_timeout > Duration::from_secs(3600) {
        return bad("limits.request_timeout_seconds must be between 1 and 3600");
    }
    if n.ip_failures_per_minute == 0 || n.ip_failure_burst == 0 {
        return bad("limits.ip_failures_per_minute and limits.ip_failure_burst must be at least 1");
    }
    if n.body_memory < c.body_limit {
        return bad("limits.body_memory_bytes must be at least limits.body_bytes");
    }
    if c.max_batch == 0 || c.max_batch > 4096 {
        return bad("ingest.max_batch must be between 1 and 4096");
    }
    if c.queue < c.max_batch {
        return bad("ingest.queue must be at least ingest.max_batch");
    }
    if c.db_max_connections < 2 || c.db_max_connections > 1000 {
        return bad("database_pool.max_connections must be between 2 and 1000");
    }
    if c.retention
        .keep_days
        .is_some_and(|d| !(1..=36_500).contains(&d))
    {
        return bad("retention.keep_days must be between 1 and 36500");
    }
    if c.sessions.idle > c.sessions.absolute || c.sessions.absolute > 7 * 24 * 3_600_000 {
        return bad(
            "dashboard.session_idle must not exceed dashboard.session_lifetime, which is at \
             most 7d",
        );
    }
    let q = c.conflict_quota;
    if !(1..=1_000_000).contains(&q.recorded_per_agent) {
        return bad("chain_conflicts.recorded_per_agent must be between 1 and 1000000");
    }
    if !(0..=q.recorded_per_agent.min(1000)).contains(&q.envelopes_per_agent) {
        return bad("chain_conflicts.envelopes_per_agent must be between 0 and \
             chain_conflicts.recorded_per_agent (at most 1000)");
    }
    Ok(())
}

/// Parses a duration such as `30s`, `15m`, `24h` or `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30m, 24h or 7d"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?} is not a duration like 30m, 24h or 7d"))?;
    if secs == 0 {
        return Err("a duration must be more than zero".into());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o() -> Overrides {
        Overrides::default()
    }

    #[test]
    fn defaults_and_full_file() {
        let c = Config::from_toml("version = 1", &o()).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8443".parse().unwrap());
        assert_eq!(
            c.database,
            "sqlite:///var/lib/attest-collector/collector.db"
        );
        assert_eq!(c.body_limit, 4 * 1024 * 1024);
        assert!(!c.insecure_http);
        assert_eq!(c.conflict_quota, ConflictQuota::DEFAULT);
        assert_eq!(
            (
                c.conflict_quota.recorded_per_agent,
                c.conflict_quota.envelopes_per_agent
            ),
            (1000, 8)
        );
        assert_eq!(c.net, NetLimits::default());
        assert_eq!(c.net.request_timeout, Duration::from_secs(30));
        let c = Config::from_toml(
            r#"
version = 1
listen = "127.0.0.1:9000"
data_dir = "/srv/attest"
database = "postgres://a@db/attest"
[tls]
cert = "/c.pem"
key = "/k.pem"
[limits]
body_bytes = 1048576
rate_per_second = 2.5
rate_burst = 4
max_connections = 32
max_connections_per_ip = 8
request_timeout_seconds = 5
min_body_rate = 0
ip_failures_per_minute = 10
ip_failure_burst = 20
body_memory_bytes = 2097152
[ingest]
max_batch = 64
queue = 128
[database_pool]
max_connections = 8
[sqlite]
synchronous = "normal"
[chain_conflicts]
recorded_per_agent = 50
envelopes_per_agent = 0
[retention]
keep_days = 400
audit_period_start = "04-01"
"#,
            &o(),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.database, "postgres://a@db/attest");
        assert_eq!(c.tls, Some(("/c.pem".into(), "/k.pem".into())));
        assert_eq!(
            (c.body_limit, c.rate_burst, c.max_batch),
            (1_048_576, 4, 64)
        );
        assert_eq!(c.db_max_connections, 8);
        assert!(!c.sqlite_full_sync);
        assert_eq!(
            c.conflict_quota,
            ConflictQuota {
                recorded_per_agent: 50,
                envelopes_per_agent: 0
            }
        );
        assert_eq!(
            c.retention,
            Retention {
                keep_days: Some(400),
                audit_period_start: Some(AuditPeriodStart::Yearly { month: 4, day: 1 })
            }
        );
        assert_eq!(
            c.net,
            NetLimits {
                max_connections: 32,
                max_connections_per_ip: 8,
                request_timeout: Duration::from_secs(5),
                min_body_rate: 0,
                ip_failures_per_minute: 10,
                ip_failure_burst: 20,
                body_memory: 2_097_152,
            }
        );
    }

    #[test]
    fn flags_override_the_file() {
        let over = Overrides {
            listen: Some("127.0.0.1:1".into()),
            data_dir: Some("/d".into()),
            insecure_http: true,
            ..o()
        };
        let c = Config::from_toml("version = 1\nlisten = \"127.0.0.1:2\"", &over).unwrap();
        assert_eq!(c.listen.port(), 1);
        assert_eq!(c.database, "sqlite:///d/collector.db");
        assert!(c.insecure_http);
    }

    #[test]
    fn strictness() {
        let err = |t: &str| Config::from_toml(t, &o()).unwrap_err().to_string();
        assert!(err("version = 1\nlisten_addr = \"x\"").contains("unknown field"));
        assert!(err("listen = \"x\"").contains("version"));
        assert!(err("version = 2").contains("not supported"));
        assert!(err("version = 1\nlisten = \"localhost\"").contains("IP:PORT"));
        assert!(err("version = 1\ndatabase = \"mysql://x\"").contains("sqlite://"));
        assert!(err("version = 1\n[limits]\nrate_per_second = 0.0").contains("positive"));
        assert!(err("version = 1\n[ingest]\nmax_batch = 0").contains("max_batch"));
        assert!(err("version = 1\n[limits]\nmax_connections = 0").contains("max_connections"));
        let c = Config::from_toml("version = 1\n[limits]\nmax_connections = 32", &o()).unwrap();
        assert_eq!(c.net.max_connections_per_ip, 32);
        assert!(
            err("version = 1\n[limits]\nmax_connections = 8\nmax_connections_per_ip = 9")
                .contains("max_connections_per_ip")
        );
        assert!(
            err("version = 1\n[limits]\nrequest_timeout_seconds = 0").contains("request_timeout")
        );
        assert!(err("version = 1\n[limits]\nbody_memory_bytes = 1").contains("body_memory"));
        assert!(err("version = 1\n[limits]\nmax_conections = 8").contains("unknown field"));
        assert!(err("version = 1\n[sqlite]\nsynchronous = \"off\"").contains("synchronous"));
        assert!(err("version = 1\n[tls]\ncert = \"/c\"").contains("key"));
        assert!(err("version = 1\n[chain_conflicts]\nrecorded = 5").contains("unknown field"));
        assert!(err("version = 1\n[retention]\nkeep_days = 0").contains("keep_days"));
        let c = Config::from_toml(
            "version = 1\n[dashboard]\nsession_idle = \"10m\"\nsession_lifetime = \"8h\"",
            &o(),
        )
        .unwrap();
        assert_eq!(
            (c.sessions.idle, c.sessions.absolute),
            (600_000, 8 * 3_600_000)
        );
        assert!(err("version = 1\n[dashboard]\nsession_idle = \"13h\"").contains("session_idle"));
        assert!(err("version = 1\n[dashboard]\nsession_lifetime = \"30d\"").contains("7d"));
        assert!(err("version = 1\n[dashboard]\nsession_idle = \"soon\"").contains("session_idle"));
        assert!(
            err("version = 1\n[retention]\naudit_period_start = \"02-29\"")
                .contains("audit_period_start")
        );
        assert!(
            err("version = 1\n[chain_conflicts]\nrecorded_per_agent = 0")
                .contains("recorded_per_agent")
        );
        assert!(
            err("version = 1\n[chain_conflicts]\nrecorded_per_agent = 4\nenvelopes_per_agent = 5")
                .contains("envelopes_per_agent")
        );
        assert!(
            err("version = 1\n[chain_conflicts]\nenvelopes_per_agent = -1")
                .contains("envelopes_per_agent")
        );
        let half = Overrides {
            tls_cert: Some("/c".into()),
            ..o()
        };
        assert!(Config::from_toml("version = 1", &half).is_err());
    }

    #[test]
    fn config_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.toml");
        std::fs::write(&path, "version = 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let over = Overrides {
            config: Some(path.clone()),
            ..o()
        };
        assert!(matches!(
            Config::load(&over),
            Err(ConfigError::LoosePermissions { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(Config::load(&over).unwrap().source, Some(path));
        let missing = Overrides {
            config: Some(dir.path().join("nope.toml")),
            ..o()
        };
        assert!(matches!(
            Config::load(&missing),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
