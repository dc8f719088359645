//! Connection and request limits: what keeps the collector up under a flood of
//! unauthenticated clients (docs/security.md).
//!
//! - **Connections**: at most `max_connections` at once and `max_connections_per_ip`
//!   from one address. A connection beyond the per-address cap is closed at accept. At
//!   the global cap a new connection takes the place of the oldest one that is not
//!   being served (in its TLS handshake, idle, or still sending its request); when
//!   every connection is being served, the new one is closed.
//! - **Requests**: from its first byte, a request (headers and body) must arrive
//!   within `request_timeout`, and after the first [`RATE_WINDOW`] at no less than
//!   `min_body_rate` bytes a second over each window; a keep-alive connection may sit
//!   idle (neither receiving a request nor sending an answer) for [`IDLE_TIMEOUT`]. A
//!   connection that breaks a limit is closed.
//! - **Failures**: each client address has a budget of failed requests (`4xx` other
//!   than a rate limit or a chain conflict: bad input, bad signature, unknown key, bad
//!   token, no such route); past it, its requests are answered `429` with
//!   `Retry-After` before anything is read, until the budget refills.
//! - **Memory**: request bodies are buffered only as their bytes arrive (never from a
//!   declared length), and all buffered bodies together stay within `body_memory`
//!   bytes; a body that would pass it is answered `503` (retry).
//!
//! Refusals are counted in metrics and logged at most once per [`WARN_EVERY`], with
//! the number suppressed in between, so a flood does not flood the log.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::api::ApiError;
use crate::metrics::Metrics;
use crate::ratelimit::KeyedLimiter;

/// The window over which the minimum body rate is judged.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);
/// How long a keep-alive connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At most one warning of each kind in this time.
pub const WARN_EVERY: Duration = Duration::from_secs(10);
/// How often each connection's limits are checked.
const TICK: Duration = Duration::from_millis(250);
/// Addresses kept in the penalty box before expired entries are swept.
const MAX_PENALTIES: usize = 100_000;
/// The unit of the body-memory budget, in bytes.
const BUDGET_UNIT: usize = 1024;

/// The limits, from the config file (`[limits]`, docs/collector.md).
#[derive(Debug, Clone, PartialEq)]
pub struct NetLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub request_timeout: Duration,
    /// Bytes a second; 0 turns the check off.
    pub min_body_rate: u64,
    /// Failed requests an address may make a minute once its burst is spent.
    pub ip_failures_per_minute: u32,
    pub ip_failure_burst: u32,
    /// All request bodies being buffered at once, in bytes.
    pub body_memory: usize,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            max_connections: 4096,
            max_connections_per_ip: 256,
            request_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            ip_failures_per_minute: 60,
            ip_failure_burst: 120,
            body_memory: 512 * 1024 * 1024,
        }
    }
}

const HANDSHAKE: u8 = 0;
const IDLE: u8 = 1;
const RECEIVING: u8 = 2;
const HANDLING: u8 = 3;

/// Why a connection was closed by a limit (the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Deadline,
    Slow,
    Idle,
    Evicted,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Deadline => "deadline",
            Closed::Slow => "slow",
            Closed::Idle => "idle",
            Closed::Evicted => "evicted",
        }
    }
}

/// One client connection's state, shared by its task, its byte counter and the
/// registry.
#[derive(Debug)]
pub struct ConnState {
    id: u64,
    ip: IpAddr,
    epoch: Instant,
    phase: AtomicU8,
    /// When the phase began, in milliseconds since `epoch`.
    since_ms: AtomicU64,
    /// Bytes read from the client (after TLS).
    bytes: AtomicU64,
    kill: Notify,
}

impl ConnState {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn set_phase(&self, phase: u8) {
        self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// The TLS handshake is done: waiting for the first request.
    pub fn ready(&self) {
        self.set_phase(IDLE);
    }

    /// The whole request has arrived: what follows is the server's time, not the
    /// client's.
    pub fn received(&self) {
        if self.phase.load(Ordering::Acquire) == RECEIVING {
            self.set_phase(HANDLING);
        }
    }

    fn answered(&self) {
        self.set_phase(IDLE);
    }

    /// Bytes went out: a connection still writing its answer is not idle.
    fn sent_bytes(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    fn got_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.set_phase(RECEIVING);
        }
    }

    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

/// A connection refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    MaxConnections,
    PerIp,
}

impl Refused {
    fn as_str(self) -> &'static str {
        match self {
            Refused::MaxConnections => "max_connections",
            Refused::PerIp => "per_ip",
        }
    }
}

#[derive(Debug, Default)]
struct Conns {
    all: HashMap<u64, Arc<ConnState>>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Conns {
    fn remove(&mut self, id: u64) -> Option<Arc<ConnState>> {
        let state = self.all.remove(&id)?;
        if let Some(n) = self.per_ip.get_mut(&state.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&state.ip);
            }
        }
        Some(state)
    }
}

/// A warning logged at most once per [`WARN_EVERY`].
#[derive(Debug, Default)]
pub struct Throttle {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Throttle {
    /// `Some(how many were suppressed since the last one)` when this one should be
    /// logged.
    pub fn hit(&self) -> Option<u64> {
        let now = Instant::now();
        let Ok(mut last) = self.last.lock() else {
            return None;
        };
        match *last {
            Some(at) if now.duration_since(at) < WARN_EVERY => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

/// The registry of connections and the per-address failure budgets.
#[derive(Debug)]
pub struct Guard {
    limits: NetLimits,
    metrics: Arc<Metrics>,
    epoch: Instant,
    next_id: AtomicU64,
    conns: Mutex<Conns>,
    failures: KeyedLimiter<IpAddr>,
    penalty: Mutex<HashMap<IpAddr, Instant>>,
    budget: Arc<Semaphore>,
    cap_warning: Throttle,
    penalty_warning: Throttle,
    /// Warnings for the accept loop (out of file descriptors and the like).
    pub accept_warning: Throttle,
}

impl Guard {
    pub fn new(limits: NetLimits, metrics: Arc<Metrics>) -> Arc<Guard> {
        let units = (limits.body_memory / BUDGET_UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Guard {
            failures: KeyedLimiter::new(
                f64::from(limits.ip_failures_per_minute.max(1)) / 60.0,
                limits.ip_failure_burst,
            ),
            budget: Arc::new(Semaphore::new(units)),
            limits,
            metrics,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(Conns::default()),
            penalty: Mutex::new(HashMap::new()),
            cap_warning: Throttle::default(),
            penalty_warning: Throttle::default(),
            accept_warning: Throttle::default(),
        })
    }

    pub fn limits(&self) -> &NetLimits {
        &self.limits
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Admits a new connection from `ip`, or says why not. At the global cap, the
    /// oldest connection not being served is closed to make room.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        let warn = |what: &'static str| {
            if let Some(suppressed) = self.cap_warning.hit() {
                tracing::warn!(
                    what,
                    peer_ip = %ip,
                    suppressed,
                    max_connections = self.limits.max_connections,
                    max_connections_per_ip = self.limits.max_connections_per_ip,
                    "connection cap reached"
                );
            }
        };
        let refused = |why: Refused| {
            self.metrics.connection_refused(why.as_str());
            warn(why.as_str());
            Err(why)
        };
        let Ok(mut conns) = self.conns.lock() else {
            return refused(Refused::MaxConnections);
        };
        if conns.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_connections_per_ip {
            drop(conns);
            return refused(Refused::PerIp);
        }
        if conns.all.len() >= self.limits.max_connections {
            let oldest = conns
                .all
                .values()
                .filter(|c| c.phase.load(Ordering::Acquire) != HANDLING)
                .min_by_key(|c| c.since_ms.load(Ordering::Relaxed))
                .map(|c| c.id);
            match oldest.and_then(|id| conns.remove(id)) {
                Some(victim) => {
                    victim.kill.notify_one();
                    self.metrics.connection_closed(Closed::Evicted.as_str());
                    warn("evicted the oldest connection not being served");
                }
                None => {
                    drop(conns);
                    return refused(Refused::MaxConnections);
                }
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState {
            id,
            ip,
            epoch: self.epoch,
            phase: AtomicU8::new(HANDSHAKE),
            since_ms: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            kill: Notify::new(),
        });
        state.set_phase(HANDSHAKE);
        conns.all.insert(id, Arc::clone(&state));
        *conns.per_ip.entry(ip).or_insert(0) += 1;
        drop(conns);
        self.metrics.connection_opened();
        Ok(Admitted {
            state,
            guard: Arc::clone(self),
        })
    }

    /// Connections held now.
    pub fn open(&self) -> usize {
        self.conns.lock().map(|c| c.all.len()).unwrap_or(0)
    }

    /// `Some(seconds)` while `ip` has spent its failure budget.
    fn penalized(&self, ip: IpAddr) -> Option<u64> {
        let mut penalty = self.penalty.lock().ok()?;
        let until = *penalty.get(&ip)?;
        let now = Instant::now();
        if until <= now {
            penalty.remove(&ip);
            return None;
        }
        let wait = until - now;
        Some((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
    }

    /// Counts a failed request against `ip`'s budget.
    fn failed(&self, ip: IpAddr) {
        let Err(wait) = self.failures.check(&ip) else {
            return;
        };
        let Ok(mut penalty) = self.penalty.lock() else {
            return;
        };
        let now = Instant::now();
        if penalty.len() >= MAX_PENALTIES {
            penalty.retain(|_, until| *until > now);
        }
        penalty.insert(ip, now + Duration::from_secs(wait));
        drop(penalty);
        if let Some(suppressed) = self.penalty_warning.hit() {
            tracing::warn!(
                peer_ip = %ip,
                retry_after_s = wait,
                suppressed,
                "too many failed requests from one address; answering 429"
            );
        }
    }

    /// Reserves room for `bytes` more of a request body, or `None` when all bodies
    /// being read would pass `body_memory`.
    pub fn reserve_body(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let units = u32::try_from(bytes.div_ceil(BUDGET_UNIT)).ok()?;
        match Arc::clone(&self.budget).try_acquire_many_owned(units.max(1)) {
            Ok(permit) => Some(permit),
            Err(_) => {
                self.metrics.request_refused("body_memory");
                None
            }
        }
    }
}

/// A connection's place in the registry; it leaves when this is dropped.
#[derive(Debug)]
pub struct Admitted {
    pub state: Arc<ConnState>,
    guard: Arc<Guard>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut conns) = self.guard.conns.lock() {
            conns.remove(self.state.id);
        }
        self.guard.metrics.connection_gone();
    }
}

impl Admitted {
    /// Counts this connection as closed by `why`.
    pub fn closed(&self, why: Closed) {
        self.guard.metrics.connection_closed(why.as_str());
    }

    /// Resolves when the connection must be closed: a limit was broken or it was
    /// evicted. Run it next to the connection and drop the connection when it ends.
    pub async fn watch(&self) -> Closed {
        let limits = &self.guard.limits;
        let state = &self.state;
        let kill = state.kill.notified();
        tokio::pin!(kill);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The window of the rate check: (phase start it belongs to, start, bytes then).
        let mut window: Option<(u64, u64, u64)> = None;
        loop {
            tokio::select! {
                () = &mut kill => return Closed::Evicted,
                _ = tick.tick() => {}
            }
            let now = state.now_ms();
            let since = state.since_ms.load(Ordering::Relaxed);
            let elapsed = Duration::from_millis(now.saturating_sub(since));
            match state.phase.load(Ordering::Acquire) {
                RECEIVING => {
                    if elapsed > limits.request_timeout {
                        return Closed::Deadline;
                    }
                    let bytes = state.bytes.load(Ordering::Relaxed);
                    match window {
                        Some((phase_start, start, start_bytes)) if phase_start == since => {
                            let span = Duration::from_millis(now.saturating_sub(start));
                            if span >= RATE_WINDOW {
                                let rate = (bytes - start_bytes) as f64 / span.as_secs_f64();
                                if limits.min_body_rate > 0 && rate < limits.min_body_rate as f64 {
                                    return Closed::Slow;
                                }
                                window = Some((since, now, bytes));
                            }
                        }
                        _ => window = Some((since, now, bytes)),
                    }
                }
                IDLE if elapsed > IDLE_TIMEOUT => return Closed::Idle,
                _ => window = None,
            }
        }
    }
}

/// The client's byte stream, counting what it reads into the connection's state (a
/// request begins at its first byte).
pub struct Watched<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, state: Arc<ConnState>) -> Self {
        Watched { inner, state }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            this.state.got_bytes(n);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.state.sent_bytes();
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.state.sent_bytes();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Whether a response counts against the client address's failure budget.
fn is_failure(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        400 | 401 | 403 | 404 | 405 | 411 | 413 | 414 | 431
    )
}

/// Serves one request of a connection: the failure budget first (a `429` before
/// anything is read), then the router; the request carries the connection's state
/// for the body reader.
pub async fn serve_request<B>(
    guard: Arc<Guard>,
    state: Arc<ConnState>,
    router: axum::Router,
    req: axum::http::Request<B>,
) -> Result<Response, Infallible>
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    use tower::ServiceExt as _;
    let ip = state.ip;
    if let Some(wait) = guard.penalized(ip) {
        guard.metrics.request_refused("ip_failures");
        let mut e = ApiError::new(
            attest_proto::ErrorCode::RateLimited,
            format!("too many failed requests from this address; retry in {wait} s"),
        );
        e.retry_after = Some(wait);
        let mut resp = e.into_response();
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        state.answered();
        return Ok(resp);
    }
    if req.body().is_end_stream() {
        state.received();
    }
    let mut req = req.map(axum::body::Body::new);
    req.extensions_mut().insert(Arc::clone(&state));
    let resp = match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    if is_failure(resp.status()) {
        guard.failed(ip);
    }
    state.answered();
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize) -> NetLimits {
        NetLimits {
            max_connections: max,
            max_connections_per_ip: per_ip,
            ..NetLimits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn per_ip_cap_refuses_and_frees_on_drop() {
        let metrics = Arc::new(Metrics::default());
        let g = Guard::new(limits(10, 2), Arc::clone(&metrics));
        let a = g.admit(ip(2)).unwrap();
        let _b = g.admit(ip(2)).unwrap();
        assert_eq!(g.admit(ip(2)).unwrap_err(), Refused::PerIp);
        // Another address is not affected.
        let _c = g.admit(ip(3)).unwrap();
        assert_eq!(g.open(), 3);
        assert_eq!(metrics.connections_open(), 3);
        drop(a);
        assert_eq!(g.open(), 2);
        assert!(g.admit(ip(2)).is_ok());
    }

    #[test]
    fn at_the_cap_the_oldest_unserved_connection_makes_room() {
        let metrics = Arc::new(Metrics::default());
        let g = Guard::new(limits(3, 10), Arc::clone(&metrics));
        let served = g.admit(ip(2)).unwrap();
        served.state.ready();
        served.state.got_bytes(10);
        served.state.received();
        std::thread::sleep(Duration::from_millis(5));
        let stalled = g.admit(ip(3)).unwrap();
        stalled.state.ready();
        std::thread::sleep(Duration::from_millis(5));
        let young = g.admit(ip(4)).unwrap();
        young.state.ready();
        // Full: the stalled one (older than `young`, not being served) goes.
        let newest = g.admit(ip(5)).unwrap();
        assert_eq!(g.open(), 3);
        assert_eq!(metrics.closed_count("evicted"), 1);
        // The notification was stored for the stalled connection's watcher.
        {
            let kill = stalled.state.kill.notified();
            tokio::pin!(kill);
            let mut cx = Context::from_waker(std::task::Waker::noop());
            assert!(std::future::Future::poll(kill.as_mut(), &mut cx).is_ready());
        }
        // Its drop later does not remove anyone else.
        drop(stalled);
        assert_eq!(g.open(), 3);
        // When every connection is being served, a new one is refused.
        for c in [&young, &newest] {
            c.state.ready();
            c.state.got_bytes(1);
            c.state.received();
        }
        assert_eq!(g.admit(ip(6)).unwrap_err(), Refused::MaxConnections);
        drop(newest);
        let full = g.admit(ip(6)).unwrap();
        full.state.ready();
        full.state.got_bytes(1);
        full.state.received();
        assert_eq!(g.admit(ip(7)).unwrap_err(), Refused::MaxConnections);
    }

    #[test]
    fn failures_past_the_budget_are_penalized_per_address() {
        let metrics = Arc::new(Metrics::default());
        let l = NetLimits {
            ip_failures_per_minute: 1,
            ip_failure_burst: 3,
            ..NetLimits::default()
        };
        let g = Guard::new(l, metrics);
        for _ in 0..3 {
            g.failed(ip(9));
            assert_eq!(g.penalized(ip(9)), None);
        }
        g.failed(ip(9));
        let wait = g.penalized(ip(9)).unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(g.penalized(ip(10)), None);
        assert!(is_failure(StatusCode::UNAUTHORIZED) && is_failure(StatusCode::NOT_FOUND));
        assert!(!is_failure(StatusCode::TOO_MANY_REQUESTS) && !is_failure(StatusCode::CONFLICT));
        assert!(!is_failure(StatusCode::OK) && !is_failure(StatusCode::SERVICE_UNAVAILABLE));
    }

    #[test]
    fn the_body_budget_is_shared() {
        let l = NetLimits {
            body_memory: 10 * BUDGET_UNIT,
            ..NetLimits::default()
        };
        let metrics = Arc::new(Metrics::default());
        let g = Guard::new(l, Arc::clone(&metrics));
        let a = g.reserve_body(6 * BUDGET_UNIT).unwrap();
        assert!(g.reserve_body(5 * BUDGET_UNIT).is_none());
        let _b = g.reserve_body(4 * BUDGET_UNIT).unwrap();
        drop(a);
        assert!(g.reserve_body(5 * BUDGET_UNIT).is_some());
        assert!(metrics.render(None).contains("reason=\"body_memory\"} 1\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn stalled_and_slow_requests_are_closed() {
        let metrics = Arc::new(Metrics::default());
        let l = NetLimits {
            request_timeout: Duration::from_secs(30),
            min_body_rate: 100,
            ..NetLimits::default()
        };
        let g = Guard::new(l, metrics);
        // Stalled after the first byte: closed by the rate check within two windows.
        let c = g.admit(ip(2)).unwrap();
        c.state.ready();
        c.state.got_bytes(1);
        let t0 = tokio::time::Instant::now();
        assert_eq!(c.watch().await, Closed::Slow);
        assert!(t0.elapsed() <= RATE_WINDOW * 2 + TICK * 2);
        // Without the rate check, the deadline.
        let mut l = g.limits().clone();
        l.min_body_rate = 0;
        l.request_timeout = Duration::from_secs(3);
        let g = Guard::new(l, Arc::new(Metrics::default()));
        let c = g.admit(ip(2)).unwrap();
        c.state.ready();
        c.state.got_bytes(1);
        assert_eq!(c.watch().await, Closed::Deadline);
    }
}
