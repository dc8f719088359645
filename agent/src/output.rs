//! Printing a report for people (`--format table`) or programs (`--format json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use attest_proto::{Report, Status};

/// Renders the report as JSON, exactly as the wire format carries it.
pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

/// Renders the report as a table grouped by area (the part of the id before the
/// dot), one line per check with its status and summary, then a count per status.
/// `colour` adds ANSI colours to the status column (only on a terminal).
pub fn table(report: &Report, colour: bool) -> String {
    let mut out = String::new();
    let host = &report.host;
    let _ = writeln!(
        out,
        "{} — {} — collected {}",
        if host.hostname.is_empty() {
            "(unknown host)"
        } else {
            &host.hostname
        },
        if host.os.pretty_name.is_empty() {
            "(unknown OS)"
        } else {
            &host.os.pretty_name
        },
        report.collected_at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let width = report
        .results
        .iter()
        .map(|r| r.check.len())
        .max()
        .unwrap_or(0);
    let mut area = "";
    for r in &report.results {
        let this_area = r.check.split('.').next().unwrap_or("");
        if this_area != area {
            area = this_area;
            let _ = writeln!(out, "\n{area}");
        }
        let label = format!("{:<14}", r.status.as_str());
        let label = if colour {
            paint(r.status, &label)
        } else {
            label
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {label}  {}",
            r.check,
            one_line(&r.summary)
        );
    }
    let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
    for r in &report.results {
        *counts.entry(r.status).or_default() += 1;
    }
    let totals: Vec<String> = Status::ALL
        .iter()
        .map(|s| format!("{} {}", counts.get(s).copied().unwrap_or(0), s.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "\n{} checks: {}",
        report.results.len(),
        totals.join(", ")
    );
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn paint(status: Status, label: &str) -> String {
    let code = match status {
        Status::Pass => "32",
        Status::Fail => "31",
        Status::Unknown => "33",
        Status::NotApplicable => "90",
        Status::Info => "36",
    };
    format!("\x1b[{code}m{label}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;
    use attest_proto::{AgentInfo, CheckResult, HostInfo};

    fn report() -> Report {
        Report {
            schema: attest_proto::REPORT_SCHEMA_V1.into(),
            agent_id: String::new(),
            seq: 0,
            prev: String::new(),
            collected_at: chrono::DateTime::UNIX_EPOCH,
            agent: AgentInfo {
                version: "0".into(),
                replay: false,
            },
            host: HostInfo::default(),
            results: vec![
                CheckResult::new("disk.root_encrypted", Status::Pass, "/ is on LUKS2"),
                CheckResult::new("disk.swap_encrypted", Status::Fail, "swap\non sda2"),
                CheckResult::new("patch.os_supported", Status::Pass, "Debian 12"),
            ],
        }
    }

    #[test]
    fn table_groups_by_area_and_counts() {
        let t = table(&report(), false);
        assert!(t.contains("\ndisk\n"));
        assert!(t.contains("\npatch\n"));
        assert!(t.contains("swap on sda2"), "summaries are one line: {t}");
        assert!(t.contains("3 checks: 2 pass, 1 fail, 0 unknown, 0 not_applicable, 0 info"));
        assert!(!t.contains('\x1b'));
        assert!(table(&report(), true).contains("\x1b[31m"));
    }

    #[test]
    fn json_round_trips() {
        let r = report();
        let back: Report = serde_json::from_str(&json(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
