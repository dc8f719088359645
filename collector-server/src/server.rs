//! `attest-collector serve`: open the store, load the keys, serve the API over TLS,
//! stop gracefully.
//!
//! Shutdown (SIGTERM or Ctrl-C): stop accepting, let every open connection finish the
//! request it is serving (up to [`SHUTDOWN_GRACE`]), then let the ingest writer commit
//! what is queued, then close the database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use attest_proto::{BASE64, SigningKey, encode_public_key};
use base64::Engine as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rand_core::OsRng;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api::{AppState, app};
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::Config;
use crate::guard::{Guard, NetLimits, Watched, serve_request};
use crate::ingest::{Writer, WriterConfig};
use crate::logsafe::esc;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::reporting::Stores;
use crate::store::{self, DynStore, StoreError};
use crate::tls::{self, TlsError};
use crate::ui::UiState;

/// How long open connections get to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long a client gets for the TLS handshake and for sending request headers (the
/// whole request has `limits.request_timeout`, `crate::guard`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept for everything but client connections: the database pool,
/// the data directory, the listener.
const RESERVED_FDS: u64 = 64;
/// The file of the log-signing key in the data directory.
pub const LOG_KEY_FILE: &str = "log-signing.key";
/// The metadata key under which the database remembers its log key.
const LOG_KEY_META: &str = "log_public_key";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the check → control mapping: {0}")]
    Mapping(#[from] crate::catalog::MappingError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error(
        "this database's log is signed by key {stored}, but {path} holds key {ours}: \
         copy the log-signing key of the first collector into this data directory"
    )]
    OtherLogKey {
        path: PathBuf,
        stored: String,
        ours: String,
    },
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error("starting the ingest writer: {0}")]
    Writer(std::io::Error),
    #[error(
        "no collector in {place} ({why}): pass the --data-dir (or --database) of a \
         collector, or start one with `attest-collector serve --data-dir DIR`"
    )]
    NoCollector { place: String, why: String },
}

/// Loads the log-signing key from the data directory, creating it (0600) on first
/// start. Returns whether it was created.
pub fn load_or_create_log_key(data_dir: &Path) -> Result<(SigningKey, bool), ServeError> {
    let path = data_dir.join(LOG_KEY_FILE);
    let key_err = |message: String| ServeError::Key {
        path: path.clone(),
        message,
    };
    if path.exists() {
        let text = tls::read_private(&path)?;
        let text = String::from_utf8(text).map_err(|_| key_err("not text".into()))?;
        let raw = BASE64
            .decode(text.trim())
            .map_err(|_| key_err("not base64 of a 32-byte Ed25519 secret key".into()))?;
        let secret: [u8; 32] = raw
            .try_into()
            .map_err(|_| key_err("not base64 of a 32-byte Ed25519 secret key".into()))?;
        return Ok((SigningKey::from_bytes(&secret), false));
    }
    tls::private_dir(data_dir)?;
    let key = SigningKey::generate(&mut OsRng);
    let text = format!("{}\n", BASE64.encode(key.to_bytes()));
    tls::write_private(&path, text.as_bytes())?;
    Ok((key, true))
}

/// Where admin commands look for the collector, for messages.
fn place(config: &Config) -> String {
    match store::sqlite_path(&config.database) {
        Some(_) => config.data_dir.display().to_string(),
        None => "the database given".to_owned(),
    }
}

/// Refuses, before anything is created, a SQLite database file that does not exist:
/// an admin command must act on a collector's data, never make an empty one.
pub fn require_sqlite_file(config: &Config) -> Result<(), ServeError> {
    if let Some(path) = store::sqlite_path(&config.database)
        && !path.exists()
    {
        return Err(ServeError::NoCollector {
            place: place(config),
            why: format!("{} does not exist", path.display()),
        });
    }
    Ok(())
}

/// Refuses a database that no collector has served (its log key is not set).
pub async fn require_served(config: &Config, store: &dyn store::Store) -> Result<(), ServeError> {
    if store.meta(LOG_KEY_META).await?.is_none() {
        return Err(ServeError::NoCollector {
            place: place(config),
            why: "its database was never served: no log key".to_owned(),
        });
    }
    Ok(())
}

/// Opens the store of an existing collector for an admin command: refuses a data
/// directory or database that holds no collector, without creating anything there.
pub async fn open_existing_store(config: &Config) -> Result<DynStore, ServeError> {
    require_sqlite_file(config)?;
    let store = open_store(config).await?;
    if let Err(e) = require_served(config, store.as_ref()).await {
        store.close().await;
        return Err(e);
    }
    Ok(store)
}

/// Opens the store with its reporting reads (the dashboard's).
pub async fn open_stores(config: &Config) -> Result<Stores, ServeError> {
    Ok(store::reporting::open_with(
        &config.database,
        config.db_max_connections,
        config.sqlite_full_sync,
    )
    .await?)
}

/// Opens the store and checks that the log key is the one the database knows.
pub async fn open_store(config: &Config) -> Result<DynStore, ServeError> {
    Ok(store::open_with(
        &config.database,
        config.db_max_connections,
        config.sqlite_full_sync,
    )
    .await?)
}

/// Runs the collector until `shutdown` resolves. `ready` receives the bound address
/// and the certificate fingerprint (`None` with plain HTTP).
pub async fn serve(
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    tls::private_dir(&config.data_dir)?;
    // The address first: a port in use is said at once, before anything is printed.
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let stores = open_stores(&config).await?;
    let store = Arc::clone(&stores.store);
    let (log_key, created) = load_or_create_log_key(&config.data_dir)?;
    let ours = encode_public_key(&log_key.verifying_key());
    let stored = store.meta_init(LOG_KEY_META, &ours).await?;
    if stored != ours {
        return Err(ServeError::OtherLogKey {
            path: config.data_dir.join(LOG_KEY_FILE),
            stored,
            ours,
        });
    }
    if created {
        eprintln!(
            "attest-collector: created the log-signing key {}",
            config.data_dir.join(LOG_KEY_FILE).display()
        );
    }

    let acceptor = if config.insecure_http {
        eprintln!(
            "attest-collector: WARNING: serving plain HTTP (--insecure-http); use this only for tests"
        );
        None
    } else {
        let (cert, key) = match &config.tls {
            Some((c, k)) => (c.clone(), k.clone()),
            None => {
                if tls::ensure_self_signed(&config.data_dir)? {
                    eprintln!(
                        "attest-collector: created a self-signed certificate in {}",
                        config.data_dir.join("tls").display()
                    );
                }
                tls::self_signed_paths(&config.data_dir)
            }
        };
        let server_tls = tls::server_config(&cert, &key)?;
        eprintln!(
            "attest-collector: certificate SHA-256 fingerprint: {}",
            server_tls.fingerprint
        );
        Some(TlsAcceptor::from(server_tls.config))
    };

    let metrics = Arc::new(Metrics::default());
    let limits = fit_to_file_limit(config.net.clone(), config.db_max_connections);
    let guard = Guard::new(limits, Arc::clone(&metrics));
    let (writer, writer_task) = Writer::start_with(
        Arc::clone(&store),
        Arc::clone(&clock),
        Arc::clone(&metrics),
        WriterConfig {
            max_batch: config.max_batch,
            queue: config.queue,
        },
        config.conflict_quota,
    )
    .map_err(ServeError::Writer)?;
    let state = Arc::new(
        AppState::new(
            Arc::clone(&store),
            writer,
            metrics,
            clock,
            log_key,
            RateLimiter::new(config.rate_per_second, config.rate_burst),
            config.body_limit,
        )
        .with_guard(Arc::clone(&guard)),
    );
    let catalog = Arc::new(Catalog::builtin()?);
    let ui_state = Arc::new(
        UiState::new(
            stores,
            catalog,
            Arc::clone(&state.clock),
            state.log_key.clone(),
            config.data_dir.clone(),
        )
        .with_policy(config.sessions),
    );
    crate::ui::Views::warm(&ui_state);
    crate::ui::trend::Filler::spawn(&ui_state);
    let router = app(state).merge(crate::ui::router(ui_state));

    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    eprintln!("attest-collector: listening on {scheme}://{addr}");
    let l = guard.limits();
    tracing::info!(
        %addr,
        backend = store.backend(),
        max_connections = l.max_connections,
        max_connections_per_ip = l.max_connections_per_ip,
        request_timeout_s = l.request_timeout.as_secs(),
        min_body_rate = l.min_body_rate,
        "collector started"
    );

    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT.min(guard.limits().request_timeout))
        .keep_alive(true);

    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving, and
                    // say so at most once per interval.
                    guard.metrics().accept_error();
                    if let Some(suppressed) = guard.accept_warning.hit() {
                        tracing::warn!(error = %e, suppressed, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Over a cap: the socket is closed here (the refusal is counted and logged,
        // throttled, by the guard).
        let Ok(admitted) = guard.admit(peer.ip()) else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let http = http.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let router = router.clone();
        let guard = Arc::clone(&guard);
        tokio::spawn(async move {
            let conn_state = Arc::clone(&admitted.state);
            let service = hyper::service::service_fn(move |req| {
                serve_request(
                    Arc::clone(&guard),
                    Arc::clone(&conn_state),
                    router.clone(),
                    req,
                )
            });
            let ended = match acceptor {
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => r,
                        closed = admitted.watch() => {
                            tracing::debug!(%peer, reason = closed.as_str(), "connection closed in its TLS handshake");
                            return;
                        }
                    };
                    let tls = match handshake {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %esc(&e.to_string()), "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    admitted.state.ready();
                    let io = TokioIo::new(Watched::new(tls, Arc::clone(&admitted.state)));
                    let conn = watcher.watch(http.serve_connection(io, service));
                    tokio::select! {
                        r = conn => r.err().map(|e| esc(&e.to_string()).to_string()),
                        closed = admitted.watch() => {
                            guard_closed(&admitted, closed);
                            None
                        }
                    }
                }
                None => {
                    admitted.state.ready();
                    let io = TokioIo::new(Watched::new(tcp, Arc::clone(&admitted.state)));
                    let conn = watcher.watch(http.serve_connection(io, service));
                    tokio::select! {
                        r = conn => r.err().map(|e| esc(&e.to_string()).to_string()),
                        closed = admitted.watch() => {
                            guard_closed(&admitted, closed);
                            None
                        }
                    }
                }
            };
            if let Some(error) = ended {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }

    eprintln!("attest-collector: shutting down: finishing requests in flight");
    tracing::info!("shutdown requested; finishing requests in flight");
    drop(listener);
    drop(router);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish in time");
    }
    // The router (and with it the last writer handle) is gone: the writer drains.
    match tokio::time::timeout(SHUTDOWN_GRACE, writer_task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "ingest writer task failed"),
        Err(_) => tracing::warn!("the ingest writer did not finish in time"),
    }
    store.close().await;
    eprintln!("attest-collector: stopped");
    Ok(())
}

/// Counts a connection closed by a limit (evictions are counted when they happen).
fn guard_closed(admitted: &crate::guard::Admitted, closed: crate::guard::Closed) {
    if closed != crate::guard::Closed::Evicted {
        admitted.closed(closed);
    }
    tracing::debug!(peer_ip = %admitted.state.ip(), reason = closed.as_str(), "connection closed by a limit");
}

/// Keeps the connection caps below the process's open-file limit: raises the soft
/// limit to the hard one, and lowers `max_connections` (with a warning) when the
/// limit is still too low for it and [`RESERVED_FDS`] more.
pub fn fit_to_file_limit(mut limits: NetLimits, db_connections: u32) -> NetLimits {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut rl = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (rl.current, rl.maximum)
        && cur < max
    {
        let raised = rustix::process::Rlimit {
            current: Some(max),
            maximum: Some(max),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            rl = raised;
        }
    }
    let Some(soft) = rl.current else {
        return limits;
    };
    let reserve = RESERVED_FDS + u64::from(db_connections);
    let room = usize::try_from(soft.saturating_sub(reserve))
        .unwrap_or(usize::MAX)
        .max(1);
    if limits.max_connections > room {
        eprintln!(
            "attest-collector: WARNING: limits.max_connections {} is more than the open-file \
             limit ({soft}) allows; using {room} (raise LimitNOFILE)",
            limits.max_connections
        );
        limits.max_connections = room;
        limits.max_connections_per_ip = limits.max_connections_per_ip.min(room);
    }
    limits
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
