//! The evaluated fleet the dashboard's pages read: the same [`FleetReport`] the
//! reports are made of, built once and kept for a short while, so that following
//! links (control → hosts → host) does not evaluate the fleet again on every page.
//!
//! A view of "now" is fresh for 30 s, one of a past date for 10 minutes (only late
//! reports can change it); past that, the kept view is still answered at once while a
//! new one is built in the background, so a page never waits for the fleet's
//! evaluation except the first time a date is asked for. A waiver added or revoked
//! through this collector drops every view at once (the next page waits for the new
//! state); one changed through another collector on the same database shows within
//! those times. One view is built at a time.
//!
//! That first evaluation of a date runs in the background ([`Views::get_within`]): a
//! page waits for it a moment, then answers with how far it is and loads again, so no
//! request is held for the seconds a large fleet's evaluation takes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::UiState;
use crate::report::{FleetReport, Options, Progress, ReportError, When, build, gather};
use crate::store::Millis;

const NOW_TTL: Duration = Duration::from_secs(30);
const PAST_TTL: Duration = Duration::from_secs(600);
const KEPT: usize = 6;
const DAY: Millis = 24 * 3600 * 1000;

/// Which evaluation a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The end of the day asked for (UTC); `None`: now.
    pub at: Option<Millis>,
    /// Days of the period ending then whose trend is shown (0: none).
    pub period_days: u32,
}

/// An evaluated fleet.
#[derive(Debug)]
pub struct View {
    pub report: FleetReport,
    /// The moment evaluated.
    pub at: Millis,
    /// Host index by agent id.
    pub by_agent: HashMap<String, usize>,
}

impl View {
    pub fn host(&self, agent_id: &str) -> Option<&crate::report::model::HostEntry> {
        self.by_agent
            .get(agent_id)
            .and_then(|i| self.report.hosts.get(*i))
    }
}

struct Cached {
    key: Key,
    generation: u64,
    made: Instant,
    view: Arc<View>,
}

/// The kept views.
#[derive(Default)]
pub struct Views {
    kept: std::sync::Mutex<Vec<Cached>>,
    generation: AtomicU64,
    building: tokio::sync::Mutex<()>,
    /// A background rebuild is under way.
    refreshing: std::sync::atomic::AtomicBool,
    /// First evaluations of a key under way that pages do not wait for to the end.
    pending: std::sync::Mutex<HashMap<(Key, u64), Arc<Pending>>>,
}

/// A first evaluation under way in the background.
struct Pending {
    progress: Progress,
    started: Instant,
    done: tokio::sync::watch::Receiver<bool>,
    /// Why it failed, when it did.
    failed: std::sync::Mutex<Option<String>>,
}

/// What a page gets: the view, or how far its first evaluation is.
pub enum Got {
    Ready(Arc<View>),
    Evaluating(Evaluating),
}

/// A first evaluation still under way when the page's wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluating {
    /// Its current step (empty: waiting for another evaluation to end).
    pub step: String,
    pub done: usize,
    pub total: usize,
    /// Since it started.
    pub elapsed: Duration,
}

impl Views {
    /// Holds off every other evaluation of this collector's dashboard (views and the
    /// trend's days) while the guard lives: one at a time bounds their memory.
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.building.lock().await
    }

    /// Drops every kept view (a waiver changed).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The kept view of `key` made at `generation`, and whether it is still fresh.
    fn lookup(&self, key: Key, generation: u64) -> Option<(Arc<View>, bool)> {
        let kept = self.kept.lock().ok()?;
        kept.iter()
            .find(|c| c.key == key && c.generation == generation)
            .map(|c| {
                let ttl = if c.key.at.is_none() {
                    NOW_TTL
                } else {
                    PAST_TTL
                };
                (Arc::clone(&c.view), c.made.elapsed() < ttl)
            })
    }

    fn keep(&self, key: Key, generation: u64, view: &Arc<View>) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.retain(|c| c.key != key && c.generation == generation);
            if kept.len() >= KEPT {
                kept.remove(0);
            }
            kept.push(Cached {
                key,
                generation,
                made: Instant::now(),
                view: Arc::clone(view),
            });
        }
    }

    /// Builds the view of `key` unless another build holds the lock, and keeps it.
    async fn rebuild(
        &self,
        state: &UiState,
        key: Key,
        generation: u64,
        progress: &Progress,
    ) -> Result<Arc<View>, ReportError> {
        let _one = self.building.lock().await;
        if let Some((v, true)) = self.lookup(key, generation) {
            return Ok(v);
        }
        let view = Arc::new(build_view(state, key, progress).await?);
        self.keep(key, generation, &view);
        Ok(view)
    }

    /// The view for `key`. A kept one past its time is answered at once while a new
    /// one is built behind it (stale while revalidating); only the first request for
    /// a key, or the first after a waiver changed here, waits for the evaluation.
    pub async fn get(&self, state: &Arc<UiState>, key: Key) -> Result<Arc<View>, ReportError> {
        self.get_observed(state, key, &Progress::quiet()).await
    }

    /// [`Views::get`], an evaluation this request waits for reported to `progress`
    /// (an export job's).
    pub async fn get_observed(
        &self,
        state: &Arc<UiState>,
        key: Key,
        progress: &Progress,
    ) -> Result<Arc<View>, ReportError> {
        let generation = self.generation.load(Ordering::SeqCst);
        match self.lookup(key, generation) {
            Some((v, true)) => Ok(v),
            Some((v, false)) => {
                if !self.refreshing.swap(true, Ordering::SeqCst) {
                    let state = Arc::clone(state);
                    tokio::spawn(async move {
                        let quiet = Progress::quiet();
                        if let Err(e) = state.views.rebuild(&state, key, generation, &quiet).await {
                            tracing::warn!(error = %e, "dashboard: refreshing a view");
                        }
                        state.views.refreshing.store(false, Ordering::SeqCst);
                    });
                }
                Ok(v)
            }
            None => self.rebuild(state, key, generation, progress).await,
        }
    }

    /// The view for `key` if it is kept (as [`Views::get`]); else its first
    /// evaluation, started in the background unless it is under way already, waited
    /// for at most `wait`: a page answers at once with how far it is rather than
    /// holding the request for the whole evaluation (seconds on a large fleet).
    pub async fn get_within(
        &self,
        state: &Arc<UiState>,
        key: Key,
        wait: Duration,
    ) -> Result<Got, ReportError> {
        let generation = self.generation.load(Ordering::SeqCst);
        if self.lookup(key, generation).is_some() {
            return Ok(Got::Ready(self.get(state, key).await?));
        }
        let pending = self.start(state, key, generation);
        let mut done = pending.done.clone();
        let finished = tokio::time::timeout(wait, done.wait_for(|d| *d))
            .await
            .is_ok();
        if !finished {
            let (step, done, total) = pending.progress.snapshot();
            return Ok(Got::Evaluating(Evaluating {
                step,
                done,
                total,
                elapsed: pending.started.elapsed(),
            }));
        }
        if let Some(why) = pending.failed.lock().ok().and_then(|f| f.clone()) {
            return Err(ReportError::Invalid(why));
        }
        match self.lookup(key, generation) {
            Some((v, _)) => Ok(Got::Ready(v)),
            // Made and dropped again at once (a waiver changed, or many dates asked
            // for): wait for it here.
            None => Ok(Got::Ready(self.get(state, key).await?)),
        }
    }

    /// First evaluations under way.
    #[cfg(test)]
    pub fn pending_count(&self) -> usize {
        self.pending.lock().map_or(0, |p| p.len())
    }

    /// The first evaluation of `key` under way, started if it is not.
    fn start(&self, state: &Arc<UiState>, key: Key, generation: u64) -> Arc<Pending> {
        let Ok(mut pending) = self.pending.lock() else {
            // A poisoned map: evaluate without sharing (never expected).
            let (_tx, rx) = tokio::sync::watch::channel(false);
            return Arc::new(Pending {
                progress: Progress::observed(),
                started: Instant::now(),
                done: rx,
                failed: std::sync::Mutex::new(Some("the dashboard's state is broken".into())),
            });
        };
        if let Some(p) = pending.get(&(key, generation)) {
            return Arc::clone(p);
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        let p = Arc::new(Pending {
            progress: Progress::observed(),
            started: Instant::now(),
            done: rx,
            failed: std::sync::Mutex::new(None),
        });
        pending.insert((key, generation), Arc::clone(&p));
        let (state, job) = (Arc::clone(state), Arc::clone(&p));
        tokio::spawn(async move {
            let views = &state.views;
            if let Err(e) = views.rebuild(&state, key, generation, &job.progress).await {
                tracing::warn!(error = %e, "dashboard: evaluating the fleet");
                if let Ok(mut f) = job.failed.lock() {
                    *f = Some(e.to_string());
                }
            }
            if let Ok(mut pending) = views.pending.lock() {
                pending.remove(&(key, generation));
            }
            let _ = tx.send(true);
        });
        p
    }

    /// Starts the evaluation of now in the background (at start, so that the first
    /// page finds it made or under way).
    pub fn warm(state: &Arc<UiState>) {
        let key = Key {
            at: None,
            period_days: 0,
        };
        let generation = state.views.generation.load(Ordering::SeqCst);
        state.views.start(state, key, generation);
    }
}

/// The report options of a view.
pub fn options(state: &UiState, key: Key) -> Options {
    let now = state.now();
    let at = key.at.map_or(now, |a| a.min(now));
    let when = if key.period_days == 0 {
        When::AsOf(at)
    } else {
        When::Period {
            from: at.saturating_sub(Millis::from(key.period_days) * DAY),
            to: at,
        }
    };
    Options {
        when,
        window: state.window,
        generated_at: now,
        html_host_limit: 200,
        organization: None,
    }
}

/// Evaluates the fleet as `key` says (what the reports of that date or period say).
pub async fn evaluate(
    state: &UiState,
    key: Key,
    progress: &Progress,
) -> Result<(FleetReport, Options), ReportError> {
    let opts = options(state, key);
    let gathered = gather(&state.stores, &state.catalog, &opts, progress).await?;
    let report = build(&state.catalog, &gathered, &opts, &|_| {});
    Ok((report, opts))
}

async fn build_view(state: &UiState, key: Key, progress: &Progress) -> Result<View, ReportError> {
    let started = Instant::now();
    let (report, opts) = evaluate(state, key, progress).await?;
    let by_agent = report
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.agent_id.clone(), i))
        .collect();
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        hosts = report.hosts.len(),
        "dashboard view built"
    );
    Ok(View {
        report,
        at: opts.when.at(),
        by_agent,
    })
}
