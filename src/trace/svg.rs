//! The SVG timeline: a picture a browser shows with no other tool.
//!
//! ```text
//!  title, legend
//!  main (caller)   [=== scope #1 ====================================]
//!  tour-0 (w 0)        ▇▇▇ exec_blocking #1 ▇▇▇     ↘ fork   ↗ join
//!  tour-1 (w 1)          ─┃──┃───── exec #2 ───┃  (thin: waiting, thick: polls)
//!                 |0        |1 ms       |2 ms       time axis
//! ```
//!
//! * one lane per thread: callers first, then workers by pool and index;
//! * inside a lane, rows are handed out greedily so that nothing drawn in
//!   one row overlaps: scopes first (an outlined bracket), then children
//!   (a thick bar while a blocking child runs or an async child is polled,
//!   a thin line while an async child waits);
//! * colour says the kind (`exec`, `exec_blocking`), the
//!   fill says the outcome (red: panicked, amber: returned `Err`, grey
//!   hatching: cancelled);
//! * fork arrows run from the spawn to the start, join arrows from the
//!   finish to the scope's close; loops created and torn down are marked
//!   `◆` and `✕` on their thread's lane;
//! * every element has a `<title>`, which browsers show on hover.
//!
//! Prior art: Perfetto's timeline (<https://perfetto.dev>), drawn as a self-contained SVG.

use super::model::{Model, human_ns};
use super::recording::Trace;
use crate::hooks::*;
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 240.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 64.0;
const ROW: f64 = 16.0;
const LANE_GAP: f64 = 10.0;

const EXEC: &str = "#2e9d5b";
const BLOCKING: &str = "#3b6fd0";
const PANICKED: &str = "#d64545";
const FAILED: &str = "#e8a33d";

/// Something drawn in one row of one lane, from `from` to `to` (ns).
struct Item {
    from: u64,
    to: u64,
    what: What,
}

enum What {
    Scope(ScopeId),
    Task(TaskId),
}

impl Trace {
    /// The trace as a self-contained SVG timeline (see the module docs of
    /// `trace::svg` for what is drawn). Save it as a `.svg` file and open it
    /// in a browser.
    ///
    /// # Examples
    ///
    /// ```
    /// let ((), t) = knotwork::trace::record(|| knotwork::scope(|s| drop(s.exec(async {}))));
    /// let svg = t.svg();
    /// assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    /// assert!(svg.contains("class=\"lane\""));
    /// ```
    pub fn svg(&self) -> String {
        let model = Model::new(self);
        let end = model.end_ns().max(1);
        let lanes = lane_order(self);
        // Rows: scopes on the thread that opened them, children on the
        // thread that started them.
        let mut items: BTreeMap<ThreadIx, Vec<Item>> = lanes.iter().map(|&t| (t, Vec::new())).collect();
        for (&id, s) in &model.scopes {
            if let Some(open) = s.open {
                let to = s.close.map_or(end, |c| model.at(c));
                items.entry(model.thread_of(open)).or_default().push(Item {
                    from: model.at(open),
                    to,
                    what: What::Scope(id),
                });
            }
        }
        for (&id, t) in &model.tasks {
            let Some(anchor) = t.start.or(t.finish) else { continue };
            let from = model.at(anchor);
            let to = t.finish.map_or(end, |f| model.at(f)).max(from);
            items.entry(model.thread_of(anchor)).or_default().push(Item { from, to, what: What::Task(id) });
        }
        let scale = (WIDTH - LEFT - RIGHT) / end as f64;
        let x = |ns: u64| LEFT + ns as f64 * scale;
        // Hand out rows per lane; remember where each scope and task landed.
        let mut y = TOP + 24.0;
        let mut lane_boxes = Vec::new();
        let mut row_of_scope: BTreeMap<ScopeId, f64> = BTreeMap::new();
        let mut row_of_task: BTreeMap<TaskId, f64> = BTreeMap::new();
        let mut placed: Vec<(f64, Item)> = Vec::new();
        for &thread in &lanes {
            let lane = items.get_mut(&thread).map(std::mem::take).unwrap_or_default();
            let mut rows_end: Vec<u64> = Vec::new();
            let mut lane_items: Vec<Item> = lane;
            lane_items.sort_by_key(|i| (matches!(i.what, What::Task(_)), i.from, std::cmp::Reverse(i.to)));
            let mut rows = Vec::with_capacity(lane_items.len());
            for item in &lane_items {
                // A row is free once its last item ended, with a hair of room.
                let gap = (2.0 / scale) as u64;
                let row = match rows_end.iter().position(|&e| e + gap <= item.from) {
                    Some(r) => r,
                    None => {
                        rows_end.push(0);
                        rows_end.len() - 1
                    }
                };
                rows_end[row] = item.to.max(item.from + 1);
                rows.push(row);
            }
            let n_rows = rows_end.len().max(1);
            lane_boxes.push((thread, y, n_rows as f64 * ROW));
            for (item, row) in lane_items.into_iter().zip(rows) {
                let center = y + row as f64 * ROW + ROW / 2.0;
                match item.what {
                    What::Scope(s) => row_of_scope.insert(s, center),
                    What::Task(t) => row_of_task.insert(t, center),
                };
                placed.push((center, item));
            }
            y += n_rows as f64 * ROW + LANE_GAP;
        }
        let height = y + 46.0;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="11">
<defs>
<pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="5" height="5" fill="#d9d9d9"/><line x1="0" y1="0" x2="0" y2="5" stroke="#8a8a8a" stroke-width="2"/></pattern>
<marker id="arrow" viewBox="0 0 6 6" refX="5.5" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#555"/></marker>
</defs>
<rect width="100%" height="100%" fill="white"/>
"##
        );
        let title = format!(
            "knotwork trace: {} scopes, {} children, {} threads, {}",
            model.scopes.len(),
            model.tasks.len(),
            self.threads.len(),
            human_ns(end)
        );
        let _ =
            writeln!(svg, r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#, esc(&title));
        legend(&mut svg);
        // Lanes.
        for &(thread, top, h) in &lane_boxes {
            let info = self.threads.get(thread.0 as usize);
            let label = match info.and_then(|t| t.worker) {
                Some((pool, index)) => format!("{} (pool {pool}, worker {index})", self.thread_name(thread)),
                None => format!("{} (caller)", self.thread_name(thread)),
            };
            let _ = writeln!(
                svg,
                r##"<g class="lane" data-thread="{}" data-worker="{}"><rect x="0" y="{:.1}" width="{WIDTH}" height="{:.1}" fill="{}"/><text x="8" y="{:.1}">{}</text></g>"##,
                thread.0,
                info.is_some_and(|t| t.worker.is_some()),
                top - LANE_GAP / 2.0,
                h + LANE_GAP,
                if thread.0 % 2 == 0 { "#f7f7f7" } else { "#efefef" },
                top + ROW * 0.75,
                esc(&label)
            );
        }
        // Scopes and children.
        for (center, item) in &placed {
            match item.what {
                What::Scope(id) => scope_bracket(&mut svg, &model, id, x(item.from), x(item.to), *center),
                What::Task(id) => task_bar(&mut svg, &model, id, &x, *center, end),
            }
        }
        // Fork and join arrows.
        for (&id, t) in &model.tasks {
            let Some(&to_y) = row_of_task.get(&id) else { continue };
            let scope_y = t.scope.and_then(|s| row_of_scope.get(&s)).copied();
            if let (Some(spawn), Some(start)) = (t.spawn, t.start.or(t.finish)) {
                let from_y = scope_y.unwrap_or(to_y);
                arrow(&mut svg, "fork", (x(model.at(spawn)), from_y), (x(model.at(start)), to_y), false);
            }
            let close = t.scope.and_then(|s| model.scopes.get(&s)).and_then(|s| s.close);
            if let (Some(f), Some(c), Some(sy)) = (t.finish, close, scope_y) {
                arrow(&mut svg, "join", (x(model.at(f)), to_y), (x(model.at(c)), sy), true);
            }
        }
        // Loop creation and teardown marks.
        for e in &self.events {
            let Some(&(_, top, _)) = lane_boxes.iter().find(|(t, _, _)| *t == e.thread) else { continue };
            let (mark, what) = match &e.kind {
                EventKind::LoopCreated { on_loop, .. } => ("◆", format!("{on_loop} created")),
                EventKind::LoopTornDown { on_loop } => ("✕", format!("{on_loop} torn down")),
                EventKind::ShieldBegan { location, .. } => ("⛨", format!("shield at {location} began")),
                EventKind::ShieldEnded { deferred, .. } => (
                    "⛨",
                    format!("shield ended{}", if *deferred { ": cancellation takes effect" } else { "" }),
                ),
                _ => continue,
            };
            let _ = writeln!(
                svg,
                r##"<text class="loop" x="{:.1}" y="{:.1}" fill="#b35900" text-anchor="middle">{mark}<title>{}</title></text>"##,
                x(e.at_ns),
                top + ROW * 0.8,
                esc(&what)
            );
        }
        axis(&mut svg, end, &x, y);
        svg.push_str("</svg>\n");
        svg
    }
}

/// Callers first (in order of appearance), then workers by pool and index.
fn lane_order(trace: &Trace) -> Vec<ThreadIx> {
    let mut used: Vec<ThreadIx> = (0..trace.threads.len()).map(|i| ThreadIx(i as u32)).collect();
    for e in &trace.events {
        if !used.contains(&e.thread) {
            used.push(e.thread);
        }
    }
    used.sort_by_key(|t| match trace.threads.get(t.0 as usize).and_then(|i| i.worker) {
        None => (0, 0, t.0 as usize),
        Some((pool, index)) => (1, pool, index),
    });
    used
}

fn kind_colour(kind: Option<ChildKind>) -> &'static str {
    match kind {
        Some(ChildKind::Exec) | None => EXEC,
        Some(ChildKind::ExecBlocking) => BLOCKING,
    }
}

fn fill(kind: Option<ChildKind>, outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Panicked) => PANICKED,
        Some(Outcome::Failed) => FAILED,
        Some(Outcome::Cancelled) => "url(#hatch)",
        _ => kind_colour(kind),
    }
}

fn scope_bracket(svg: &mut String, model: &Model<'_>, id: ScopeId, x0: f64, x1: f64, cy: f64) {
    let s = &model.scopes[&id];
    let x1 = x1.max(x0 + 2.0);
    let form = if s.form == Some(ScopeForm::Async) { "async" } else { "sync" };
    let tip = format!(
        "{} ({form}){}",
        model.describe_scope(id),
        if s.close.is_none() { ", never closed" } else { "" }
    );
    let (top, bottom) = (cy - ROW * 0.4, cy + ROW * 0.4);
    let _ = writeln!(
        svg,
        r##"<g class="scope"><path d="M{x0:.1},{top:.1} L{x0:.1},{bottom:.1} M{x0:.1},{cy:.1} L{x1:.1},{cy:.1} M{x1:.1},{top:.1} L{x1:.1},{bottom:.1}" stroke="#222" stroke-width="1.4" fill="none"/><title>{}</title></g>"##,
        esc(&tip)
    );
    if x1 - x0 > 70.0 {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#222">{id}</text>"##,
            x0 + 4.0,
            cy - 2.0
        );
    }
}

fn task_bar(svg: &mut String, model: &Model<'_>, id: TaskId, x: &impl Fn(u64) -> f64, cy: f64, end: u64) {
    let t = &model.tasks[&id];
    let kind = t.kind.map_or("child", ChildKind::name);
    let outcome = match (t.outcome, t.start) {
        (Some(Outcome::Cancelled), None) => "cancelled before it started".to_owned(),
        (Some(o), _) => o.name().to_owned(),
        (None, _) => "never finished".to_owned(),
    };
    let from = t.start.or(t.finish).map_or(0, |i| model.at(i));
    let to = t.finish.map_or(end, |f| model.at(f)).max(from);
    let tip = esc(&format!("{}: {outcome}, {}", model.describe_child(id), human_ns(to - from)));
    let colour = kind_colour(t.kind);
    let paint = fill(t.kind, t.outcome);
    let h = ROW * 0.6;
    let _ = write!(svg, r#"<g class="task" data-task="{}" data-kind="{kind}">"#, id.0);
    if t.kind.is_some_and(ChildKind::is_async) && t.start.is_some() {
        // Waiting: a thin line; each poll: a thick block.
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{paint}" stroke="{colour}" stroke-width="0.8" opacity="0.55"/>"#,
            x(from),
            cy - h / 6.0,
            (x(to) - x(from)).max(1.0),
            h / 3.0
        );
        for p in &t.polls {
            let p_to = p.end.map_or(to, |e| model.at(e));
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{paint}" stroke="{colour}" stroke-width="0.8"/>"#,
                x(model.at(p.begin)),
                cy - h / 2.0,
                (x(p_to) - x(model.at(p.begin))).max(1.5)
            );
        }
    } else {
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{paint}" stroke="{colour}" stroke-width="0.8"/>"#,
            x(from),
            cy - h / 2.0,
            (x(to) - x(from)).max(1.5)
        );
    }
    let _ = write!(svg, "<title>{tip}</title></g>");
    let label = format!("{kind} #{}", id.0);
    if x(to) - x(from) > 6.0 * label.len() as f64 {
        // Inside the row: white on a solid bar, dark on a line or hatching.
        let solid = !t.kind.is_some_and(ChildKind::is_async) && t.outcome != Some(Outcome::Cancelled);
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="{}">{}</text>"##,
            x(from) + 4.0,
            if solid { cy + 3.0 } else { cy - 2.5 },
            if solid { "white" } else { "#111" },
            esc(&label)
        );
    }
    svg.push('\n');
}

fn arrow(svg: &mut String, class: &str, from: (f64, f64), to: (f64, f64), dashed: bool) {
    let dash = if dashed { r#" stroke-dasharray="3,2""# } else { "" };
    let _ = writeln!(
        svg,
        r##"<line class="{class}" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#555" stroke-width="0.8"{dash} marker-end="url(#arrow)"/>"##,
        from.0, from.1, to.0, to.1
    );
}

fn legend(svg: &mut String) {
    let mut x = 10.0;
    let y = 40.0;
    let swatches: [(&str, &str, &str); 5] = [
        (BLOCKING, BLOCKING, "exec_blocking (runs)"),
        (EXEC, EXEC, "exec (thick: polled, thin: waiting)"),
        (PANICKED, "#444", "panicked"),
        (FAILED, "#444", "returned Err"),
        ("url(#hatch)", "#444", "cancelled"),
    ];
    for (paint, stroke, text) in swatches {
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.0}" y="{:.0}" width="18" height="9" fill="{paint}" stroke="{stroke}" stroke-width="0.8"/><text x="{:.0}" y="{y:.0}">{}</text>"#,
            y - 8.0,
            x + 22.0,
            esc(text)
        );
        x += 30.0 + 6.2 * text.len() as f64;
    }
    let _ = writeln!(
        svg,
        r##"<path d="M{x:.0},{:.0} L{x:.0},{:.0} M{x:.0},{:.0} L{:.0},{:.0} M{:.0},{:.0} L{:.0},{:.0}" stroke="#222" stroke-width="1.4" fill="none"/><text x="{:.0}" y="{y:.0}">scope</text>"##,
        y - 9.0,
        y + 1.0,
        y - 4.0,
        x + 18.0,
        y - 4.0,
        x + 18.0,
        y - 9.0,
        x + 18.0,
        y + 1.0,
        x + 22.0
    );
    x += 62.0;
    for (label, dash) in [("fork", ""), ("join", r#" stroke-dasharray="3,2""#)] {
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.0}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="#555"{dash} marker-end="url(#arrow)"/><text x="{:.0}" y="{y:.0}">{label}</text>"##,
            y - 4.0,
            x + 18.0,
            y - 4.0,
            x + 22.0
        );
        x += 56.0;
    }
    let _ = writeln!(
        svg,
        r##"<text x="{x:.0}" y="{y:.0}"><tspan fill="#b35900">◆</tspan> loop created  <tspan fill="#b35900">✕</tspan> loop torn down</text>"##
    );
}

/// A time axis under the lanes, with ticks at 1, 2 or 5 × 10ⁿ ns.
fn axis(svg: &mut String, end: u64, x: &impl Fn(u64) -> f64, y: f64) {
    let _ = writeln!(
        svg,
        r##"<g class="axis"><line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#333"/>"##,
        WIDTH - RIGHT
    );
    let rough = end as f64 / 8.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(magnitude * 10.0);
    let step = (step as u64).max(1);
    let mut t = 0;
    while t <= end {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{y:.1}" x2="{0:.1}" y2="{1:.1}" stroke="#333"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle">{3}</text>"##,
            x(t),
            y + 5.0,
            y + 18.0,
            esc(&human_ns(t))
        );
        t += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">time since the recording started</text></g>"#,
        WIDTH - RIGHT,
        y + 34.0
    );
}

/// Text escaped for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
