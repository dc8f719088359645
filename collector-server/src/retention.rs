//! Retention: `attest-collector prune --before DATE` drops the envelopes of the
//! reports received before DATE while the Merkle log stays verifiable (the store's
//! part: [`crate::store::prune`]). This module holds what decides whether a prune may
//! run (`[retention]` in the configuration: the current audit period, the default
//! cut-off) and the loop of bounded steps; `cli.rs` writes and checks the evidence
//! bundle of the pruned period first.

use chrono::{Datelike as _, NaiveDate, NaiveTime};

use crate::report::When;
use crate::store::prune::{self, PRUNED_BEFORE_META};
use crate::store::{Millis, Store, StoreError, rfc3339};

const DAY: Millis = 86_400_000;

/// When the audit period starts (`[retention] audit_period_start`): a day of every
/// year (`"04-01"`: periods run from April 1st to March 31st) or one date
/// (`"2026-04-01"`), at 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditPeriodStart {
    Yearly { month: u32, day: u32 },
    Date(NaiveDate),
}

impl AuditPeriodStart {
    /// `MM-DD` (yearly; not `02-29`) or `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<AuditPeriodStart, String> {
        let text = text.trim();
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(AuditPeriodStart::Date(d));
        }
        let yearly = text.split_once('-').and_then(|(m, d)| {
            let (month, day) = (m.parse::<u32>().ok()?, d.parse::<u32>().ok()?);
            // A day every year has (2001 is not a leap year).
            NaiveDate::from_ymd_opt(2001, month, day)?;
            (m.len() == 2 && d.len() == 2).then_some(AuditPeriodStart::Yearly { month, day })
        });
        yearly.ok_or_else(|| {
            format!(
                "retention.audit_period_start {text:?} is neither MM-DD (a day of every year, \
                 not 02-29) nor YYYY-MM-DD"
            )
        })
    }

    /// The start of the audit period `now` is in: the latest such day at or before
    /// `now` (a date: that date, even when it is to come).
    pub fn current(&self, now: Millis) -> Millis {
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
        match *self {
            AuditPeriodStart::Date(d) => midnight(d),
            AuditPeriodStart::Yearly { month, day } => {
                let year = chrono::DateTime::from_timestamp_millis(now)
                    .map(|t| t.year())
                    .unwrap_or(1970);
                let start = |y: i32| NaiveDate::from_ymd_opt(y, month, day).map(midnight);
                match start(year) {
                    Some(s) if s <= now => s,
                    _ => start(year - 1).unwrap_or(i64::MIN),
                }
            }
        }
    }
}

/// `[retention]`: unset, a collector keeps everything and `prune` needs `--before`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// The default of `prune --before`: this many days before now.
    pub keep_days: Option<u32>,
    /// The current audit period is never pruned without `--force`.
    pub audit_period_start: Option<AuditPeriodStart>,
}

/// Why a prune (or a report of a pruned time) is refused.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("--before {0} is in the future: a prune keeps every report received since now")]
    Future(String),
    #[error(
        "--before {before} is inside the current audit period, which started on {start} \
         ([retention] audit_period_start): pass --force to prune evidence of the period \
         being audited"
    )]
    InsideAuditPeriod { before: String, start: String },
    #[error("say which reports to prune: --before DATE, or set [retention] keep_days")]
    NoBefore,
    #[error(
        "the reports received before {before} were pruned (attest-collector prune; see the \
         audit log): {what} starting at {start} cannot be made from this database; the \
         evidence bundle written before the prune holds that period"
    )]
    Pruned {
        before: String,
        what: &'static str,
        start: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Retention {
    /// The cut-off of a prune: `--before`, else `keep_days` before `now`.
    pub fn before(&self, given: Option<Millis>, now: Millis) -> Result<Millis, RetentionError> {
        match (given, self.keep_days) {
            (Some(t), _) => Ok(t),
            (None, Some(days)) => Ok(now.saturating_sub(i64::from(days).saturating_mul(DAY))),
            (None, None) => Err(RetentionError::NoBefore),
        }
    }

    /// Refuses a cut-off in the future, or after the start of the current audit
    /// period unless `force`.
    pub fn check(&self, before: Millis, now: Millis, force: bool) -> Result<(), RetentionError> {
        if before > now {
            return Err(RetentionError::Future(rfc3339::text(before)));
        }
        if let Some(period) = self.audit_period_start {
            let start = period.current(now);
            if before > start && !force {
                return Err(RetentionError::InsideAuditPeriod {
                    before: rfc3339::text(before),
                    start: rfc3339::text(start),
                });
            }
        }
        Ok(())
    }
}

/// The latest `--before` a prune of this database used, if any.
pub async fn pruned_before(store: &dyn Store) -> Result<Option<Millis>, StoreError> {
    Ok(store
        .meta(PRUNED_BEFORE_META)
        .await?
        .and_then(|v| v.parse::<Millis>().ok()))
}

/// Refuses a report or export of a time, or of a period starting, before the pruned
/// range: its evidence is no longer stored. (A report of a later time that still
/// needs a pruned envelope, an agent silent since before the cut-off, fails on it
/// with [`StoreError::Pruned`].)
pub async fn check_not_pruned(store: &dyn Store, when: &When) -> Result<(), RetentionError> {
    let Some(before) = pruned_before(store).await? else {
        return Ok(());
    };
    let (what, start) = match *when {
        When::AsOf(t) => ("a report as of a time", t),
        When::Period { from, .. } => ("a period", from),
    };
    if start < before {
        return Err(RetentionError::Pruned {
            before: rfc3339::text(before),
            what,
            start: rfc3339::text(start),
        });
    }
    Ok(())
}

/// What a prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneTotals {
    pub pruned: u64,
    pub rebased: u64,
    /// Transactions.
    pub steps: u64,
    /// Inventory lists deleted: no report still held names them
    /// ([`prune::unreferenced_lists`]).
    pub lists: u64,
}

/// Passes over the reports at most (see [`prune`]).
const PASSES: usize = 3;

/// Reports per step (one transaction each) unless told otherwise.
pub const DEFAULT_STEP: i64 = 1000;

/// Prunes every report received before `before` (see [`crate::store::prune`]), in
/// steps of at most `step` reports; `on_step` sees the totals after each.
pub async fn prune(
    store: &dyn Store,
    before: Millis,
    now: Millis,
    step: i64,
    mut on_step: impl FnMut(&PruneTotals),
) -> Result<PruneTotals, StoreError> {
    let mut totals = PruneTotals::default();
    // A pass walks (agent, seq) once. A report a step could not take (another prune
    // took it, or it became prunable while the pass ran: its agent's newer report
    // arrived) is taken by the next pass; a pass that prunes nothing ends it.
    for _ in 0..PASSES {
        let mut after = prune::start();
        let mut pruned = 0;
        loop {
            let s = store.prune_step(before, &after, step.max(1), now).await?;
            let Some(next) = s.next else { break };
            pruned += s.pruned;
            totals.pruned += s.pruned;
            totals.rebased += s.rebased;
            totals.steps += 1;
            on_step(&totals);
            after = next;
        }
        if pruned == 0 || store.prunable(before).await?.is_empty() {
            break;
        }
    }
    // Last, once the reports are pruned: the lists only they named.
    let lists = prune::unreferenced_lists(store, before, &Default::default()).await?;
    totals.lists = store.delete_inventory_lists(&lists).await?;
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn audit_period_starts_parse_and_recur() {
        let y = AuditPeriodStart::parse("04-01").unwrap();
        assert_eq!(y, AuditPeriodStart::Yearly { month: 4, day: 1 });
        assert_eq!(
            y.current(ms("2026-12-02T16:00:00Z")),
            ms("2026-04-01T00:00:00Z")
        );
        assert_eq!(
            y.current(ms("2026-03-31T23:59:59Z")),
            ms("2025-04-01T00:00:00Z")
        );
        let d = AuditPeriodStart::parse("2026-07-15").unwrap();
        assert_eq!(d.current(0), ms("2026-07-15T00:00:00Z"));
        for bad in ["02-29", "13-01", "4-1", "april", "2026-02-30", ""] {
            assert!(AuditPeriodStart::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cut_offs_in_the_future_or_the_audit_period_are_refused() {
        let now = ms("2026-12-02T16:00:00Z");
        let r = Retention {
            keep_days: Some(400),
            audit_period_start: Some(AuditPeriodStart::Yearly { month: 4, day: 1 }),
        };
        assert_eq!(r.before(None, now).unwrap(), now - 400 * DAY);
        assert_eq!(r.before(Some(5), now).unwrap(), 5);
        assert!(matches!(
            Retention::default().before(None, now),
            Err(RetentionError::NoBefore)
        ));
        assert!(matches!(
            r.check(now + 1, now, true),
            Err(RetentionError::Future(_))
        ));
        let inside = ms("2026-05-01T00:00:00Z");
        assert!(matches!(
            r.check(inside, now, false),
            Err(RetentionError::InsideAuditPeriod { .. })
        ));
        r.check(inside, now, true).unwrap();
        r.check(ms("2026-04-01T00:00:00Z"), now, false).unwrap();
        Retention::default().check(now, now, false).unwrap();
    }
}
