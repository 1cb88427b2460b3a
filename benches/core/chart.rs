//! The results as files: a Markdown table and an SVG bar chart of the
//! knotwork/peer ratios.
//!
//! The chart has one bar per ratio check, on a log₂ axis centred on 1×
//! (bars to the left: knotwork is faster). A bar is green when its target is
//! met, red when not, grey for a ratio that is only reported; a black tick
//! marks the target. Absolute targets (ns, ms) are in the table only.

use crate::harness::{Bound, Outcome};
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The results as Markdown: one table of figures, one of targets.
pub fn markdown(outcomes: &[Outcome], header: &str) -> String {
    let mut md = format!(
        "{header}\n\n| workload | contender | median | min | max | unit |\n|---|---|--:|--:|--:|---|\n"
    );
    for o in outcomes {
        for f in &o.figures {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {} |",
                o.name, f.name, f.median, f.min, f.max, o.unit
            );
        }
    }
    md.push_str("\n| target | measured | limit | verdict |\n|---|--:|--:|---|\n");
    for o in outcomes {
        for j in &o.judged {
            let (value, limit) = if j.check.den.is_empty() {
                (format!("{:.2} {}", j.value, o.unit), limit_str(j.check.bound, o.unit))
            } else {
                (format!("{:.2}×", j.value), limit_str(j.check.bound, "×"))
            };
            let verdict = match j.met {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "(reported)",
            };
            let _ = writeln!(md, "| {} | {value} | {limit} | {verdict} |", j.check.label);
        }
    }
    md
}

fn limit_str(bound: Bound, unit: &str) -> String {
    match bound {
        Bound::AtMost(l) if unit == "×" => format!("≤ {l:.3}{unit}"),
        Bound::AtMost(l) => format!("≤ {l} {unit}"),
        Bound::Info => "—".into(),
    }
}

/// The ratio checks as an SVG bar chart.
pub fn svg(outcomes: &[Outcome], subtitle: &str) -> String {
    let rows: Vec<_> = outcomes.iter().flat_map(|o| &o.judged).filter(|j| !j.check.den.is_empty()).collect();
    let (label_w, plot_w, row_h, top) = (430.0, 420.0, 22.0, 64.0);
    let (lo, hi) = (-5.0f64, 5.0f64); // log2 of the axis ends: 1/32× .. 32×
    let width = label_w + plot_w + 90.0;
    let height = top + rows.len() as f64 * row_h + 50.0;
    let x = |ratio: f64| label_w + (ratio.log2().clamp(lo, hi) - lo) / (hi - lo) * plot_w;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="15" font-weight="bold">knotwork / peer, median of per-round ratios (left of 1×: knotwork faster)</text>"#
    );
    let _ = writeln!(s, r##"<text x="10" y="38" fill="#555">{}</text>"##,
        esc(subtitle)
    );
    // Grid lines at powers of two.
    for e in lo as i32..=hi as i32 {
        let gx = x(2f64.powi(e));
        let stroke = if e == 0 { "#000" } else { "#ddd" };
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{:.1}" x2="{gx:.1}" y2="{:.1}" stroke="{stroke}"/>"##,
            top - 6.0,
            top + rows.len() as f64 * row_h
        );
        let label = if e >= 0 { format!("{}×", 1u64 << e) } else { format!("1/{}×", 1u64 << -e) };
        let _ = writeln!(
            s,
            r##"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{label}</text>"##,
            top + rows.len() as f64 * row_h + 16.0
        );
    }
    for (i, j) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let (x1, x0) = (x(j.value), x(1.0));
        let fill = match j.met {
            Some(true) => "#3a9d5d",
            Some(false) => "#d0453a",
            None => "#9a9a9a",
        };
        let _ = writeln!(s, r##"<g><title>{}: {:.3}×</title>"##, esc(&j.check.label), j.value);
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            label_w - 8.0,
            y + 15.0,
            esc(&j.check.label)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"##,
            x0.min(x1),
            y + 4.0,
            (x1 - x0).abs().max(1.0),
            row_h - 8.0
        );
        if let Bound::AtMost(limit) = j.check.bound {
            let tx = x(limit);
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#000" stroke-width="2"/>"##,
                y + 1.0,
                y + row_h - 1.0
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}">{:.2}×</text></g>"##,
            label_w + plot_w + 8.0,
            y + 15.0,
            j.value
        );
    }
    let ly = height - 14.0;
    for (k, (fill, what)) in
        [("#3a9d5d", "target met"), ("#d0453a", "target not met"), ("#9a9a9a", "reported only")]
            .iter()
            .enumerate()
    {
        let lx = 10.0 + k as f64 * 150.0;
        let _ =
            writeln!(s, r##"<rect x="{lx}" y="{:.1}" width="12" height="12" fill="{fill}"/>"##, ly - 10.0);
        let _ = writeln!(s, r##"<text x="{:.1}" y="{ly:.1}">{what}</text>"##, lx + 18.0);
    }
    let _ = writeln!(
        s,
        r##"<line x1="460" y1="{:.1}" x2="460" y2="{:.1}" stroke="#000" stroke-width="2"/>"##,
        ly - 11.0,
        ly + 2.0
    );
    let _ = writeln!(s, r##"<text x="468" y="{ly:.1}">target</text>"##);
    s.push_str("</svg>\n");
    s
}
