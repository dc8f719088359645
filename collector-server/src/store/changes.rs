//! Results stored as changes (schema 6, issue 14).
//!
//! The flattened results of a report are not stored one row per check per report.
//! Per agent, a `result_changes` row is written only when a check's *state* differs
//! from its state in the agent's previous stored report (previous by `seq`, the
//! chain's order): its position in the report, status, summary, reason, or the
//! SHA-256 of its facts. A check that stops appearing gets a *tombstone* row (no
//! state). Each row is valid from its report's `seq` (`seq_from`) up to, not
//! including, the `seq` of the next row of the same check (`seq_to`, [`OPEN`] while it
//! is the latest), so the results of the report at `seq` S are the non-tombstone rows
//! with `seq_from <= S < seq_to`, in position order: the latest change of each check
//! at or before S. The reads ([`super::reporting`], `latest_results`) take exactly
//! those; `fsck` checks that every stored report's count matches and that every
//! check's rows link up.
//!
//! A check is keyed by its id and, when one report names the same id more than once,
//! by its occurrence (`nth`, 0 for the first), so any report reads back exactly.
//!
//! **Late reports, gaps, forks, replays.** Changes are computed in `seq` order per
//! agent: a report is compared with the stored report just below it (in the database
//! or earlier in the same batch; none: with nothing, so every check is a change). A
//! report that extends the chain (next or after a gap) has no stored report above it.
//! A late report (below the head) is inserted in place: its rows are its difference
//! from the report below, and the change rows of the stored report just above it are
//! recomputed as that report's difference from the late one (replacing its rows);
//! then `seq_to` is recomputed for the agent's rows from the late `seq` on. So, for
//! every stored report, the rows at or before it give its own results: the invariant
//! the property tests check against a full-row model. Forks, broken links and
//! duplicates are not stored and write no rows; replays are stored links of the chain
//! and get change rows like any report (the reads decide what counts, as before).

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::batch::FlatResult;

/// `seq_to` of the latest row of a check: open-ended.
pub const OPEN: i64 = i64::MAX;

/// A check within an agent's reports: its id and occurrence in the report (0 unless
/// the report names the id more than once).
pub type CheckKey = (String, i64);

/// What a change row records of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    /// Its position in the report (0-based).
    pub position: i64,
    pub status: String,
    pub summary: String,
    pub reason: Option<String>,
    /// SHA-256 of the check's facts (their JSON as parsed from the signed statement);
    /// `None` for rows converted from schema 5, which never stored facts.
    pub facts_sha256: Option<Vec<u8>>,
}

/// The results of one report, by check.
pub type ResultState = BTreeMap<CheckKey, CheckState>;

/// One change row: a check's new state, or `None` (a tombstone: it stopped appearing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub check: String,
    pub nth: i64,
    pub state: Option<CheckState>,
}

/// The change rows of one stored report, written at its `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    pub agent_id: String,
    pub seq: i64,
    pub log_index: i64,
    /// The report was stored before this batch: its existing rows are replaced (the
    /// report just above a late one).
    pub replaces: bool,
    pub rows: Vec<ChangeRow>,
}

/// An agent whose rows' `seq_to` must be recomputed, for its rows with
/// `seq_to >= from` (the lowest `seq` the batch wrote rows at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relink<'a> {
    pub agent_id: &'a str,
    pub from: i64,
}

/// SHA-256 of a check's facts as the signed statement carries them (re-serialized
/// from the parsed map: keys sorted, so the same facts give the same hash),
/// serialized into `buf` (cleared first), so the checks of one report share one
/// buffer instead of allocating and growing one each.
pub fn facts_sha256(
    buf: &mut Vec<u8>,
    facts: &serde_json::Map<String, serde_json::Value>,
) -> [u8; 32] {
    buf.clear();
    // Serializing a map of JSON values into memory cannot fail.
    if serde_json::to_writer(&mut *buf, facts).is_err() {
        buf.clear();
    }
    Sha256::digest(&buf[..]).into()
}

/// Builds a state from results in report order: `(check, state)` with the position
/// already set.
pub fn state_from<I>(results: I) -> ResultState
where
    I: IntoIterator<Item = (String, CheckState)>,
{
    let mut out = ResultState::new();
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    for (check, state) in results {
        let nth = seen.entry(check.clone()).or_insert(0);
        out.insert((check, *nth), state);
        *nth += 1;
    }
    out
}

/// The state of a report about to be stored.
pub fn state_of(results: &[FlatResult]) -> ResultState {
    state_from(results.iter().enumerate().map(|(p, r)| {
        (
            r.check.clone(),
            CheckState {
                position: p as i64,
                status: r.status.to_owned(),
                summary: r.summary.clone(),
                reason: r.reason.clone(),
                facts_sha256: Some(r.facts_sha256.to_vec()),
            },
        )
    }))
}

/// Whether `results` are exactly `state` (`state == state_of(results)`), decided
/// without building a state: the same checks in the same order, each with the same
/// status, summary, reason and facts. Hour after hour an agent's results rarely
/// change, and building and cloning a state of ~25 checks per report was the
/// writer's largest cost after SQLite (17 % of its thread, 2026-12-04).
pub fn same_as(state: &ResultState, results: &[FlatResult]) -> bool {
    if state.len() != results.len() {
        return false;
    }
    // Occurrences numbered in position order, as `state_from` numbers them.
    let mut previous: Option<(&str, i64, i64)> = None;
    for ((check, nth), s) in state {
        let expected = match previous {
            Some((c, n, position)) if c == check => {
                if s.position <= position {
                    return false;
                }
                n + 1
            }
            _ => 0,
        };
        if *nth != expected {
            return false;
        }
        previous = Some((check, *nth, s.position));
    }
    let mut ordered: Vec<(&str, &CheckState)> =
        state.iter().map(|(k, s)| (k.0.as_str(), s)).collect();
    ordered.sort_unstable_by_key(|(_, s)| s.position);
    ordered
        .iter()
        .zip(results)
        .enumerate()
        .all(|(p, ((check, s), r))| {
            s.position == p as i64
                && *check == r.check
                && s.status == r.status
                && s.summary == r.summary
                && s.reason == r.reason
                && s.facts_sha256.as_deref() == Some(&r.facts_sha256[..])
        })
}

/// The state of a report whose results are `results` and its change rows against
/// `before` (the report below it): `before` itself, shared, and no rows when nothing
/// changed; else `(state_of(results), diff(before, state))`.
pub fn advance(
    before: &Arc<ResultState>,
    results: &[FlatResult],
) -> (Arc<ResultState>, Vec<ChangeRow>) {
    if same_as(before, results) {
        return (Arc::clone(before), Vec::new());
    }
    let state = state_of(results);
    let rows = diff(before, &state);
    (Arc::new(state), rows)
}

/// The rows that take `before` (the report below) to `after`: a new state for every
/// check that is new or differs, a tombstone for every check that is gone.
pub fn diff(before: &ResultState, after: &ResultState) -> Vec<ChangeRow> {
    let mut out = Vec::new();
    for (key, state) in after {
        if before.get(key) != Some(state) {
            out.push(ChangeRow {
                check: key.0.clone(),
                nth: key.1,
                state: Some(state.clone()),
            });
        }
    }
    for key in before.keys() {
        if !after.contains_key(key) {
            out.push(ChangeRow {
                check: key.0.clone(),
                nth: key.1,
                state: None,
            });
        }
    }
    out
}

/// The results of a state in report order: `(check, status, summary, reason)`.
pub fn in_order(state: &ResultState) -> Vec<(&str, &CheckState)> {
    let mut v: Vec<(&str, &CheckState)> = state.iter().map(|(k, s)| (k.0.as_str(), s)).collect();
    v.sort_by_key(|(_, s)| s.position);
    v
}

/// A stored change row as `fsck` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub check: String,
    pub nth: i64,
    pub seq_from: i64,
    pub seq_to: i64,
    pub live: bool,
}

/// `fsck` for one agent: `rows` its change rows, `reports` its stored reports as
/// `(seq, log_index, result_count)`. Names every report whose results as of its `seq`
/// do not count `result_count`, and every check whose rows do not link up (each
/// row's `seq_to` is the next row's `seq_from`, the last one's is [`OPEN`]).
pub fn check_agent(agent_id: &str, rows: &[LinkRow], reports: &[(i64, i64, i64)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut by_key: BTreeMap<(&str, i64), Vec<&LinkRow>> = BTreeMap::new();
    for r in rows {
        by_key.entry((r.check.as_str(), r.nth)).or_default().push(r);
    }
    for ((check, nth), mut list) in by_key {
        list.sort_by_key(|r| r.seq_from);
        let ok = list
            .windows(2)
            .all(|w| w[0].seq_to == w[1].seq_from && w[0].seq_from < w[0].seq_to)
            && list.last().is_some_and(|r| r.seq_to == OPEN);
        if !ok {
            problems.push(format!(
                "agent {agent_id}: result changes of {check} ({nth}) do not link up"
            ));
        }
    }
    // Live rows per seq by a sweep over their ranges.
    let mut edges: Vec<(i64, i64)> = Vec::new();
    for r in rows.iter().filter(|r| r.live) {
        edges.push((r.seq_from, 1));
        if r.seq_to != OPEN {
            edges.push((r.seq_to, -1));
        }
    }
    edges.sort_unstable();
    let mut reports: Vec<&(i64, i64, i64)> = reports.iter().collect();
    reports.sort_unstable();
    let (mut live, mut e) = (0i64, 0usize);
    for (seq, index, count) in reports {
        while let Some(&(at, d)) = edges.get(e) {
            if at > *seq {
                break;
            }
            live += d;
            e += 1;
        }
        if live != *count {
            problems.push(format!("report {index}: results incomplete"));
        }
    }
    problems
}

/// One stored report's results as schema 5 kept them (`results` rows in position
/// order: check, status, summary, reason), for the conversion to change rows.
#[derive(Debug, Clone, Default)]
pub struct OldReport {
    pub seq: i64,
    pub log_index: i64,
    pub results: Vec<(String, String, String, Option<String>)>,
}

/// The change sets of one agent's reports as if they had been stored in `seq` order
/// (the facts hash unknown: `None`).
pub fn convert_agent(agent_id: &str, mut reports: Vec<OldReport>) -> Vec<ChangeSet> {
    reports.sort_by_key(|r| r.seq);
    let mut before = ResultState::new();
    let mut out = Vec::with_capacity(reports.len());
    for r in reports {
        let state = state_from(r.results.into_iter().enumerate().map(
            |(p, (check, status, summary, reason))| {
                (
                    check,
                    CheckState {
                        position: p as i64,
                        status,
                        summary,
                        reason,
                        facts_sha256: None,
                    },
                )
            },
        ));
        let rows = diff(&before, &state);
        if !rows.is_empty() {
            out.push(ChangeSet {
                agent_id: agent_id.to_owned(),
                seq: r.seq,
                log_index: r.log_index,
                replaces: false,
                rows,
            });
        }
        before = state;
    }
    out
}

/// The statement that recomputes `seq_to` of an agent's rows from a `seq` on (two
/// binds: agent id, from), in SQLite's and PostgreSQL's common SQL.
pub fn relink_sql(p1: &str, p2: &str) -> String {
    let next = format!(
        "COALESCE((SELECT min(x.seq_from) FROM result_changes x \
         WHERE x.agent_id = result_changes.agent_id AND x.check_id = result_changes.check_id \
         AND x.nth = result_changes.nth AND x.seq_from > result_changes.seq_from), {OPEN})"
    );
    format!(
        "UPDATE result_changes SET seq_to = {next} WHERE agent_id = {p1} AND seq_to >= {p2} \
         AND seq_to <> {next}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn st(pos: i64, status: &str) -> CheckState {
        CheckState {
            position: pos,
            status: status.into(),
            summary: format!("{status} summary"),
            reason: None,
            facts_sha256: Some(vec![1; 32]),
        }
    }

    #[test]
    fn diff_names_new_changed_and_gone_checks_only() {
        let a = state_from([("x".into(), st(0, "pass")), ("y".into(), st(1, "pass"))]);
        let b = state_from([("x".into(), st(0, "pass")), ("z".into(), st(1, "fail"))]);
        let d = diff(&a, &b);
        assert_eq!(
            d.iter()
                .map(|r| (r.check.as_str(), r.state.is_some()))
                .collect::<Vec<_>>(),
            vec![("z", true), ("y", false)]
        );
        assert!(diff(&b, &b).is_empty());
    }

    fn flat(check: &str, status: &'static str, summary: &str, facts: u8) -> FlatResult {
        FlatResult {
            check: check.into(),
            status,
            summary: summary.into(),
            reason: (status == "unknown").then(|| summary.to_owned()),
            facts_sha256: [facts; 32],
        }
    }

    fn results() -> impl Strategy<Value = Vec<FlatResult>> {
        let one = (
            prop::sample::select(vec!["a", "b", "c", "d"]),
            prop::sample::select(vec!["pass", "fail", "unknown"]),
            prop::sample::select(vec!["s", "t"]),
            0u8..2,
        )
            .prop_map(|(c, st, su, f)| flat(c, st, su, f));
        prop::collection::vec(one, 0..7)
    }

    /// A state near `results`' own: itself, or with one thing changed (an occurrence
    /// renumbered, a position moved, a field changed, an entry dropped or added).
    fn near(results: &[FlatResult], edit: u8, at: usize) -> ResultState {
        let mut s = state_of(results);
        let keys: Vec<CheckKey> = s.keys().cloned().collect();
        let Some(key) = keys.get(at % keys.len().max(1)).cloned() else {
            return s;
        };
        match edit {
            0 => {}
            1 => {
                let v = s.remove(&key).unwrap();
                s.insert((key.0, key.1 + 1), v);
            }
            2 => s.get_mut(&key).unwrap().position += 1,
            3 => s.get_mut(&key).unwrap().position = -1,
            4 => s.get_mut(&key).unwrap().summary.push('!'),
            5 => s.get_mut(&key).unwrap().facts_sha256 = None,
            6 => s.get_mut(&key).unwrap().reason = Some("why".into()),
            7 => {
                s.remove(&key);
            }
            _ => {
                s.insert(("z".into(), 0), st(keys.len() as i64, "pass"));
            }
        }
        s
    }

    proptest! {
        /// `same_as` is `state == state_of(results)`, and `advance` gives the state of
        /// the results and the rows of `diff`, whatever the two hold.
        #[test]
        fn advance_is_state_of_then_diff(
            results in results(),
            other in results(),
            edit in 0u8..9,
            at in 0usize..8,
            from_other in any::<bool>(),
        ) {
            let before = if from_other { state_of(&other) } else { near(&results, edit, at) };
            let expected = state_of(&results);
            prop_assert_eq!(same_as(&before, &results), before == expected);
            let before = Arc::new(before);
            let (state, rows) = advance(&before, &results);
            prop_assert_eq!(&*state, &expected);
            prop_assert_eq!(rows, diff(&before, &expected));
        }
    }

    #[test]
    fn an_unchanged_report_shares_the_state_before_it() {
        let results = vec![flat("a", "pass", "s", 0), flat("a", "fail", "t", 1)];
        let before = Arc::new(state_of(&results));
        let (state, rows) = advance(&before, &results);
        assert!(Arc::ptr_eq(&state, &before));
        assert!(rows.is_empty());
        let changed = vec![flat("a", "pass", "s", 0), flat("a", "fail", "t", 0)];
        let (state, rows) = advance(&before, &changed);
        assert!(!Arc::ptr_eq(&state, &before));
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].check.as_str(), rows[0].nth), ("a", 1));
    }

    #[test]
    fn a_repeated_check_is_keyed_by_occurrence() {
        let s = state_from([("x".into(), st(0, "pass")), ("x".into(), st(1, "fail"))]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[&("x".to_owned(), 1)].status, "fail");
    }

    #[test]
    fn fsck_finds_a_missing_row_and_a_broken_link() {
        let row = |check: &str, from, to, live| LinkRow {
            check: check.into(),
            nth: 0,
            seq_from: from,
            seq_to: to,
            live,
        };
        let rows = vec![
            row("x", 1, 3, true),
            row("x", 3, OPEN, false),
            row("y", 1, OPEN, true),
        ];
        assert!(check_agent("a", &rows, &[(1, 0, 2), (2, 1, 2), (3, 2, 1)]).is_empty());
        let p = check_agent("a", &rows, &[(1, 0, 2), (3, 2, 2)]);
        assert_eq!(p, vec!["report 2: results incomplete".to_owned()]);
        let broken = vec![row("x", 1, 2, true), row("x", 3, OPEN, true)];
        assert_eq!(check_agent("a", &broken, &[]).len(), 1);
    }
}
