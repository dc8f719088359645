//! The overview's trend: the share of hosts satisfying each control at the end of each
//! day of a period.
//!
//! Evaluating a whole period at once (the period report's way) holds every report of
//! it in memory: 194 s and 6.8 GB for 10,000 hosts × 30 days. The trend reads one
//! stored row per day instead: the fleet's counts at the last millisecond of that UTC
//! day, made by the same as-of evaluation the overview shows for that date and kept in
//! `day_counts`. A finished day never changes — every input is dated: reports by
//! their arrival, waivers by creation, expiry and revocation, agents by enrollment and
//! revocation, chain events by when they were recorded — so each row is made once, in
//! the background ([`Filler`]), newest day first, and shared by every collector on the
//! database. The row's basis names what else the counts depend on (the mapping, the
//! freshness window, the release that evaluated them): a change of any makes new rows.
//! The last point of a trend is the page's own view (now, or the date asked for).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::UiState;
use super::view::{Key, View, evaluate};
use crate::catalog::Catalog;
use crate::evaluate::{Counts, day_ends};
use crate::report::{FleetReport, ReportError};
use crate::store::Millis;

const DAY: Millis = 24 * 3600 * 1000;
/// Days before today the filler keeps counted: the longest period the overview offers.
pub const FILLED_DAYS: u32 = 90;
/// A day is counted this long after it ended: a report stamped just before midnight
/// is committed by then, and collectors' clocks agree to within it.
pub const GRACE: Millis = 10 * 60 * 1000;
/// Days asked for by pages (older than [`FILLED_DAYS`]) waiting to be counted, at most.
const WANTED_MAX: usize = 400;
/// The filler looks for new days this often when nothing asks.
const FILL_EVERY: Duration = Duration::from_secs(15 * 60);
/// Counts of another basis are kept this long after they were made (a collector of
/// the other release may still be running during an upgrade).
const OTHER_BASIS_KEPT: Millis = 7 * DAY;
/// The version of the stored counts' format and meaning.
const FORMAT: &str = "day-counts/1";

/// The fleet at the end of one day: hosts in scope and, per assessed control, hosts
/// per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    pub hosts: usize,
    pub controls: BTreeMap<String, Counts>,
}

impl DayCounts {
    /// The counts of an evaluated fleet.
    pub fn of(report: &FleetReport) -> DayCounts {
        DayCounts {
            hosts: report.summary.hosts_in_scope,
            controls: report
                .controls
                .iter()
                .filter_map(|c| c.counts.map(|k| (c.id.clone(), k)))
                .collect(),
        }
    }
}

/// What the stored counts depend on besides the stored data: the mapping, the
/// freshness window and the release whose evaluation made them.
pub fn basis(catalog: &Catalog, window: Millis) -> String {
    let text = format!(
        "{FORMAT}|{}|{}|{}|{window}",
        env!("CARGO_PKG_VERSION"),
        catalog.source.mode,
        catalog.source.sha256,
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// A trend as the overview draws it.
#[derive(Debug, Default)]
pub struct Trend {
    /// The days, oldest first (`YYYY-MM-DD`).
    pub days: Vec<String>,
    /// Per control, the share of its hosts satisfied each day in percent (`None`: not
    /// counted yet, or no host in scope).
    pub shares: HashMap<String, Vec<Option<u32>>>,
    /// Days not counted yet.
    pub missing: usize,
}

fn share(k: &Counts) -> Option<u32> {
    let total = k.satisfied + k.waived + k.not_satisfied + k.stale + k.not_assessed;
    (total > 0).then(|| (k.share_satisfied() * 100.0).round().clamp(0.0, 100.0) as u32)
}

/// The trend over the `period_days` days that end at the view's moment. Days not
/// counted yet are asked of the filler, and shown as gaps meanwhile.
pub async fn of(state: &UiState, view: &View, period_days: u32) -> Result<Trend, ReportError> {
    if period_days == 0 {
        return Ok(Trend::default());
    }
    let ends = day_ends(
        view.at.saturating_sub(Millis::from(period_days) * DAY),
        view.at,
    );
    let (Some(first), Some(last)) = (ends.first(), ends.last()) else {
        return Ok(Trend::default());
    };
    let stored: HashMap<Millis, DayCounts> = state
        .stores
        .store
        .day_counts(&state.trend.basis, first.1, last.1)
        .await?
        .into_iter()
        .filter_map(|(end, json)| match serde_json::from_str(&json) {
            Ok(c) => Some((end, c)),
            Err(e) => {
                tracing::warn!(day_end = end, error = %e, "dashboard: unreadable day counts");
                None
            }
        })
        .collect();
    let today = DayCounts::of(&view.report);
    let mut trend = Trend::default();
    let mut wanted = Vec::new();
    let mut days: Vec<Option<&DayCounts>> = Vec::with_capacity(ends.len());
    for (label, end) in &ends {
        trend.days.push(label.clone());
        let counts = if *end == view.at {
            Some(&today)
        } else {
            stored.get(end)
        };
        if counts.is_none() {
            wanted.push(*end);
        }
        days.push(counts);
    }
    for c in &view.report.controls {
        if c.counts.is_none() {
            continue;
        }
        let line = days
            .iter()
            .map(|d| d.and_then(|d| d.controls.get(&c.id)).and_then(share))
            .collect();
        trend.shares.insert(c.id.clone(), line);
    }
    trend.missing = wanted.len();
    state.trend.want(&wanted);
    Ok(trend)
}

/// Counts finished days in the background: the last [`FILLED_DAYS`] always, older
/// ones when a page asks for them. One day at a time, under the dashboard's
/// evaluation lock.
pub struct Filler {
    basis: String,
    wanted: std::sync::Mutex<BTreeSet<Millis>>,
    wake: tokio::sync::Notify,
}

impl Filler {
    pub fn new(catalog: &Catalog, window: Millis) -> Filler {
        Filler {
            basis: basis(catalog, window),
            wanted: std::sync::Mutex::new(BTreeSet::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Asks for these day ends to be counted.
    fn want(&self, ends: &[Millis]) {
        if ends.is_empty() {
            return;
        }
        if let Ok(mut w) = self.wanted.lock() {
            for e in ends {
                if w.len() >= WANTED_MAX {
                    break;
                }
                w.insert(*e);
            }
        }
        self.wake.notify_one();
    }

    /// Runs the filler for as long as the process lives.
    pub fn spawn(state: &Arc<UiState>) {
        let state = Arc::clone(state);
        tokio::spawn(async move {
            // The first round is logged even when it had nothing to count: from then
            // on the trend has every day it should.
            let mut first = true;
            loop {
                match fill(&state).await {
                    Ok(n) if n > 0 || first => {
                        tracing::info!(days = n, "dashboard: trend days counted");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "dashboard: counting trend days"),
                }
                first = false;
                let _ = tokio::time::timeout(FILL_EVERY, state.trend.wake.notified()).await;
            }
        });
    }
}

/// The end of the UTC day before the one holding `t`.
fn last_day_end_before(t: Millis) -> Millis {
    t - t.rem_euclid(DAY) - 1
}

/// Counts every finished day that should be and is not yet (newest first); how many
/// were counted.
pub async fn fill(state: &UiState) -> Result<usize, ReportError> {
    let f = &state.trend;
    let now = state.now();
    let newest = last_day_end_before(now - GRACE);
    let mut todo: BTreeSet<Millis> = (0..FILLED_DAYS)
        .map(|i| newest - Millis::from(i) * DAY)
        .collect();
    if let Ok(mut w) = f.wanted.lock() {
        // A wanted day still inside its grace stays wanted for the next round.
        let ready: Vec<Millis> = w.iter().copied().filter(|e| *e <= newest).collect();
        for e in ready {
            w.remove(&e);
            todo.insert(e);
        }
    }
    let (Some(&oldest), Some(&latest)) = (todo.first(), todo.last()) else {
        return Ok(0);
    };
    let kept: BTreeSet<Millis> = state
        .stores
        .store
        .day_counts(&f.basis, oldest, latest)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    let mut made = 0;
    let missing: Vec<Millis> = todo.difference(&kept).copied().collect();
    for end in missing.iter().rev() {
        // Another collector on the database may have counted it meanwhile.
        if !state
            .stores
            .store
            .day_counts(&f.basis, *end, *end)
            .await?
            .is_empty()
        {
            continue;
        }
        let counts = {
            let _one = state.views.exclusive().await;
            let key = Key {
                at: Some(*end),
                period_days: 0,
            };
            DayCounts::of(
                &evaluate(state, key, &crate::report::Progress::quiet())
                    .await?
                    .0,
            )
        };
        let json = serde_json::to_string(&counts)
            .map_err(|e| ReportError::Invalid(format!("encoding day counts: {e}")))?;
        if state
            .stores
            .store
            .put_day_counts(&f.basis, *end, &json, state.now())
            .await?
        {
            made += 1;
        }
    }
    state
        .stores
        .store
        .prune_day_counts(&f.basis, now.saturating_sub(OTHER_BASIS_KEPT))
        .await?;
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FixedClock};
    use crate::fleet::{Waiver, WaiverScope};
    use crate::report::{Options, Progress, When, build, gather};
    use crate::store::reporting::Stores;
    use crate::testkit::{enroll, report_round};

    /// 2026-11-25 00:00 UTC: a day boundary.
    const T0: Millis = 1_795_564_800_000;
    const HOUR: Millis = 3_600_000;

    fn state_of(stores: Stores, clock: &Arc<FixedClock>) -> (Arc<UiState>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let state = UiState::new(
            stores,
            Arc::new(Catalog::builtin().unwrap()),
            Arc::clone(clock) as Arc<dyn Clock>,
            attest_proto::SigningKey::from_bytes(&[7; 32]),
            dir.path().to_path_buf(),
        );
        (Arc::new(state), dir)
    }

    /// Six hosts enrolled at T0 + 1 h; five days of daily reports at varying hours
    /// (host 5 stops after day 1, so it goes stale); a waiver on one check from day 2
    /// to day 4; host 4 revoked on day 3.
    async fn history(state: &UiState) {
        let store = state.stores.store.as_ref();
        let mut agents = enroll(store, 11, 6, T0 + HOUR).await.unwrap();
        for day in 0..5u64 {
            let at = T0 + day as Millis * DAY + (2 + 3 * day as Millis) * HOUR;
            let n = if day == 0 { 6 } else { 5 };
            report_round(
                store,
                &state.catalog,
                &mut agents[..n],
                11,
                day,
                at,
                at + 60_000,
            )
            .await
            .unwrap();
        }
        let check = state.catalog.checks()[0].id.clone();
        state
            .stores
            .reports
            .add_waiver(&Waiver {
                id: "wvr_trend".into(),
                scope: WaiverScope::Check(check),
                hosts: Vec::new(),
                justification: "migration".into(),
                approver: "ciso".into(),
                created_at: T0 + 2 * DAY + 5 * HOUR,
                created_by: "cli:test".into(),
                expires_at: T0 + 4 * DAY + 5 * HOUR,
                revoked_at: None,
                revoked_by: None,
            })
            .await
            .unwrap();
        assert!(
            store
                .revoke_agent(&agents[4].agent_id, T0 + 3 * DAY + 7 * HOUR)
                .await
                .unwrap()
        );
    }

    async fn stored(state: &UiState, from: Millis, to: Millis) -> BTreeMap<Millis, DayCounts> {
        state
            .stores
            .store
            .day_counts(&state.trend.basis, from, to)
            .await
            .unwrap()
            .into_iter()
            .map(|(e, j)| (e, serde_json::from_str(&j).unwrap()))
            .collect()
    }

    /// The day counts agree, day by day and control by control, with the period
    /// report's own replay of the same days (a different code path: every report of
    /// the period evaluated at once).
    async fn agrees_with_the_period_report(stores: Stores) {
        let clock = Arc::new(FixedClock::at(T0 + 6 * DAY + 3 * HOUR));
        let (state, _dir) = state_of(stores, &clock);
        history(&state).await;

        let made = fill(&state).await.unwrap();
        assert_eq!(made, FILLED_DAYS as usize, "every one of the last 90 days");
        let last = T0 + 6 * DAY - 1;
        let days = stored(&state, T0 - DAY, last).await;
        assert_eq!(days.len(), 7);

        let opts = Options {
            when: When::Period {
                from: T0 + 1,
                to: last,
            },
            window: state.window,
            generated_at: clock.now_millis(),
            html_host_limit: 10,
            organization: None,
        };
        let g = gather(&state.stores, &state.catalog, &opts, &Progress::quiet())
            .await
            .unwrap();
        let report = build(&state.catalog, &g, &opts, &|_| {});
        let period = report.period.unwrap();
        assert_eq!(period.days.len(), 6);
        let mut differing_days = BTreeSet::new();
        for (d, (end, counts)) in period.days.iter().zip(days.iter().skip(1)) {
            assert_eq!(
                d.at,
                chrono::DateTime::from_timestamp_millis(*end)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            for c in &d.controls {
                assert_eq!(
                    counts.controls.get(&c.control),
                    Some(&c.counts),
                    "{} on {}",
                    c.control,
                    d.day
                );
            }
            assert_eq!(counts.controls.len(), d.controls.len());
            differing_days.insert(format!("{:?}", counts.controls));
        }
        // The history moves: the days are not all alike (waiver, staleness, revocation).
        assert!(differing_days.len() >= 4, "{differing_days:#?}");
        // The day before enrollment: no host in scope.
        assert_eq!(days.values().next().unwrap().hosts, 0);
        assert_eq!(days.values().nth(1).unwrap().hosts, 6);
        assert_eq!(days.values().last().unwrap().hosts, 5, "host 4 revoked");

        // Counted once: a second round counts nothing and changes no row.
        assert_eq!(fill(&state).await.unwrap(), 0);
        assert_eq!(stored(&state, T0 - DAY, last).await, days);
        assert!(
            !state
                .stores
                .store
                .put_day_counts(&state.trend.basis, last, "{}", clock.now_millis())
                .await
                .unwrap()
        );
        assert_eq!(
            stored(&state, last, last).await,
            days.range(last..).map(|(k, v)| (*k, v.clone())).collect()
        );

        // The trend of the overview: 7 days, the last point the view's own.
        let view = state
            .views
            .get(
                &state,
                Key {
                    at: None,
                    period_days: 0,
                },
            )
            .await
            .unwrap();
        let trend = of(&state, &view, 7).await.unwrap();
        assert_eq!(trend.missing, 0);
        assert_eq!(trend.days.len(), 8);
        let today = chrono::DateTime::from_timestamp_millis(clock.now_millis()).unwrap();
        assert_eq!(
            *trend.days.last().unwrap(),
            today.format("%Y-%m-%d").to_string()
        );
        let c = &view
            .report
            .controls
            .iter()
            .find(|c| c.counts.is_some())
            .unwrap();
        let line = &trend.shares[&c.id];
        assert_eq!(line.len(), 8);
        assert_eq!(*line.last().unwrap(), share(&c.counts.unwrap()));
        assert_eq!(line[6], share(&days[&last].controls[&c.id]));
        // Before enrollment there is no value to draw.
        assert_eq!(line[0], None);
    }

    #[tokio::test]
    async fn sqlite_day_counts_agree_with_the_period_report() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        agrees_with_the_period_report(crate::store::reporting::open(&url, 2).await.unwrap()).await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(attest_postgres),
        ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
    )]
    async fn postgres_day_counts_agree_with_the_period_report() {
        let url = crate::store::postgres::create_test_database(
            &crate::store::suite::postgres_url(),
            "trend",
        )
        .await
        .unwrap();
        agrees_with_the_period_report(crate::store::reporting::open(&url, 4).await.unwrap()).await;
    }

    async fn sqlite_state(clock: &Arc<FixedClock>) -> (Arc<UiState>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let stores = crate::store::reporting::open(&url, 2).await.unwrap();
        let (state, _scratch) = state_of(stores, clock);
        (state, dir)
    }

    #[tokio::test]
    async fn a_day_is_counted_only_after_its_grace() {
        let clock = Arc::new(FixedClock::at(T0 + 2 * DAY + GRACE / 2));
        let (state, _dir) = sqlite_state(&clock).await;
        history(&state).await;
        fill(&state).await.unwrap();
        // The day that ended GRACE / 2 ago is not counted yet; the one before is.
        assert!(
            stored(&state, T0 + 2 * DAY - 1, T0 + 2 * DAY - 1)
                .await
                .is_empty()
        );
        assert_eq!(stored(&state, T0 + DAY - 1, T0 + DAY - 1).await.len(), 1);
        clock.set(T0 + 2 * DAY + GRACE + 1);
        assert_eq!(fill(&state).await.unwrap(), 1);
        assert_eq!(
            stored(&state, T0 + 2 * DAY - 1, T0 + 2 * DAY - 1)
                .await
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn days_older_than_the_filled_ones_are_counted_when_a_page_asks() {
        let clock = Arc::new(FixedClock::at(T0 + 200 * DAY));
        let (state, _dir) = sqlite_state(&clock).await;
        history(&state).await;
        assert_eq!(fill(&state).await.unwrap(), FILLED_DAYS as usize);
        // The overview as of T0 + 4 days with a 7-day trend: none of its days kept.
        let view = state
            .views
            .get(
                &state,
                Key {
                    at: Some(T0 + 5 * DAY - 1),
                    period_days: 0,
                },
            )
            .await
            .unwrap();
        let trend = of(&state, &view, 7).await.unwrap();
        assert_eq!(trend.days.len(), 8);
        assert_eq!(trend.missing, 7, "all but the view's own day");
        assert_eq!(fill(&state).await.unwrap(), 7);
        let trend = of(&state, &view, 7).await.unwrap();
        assert_eq!(trend.missing, 0);
        // A waiver made now changes no past day.
        let before = stored(&state, T0, T0 + 5 * DAY).await;
        let check = state.catalog.checks()[1].id.clone();
        state
            .stores
            .reports
            .add_waiver(&Waiver {
                id: "wvr_late".into(),
                scope: WaiverScope::Check(check),
                hosts: Vec::new(),
                justification: "late".into(),
                approver: "ciso".into(),
                created_at: clock.now_millis(),
                created_by: "cli:test".into(),
                expires_at: clock.now_millis() + DAY,
                revoked_at: None,
                revoked_by: None,
            })
            .await
            .unwrap();
        assert_eq!(fill(&state).await.unwrap(), 0);
        assert_eq!(stored(&state, T0, T0 + 5 * DAY).await, before);
    }

    #[tokio::test]
    async fn counts_of_another_basis_go_a_week_after_they_were_made() {
        let clock = Arc::new(FixedClock::at(T0 + 30 * DAY));
        let (state, _dir) = sqlite_state(&clock).await;
        let s = state.stores.store.as_ref();
        assert!(s.put_day_counts("old", T0 - 1, "{}", T0).await.unwrap());
        assert!(
            s.put_day_counts("old", T0 + DAY - 1, "{}", T0 + 25 * DAY)
                .await
                .unwrap()
        );
        fill(&state).await.unwrap();
        let old: Vec<Millis> = s
            .day_counts("old", 0, Millis::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        assert_eq!(old, [T0 + DAY - 1], "the one made 5 days ago stays");
        assert_ne!(basis(&state.catalog, state.window), "old");
        assert_ne!(
            basis(&state.catalog, state.window),
            basis(&state.catalog, state.window + 1),
            "another freshness window, other counts"
        );
    }
}
