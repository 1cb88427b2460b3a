//! The audit's context rules: what each child inherited (`context-inherited`)
//! and whether each binding was allowed to cross (`context-policy`).
//!
//! Prior art: Java's `ScopedValue` (JEP 481), whose bindings a `StructuredTaskScope` fork inherits
//! by construction; here the record is checked instead.

use super::audit::Audit;
use super::report::{Rule, Violation};
use crate::hooks::*;
use std::collections::HashMap;

impl Audit<'_, '_> {
    /// Every child started with the bindings it was spawned with.
    pub(super) fn context_inherited(&mut self) {
        let m = self.model;
        let mut spawned: HashMap<TaskId, &Bindings> = HashMap::new();
        let mut violations = Vec::new();
        let mut checked = 0;
        for e in &m.trace.events {
            match &e.kind {
                EventKind::Spawned { task, bindings, .. } => {
                    spawned.entry(*task).or_insert(bindings);
                }
                EventKind::Started { task, bindings, .. } => {
                    checked += 1;
                    if let Some(expected) = spawned.get(task) {
                        if *expected != bindings {
                            violations.push(Violation {
                                rule: Rule::ContextInherited,
                                task: Some(*task),
                                scope: m.tasks.get(task).and_then(|t| t.scope),
                                message: format!(
                                    "{} started with bindings {bindings}, but its parent had {expected} at the spawn",
                                    m.describe_child(*task)
                                ),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        self.result(Rule::ContextInherited, checked).violations = violations;
    }

    /// Every binding a child was spawned with or started with is one its
    /// slot's policy lets cross into that kind of child, and was made in
    /// the child's own lineage: by a child it is nested in, or outside
    /// every recorded child.
    pub(super) fn context_policy(&mut self) {
        let m = self.model;
        let mut violations = Vec::new();
        let mut checked = 0;
        for e in &m.trace.events {
            let (task, bindings, when) = match &e.kind {
                EventKind::Spawned { task, bindings, .. } => (*task, bindings, "was spawned"),
                EventKind::Started { task, bindings, .. } => (*task, bindings, "started"),
                _ => continue,
            };
            let Some(kind) = m.tasks.get(&task).and_then(|t| t.kind) else { continue };
            let lineage = self.lineage(task);
            for b in &bindings.slots {
                checked += 1;
                let mut broken = |message: String| {
                    violations.push(Violation {
                        rule: Rule::ContextPolicy,
                        task: Some(task),
                        scope: m.tasks.get(&task).and_then(|t| t.scope),
                        message,
                    });
                };
                if !b.inheritance.crosses_into(kind) {
                    broken(format!(
                        "{} {when} with slot {} (bound at {}), whose inheritance `{}` forbids crossing into an `{}` child",
                        m.describe_child(task),
                        b.slot,
                        b.bound_at,
                        b.inheritance.name(),
                        kind.name()
                    ));
                }
                if let Some(by) = b.bound_by {
                    if m.tasks.contains_key(&by) && !lineage.contains(&by) {
                        broken(format!(
                            "{} {when} with slot {} bound by {by} at {}, which is not a child it is nested in",
                            m.describe_child(task),
                            b.slot,
                            b.bound_at
                        ));
                    }
                }
            }
        }
        self.result(Rule::ContextPolicy, checked).violations = violations;
    }

    /// The children `task` is nested in, innermost first (not `task`).
    fn lineage(&self, task: TaskId) -> Vec<TaskId> {
        let m = self.model;
        let mut out = Vec::new();
        let mut at = task;
        while let Some(parent) = m.tasks.get(&at).and_then(|t| t.scope).and_then(|s| m.scopes.get(&s)?.parent)
        {
            if out.contains(&parent) || parent == task {
                break; // a broken trace with a cycle: `well-formed` reports it
            }
            out.push(parent);
            at = parent;
        }
        out
    }
}
