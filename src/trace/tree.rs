//! The text tree: scopes contain their children, children contain the
//! scopes opened inside them.
//!
//! ```text
//! trace: 2 scopes, 3 children, 3 threads, 1.24 ms
//! └── scope #1 sync at src/main.rs:8:5, on main, 1.20 ms
//!     ├── exec_blocking #1 at src/main.rs:9:11: ok, on knotwork-0, 0.51 ms
//!     │   └── scope #2 sync at src/main.rs:10:13, on knotwork-0, 0.40 ms
//!     │       └── exec #2 at src/main.rs:11:15: ok, on knotwork-0, loop #3, 2 polls, 0.22 ms
//!     └── exec #3 at src/main.rs:14:11: panicked, on knotwork-1 (stolen from thread 1), loop #4, 1 poll, 30.0 µs
//! ```
//!
//! The stable form drops everything that changes from run to run (ids,
//! threads, loops, polls, times), sorts siblings by their text and writes
//! identical siblings once with a count, so it depends only on what the
//! program did, not on how the pool scheduled it.
//!
//! Prior art: tokio's task dump
//! (<https://docs.rs/tokio/latest/tokio/runtime/struct.Handle.html#method.dump>), here as the tree
//! of scopes and children.

use super::model::{Model, human_ns};
use super::recording::Trace;
use crate::hooks::*;

/// A line and the lines under it.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Node {
    label: String,
    children: Vec<Node>,
}

impl Trace {
    /// The indented tree with ids, threads, loops, poll counts and
    /// durations. See [`tree_stable`](Self::tree_stable) for a form that is
    /// the same on every run.
    ///
    /// # Examples
    ///
    /// ```
    /// let ((), t) = knotwork::trace::record(|| knotwork::scope(|s| drop(s.exec_blocking(|| ()))));
    /// assert!(t.tree().contains("exec_blocking #1"));
    /// ```
    pub fn tree(&self) -> String {
        render(self, false)
    }

    /// The tree without ids, threads, loops, polls or times; siblings sorted
    /// and identical ones counted. Deterministic for a deterministic
    /// program, whatever the scheduling.
    ///
    /// # Examples
    ///
    /// ```
    /// let ((), t) = knotwork::trace::record(|| {
    ///     knotwork::scope(|s| {
    ///         for _ in 0..3 {
    ///             s.exec(async {});
    ///         }
    ///     })
    /// });
    /// let tree = t.tree_stable();
    /// assert!(tree.contains("exec at "), "{tree}");
    /// assert!(tree.contains(": ok ×3"), "{tree}");
    /// ```
    pub fn tree_stable(&self) -> String {
        render(self, true)
    }
}

fn render(trace: &Trace, stable: bool) -> String {
    let model = Model::new(trace);
    let mut out = if stable {
        format!("trace: {} scopes, {} children\n", model.scopes.len(), model.tasks.len())
    } else {
        format!(
            "trace: {} scopes, {} children, {} threads, {}\n",
            model.scopes.len(),
            model.tasks.len(),
            trace.threads.len(),
            human_ns(model.end_ns())
        )
    };
    let mut roots: Vec<Node> = model.roots.iter().map(|&s| scope_node(&model, s, stable)).collect();
    // Children that name no known scope still show up, at the top.
    for (&id, task) in &model.tasks {
        if task.scope.is_none_or(|s| !model.scopes.contains_key(&s)) {
            roots.push(task_node(&model, id, stable));
        }
    }
    if stable {
        roots = collapse(roots);
    } else {
        for (i, e) in trace.events.iter().enumerate() {
            let caused_by_a_child =
                matches!(e.kind, EventKind::LoopCreated { by: Some(t), .. } if model.tasks.contains_key(&t));
            if matches!(e.kind, EventKind::LoopCreated { .. } | EventKind::LoopTornDown { .. })
                && !caused_by_a_child
            {
                roots.push(loop_node(&model, i));
            }
        }
    }
    write_nodes(&mut out, &roots, "");
    out
}

fn scope_node(model: &Model<'_>, id: ScopeId, stable: bool) -> Node {
    let info = &model.scopes[&id];
    let form = match info.form {
        Some(ScopeForm::Sync) => "sync",
        Some(ScopeForm::Async) => "async",
        None => "(never opened)",
    };
    let location = info.location.map_or_else(String::new, |l| format!(" at {l}"));
    let label = if stable {
        let unclosed = if info.close.is_none() { " (never closed)" } else { "" };
        format!("scope {form}{location}{unclosed}")
    } else {
        let thread = info
            .open
            .map_or_else(String::new, |i| format!(", on {}", model.trace.thread_name(model.thread_of(i))));
        let took = match (info.open, info.close) {
            (Some(o), Some(c)) => format!(", {}", human_ns(model.at(c).saturating_sub(model.at(o)))),
            _ => ", never closed".to_owned(),
        };
        format!("{id} {form}{location}{thread}{took}")
    };
    let mut children: Vec<Node> = info.children.iter().map(|&t| task_node(model, t, stable)).collect();
    if stable {
        children = collapse(children);
    }
    Node { label, children }
}

fn task_node(model: &Model<'_>, id: TaskId, stable: bool) -> Node {
    let info = &model.tasks[&id];
    let kind = info.kind.map_or("child", ChildKind::name);
    let location = info.location.map_or_else(String::new, |l| format!(" at {l}"));
    let outcome = match (info.outcome, info.start) {
        (None, _) => "never finished".to_owned(),
        (Some(Outcome::Cancelled), None) => "cancelled before it started".to_owned(),
        (Some(o), _) => o.name().to_owned(),
    };
    let label = if stable {
        format!("{kind}{location}: {outcome}")
    } else {
        let mut label = format!("{kind} #{}{location}: {outcome}", id.0);
        if let Some(start) = info.start {
            label += &format!(", on {}", model.trace.thread_name(model.thread_of(start)));
            match info.stolen_from {
                Some(Queue::Injector) => label += " (from the injector)",
                Some(Queue::Deque(t)) => label += &format!(" (stolen from {})", model.trace.thread_name(t)),
                None => {}
            }
        }
        if let Some(on_loop) = info.start_loop {
            let polls = info.polls.len();
            label += &format!(", {on_loop}, {polls} poll{}", if polls == 1 { "" } else { "s" });
        }
        if let (Some(from), Some(to)) = (info.start.or(info.spawn), info.finish) {
            label += &format!(", {}", human_ns(model.at(to).saturating_sub(model.at(from))));
        }
        label
    };
    let mut children: Vec<Node> = info.nested.iter().map(|&s| scope_node(model, s, stable)).collect();
    children.extend(info.shields.iter().filter_map(|&i| shield_node(model, i)));
    if stable {
        children = collapse(children);
    } else {
        // Loops are left out of the stable form: whether a worker's loop
        // already existed depends on what ran on it before.
        for &i in &info.loops {
            children.push(loop_node(model, i));
        }
    }
    Node { label, children }
}

/// `⛨ shield at f.rs:3:9` with how it ended (from its `ShieldBegan`; the
/// `ShieldEnded` that follows in the same child completes the line).
fn shield_node(model: &Model<'_>, index: usize) -> Option<Node> {
    let EventKind::ShieldBegan { task, location } = &model.trace.events[index].kind else { return None };
    let end = model.trace.events[index..].iter().find_map(|e| match &e.kind {
        EventKind::ShieldEnded { task: t, deferred, deadline_passed } if t == task => {
            Some((*deferred, *deadline_passed))
        }
        _ => None,
    });
    let how = match end {
        None => "never ended",
        Some((_, true)) => "deadline passed, shielded work abandoned",
        Some((true, false)) => "ended; a cancellation waited for it",
        Some((false, false)) => "ended",
    };
    Some(Node { label: format!("⛨ shield at {location}: {how}"), children: Vec::new() })
}

/// `◆ created loop #4 on fan-1` / `✕ tore down loop #4 on fan-1`.
fn loop_node(model: &Model<'_>, index: usize) -> Node {
    let thread = model.trace.thread_name(model.thread_of(index));
    let label = match &model.trace.events[index].kind {
        EventKind::LoopCreated { on_loop, .. } => {
            format!("◆ created {on_loop} on {thread} (lazily, on first use)")
        }
        EventKind::LoopTornDown { on_loop } => format!("✕ tore down {on_loop} on {thread}"),
        _ => unreachable!("only loop events"),
    };
    Node { label, children: Vec::new() }
}

/// Sorts siblings and writes each run of identical ones once, `×n`.
fn collapse(mut nodes: Vec<Node>) -> Vec<Node> {
    nodes.sort();
    let mut out: Vec<(Node, usize)> = Vec::new();
    for node in nodes {
        match out.last_mut() {
            Some((last, n)) if *last == node => *n += 1,
            _ => out.push((node, 1)),
        }
    }
    out.into_iter()
        .map(|(mut node, n)| {
            if n > 1 {
                node.label += &format!(" ×{n}");
            }
            node
        })
        .collect()
}

fn write_nodes(out: &mut String, nodes: &[Node], prefix: &str) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&node.label);
        out.push('\n');
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        write_nodes(out, &node.children, &deeper);
    }
}
