//! The HTML report: one self-contained file (inline CSS and SVG, no script, no
//! external request), readable on screen and on paper (A4 `@page` rules, a page break
//! before each section and each control).
//!
//! Sections: the summary (report id, organisation, scope) and a table of contents;
//! scope and method; the statement of applicability (every control, assessed by
//! Attest or not); one section per assessed control: its checks and why they are
//! evidence, the hosts that do not satisfy it (evidence excerpts, capped at
//! [`EXCERPT_LINES`] lines — the JSON report and the evidence bundle have them whole),
//! and the hosts that satisfy it with the results that decide it (status, source,
//! SHA-256, signed report); results that count as satisfied because the check does
//! not apply, and waived hosts, are labelled as such; where a mapping rule decides
//! how a result counts for the control, the rule and its rationale are shown with
//! the link and with the result. For a period, the daily share
//! satisfied and the changes of state; appendices: asset inventory (5.9), waivers,
//! chain integrity; how to verify. Times are written one way throughout:
//! `2026-11-25 15:51:03 UTC`.

use std::io::Write;

use askama::Template;

use super::evidence::Excerpt;
use super::model::{
    ChangeEntry, ControlEntry, EvidenceEntry, FleetReport, HostEntry, ResultEntry, WaiverEntry,
};
use super::svg;
use super::{Options, ReportError};
use crate::catalog::Theme;
use crate::evaluate::{ChainStatus, Counts, State};

/// How many changes of state the HTML period section lists.
pub const MAX_CHANGES: usize = 2000;
/// How many lines of one evidence excerpt the HTML report shows.
pub const EXCERPT_LINES: usize = 12;
/// How many characters of one evidence excerpt the HTML report shows.
pub const EXCERPT_CHARS: usize = 900;
/// How many evidence items of one result the HTML report shows with their excerpt
/// (the others by source and SHA-256 only).
pub const EXCERPTS_PER_RESULT: usize = 2;

/// One evidence item as the HTML report shows it.
struct Shown<'a> {
    e: &'a Excerpt,
    /// The first lines of the excerpt (empty: source and digest only).
    text: String,
    /// Lines (or characters) of the excerpt not shown.
    cut: bool,
}

fn shown(r: &ResultEntry) -> Vec<Shown<'_>> {
    let mut with_text = 0;
    r.evidence
        .iter()
        .map(|e| {
            if e.excerpt.is_empty() || with_text >= EXCERPTS_PER_RESULT {
                return Shown {
                    e,
                    text: String::new(),
                    cut: !e.excerpt.is_empty(),
                };
            }
            with_text += 1;
            let mut text = String::new();
            let mut cut = false;
            for (i, line) in e.excerpt.lines().enumerate() {
                if i >= EXCERPT_LINES || text.len() + line.len() > EXCERPT_CHARS {
                    cut = true;
                    break;
                }
                text.push_str(line);
                text.push('\n');
            }
            Shown { e, text, cut }
        })
        .collect()
}

struct SoaRow<'a> {
    c: &'a ControlEntry,
    verdict: Option<State>,
    bar: String,
    share: String,
    checks: String,
}

struct ThemeGroup<'a> {
    label: &'static str,
    assessed: usize,
    rows: Vec<SoaRow<'a>>,
}

struct ResultRow<'a> {
    r: &'a ResultEntry,
    unwaived: Option<State>,
    /// How a mapping rule made the result count for this control, and why.
    rule: Option<&'a str>,
    shown: Vec<Shown<'a>>,
}

struct HostRow<'a> {
    h: &'a HostEntry,
    state: State,
    unwaived: Option<State>,
    waivers: String,
    results: Vec<ResultRow<'a>>,
    evidence: Option<&'a EvidenceEntry>,
}

struct ControlPage<'a> {
    c: &'a ControlEntry,
    verdict: State,
    counts: Counts,
    bar: String,
    legend: String,
    /// Hosts that do not satisfy it (waived ones included, labelled).
    rows: Vec<HostRow<'a>>,
    more: usize,
    /// Hosts that satisfy it, with the results that decide it.
    ok_rows: Vec<HostRow<'a>>,
    ok_more: usize,
    /// Satisfied hosts where a check of the control does not apply.
    na_hosts: usize,
    /// The checks that did not apply somewhere, with one reason each.
    na_checks: Vec<(String, String)>,
}

struct PeriodControl {
    id: String,
    title: String,
    chart: String,
    first: String,
    last: String,
}

struct PeriodView<'a> {
    from: &'a str,
    to: &'a str,
    days: usize,
    controls: Vec<PeriodControl>,
    changes: &'a [ChangeEntry],
    total_changes: usize,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    r: &'a FleetReport,
    when: String,
    overview: String,
    themes: Vec<ThemeGroup<'a>>,
    pages: Vec<ControlPage<'a>>,
    period: Option<PeriodView<'a>>,
    chain_hosts: Vec<&'a HostEntry>,
    waivers: &'a [WaiverEntry],
    limit: usize,
    excerpt_lines: usize,
    version: &'static str,
    css: &'static str,
}

impl Page<'_> {
    fn class(&self, s: &State) -> &'static str {
        class(s)
    }

    fn opt_label(&self, s: &Option<State>) -> &'static str {
        opt_state_label(s)
    }

    fn chain(&self, s: &ChainStatus) -> &'static str {
        chain_label(s)
    }

    /// An RFC 3339 time as people read it: `2026-11-25 15:51:03 UTC`.
    fn t(&self, s: &str) -> String {
        human_time(s)
    }

    /// `1 host`, `2 hosts`.
    fn n(&self, n: impl std::borrow::Borrow<usize>, one: &str, many: &str) -> String {
        super::plural(*n.borrow(), one, many)
    }

    /// A result's status as the report labels it.
    fn status(&self, s: &Option<&str>) -> &'static str {
        match s {
            Some("pass") => "pass",
            Some("fail") => "fail",
            Some("unknown") => "unknown",
            Some("info") => "info",
            Some("not_applicable") => "not applicable",
            Some(_) => "other",
            None => "missing",
        }
    }
}

/// `2026-11-25T15:51:03Z` → `2026-11-25 15:51:03 UTC`.
pub fn human_time(s: &str) -> String {
    match s.strip_suffix('Z') {
        Some(t) => format!("{} UTC", t.replacen('T', " ", 1)),
        None => s.replacen('T', " ", 1),
    }
}

/// The CSS class of a state.
fn class(s: &State) -> &'static str {
    match s {
        State::Satisfied => "satisfied",
        State::Waived => "waived",
        State::NotSatisfied => "not-satisfied",
        State::Stale => "stale",
        State::NotAssessed => "not-assessed",
    }
}

fn opt_state_label(s: &Option<State>) -> &'static str {
    s.map_or("out of scope", State::label)
}

fn chain_label(s: &ChainStatus) -> &'static str {
    match s {
        ChainStatus::Intact => "intact",
        ChainStatus::Gaps => "gaps",
        ChainStatus::Conflict => "CONFLICT",
        ChainStatus::Empty => "no reports",
    }
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

fn theme_order(t: Theme) -> u8 {
    match t {
        Theme::Organizational => 0,
        Theme::People => 1,
        Theme::Physical => 2,
        Theme::Technological => 3,
        Theme::Other => 4,
    }
}

fn control_page<'a>(report: &'a FleetReport, c: &'a ControlEntry, limit: usize) -> ControlPage<'a> {
    let counts = c.counts.unwrap_or_default();
    let check_ids: Vec<&str> = c.checks.iter().map(|k| k.check.as_str()).collect();
    let mut rows: Vec<HostRow<'a>> = Vec::new();
    let mut ok_rows: Vec<HostRow<'a>> = Vec::new();
    let (mut total, mut ok_total, mut na_hosts) = (0usize, 0usize, 0usize);
    let mut na_checks: Vec<(String, String)> = Vec::new();
    for h in &report.hosts {
        let Some(hc) = h.controls.iter().find(|hc| hc.control == c.id) else {
            continue;
        };
        let mine = || {
            h.results
                .iter()
                .filter(|r| check_ids.contains(&r.check.as_str()))
        };
        let row = |keep: &dyn Fn(&ResultEntry) -> bool| HostRow {
            h,
            state: hc.state,
            unwaived: hc.unwaived,
            waivers: hc.waivers.join(", "),
            results: mine()
                .filter(|r| keep(r))
                .map(|r| {
                    let counted = r.counted_for(&c.id);
                    ResultRow {
                        r,
                        unwaived: counted.map_or(r.unwaived, |k| k.unwaived),
                        rule: counted.map(|k| k.note.as_str()),
                        shown: shown(r),
                    }
                })
                .collect(),
            evidence: h.evidence.as_ref(),
        };
        if hc.state == State::Satisfied {
            ok_total += 1;
            let mut na = false;
            for r in mine().filter(|r| r.status == Some("not_applicable")) {
                na = true;
                if !na_checks.iter().any(|(k, _)| k == &r.check) {
                    let why = r.reason.clone().or_else(|| r.summary.clone());
                    na_checks.push((r.check.clone(), why.unwrap_or_default()));
                }
            }
            if na {
                na_hosts += 1;
            }
            if ok_rows.len() < limit {
                ok_rows.push(row(&|_| true));
            }
            continue;
        }
        total += 1;
        if rows.len() < limit {
            rows.push(row(&|r| r.state_for(&c.id) != State::Satisfied));
        }
    }
    rows.sort_by(|a, b| {
        b.state
            .cmp(&a.state)
            .then_with(|| a.h.hostname.cmp(&b.h.hostname))
    });
    ok_rows.sort_by(|a, b| a.h.hostname.cmp(&b.h.hostname));
    ControlPage {
        c,
        verdict: c.verdict.unwrap_or(State::NotAssessed),
        counts,
        bar: svg::bar(&counts, 360, 14),
        legend: svg::legend_text(&counts),
        more: total.saturating_sub(rows.len()),
        rows,
        ok_more: ok_total.saturating_sub(ok_rows.len()),
        ok_rows,
        na_hosts,
        na_checks,
    }
}

fn page<'a>(report: &'a FleetReport, opts: &Options) -> Page<'a> {
    let when = match &report.scope.period {
        Some(p) => format!("from {} to {}", human_time(&p.from), human_time(&p.to)),
        None => format!("as of {}", human_time(&report.scope.as_of)),
    };
    let overview = svg::overview(
        &report
            .controls
            .iter()
            .filter_map(|c| c.counts.map(|k| (c.id.clone(), k)))
            .collect::<Vec<_>>(),
    );
    let mut themes: Vec<ThemeGroup<'a>> = Vec::new();
    let mut sorted: Vec<&ControlEntry> = report.controls.iter().collect();
    sorted.sort_by_key(|c| theme_order(c.theme));
    for c in sorted {
        let label = c.theme.label();
        if themes.last().is_none_or(|t| t.label != label) {
            themes.push(ThemeGroup {
                label,
                assessed: 0,
                rows: Vec::new(),
            });
        }
        if let Some(t) = themes.last_mut() {
            if c.assessed {
                t.assessed += 1;
            }
            t.rows.push(SoaRow {
                c,
                verdict: c.verdict,
                bar: c.counts.map(|k| svg::bar(&k, 90, 9)).unwrap_or_default(),
                share: c
                    .counts
                    .map(|k| format!("{} / {}", k.satisfied, k.total()))
                    .unwrap_or_default(),
                checks: c
                    .checks
                    .iter()
                    .map(|k| k.check.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let pages = report
        .controls
        .iter()
        .filter(|c| c.assessed)
        .map(|c| control_page(report, c, opts.html_host_limit))
        .collect();
    let period = report.period.as_ref().map(|p| {
        let controls = report
            .controls
            .iter()
            .filter(|c| c.assessed)
            .map(|c| {
                let points: Vec<(String, f64)> = p
                    .days
                    .iter()
                    .filter_map(|d| {
                        d.controls
                            .iter()
                            .find(|dc| dc.control == c.id)
                            .map(|dc| (d.day.clone(), dc.share_satisfied))
                    })
                    .collect();
                PeriodControl {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    first: points.first().map(|(_, v)| pct(*v)).unwrap_or_default(),
                    last: points.last().map(|(_, v)| pct(*v)).unwrap_or_default(),
                    chart: svg::share_line(&points),
                }
            })
            .collect();
        PeriodView {
            from: &p.from,
            to: &p.to,
            days: p.days.len(),
            controls,
            changes: p.changes.get(..MAX_CHANGES).unwrap_or(&p.changes),
            total_changes: p.changes.len(),
        }
    });
    Page {
        r: report,
        when,
        overview,
        themes,
        pages,
        period,
        chain_hosts: report
            .hosts
            .iter()
            .filter(|h| !h.chain.events.is_empty() || h.chain.missing > 0 || h.chain.replayed > 0)
            .collect(),
        waivers: &report.waivers,
        limit: opts.html_host_limit,
        excerpt_lines: EXCERPT_LINES,
        version: env!("CARGO_PKG_VERSION"),
        css: include_str!("../../templates/report.css"),
    }
}

pub fn write(report: &FleetReport, opts: &Options, out: &mut dyn Write) -> Result<(), ReportError> {
    // Straight into the (buffered) writer, without the whole page as one string.
    page(report, opts).write_into(out)?;
    Ok(())
}
