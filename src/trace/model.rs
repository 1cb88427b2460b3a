//! The trace folded into tasks and scopes: what the tree, the pictures and
//! the audit all read.
//!
//! Folding never fails: a hand-built trace may be broken in any way, and the
//! audit must still say how. Positions are event indices (the recording
//! order, see `crate::hooks::event`); where an event is repeated, the first one wins
//! and the audit reports the repetition.
//!
//! Prior art: tokio-console's task model (<https://github.com/tokio-rs/console>): events folded
//! into per-task state.

use super::recording::Trace;
use crate::hooks::*;
use std::collections::BTreeMap;

/// One poll of an async child: event indices of its begin and end.
#[derive(Clone, Debug)]
pub(crate) struct PollSpan {
    pub(crate) begin: usize,
    pub(crate) end: Option<usize>,
    pub(crate) thread: ThreadIx,
    pub(crate) on_loop: LoopNumber,
}

/// Everything the trace says about one child.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskInfo {
    pub(crate) spawn: Option<usize>,
    pub(crate) scope: Option<ScopeId>,
    pub(crate) kind: Option<ChildKind>,
    pub(crate) location: Option<SourceLoc>,
    pub(crate) queue: Option<Queue>,
    pub(crate) start: Option<usize>,
    pub(crate) start_loop: Option<LoopNumber>,
    pub(crate) stolen_from: Option<Queue>,
    pub(crate) finish: Option<usize>,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) polls: Vec<PollSpan>,
    /// Scopes opened inside this child, in opening order.
    pub(crate) nested: Vec<ScopeId>,
    /// `LoopCreated` events this child caused (event indices).
    pub(crate) loops: Vec<usize>,
    /// `ShieldBegan` and `ShieldEnded` events inside this child (indices).
    pub(crate) shields: Vec<usize>,
}

/// Everything the trace says about one scope.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScopeInfo {
    pub(crate) open: Option<usize>,
    pub(crate) close: Option<usize>,
    pub(crate) parent: Option<TaskId>,
    pub(crate) location: Option<SourceLoc>,
    pub(crate) form: Option<ScopeForm>,
    /// Children in spawn order.
    pub(crate) children: Vec<TaskId>,
}

pub(crate) struct Model<'t> {
    pub(crate) trace: &'t Trace,
    pub(crate) tasks: BTreeMap<TaskId, TaskInfo>,
    pub(crate) scopes: BTreeMap<ScopeId, ScopeInfo>,
    /// Scopes opened outside any child (or in a child the trace does not
    /// know), in opening order.
    pub(crate) roots: Vec<ScopeId>,
}

impl<'t> Model<'t> {
    pub(crate) fn new(trace: &'t Trace) -> Model<'t> {
        let mut tasks: BTreeMap<TaskId, TaskInfo> = BTreeMap::new();
        let mut scopes: BTreeMap<ScopeId, ScopeInfo> = BTreeMap::new();
        for (i, event) in trace.events.iter().enumerate() {
            match &event.kind {
                EventKind::ScopeOpened { scope, parent, location, form } => {
                    let s = scopes.entry(*scope).or_default();
                    if s.open.is_none() {
                        s.open = Some(i);
                        s.parent = *parent;
                        s.location = Some(*location);
                        s.form = Some(*form);
                    }
                }
                EventKind::ScopeClosed { scope } => {
                    let s = scopes.entry(*scope).or_default();
                    s.close.get_or_insert(i);
                }
                EventKind::Spawned { task, scope, kind, location, queue, .. } => {
                    let t = tasks.entry(*task).or_default();
                    if t.spawn.is_none() {
                        t.spawn = Some(i);
                        t.scope = Some(*scope);
                        t.kind = Some(*kind);
                        t.location = Some(*location);
                        t.queue = Some(*queue);
                        scopes.entry(*scope).or_default().children.push(*task);
                    }
                }
                EventKind::Started { task, on_loop, .. } => {
                    let t = tasks.entry(*task).or_default();
                    if t.start.is_none() {
                        t.start = Some(i);
                        t.start_loop = *on_loop;
                    }
                }
                EventKind::Stolen { task, from } => {
                    tasks.entry(*task).or_default().stolen_from.get_or_insert(*from);
                }
                EventKind::PollBegan { task, on_loop } => {
                    let span = PollSpan { begin: i, end: None, thread: event.thread, on_loop: *on_loop };
                    tasks.entry(*task).or_default().polls.push(span);
                }
                EventKind::PollEnded { task, .. } => {
                    let t = tasks.entry(*task).or_default();
                    if let Some(open) = t.polls.iter_mut().rev().find(|p| p.end.is_none()) {
                        open.end = Some(i);
                    }
                }
                EventKind::Finished { task, outcome } => {
                    let t = tasks.entry(*task).or_default();
                    if t.finish.is_none() {
                        t.finish = Some(i);
                        t.outcome = Some(*outcome);
                    }
                }
                EventKind::LoopCreated { by: Some(task), .. } => {
                    tasks.entry(*task).or_default().loops.push(i)
                }
                EventKind::ShieldBegan { task: Some(task), .. }
                | EventKind::ShieldEnded { task: Some(task), .. } => {
                    tasks.entry(*task).or_default().shields.push(i)
                }
                EventKind::LoopCreated { by: None, .. }
                | EventKind::LoopTornDown { .. }
                | EventKind::ShieldBegan { task: None, .. }
                | EventKind::ShieldEnded { task: None, .. } => {}
            }
        }
        let mut roots = Vec::new();
        let mut opened: Vec<(usize, ScopeId)> =
            scopes.iter().map(|(id, s)| (s.open.or(s.close).unwrap_or(usize::MAX), *id)).collect();
        opened.sort();
        for (_, id) in opened {
            match scopes[&id].parent.and_then(|p| tasks.get_mut(&p)) {
                Some(task) => task.nested.push(id),
                None => roots.push(id),
            }
        }
        Model { trace, tasks, scopes, roots }
    }

    pub(crate) fn at(&self, index: usize) -> u64 {
        self.trace.events[index].at_ns
    }

    pub(crate) fn thread_of(&self, index: usize) -> ThreadIx {
        self.trace.events[index].thread
    }

    /// The time of the last event.
    pub(crate) fn end_ns(&self) -> u64 {
        self.trace.events.iter().map(|e| e.at_ns).max().unwrap_or(0)
    }

    /// `task #3 (exec_blocking at f.rs:10:5)`.
    pub(crate) fn describe_task(&self, id: TaskId) -> String {
        match self.tasks.get(&id) {
            Some(TaskInfo { kind: Some(kind), location: Some(loc), .. }) => {
                format!("{id} ({} at {loc})", kind.name())
            }
            _ => format!("{id} (never spawned)"),
        }
    }

    /// `scope #1 (opened at f.rs:8:3)`.
    pub(crate) fn describe_scope(&self, id: ScopeId) -> String {
        match self.scopes.get(&id).and_then(|s| s.location) {
            Some(loc) => format!("{id} (opened at {loc})"),
            None => format!("{id} (never opened)"),
        }
    }

    /// `task #3 (…) of scope #1 (…)`.
    pub(crate) fn describe_child(&self, id: TaskId) -> String {
        match self.tasks.get(&id).and_then(|t| t.scope) {
            Some(scope) => format!("{} of {}", self.describe_task(id), self.describe_scope(scope)),
            None => self.describe_task(id),
        }
    }
}

/// `1.23 ms`, `45.6 µs`, `789 ns`.
pub(crate) fn human_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}
