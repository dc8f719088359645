//! The evaluated fleet the dashboard's pages read: the same [`FleetReport`] the
//! reports are made of, built once and kept for a short while, so that following
//! links (control → hosts → host) does not evaluate the fleet again on every page.
//!
//! A view of "now" is kept 30 s, one of a past date 10 minutes (only late reports can
//! change it). A waiver added or revoked through this collector drops every view at
//! once; one changed through another collector on the same database shows within
//! those times. One view is built at a time; requests for it meanwhile wait for it.

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
}

impl Views {
    /// Drops every kept view (a waiver changed).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn lookup(&self, key: Key, generation: u64) -> Option<Arc<View>> {
        let kept = self.kept.lock().ok()?;
        kept.iter()
            .find(|c| {
                let ttl = if c.key.at.is_none() {
                    NOW_TTL
                } else {
                    PAST_TTL
                };
                c.key == key && c.generation == generation && c.made.elapsed() < ttl
            })
            .map(|c| Arc::clone(&c.view))
    }

    /// The view for `key`, built if none is kept.
    pub async fn get(&self, state: &UiState, key: Key) -> Result<Arc<View>, ReportError> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(v) = self.lookup(key, generation) {
            return Ok(v);
        }
        let _one = self.building.lock().await;
        if let Some(v) = self.lookup(key, generation) {
            return Ok(v);
        }
        let view = Arc::new(build_view(state, key).await?);
        if let Ok(mut kept) = self.kept.lock() {
            kept.retain(|c| c.key != key && c.generation == generation);
            if kept.len() >= KEPT {
                kept.remove(0);
            }
            kept.push(Cached {
                key,
                generation,
                made: Instant::now(),
                view: Arc::clone(&view),
            });
        }
        Ok(view)
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

async fn build_view(state: &UiState, key: Key) -> Result<View, ReportError> {
    let started = Instant::now();
    let opts = options(state, key);
    let gathered = gather(&state.stores, &state.catalog, &opts, &Progress::quiet()).await?;
    let report = build(&state.catalog, &gathered, &opts, &|_| {});
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
