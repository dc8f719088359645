//! The CSV report: one row per host × check, with the sources each result was decided
//! from (RFC 4180: comma-separated, fields with a
//! comma, quote or line break quoted, quotes doubled, CRLF line ends). A field that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR)
//! gets a leading `'`. `mapping_rules` holds, one line per control, how a mapping rule
//! made the result count for that control, and why.

use std::io::Write;

use super::model::HostEntry;
use super::{FleetReport, ReportError};

/// The columns, in order.
pub const COLUMNS: [&str; 17] = [
    "agent_id",
    "hostname",
    "check",
    "controls",
    "status",
    "state",
    "unwaived_state",
    "waiver",
    "summary",
    "reason",
    "collected_at",
    "seq",
    "log_index",
    "payload_sha256",
    "signature",
    "sources",
    "mapping_rules",
];

/// The `sources` cell of a result: one line per source, `<kind> <source> <sha256>`
/// (`file /etc/ssh/sshd_config sha256:…`, `api NetUserModalsGet(3) sha256:…`).
fn sources(r: &super::model::ResultEntry) -> String {
    let mut out = String::new();
    for (i, e) in r.evidence.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(e.kind);
        out.push(' ');
        out.push_str(&e.source);
        out.push(' ');
        out.push_str(&e.sha256);
    }
    out
}

fn field(out: &mut Vec<u8>, value: &str) {
    let guarded = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = guarded || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push(b'"');
        if guarded {
            out.push(b'\'');
        }
        for b in value.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

fn row(out: &mut Vec<u8>, values: &[&str]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        field(out, v);
    }
    out.extend_from_slice(b"\r\n");
}

/// The rows of some hosts.
fn rows_of(hosts: &[HostEntry]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(hosts.len() * 25 * 256);
    for h in hosts {
        let ev = h.evidence.as_ref();
        let collected = ev.map_or("", |e| e.collected_at.as_str());
        let seq = ev.map(|e| e.seq.to_string()).unwrap_or_default();
        let index = ev.map(|e| e.log_index.to_string()).unwrap_or_default();
        let sha = ev.map_or("", |e| e.payload_sha256.as_str());
        let sig = ev.map(|e| e.signature.text()).unwrap_or_default();
        for r in &h.results {
            let controls = r.controls.join(" ");
            let sources = sources(r);
            let rules = r
                .counted
                .iter()
                .map(|k| k.note.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            row(
                &mut buf,
                &[
                    &h.agent_id,
                    &h.hostname,
                    &r.check,
                    &controls,
                    r.status.unwrap_or(""),
                    r.state.as_str(),
                    r.unwaived.map_or("", |s| s.as_str()),
                    r.waiver.as_deref().unwrap_or(""),
                    r.summary.as_deref().unwrap_or(""),
                    r.reason.as_deref().or(r.note.as_deref()).unwrap_or(""),
                    collected,
                    &seq,
                    &index,
                    sha,
                    &sig,
                    &sources,
                    &rules,
                ],
            );
        }
    }
    buf
}

/// Writes the header and every host's rows (rendered on all cores, written in order).
pub fn write(report: &FleetReport, out: &mut dyn Write) -> Result<(), ReportError> {
    let mut head = Vec::new();
    row(&mut head, &COLUMNS);
    out.write_all(&head)?;
    crate::par::for_each_ordered(&report.hosts, 128, rows_of, |rows| out.write_all(&rows))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &str) -> String {
        let mut out = Vec::new();
        field(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(one("plain"), "plain");
        assert_eq!(one("a,b"), "\"a,b\"");
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one("two\nlines"), "\"two\nlines\"");
        assert_eq!(one("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(one("-1"), "\"'-1\"");
        let mut out = Vec::new();
        row(&mut out, &["a", "b,c"]);
        assert_eq!(out, b"a,\"b,c\"\r\n");
    }
}
