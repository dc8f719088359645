//! Inline SVG charts for the HTML report: no scripts, no external requests. Every
//! chart carries its numbers as text too, so it reads on a black-and-white printout.

use std::fmt::Write as _;

use crate::evaluate::{Counts, State};

/// The fill of a state (also used by the CSS).
pub fn color(s: State) -> &'static str {
    match s {
        State::Satisfied => "#1a7f37",
        State::Waived => "#8250df",
        State::NotSatisfied => "#cf222e",
        State::Stale => "#bf8700",
        State::NotAssessed => "#8c959f",
    }
}

/// Escapes text for SVG/HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn segments(out: &mut String, counts: &Counts, x0: f64, y: f64, width: f64, height: f64) {
    let total = counts.total();
    if total == 0 {
        let _ = write!(
            out,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{width:.1}" height="{height:.1}" fill="#eaeef2"/>"##
        );
        return;
    }
    let mut x = x0;
    for s in State::ALL {
        let n = counts.get(s);
        if n == 0 {
            continue;
        }
        let w = width * n as f64 / total as f64;
        let _ = write!(
            out,
            r#"<rect x="{x:.2}" y="{y:.1}" width="{w:.2}" height="{height:.1}" fill="{}"><title>{}: {n}</title></rect>"#,
            color(s),
            s.label()
        );
        x += w;
    }
}

/// A small stacked bar of host states.
pub fn bar(counts: &Counts, width: u32, height: u32) -> String {
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
        esc(&legend_text(counts))
    );
    segments(
        &mut out,
        counts,
        0.0,
        0.0,
        f64::from(width),
        f64::from(height),
    );
    out.push_str("</svg>");
    out
}

/// "12 satisfied, 1 waived, …" (states with hosts only).
pub fn legend_text(counts: &Counts) -> String {
    let parts: Vec<String> = State::ALL
        .into_iter()
        .filter(|s| counts.get(*s) > 0)
        .map(|s| format!("{} {}", counts.get(s), s.label().to_lowercase()))
        .collect();
    if parts.is_empty() {
        "no hosts".to_owned()
    } else {
        parts.join(", ")
    }
}

/// One row per control: id, stacked bar, share satisfied.
pub fn overview(rows: &[(String, Counts)]) -> String {
    let row_h = 20.0;
    let label_w = 52.0;
    let bar_w = 520.0;
    let width = label_w + bar_w + 70.0;
    let height = row_h * rows.len() as f64 + 24.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="Hosts per state for each assessed control">"#
    );
    for (i, (id, counts)) in rows.iter().enumerate() {
        let y = i as f64 * row_h;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#111">{}</text>"##,
            label_w - 6.0,
            y + 14.0,
            esc(id)
        );
        segments(&mut out, counts, label_w, y + 3.0, bar_w, row_h - 6.0);
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#111">{:.0}%</text>"##,
            label_w + bar_w + 6.0,
            y + 14.0,
            counts.share_satisfied() * 100.0
        );
    }
    // Legend.
    let mut x = label_w;
    let y = row_h * rows.len() as f64 + 8.0;
    for s in State::ALL {
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#111">{}</text>"##,
            color(s),
            x + 14.0,
            y + 9.0,
            s.label()
        );
        x += 104.0;
    }
    out.push_str("</svg>");
    out
}

/// The share satisfied per day, 0–100 %, as a line with dots.
pub fn share_line(points: &[(String, f64)]) -> String {
    let width = 620.0;
    let height = 120.0;
    let left = 36.0;
    let bottom = 20.0;
    let plot_w = width - left - 10.0;
    let plot_h = height - bottom - 8.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="Share of hosts satisfied per day">"#
    );
    for pct in [0.0, 50.0, 100.0] {
        let y = 8.0 + plot_h * (1.0 - pct / 100.0);
        let _ = write!(
            out,
            r##"<line x1="{left:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#d0d7de" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#444">{pct:.0}%</text>"##,
            left + plot_w,
            left - 4.0,
            y + 3.0
        );
    }
    let n = points.len();
    let x_of = |i: usize| {
        if n <= 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y_of = |v: f64| 8.0 + plot_h * (1.0 - v.clamp(0.0, 1.0));
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, v))| format!("{:.1},{:.1}", x_of(i), y_of(*v)))
        .collect();
    let _ = write!(
        out,
        r##"<polyline points="{}" fill="none" stroke="#1a7f37" stroke-width="2"/>"##,
        path.join(" ")
    );
    for (i, (day, v)) in points.iter().enumerate() {
        let _ = write!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#1a7f37"><title>{}: {:.1}%</title></circle>"##,
            x_of(i),
            y_of(*v),
            esc(day),
            v * 100.0
        );
    }
    // First and last day under the axis.
    if let (Some((first, _)), Some((last, _))) = (points.first(), points.last()) {
        let _ = write!(
            out,
            r##"<text x="{left:.1}" y="{:.1}" font-size="10" fill="#444">{}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#444">{}</text>"##,
            height - 4.0,
            esc(first),
            left + plot_w,
            height - 4.0,
            esc(last)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_text_and_carry_numbers() {
        let c = Counts {
            satisfied: 3,
            not_satisfied: 1,
            ..Counts::default()
        };
        let b = bar(&c, 100, 10);
        assert!(b.contains("<title>Satisfied: 3</title>"));
        assert!(b.contains("aria-label=\"3 satisfied, 1 not satisfied\""));
        let o = overview(&[("<8.1>".into(), c)]);
        assert!(o.contains("&lt;8.1&gt;"));
        assert!(o.contains(">75%<"));
        let l = share_line(&[("2026-11-25".into(), 0.5), ("2026-11-26".into(), 1.0)]);
        assert!(l.contains("2026-11-25: 50.0%"));
        assert_eq!(esc("a&b\"'"), "a&amp;b&quot;&#39;");
    }
}
