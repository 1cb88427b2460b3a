//! The audit's verdict: the rules, their results and the violations.
//!
//! Prior art: a test report: each rule, what it checked, and every violation with its place.

use crate::hooks::{ScopeId, TaskId};
use std::fmt;

/// One structured-concurrency invariant the audit checks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Every id is spawned or opened once, and events name only known tasks
    /// and scopes.
    WellFormed,
    /// Every child started after it was spawned (and finished after both).
    SpawnBeforeStart,
    /// Every child was spawned while its scope was open and finished before
    /// the scope closed; every scope closed, nested scopes before the scope
    /// of the child that opened them.
    FinishBeforeClose,
    /// Every async child was polled only on one loop.
    OneLoopPerChild,
    /// Each thread had at most one loop, created before its first use and
    /// torn down (at most) once.
    LoopLifecycle,
    /// Each child's context snapshot equals its parent's bindings at the spawn.
    ContextInherited,
    /// No binding crossed into a child its slot's
    /// [`Inheritance`](crate::Inheritance) forbids, and each came from a
    /// `bind` in the child's lineage.
    ContextPolicy,
}

impl Rule {
    /// Every rule, in the order the report lists them.
    pub const ALL: [Rule; 7] = [
        Rule::WellFormed,
        Rule::SpawnBeforeStart,
        Rule::FinishBeforeClose,
        Rule::OneLoopPerChild,
        Rule::LoopLifecycle,
        Rule::ContextInherited,
        Rule::ContextPolicy,
    ];

    /// The rule's short name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::WellFormed => "well-formed",
            Rule::SpawnBeforeStart => "spawn-before-start",
            Rule::FinishBeforeClose => "finish-before-close",
            Rule::OneLoopPerChild => "one-loop-per-child",
            Rule::LoopLifecycle => "loop-lifecycle",
            Rule::ContextInherited => "context-inherited",
            Rule::ContextPolicy => "context-policy",
        }
    }

    /// What the rule demands, in a sentence.
    pub fn statement(self) -> &'static str {
        match self {
            Rule::WellFormed => {
                "every task and scope is spawned or opened once, and every event names a known one"
            }
            Rule::SpawnBeforeStart => "every child started after it was spawned",
            Rule::FinishBeforeClose => "every child finished before its scope closed",
            Rule::OneLoopPerChild => "every async child was polled on one loop only",
            Rule::LoopLifecycle => {
                "each thread had at most one loop, created before its first use, torn down once"
            }
            Rule::ContextInherited => "every child saw its parent's bindings at the spawn",
            Rule::ContextPolicy => {
                "no binding crossed where its slot's inheritance forbids, and each came from the child's lineage"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One place where a trace breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The broken rule.
    pub rule: Rule,
    /// The task concerned, if one is.
    pub task: Option<TaskId>,
    /// The scope concerned, if one is.
    pub scope: Option<ScopeId>,
    /// What happened, naming the task and its scope.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

/// One rule's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleResult {
    /// The rule.
    pub rule: Rule,
    /// How many things it checked (children, scopes, loops…).
    pub checked: usize,
    /// Where it is broken; empty when it held.
    pub violations: Vec<Violation>,
}

impl RuleResult {
    /// Whether the rule held.
    pub fn held(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The verdict of [`Trace::audit`](crate::trace::Trace::audit): which rules held, and where the others
/// broke.
///
/// `Display` prints one line per rule (`✓` or `✗`) and one per violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    pub(super) results: Vec<RuleResult>,
    pub(super) notes: Vec<String>,
}

impl AuditReport {
    /// Whether every rule held.
    pub fn passed(&self) -> bool {
        self.results.iter().all(RuleResult::held)
    }

    /// Each rule's verdict, in [`Rule::ALL`] order.
    pub fn results(&self) -> &[RuleResult] {
        &self.results
    }

    /// The verdict of one rule.
    pub fn rule(&self, rule: Rule) -> &RuleResult {
        self.results.iter().find(|r| r.rule == rule).expect("every rule is checked")
    }

    /// Every violation, rule by rule.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.results.iter().flat_map(|r| &r.violations)
    }

    /// Things the audit could not check and says so (a loop created before
    /// the recording began, say).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let broken = self.results.iter().filter(|r| !r.held()).count();
        let checks: usize = self.results.iter().map(|r| r.checked).sum();
        if broken == 0 {
            writeln!(f, "audit: PASSED, {} rules held over {checks} checks", self.results.len())?;
        } else {
            writeln!(f, "audit: FAILED, {broken} of {} rules broken", self.results.len())?;
        }
        for r in &self.results {
            let mark = if r.held() { '✓' } else { '✗' };
            writeln!(f, "  {mark} {} ({} checked): {}", r.rule, r.checked, r.rule.statement())?;
            for v in &r.violations {
                writeln!(f, "      {}", v.message)?;
            }
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}
