//! The service: collect on a schedule, sign each report continuing the chain, put it
//! in the spool, and drain the spool to the collector.
//!
//! One task on a current-thread runtime does everything in turn, so between
//! collections the process only sleeps in the kernel: no busy loop, no thread pool.
//!
//! - **Schedule**: the first collection at start, then each after `interval` plus a
//!   random `0..=jitter` ([`next_collection_delay`]), so a fleet started together
//!   spreads out.
//! - **Signing**: the report is stamped with the persisted chain position, turned into
//!   statement bytes, signed; the advanced chain position is saved **before** the
//!   envelope enters the spool, so a crash can leave a gap (visible to the collector)
//!   but never two reports with one `seq`. When the spool refuses the envelope (disk
//!   full), the old position is restored: that envelope never left the process.
//! - **Delivery** after every collection, and again on its own schedule while records
//!   wait: exponential backoff with jitter, or the collector's `Retry-After`.
//! - **Stop**: SIGTERM or Ctrl-C ends the wait or the upload in flight; a record whose
//!   receipt did not arrive stays in the spool and is sent again on the next start.

use std::future::Future;
use std::time::Duration;

use attest_proto::{ChainState, Envelope, Report, SigningKey, Statement, inventory};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::backoff::{self, Backoff, Rng};
use crate::checks::Thresholds;
use crate::collect;
use crate::config::Config;
use crate::delta::DeltaSender;
use crate::host::Host;
use crate::lists::Lists;
use crate::spool::{Spool, SpoolError};
use crate::state::{Enrollment, ErrorEvent, Event, StateDir, StateError, StateLock};
use crate::upload::{self, ClientError, CollectorClient, Drained, ListSender, Stopped};

/// Where the collection time comes from: the system clock in production, a fixed or
/// stepping clock in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        #[allow(clippy::disallowed_methods)] // the service's one clock
        Utc::now()
    }
}

/// Errors of the service, one line each.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot collect: {0}")]
    Collect(String),
    #[error("cannot sign the report: {0}")]
    Sign(String),
}

/// Everything the service works with, loaded and checked.
#[derive(Debug)]
pub struct Agent {
    pub state: StateDir,
    pub config: Config,
    pub host: Host,
    pub enrollment: Enrollment,
    key: SigningKey,
    pub spool: Spool,
    /// The inventory lists next to the spool ([`crate::lists`]).
    pub lists: Lists,
    pub client: CollectorClient,
    /// The state directory's lock, held as long as the agent lives.
    _lock: StateLock,
}

impl Agent {
    /// Takes the state directory's lock (refused while another agent holds it), loads
    /// the enrollment and the key (refused when readable by others), opens the spool
    /// and builds the HTTPS client. The configuration's `server` and trust, when set,
    /// take precedence over those stored at enrollment.
    pub fn open(state: StateDir, config: Config, host: Host) -> Result<Agent, ServiceError> {
        // A state directory another user could change is fixed or refused first.
        state.ensure_private_logged()?;
        // Not enrolled: say so (the directory may not even exist to hold a lock).
        state.require_enrollment()?;
        let lock = state.lock()?;
        // Read again under the lock: an `enroll --force` may just have replaced it.
        let enrollment = state.require_enrollment()?;
        let key = state.load_key()?;
        let spool = Spool::open(state.spool_dir(), config.spool_max_bytes)?;
        let server = match &config.server {
            Some(url) => url.clone(),
            None => crate::config::parse_server_url(&enrollment.server).map_err(|detail| {
                StateError::Damaged {
                    path: state.enrollment_path().display().to_string(),
                    detail: format!("server {detail}"),
                }
            })?,
        };
        let trust = config
            .trust
            .clone()
            .unwrap_or_else(|| enrollment.trust.clone());
        let client = CollectorClient::new(&server, &trust, config.proxy.as_deref())?;
        let lists = Lists::open(
            &state.spool_dir(),
            state.root().join(crate::lists::STATE_FILE),
            client.base().as_str(),
        )?;
        Ok(Agent {
            state,
            config,
            host,
            enrollment,
            key,
            spool,
            lists,
            client,
            _lock: lock,
        })
    }

    /// Collects one report at `now`, signs it continuing the chain, and spools it.
    /// Returns its `seq`.
    pub fn collect_and_spool(&self, now: DateTime<Utc>) -> Result<u64, ServiceError> {
        let result = self.collect_and_spool_inner(now);
        if let Err(err) = &result {
            tracing::error!(error = %err, "collection failed; the next one is tried on schedule");
            self.record_error(now, err);
        }
        result
    }

    fn collect_and_spool_inner(&self, now: DateTime<Utc>) -> Result<u64, ServiceError> {
        let thresholds: &Thresholds = &self.config.thresholds;
        let mut report =
            collect::collect(&self.host, now, thresholds, &self.config.enabled_checks())
                .map_err(|e| ServiceError::Collect(e.to_string()))?;
        report.agent_id = self.enrollment.agent_id.clone();
        let mut report = self.with_inventory_list(report)?;
        let chain = match self.state.load_chain()? {
            Some(chain) => chain,
            None => ChainState::genesis(&self.key.verifying_key()),
        };
        chain.stamp(&mut report);
        let seq = report.seq;
        let statement = Statement::for_report(report)
            .to_bytes()
            .map_err(|e| ServiceError::Sign(e.to_string()))?;
        let envelope = Envelope::sign(&statement, &self.key)
            .to_json()
            .map_err(|e| ServiceError::Sign(e.to_string()))?;
        let mut next = chain.clone();
        next.advance(&statement);
        self.state.save_chain(&next)?;
        let appended = match self.spool.append(seq, &envelope) {
            Ok(appended) => appended,
            Err(err) => {
                // The envelope never left the process: its seq may be used again.
                if let Err(restore) = self.state.save_chain(&chain) {
                    tracing::warn!(seq, error = %restore, "could not restore the chain position; the collector will see a gap");
                }
                return Err(err.into());
            }
        };
        let results = self.state.update_status(|s| {
            s.last_collection = Some(Event { at: now, seq });
            s.dropped_reports = s
                .dropped_reports
                .saturating_add(appended.dropped.len() as u64);
        });
        if let Err(err) = results {
            tracing::warn!(error = %err, "could not save the status");
        }
        tracing::info!(
            seq,
            bytes = envelope.len(),
            "report collected, signed and spooled"
        );
        Ok(seq)
    }

    /// Keeps the report's inventory list next to the spool (before the report that
    /// names it enters the spool) and returns the report to sign: v3, naming the
    /// list, once the collector is known to take lists; else as collected, the list
    /// inline (see [`crate::lists`]).
    fn with_inventory_list(&self, report: Report) -> Result<Report, ServiceError> {
        let mut split = report.clone();
        let Some((_, document)) =
            inventory::split(&mut split).map_err(|e| ServiceError::Sign(e.to_string()))?
        else {
            return Ok(report);
        };
        let address = self.lists.put(&document).map_err(lists_error)?;
        let mut state = self.lists.state();
        if state.latest.as_deref() != Some(address.as_str()) {
            state.latest = Some(address);
            self.lists.save_state(&state).map_err(lists_error)?;
        }
        Ok(if state.accepted { split } else { report })
    }

    /// Drains the spool once; records the outcome in the status.
    pub async fn deliver(&self, now: DateTime<Utc>) -> Result<Drained, ServiceError> {
        // The base of reports sent by difference: read at each drain, so it is
        // what the last receipt left on disk.
        let mut delta = DeltaSender::open(self.state.delta_base_path(), &self.enrollment.agent_id);
        let lists = ListSender {
            lists: &self.lists,
            key: &self.key,
        };
        let drained = upload::drain_with(
            &self.spool,
            Some(lists),
            &self.client,
            &self.enrollment.agent_id,
            now,
            &mut delta,
        )
        .await;
        let drained = match drained {
            Ok(d) => d,
            Err(err) => {
                self.record_error(now, &err);
                return Err(err.into());
            }
        };
        let saved = self.state.update_status(|s| {
            if let Some(last) = drained.receipts.last() {
                s.last_upload = Some(Event {
                    at: now,
                    seq: last.seq,
                });
            }
            if let Some((seq, reason)) = drained.quarantined.last() {
                s.last_error = Some(ErrorEvent {
                    at: now,
                    message: format!("report seq {seq} quarantined: {reason}"),
                });
            }
            match &drained.stopped {
                Some(Stopped::Backoff(why)) => {
                    s.last_error = Some(ErrorEvent {
                        at: now,
                        message: why.clone(),
                    });
                }
                Some(Stopped::RetryAfter(wait)) => {
                    s.last_error = Some(ErrorEvent {
                        at: now,
                        message: format!("rate limited by the collector for {}s", wait.as_secs()),
                    });
                }
                None => {}
            }
        });
        if let Err(err) = saved {
            tracing::warn!(error = %err, "could not save the status");
        }
        Ok(drained)
    }

    fn record_error(&self, now: DateTime<Utc>, err: &dyn std::fmt::Display) {
        let message = err.to_string();
        if let Err(e) = self.state.update_status(|s| {
            s.last_error = Some(ErrorEvent { at: now, message });
        }) {
            tracing::warn!(error = %e, "could not save the status");
        }
    }

    /// The key's public half (for tests and `status`).
    pub fn verifying_key(&self) -> attest_proto::VerifyingKey {
        self.key.verifying_key()
    }
}

/// A failure to keep an inventory list: a full disk says so as the state's files do.
fn lists_error(err: SpoolError) -> ServiceError {
    match err {
        SpoolError::Io { path, source } if crate::spool::is_disk_full(&source) => {
            StateError::DiskFull { path, source }.into()
        }
        other => other.into(),
    }
}

/// The wait before the next collection: `interval` plus a random `0..=jitter`.
pub fn next_collection_delay(interval: Duration, jitter: Duration, rng: &mut dyn Rng) -> Duration {
    interval + backoff::uniform(rng, jitter)
}

/// The longest `Retry-After` that `run --once` waits out before giving up.
pub const ONCE_MAX_WAIT: Duration = Duration::from_secs(60);

/// What `run --once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceOutcome {
    /// The `seq` collected, `None` when collection failed.
    pub collected: Option<u64>,
    /// Why collection failed (one line), when it did.
    pub collect_error: Option<String>,
    pub delivered: usize,
    pub quarantined: usize,
    /// Records still in the spool.
    pub left: usize,
    /// Why delivery stopped, if it did.
    pub stopped: Option<String>,
}

/// `run --once`: collect once, deliver everything in the spool (waiting out a short
/// `Retry-After`), and report what is left.
pub async fn run_once(agent: &Agent, clock: &dyn Clock) -> Result<OnceOutcome, ServiceError> {
    let (collected, collect_error) = match agent.collect_and_spool(clock.now()) {
        Ok(seq) => (Some(seq), None),
        Err(err) => (None, Some(err.to_string())),
    };
    // Counted from the quarantine itself: records the collector refused and records
    // found corrupted while reading the spool.
    let quarantined_before = agent.spool.quarantined()?;
    let mut outcome = OnceOutcome {
        collected,
        collect_error,
        delivered: 0,
        quarantined: 0,
        left: 0,
        stopped: None,
    };
    loop {
        let drained = agent.deliver(clock.now()).await?;
        outcome.delivered += drained.receipts.len();
        match drained.stopped {
            None => break,
            Some(Stopped::RetryAfter(wait)) if wait <= ONCE_MAX_WAIT => {
                tokio::time::sleep(wait).await;
            }
            Some(Stopped::RetryAfter(wait)) => {
                outcome.stopped = Some(format!(
                    "the collector asks to wait {}s before sending more",
                    wait.as_secs()
                ));
                break;
            }
            Some(Stopped::Backoff(why)) => {
                outcome.stopped = Some(why);
                break;
            }
        }
    }
    outcome.left = agent.spool.depth()?.0;
    outcome.quarantined = agent
        .spool
        .quarantined()?
        .saturating_sub(quarantined_before);
    Ok(outcome)
}

/// The service loop (see the module docs) until `shutdown` completes.
pub async fn run(
    agent: &Agent,
    clock: &dyn Clock,
    rng: &mut dyn Rng,
    backoff: Backoff,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    tokio::pin!(shutdown);
    let mut next_collection = Instant::now();
    let mut next_delivery: Option<Instant> = None;
    let mut attempt: u32 = 0;
    tracing::info!(
        agent_id = %agent.enrollment.agent_id,
        server = %agent.client.base(),
        interval_secs = agent.config.interval.as_secs(),
        jitter_secs = agent.config.jitter.as_secs(),
        "service started"
    );
    loop {
        let now = Instant::now();
        if now >= next_collection {
            // Errors are logged and recorded inside; the schedule goes on.
            let _ = agent.collect_and_spool(clock.now());
            next_collection =
                now + next_collection_delay(agent.config.interval, agent.config.jitter, rng);
            next_delivery = Some(now);
        }
        if next_delivery.is_some_and(|at| Instant::now() >= at) {
            let drained = tokio::select! {
                drained = agent.deliver(clock.now()) => drained,
                () = &mut shutdown => break,
            };
            let now = Instant::now();
            next_delivery = match drained {
                Ok(Drained { stopped: None, .. }) => {
                    attempt = 0;
                    None
                }
                Ok(Drained {
                    stopped: Some(Stopped::RetryAfter(wait)),
                    ..
                }) => Some(now + wait),
                Ok(Drained {
                    stopped: Some(Stopped::Backoff(_)),
                    ..
                })
                | Err(_) => {
                    let wait = backoff.delay(attempt, rng);
                    attempt = attempt.saturating_add(1);
                    tracing::info!(retry_in_secs = wait.as_secs(), "delivery paused");
                    Some(now + wait)
                }
            };
        }
        let wake = next_delivery.map_or(next_collection, |d| d.min(next_collection));
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = &mut shutdown => break,
        }
    }
    tracing::info!("service stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C (SIGINT). Call it inside the runtime: the handlers
/// are installed at once, not when the future is first polled, so a SIGTERM that
/// arrives during the first collection (before the service first waits) still stops
/// the service cleanly instead of killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (Err(err), _) | (_, Err(err)) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM; Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::SplitMix64;
    use crate::fake_collector::{FakeCollector, Mode};
    use crate::state::Enrollment;
    use crate::tls::Trust;
    use std::sync::Mutex;

    /// A clock that moves one hour per reading.
    struct StepClock(Mutex<DateTime<Utc>>);

    impl Clock for StepClock {
        fn now(&self) -> DateTime<Utc> {
            let mut t = self.0.lock().unwrap();
            *t += chrono::Duration::hours(1);
            *t
        }
    }

    fn clock() -> StepClock {
        StepClock(Mutex::new("2026-11-25T00:00:00Z".parse().unwrap()))
    }

    struct Setup {
        _dirs: (tempfile::TempDir, tempfile::TempDir),
        state: StateDir,
        host: std::path::PathBuf,
        config: Config,
    }

    /// A state directory enrolled (directly) with `fake`, and an empty host root.
    fn setup(fake: &FakeCollector) -> Setup {
        let state_dir = tempfile::tempdir().unwrap();
        let host_dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(state_dir.path().join("state"));
        state.create().unwrap();
        let (key, agent_id) = fake.enroll_direct();
        state.create_key(key.to_bytes(), false).unwrap();
        state
            .save_enrollment(&Enrollment {
                agent_id,
                server: fake.url().to_string(),
                trust: Trust::Pin(fake.pin()),
                public_key: attest_proto::encode_public_key(&key.verifying_key()),
                enrolled_at: fake.now(),
                collector_key: None,
            })
            .unwrap();
        let mut config = Config::defaults(&|_| None);
        config.disabled_checks = vec!["inventory.software".into()];
        Setup {
            host: host_dir.path().to_path_buf(),
            _dirs: (state_dir, host_dir),
            state,
            config,
        }
    }

    fn agent(s: &Setup) -> Agent {
        Agent::open(
            s.state.clone(),
            s.config.clone(),
            Host::open(&s.host).unwrap(),
        )
        .unwrap()
    }

    /// Writes a Debian host root with `n` installed packages (version `version`).
    fn debian_with_packages(root: &std::path::Path, n: usize, version: &str) {
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/os-release"),
            "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
        let status: String = (0..n)
            .map(|i| {
                format!(
                    "Package: pkg-{i:03}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n"
                )
            })
            .collect();
        std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
    }

    /// Only `inventory.software` runs.
    fn software_only(s: &mut Setup) {
        s.config.disabled_checks = crate::checks::ids()
            .into_iter()
            .filter(|id| *id != "inventory.software")
            .map(str::to_owned)
            .collect();
    }

    fn spooled_statement(agent: &Agent, seq: u64) -> (Vec<u8>, serde_json::Value) {
        let entry = agent
            .spool
            .entries()
            .unwrap()
            .into_iter()
            .find(|e| e.seq == seq)
            .unwrap();
        let record = agent.spool.read(&entry).unwrap().unwrap();
        let payload = Envelope::from_json(&record.body).unwrap().payload;
        let value = serde_json::from_slice(&payload).unwrap();
        (record.body, value)
    }

    /// The first report keeps its list inline while the agent learns that the
    /// collector takes lists; from then on reports are v3 without packages, naming the
    /// list, which is sent once per change, kept next to the spool across a restart
    /// until the reports naming it are delivered, and deleted afterwards (the latest
    /// stays).
    #[tokio::test]
    async fn v3_reports_name_their_list_which_is_sent_once_and_kept_until_delivered() {
        use attest_proto::inventory::{INVENTORY_LIST_FACT, address};
        let fake = FakeCollector::start().await;
        let mut s = setup(&fake);
        software_only(&mut s);
        debian_with_packages(&s.host, 40, "1.0");
        let clock = clock();
        let first = agent(&s);
        let once = run_once(&first, &clock).await.unwrap();
        assert_eq!((once.delivered, once.left), (1, 0), "{once:?}");
        assert_eq!(fake.stored_schemas(), ["attest.report/v1"]);
        let posts = fake.list_posts();
        assert_eq!(
            posts.len(),
            1,
            "the agent asked once whether lists are taken"
        );
        let addr1 = posts[0].clone();
        assert!(first.lists.state().accepted);

        let once = run_once(&first, &clock).await.unwrap();
        assert_eq!(once.delivered, 1);
        assert_eq!(
            fake.stored_schemas(),
            ["attest.report/v1", "attest.report/v3"]
        );
        assert_eq!(
            fake.list_posts().len(),
            1,
            "an acknowledged list is not sent again"
        );

        // Collector down: reports wait in the spool with their lists.
        fake.set_mode(Mode::Down);
        run_once(&first, &clock).await.unwrap();
        let (_, st3) = spooled_statement(&first, 3);
        let sw = st3["predicate"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["check"] == "inventory.software")
            .unwrap()
            .clone();
        assert_eq!(st3["predicate"]["schema"], "attest.report/v3");
        assert!(sw["facts"].get("packages").is_none(), "{sw}");
        assert_eq!(sw["facts"][INVENTORY_LIST_FACT], addr1.as_str());
        assert_eq!(sw["facts"]["count"], 40);
        let kept = first.lists.get(&addr1).unwrap().unwrap();
        assert_eq!(address(&kept), addr1);
        // The package list changes: a second list, both kept.
        debian_with_packages(&s.host, 41, "1.1");
        run_once(&first, &clock).await.unwrap();
        let (body4, _) = spooled_statement(&first, 4);
        let addr2 = crate::lists::named_by(&body4).unwrap();
        assert_ne!(addr2, addr1);
        let mut both = vec![addr1.clone(), addr2.clone()];
        both.sort();
        assert_eq!(first.lists.addresses().unwrap(), both);
        drop(first);

        // Restart, collector back: everything delivered, the new list sent first.
        fake.set_mode(Mode::Up);
        let again = agent(&s);
        assert_eq!(again.lists.addresses().unwrap(), both);
        let once = run_once(&again, &clock).await.unwrap();
        assert_eq!(
            (once.delivered, once.left, once.quarantined),
            (3, 0, 0),
            "{once:?}"
        );
        assert_eq!(fake.list_posts(), [addr1.clone(), addr2.clone()]);
        assert!(
            fake.report_answers().iter().all(Option::is_none),
            "no report was refused: {:?}",
            fake.report_answers()
        );
        assert_eq!(fake.stored_seqs(), [1, 2, 3, 4, 5]);
        assert!(fake.chain_unbroken(&again.verifying_key()));
        assert_eq!(
            fake.list(&addr2).unwrap(),
            again.lists.get(&addr2).unwrap().unwrap()
        );
        // No pending record needs the first list any more: deleted.
        assert_eq!(again.lists.addresses().unwrap(), [addr2]);
    }

    /// A collector that answers `inventory_list_unknown` (it lost the list) gets the
    /// list and the same report again at once.
    #[tokio::test]
    async fn an_unknown_list_is_sent_and_the_report_sent_again() {
        let fake = FakeCollector::start().await;
        let mut s = setup(&fake);
        software_only(&mut s);
        debian_with_packages(&s.host, 5, "1.0");
        let clock = clock();
        let agent = agent(&s);
        run_once(&agent, &clock).await.unwrap();
        run_once(&agent, &clock).await.unwrap();
        assert_eq!(fake.list_posts().len(), 1);
        fake.forget_lists();
        let once = run_once(&agent, &clock).await.unwrap();
        assert_eq!((once.delivered, once.left, once.quarantined), (1, 0, 0));
        assert_eq!(
            fake.report_answers(),
            [
                None,
                None,
                Some(attest_proto::ErrorCode::InventoryListUnknown),
                None
            ]
        );
        assert_eq!(fake.list_posts().len(), 2);
        assert_eq!(fake.stored_seqs(), [1, 2, 3]);
    }

    /// A collector that predates inventory lists (404) keeps getting the package list
    /// inline; the agent remembers the answer and does not ask again at once.
    #[tokio::test]
    async fn an_old_collector_gets_the_list_inline() {
        let fake = FakeCollector::start().await;
        fake.set_takes_lists(false);
        let mut s = setup(&fake);
        software_only(&mut s);
        debian_with_packages(&s.host, 5, "1.0");
        let clock = clock();
        let agent = agent(&s);
        for _ in 0..3 {
            let once = run_once(&agent, &clock).await.unwrap();
            assert_eq!((once.delivered, once.left), (1, 0));
        }
        assert_eq!(fake.stored_schemas(), ["attest.report/v1"; 3]);
        let state = agent.lists.state();
        assert!(!state.accepted);
        let refused = state.refused_at.unwrap();
        assert!(
            refused < clock.now() - chrono::Duration::hours(2),
            "not asked again since the first refusal"
        );
        assert!(fake.list_posts().is_empty());
    }

    #[test]
    fn the_schedule_is_exact_for_a_seed() {
        let mut rng = SplitMix64::new(3);
        let mut check = SplitMix64::new(3);
        let hour = Duration::from_secs(3600);
        let jitter = Duration::from_secs(300);
        for _ in 0..5 {
            let d = next_collection_delay(hour, jitter, &mut rng);
            let expected = hour + Duration::from_millis(check.next_u64() % 300_001);
            assert_eq!(d, expected);
            assert!(d >= hour && d <= hour + jitter);
        }
        assert_eq!(next_collection_delay(hour, Duration::ZERO, &mut rng), hour);
    }

    #[tokio::test]
    async fn collector_down_for_several_cycles_then_back() {
        let fake = FakeCollector::start().await;
        let s = setup(&fake);
        let clock = clock();
        fake.set_mode(Mode::Down);
        let first = agent(&s);
        for expected in 1..=3 {
            let once = run_once(&first, &clock).await.unwrap();
            assert_eq!(once.collected, Some(expected));
            assert_eq!(once.left, expected as usize);
            assert!(once.stopped.is_some());
        }
        drop(first);
        // A restart continues the chain where it was.
        let again = agent(&s);
        fake.set_mode(Mode::Up);
        let once = run_once(&again, &clock).await.unwrap();
        assert_eq!(once.collected, Some(4));
        assert_eq!(once.delivered, 4);
        assert_eq!(once.left, 0);
        assert_eq!(once.stopped, None);
        assert_eq!(fake.arrivals(), vec![1, 2, 3, 4]);
        assert!(fake.chain_unbroken(&again.verifying_key()));
        let status = s.state.load_status().unwrap();
        assert_eq!(status.last_upload.map(|e| e.seq), Some(4));
        assert_eq!(status.last_collection.map(|e| e.seq), Some(4));
        assert!(status.last_error.unwrap().message.contains("collector"));
    }

    #[tokio::test]
    async fn a_second_agent_on_the_same_state_directory_is_refused() {
        let fake = FakeCollector::start().await;
        let s = setup(&fake);
        let clock = clock();
        let first = agent(&s);
        let refused = Agent::open(
            s.state.clone(),
            s.config.clone(),
            Host::open(&s.host).unwrap(),
        )
        .unwrap_err();
        assert!(
            matches!(refused, ServiceError::State(StateError::Locked { .. })),
            "{refused}"
        );
        assert!(
            refused
                .to_string()
                .contains(&format!("(pid {})", std::process::id())),
            "{refused}"
        );
        // The first one is unaffected, and once it is gone the next one opens.
        let once = run_once(&first, &clock).await.unwrap();
        assert_eq!(once.collected, Some(1));
        drop(first);
        let second = agent(&s);
        let once = run_once(&second, &clock).await.unwrap();
        assert_eq!(once.collected, Some(2));
        assert_eq!(fake.arrivals(), vec![1, 2]);
    }

    #[tokio::test]
    async fn a_lost_receipt_means_sent_again_and_stored_once() {
        let fake = FakeCollector::start().await;
        let s = setup(&fake);
        let clock = clock();
        let agent = agent(&s);
        // Stored by the collector, but the receipt never comes back properly, as when
        // the agent is killed mid-upload.
        fake.set_mode(Mode::GarbageReceipt);
        let once = run_once(&agent, &clock).await.unwrap();
        assert_eq!(once.left, 1);
        fake.set_mode(Mode::Up);
        let once = run_once(&agent, &clock).await.unwrap();
        assert_eq!((once.delivered, once.left), (2, 0));
        assert_eq!(fake.arrivals(), vec![1, 2]);
        assert!(fake.chain_unbroken(&agent.verifying_key()));
    }

    #[tokio::test]
    async fn a_full_disk_restores_the_chain_position() {
        let fake = FakeCollector::start().await;
        let s = setup(&fake);
        let clock = clock();
        let mut agent = agent(&s);
        run_once(&agent, &clock).await.unwrap();
        // The spool refuses the next report (a spool bound smaller than one report
        // stands in for a full disk: both fail the append).
        let spool_dir = agent.spool.dir().to_path_buf();
        agent.spool = Spool::open(&spool_dir, 100).unwrap();
        let once = run_once(&agent, &clock).await.unwrap();
        assert_eq!(once.collected, None);
        let status = s.state.load_status().unwrap();
        assert!(
            status
                .last_error
                .unwrap()
                .message
                .contains("spool_max_size")
        );
        agent.spool = Spool::open(&spool_dir, 1 << 20).unwrap();
        let once = run_once(&agent, &clock).await.unwrap();
        assert_eq!(once.collected, Some(2), "the refused seq is used again");
        assert_eq!(fake.arrivals(), vec![1, 2]);
        assert!(fake.chain_unbroken(&agent.verifying_key()));
    }

    #[tokio::test]
    async fn the_loop_collects_on_schedule_and_stops_on_request() {
        let fake = FakeCollector::start().await;
        let mut s = setup(&fake);
        s.config.interval = Duration::from_millis(150);
        s.config.jitter = Duration::ZERO;
        let agent = agent(&s);
        let clock = clock();
        let mut rng = SplitMix64::new(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopper = async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let _ = stop.send(());
        };
        let service = run(&agent, &clock, &mut rng, Backoff::default(), async move {
            let _ = stopped.await;
        });
        let (result, ()) = tokio::join!(service, stopper);
        result.unwrap();
        let arrivals = fake.arrivals();
        assert!(arrivals.len() >= 3, "{arrivals:?}");
        assert_eq!(arrivals, (1..=arrivals.len() as u64).collect::<Vec<_>>());
        assert!(fake.chain_unbroken(&agent.verifying_key()));
    }

    #[tokio::test]
    async fn the_loop_backs_off_while_the_collector_is_down() {
        let fake = FakeCollector::start().await;
        let mut s = setup(&fake);
        s.config.interval = Duration::from_secs(3600);
        let agent = agent(&s);
        fake.set_mode(Mode::Down);
        let clock = clock();
        let mut rng = SplitMix64::new(1);
        let backoff = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(200),
        };
        let fake_ref = &fake;
        let service = run(&agent, &clock, &mut rng, backoff, async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            fake_ref.set_mode(Mode::Up);
            tokio::time::sleep(Duration::from_millis(600)).await;
        });
        service.await.unwrap();
        // Collected once (the interval is an hour), delivered after the collector
        // came back, by a retry.
        assert_eq!(fake.arrivals(), vec![1]);
        assert_eq!(agent.spool.depth().unwrap().0, 0);
    }
}
