//! The audit: structured-concurrency invariants checked from the record.
//!
//! Every rule reads event *positions* (the recording order), which agree
//! with the program's own order: an event is appended under the recorder's
//! lock, so if the program ordered A before B (a child's finish before the
//! latch release that lets its scope close), A is earlier in the list.
//!
//! | rule | what must hold |
//! |---|---|
//! | `well-formed` | every id is spawned/opened once; events name only known tasks and scopes |
//! | `spawn-before-start` | a child starts after it is spawned, and finishes after both |
//! | `finish-before-close` | a child is spawned while its scope is open and finishes before it closes; every scope closes; a scope opened in a child closes before that child's scope does |
//! | `one-loop-per-child` | every poll of an async child runs on the loop (and thread) it started on |
//! | `loop-lifecycle` | a thread creates at most one loop; a loop is used only after it is created, on its own thread, and torn down at most once, after which it is not used |
//! | `context-inherited` | a child starts with exactly the bindings its spawner had at the spawn |
//! | `context-policy` | no binding crosses into a child its slot's [`Inheritance`] forbids, and each comes from a `bind` in the child's own lineage |
//!
//! The two context rules live in `audit_context.rs`.
//!
//! Prior art: none we know of: tokio-console (<https://github.com/tokio-rs/console>) shows tasks,
//! but checks no structural rule.

use super::model::Model;
use super::recording::Trace;
use super::report::{AuditReport, Rule, RuleResult, Violation};
use crate::hooks::*;
use std::collections::{BTreeMap, HashMap};

impl Trace {
    /// Checks the structured-concurrency invariants from the record (see
    /// [`Rule`]) and says which held.
    ///
    /// # Examples
    ///
    /// ```
    /// let ((), t) = knotwork::trace::record(|| knotwork::scope(|s| drop(s.exec(async {}))));
    /// let report = t.audit();
    /// assert!(report.passed(), "{report}");
    /// assert!(report.to_string().starts_with("audit: PASSED"));
    /// ```
    pub fn audit(&self) -> AuditReport {
        let model = Model::new(self);
        let mut audit = Audit { model: &model, results: Vec::new(), notes: Vec::new() };
        audit.well_formed();
        audit.spawn_before_start();
        audit.finish_before_close();
        audit.one_loop_per_child();
        audit.loop_lifecycle();
        audit.context_inherited();
        audit.context_policy();
        AuditReport { results: audit.results, notes: audit.notes }
    }
}

pub(super) struct Audit<'m, 't> {
    pub(super) model: &'m Model<'t>,
    results: Vec<RuleResult>,
    notes: Vec<String>,
}

impl Audit<'_, '_> {
    pub(super) fn result(&mut self, rule: Rule, checked: usize) -> &mut RuleResult {
        self.results.push(RuleResult { rule, checked, violations: Vec::new() });
        self.results.last_mut().expect("just pushed")
    }

    fn well_formed(&mut self) {
        let m = self.model;
        let mut seen: HashMap<(u8, u32), usize> = HashMap::new();
        let mut violations = Vec::new();
        let mut broken = |task: Option<TaskId>, scope: Option<ScopeId>, message: String| {
            violations.push(Violation { rule: Rule::WellFormed, task, scope, message });
        };
        for (i, e) in m.trace.events.iter().enumerate() {
            let (task, scope, once) = match &e.kind {
                EventKind::ScopeOpened { scope, .. } => (None, Some(*scope), Some(0)),
                EventKind::ScopeClosed { scope } => (None, Some(*scope), Some(1)),
                EventKind::Spawned { task, scope, .. } => (Some(*task), Some(*scope), Some(2)),
                EventKind::Started { task, .. } => (Some(*task), None, Some(3)),
                EventKind::Finished { task, .. } => (Some(*task), None, Some(4)),
                EventKind::Stolen { task, .. }
                | EventKind::PollBegan { task, .. }
                | EventKind::PollEnded { task, .. } => (Some(*task), None, None),
                EventKind::LoopCreated { .. } | EventKind::LoopTornDown { .. } => (None, None, None),
                EventKind::ShieldBegan { task, .. } | EventKind::ShieldEnded { task, .. } => {
                    (*task, None, None)
                }
            };
            if let Some(t) = task {
                if m.tasks[&t].spawn.is_none() {
                    broken(Some(t), None, format!("event {i} names {}", m.describe_task(t)));
                }
            }
            if let Some(s) = scope {
                if m.scopes[&s].open.is_none() {
                    let what = task.map_or_else(String::new, |t| format!("{t} names "));
                    broken(task, Some(s), format!("event {i}: {what}{s}, which was never opened"));
                }
            }
            if let Some(kind) = once {
                let id = task.map(|t| t.0).or(scope.map(|s| s.0)).expect("every counted event names an id");
                if let Some(first) = seen.insert((kind, id), i) {
                    let who =
                        task.map_or_else(|| m.describe_scope(scope.expect("named")), |t| m.describe_child(t));
                    broken(
                        task,
                        scope,
                        format!("{who} has a second {} event ({i}, first at {first})", e.kind.tag()),
                    );
                }
            }
        }
        let checked = m.trace.events.len();
        self.result(Rule::WellFormed, checked).violations = violations;
    }

    fn spawn_before_start(&mut self) {
        let m = self.model;
        let mut violations = Vec::new();
        for (&id, t) in &m.tasks {
            let Some(spawn) = t.spawn else { continue };
            let mut broken = |message: String| {
                violations.push(Violation {
                    rule: Rule::SpawnBeforeStart,
                    task: Some(id),
                    scope: t.scope,
                    message,
                });
            };
            if let Some(start) = t.start {
                if start < spawn {
                    broken(format!(
                        "{} started (event {start}) before it was spawned (event {spawn})",
                        m.describe_child(id)
                    ));
                }
            }
            if let Some(finish) = t.finish {
                if finish < spawn || t.start.is_some_and(|s| finish < s) {
                    broken(format!(
                        "{} finished (event {finish}) before it was spawned or started",
                        m.describe_child(id)
                    ));
                }
            }
            for p in &t.polls {
                if t.start.is_none_or(|s| p.begin < s) || t.finish.is_some_and(|f| p.begin > f) {
                    broken(format!(
                        "{} was polled (event {}) outside its run",
                        m.describe_child(id),
                        p.begin
                    ));
                }
            }
        }
        let checked = m.tasks.values().filter(|t| t.spawn.is_some()).count();
        self.result(Rule::SpawnBeforeStart, checked).violations = violations;
    }

    fn finish_before_close(&mut self) {
        let m = self.model;
        let mut violations = Vec::new();
        let mut broken = |task: Option<TaskId>, scope: ScopeId, message: String| {
            violations.push(Violation { rule: Rule::FinishBeforeClose, task, scope: Some(scope), message });
        };
        for (&sid, s) in &m.scopes {
            if s.open.is_none() {
                continue;
            }
            let Some(close) = s.close else {
                broken(
                    None,
                    sid,
                    format!("{} never closed (the recording ended with it open)", m.describe_scope(sid)),
                );
                continue;
            };
            for &tid in &s.children {
                let t = &m.tasks[&tid];
                let spawn = t.spawn.expect("children are spawned");
                if spawn > close || s.open.is_some_and(|o| spawn < o) {
                    broken(
                        Some(tid),
                        sid,
                        format!(
                            "{} was spawned (event {spawn}) while its scope was not open",
                            m.describe_child(tid)
                        ),
                    );
                }
                match t.finish {
                    None => broken(
                        Some(tid),
                        sid,
                        format!(
                            "{} never finished, yet its scope closed (event {close})",
                            m.describe_child(tid)
                        ),
                    ),
                    Some(f) if f > close => broken(
                        Some(tid),
                        sid,
                        format!(
                            "{} finished (event {f}) after its scope closed (event {close})",
                            m.describe_child(tid)
                        ),
                    ),
                    Some(_) => {}
                }
            }
            // A scope opened inside a child closes before that child's scope.
            let outer = s.parent.and_then(|p| m.tasks.get(&p)).and_then(|t| t.scope);
            if let Some(outer_close) = outer.and_then(|o| m.scopes.get(&o)).and_then(|o| o.close) {
                if close > outer_close {
                    let outer = outer.expect("checked");
                    broken(
                        s.parent,
                        sid,
                        format!(
                            "{}, opened in {}, closed after {outer} did",
                            m.describe_scope(sid),
                            m.describe_child(s.parent.expect("checked"))
                        ),
                    );
                }
            }
        }
        let checked = m.scopes.len() + m.tasks.len();
        self.result(Rule::FinishBeforeClose, checked).violations = violations;
    }

    fn one_loop_per_child(&mut self) {
        let m = self.model;
        let mut violations = Vec::new();
        let mut checked = 0;
        for (&id, t) in &m.tasks {
            if !t.kind.is_some_and(ChildKind::is_async) {
                continue;
            }
            checked += 1;
            let home = t.start_loop.map(|l| (l, t.start.map(|s| m.thread_of(s))));
            for p in &t.polls {
                let here = (p.on_loop, Some(p.thread));
                match home {
                    Some(home) if home == here => {}
                    Some((home_loop, _)) => violations.push(Violation {
                        rule: Rule::OneLoopPerChild,
                        task: Some(id),
                        scope: t.scope,
                        message: format!(
                            "{} started on {home_loop} but was polled on {} by {} (event {})",
                            m.describe_child(id),
                            p.on_loop,
                            m.trace.thread_name(p.thread),
                            p.begin
                        ),
                    }),
                    None => violations.push(Violation {
                        rule: Rule::OneLoopPerChild,
                        task: Some(id),
                        scope: t.scope,
                        message: format!(
                            "{} was polled (event {}) but never started on a loop",
                            m.describe_child(id),
                            p.begin
                        ),
                    }),
                }
            }
        }
        self.result(Rule::OneLoopPerChild, checked).violations = violations;
    }

    fn loop_lifecycle(&mut self) {
        let m = self.model;
        let mut violations = Vec::new();
        let mut created: BTreeMap<LoopNumber, (usize, ThreadIx)> = BTreeMap::new();
        let mut torn: BTreeMap<LoopNumber, usize> = BTreeMap::new();
        let mut per_thread: BTreeMap<ThreadIx, LoopNumber> = BTreeMap::new();
        let mut unseen: Vec<LoopNumber> = Vec::new();
        let mut broken = |task: Option<TaskId>, message: String| {
            let scope = task.and_then(|t| m.tasks.get(&t)).and_then(|t| t.scope);
            violations.push(Violation { rule: Rule::LoopLifecycle, task, scope, message });
        };
        for (i, e) in m.trace.events.iter().enumerate() {
            let thread = m.trace.thread_name(e.thread);
            let (used, task) = match &e.kind {
                EventKind::LoopCreated { on_loop, .. } => {
                    if let Some(other) = per_thread.insert(e.thread, *on_loop) {
                        broken(
                            None,
                            format!("{thread} created {on_loop} (event {i}) but already had {other}"),
                        );
                    }
                    if created.insert(*on_loop, (i, e.thread)).is_some() {
                        broken(None, format!("{on_loop} was created a second time (event {i})"));
                    }
                    continue;
                }
                EventKind::LoopTornDown { on_loop } => {
                    match created.get(on_loop) {
                        Some((_, owner)) if *owner != e.thread => broken(
                            None,
                            format!(
                                "{on_loop} of {} was torn down by {thread} (event {i})",
                                m.trace.thread_name(*owner)
                            ),
                        ),
                        _ => {}
                    }
                    if let Some(first) = torn.insert(*on_loop, i) {
                        broken(None, format!("{on_loop} was torn down twice (events {first} and {i})"));
                    }
                    continue;
                }
                EventKind::Started { task, on_loop: Some(l), .. } => (*l, *task),
                EventKind::PollBegan { task, on_loop } => (*on_loop, *task),
                _ => continue,
            };
            let who = m.describe_child(task);
            if let Some(t) = torn.get(&used) {
                broken(
                    Some(task),
                    format!("{who} used {used} (event {i}) after it was torn down (event {t})"),
                );
            }
            match created.get(&used) {
                Some((_, owner)) if *owner != e.thread => broken(
                    Some(task),
                    format!("{who} used {used} of {} from {thread} (event {i})", m.trace.thread_name(*owner)),
                ),
                Some(_) => {}
                None if torn.contains_key(&used)
                    || m.trace.events[i..]
                        .iter()
                        .any(|later| matches!(later.kind, EventKind::LoopCreated { on_loop, .. } if on_loop == used)) =>
                {
                    broken(Some(task), format!("{who} used {used} (event {i}) before it was created"));
                }
                None => {
                    if !unseen.contains(&used) {
                        unseen.push(used);
                    }
                }
            }
        }
        for l in &unseen {
            self.notes
                .push(format!("{l} was created before the recording began; its creation was not checked"));
        }
        let checked = created.len() + unseen.len();
        self.result(Rule::LoopLifecycle, checked).violations = violations;
    }
}

impl EventKind {
    /// The variant's name, for messages.
    fn tag(&self) -> &'static str {
        match self {
            EventKind::ScopeOpened { .. } => "ScopeOpened",
            EventKind::ScopeClosed { .. } => "ScopeClosed",
            EventKind::Spawned { .. } => "Spawned",
            EventKind::Started { .. } => "Started",
            EventKind::Stolen { .. } => "Stolen",
            EventKind::PollBegan { .. } => "PollBegan",
            EventKind::PollEnded { .. } => "PollEnded",
            EventKind::Finished { .. } => "Finished",
            EventKind::LoopCreated { .. } => "LoopCreated",
            EventKind::LoopTornDown { .. } => "LoopTornDown",
            EventKind::ShieldBegan { .. } => "ShieldBegan",
            EventKind::ShieldEnded { .. } => "ShieldEnded",
        }
    }
}
