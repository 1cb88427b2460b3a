//! The audit's verdict: the rules, their results and the violations.
//!
//! Prior art: a test report: each rule, what it checked, and every violation with its place.

use crate::hooks::{ScopeId, TaskId};
use std::fmt;

/// One structured-concurrency invariant the audit checks.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, Rule, Trace};
/// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
/// assert!(trace.audit().rule(Rule::FinishBeforeClose).held());
/// // Drop the child's `Finished` event: its scope now closes before it ends.
/// let mut events = trace.events().to_vec();
/// events.retain(|e| !matches!(e.kind, EventKind::Finished { .. }));
/// let report = Trace::from_parts(trace.threads().to_vec(), events).audit();
/// let broken: Vec<Rule> = report.violations().map(|v| v.rule).collect();
/// assert_eq!(broken, [Rule::FinishBeforeClose]);
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::Rule;
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|_| ()));
    /// let report = trace.audit();
    /// let rules: Vec<Rule> = report.results().iter().map(|r| r.rule).collect();
    /// assert_eq!(rules, Rule::ALL);
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::Rule;
    /// assert_eq!(Rule::FinishBeforeClose.name(), "finish-before-close");
    /// assert_eq!(Rule::FinishBeforeClose.to_string(), "finish-before-close");
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|_| ()));
    /// assert!(trace.audit().to_string().contains("✓ finish-before-close"));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::Rule;
    /// assert_eq!(Rule::SpawnBeforeStart.statement(), "every child started after it was spawned");
    /// // The report prints every rule with its statement.
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|_| ()));
    /// let report = trace.audit().to_string();
    /// assert!(Rule::ALL.iter().all(|r| report.contains(r.statement())));
    /// ```
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
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, Rule, ScopeId, TaskId, Trace};
/// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
/// // Drop the child's `Finished` event: its scope now closes before it ends.
/// let mut events = trace.events().to_vec();
/// events.retain(|e| !matches!(e.kind, EventKind::Finished { .. }));
/// let report = Trace::from_parts(trace.threads().to_vec(), events).audit();
/// let v = report.violations().next().unwrap();
/// assert_eq!((v.rule, v.task, v.scope), (Rule::FinishBeforeClose, Some(TaskId(1)), Some(ScopeId(1))));
/// assert!(v.message.contains("never finished, yet its scope closed"));
/// assert!(v.to_string().starts_with("finish-before-close: task #1"));
/// ```
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
///
/// # Examples
///
/// ```
/// use knotwork::trace::Rule;
/// let ((), trace) = knotwork::trace::record(|| {
///     knotwork::scope(|s| {
///         s.exec_blocking(|| ());
///         s.exec(async {});
///     })
/// });
/// let result = trace.audit().rule(Rule::SpawnBeforeStart).clone();
/// assert_eq!(result.checked, 2); // one check per child
/// assert!(result.violations.is_empty());
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::{EventKind, Rule, Trace};
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
    /// assert!(trace.audit().rule(Rule::SpawnBeforeStart).held());
    /// // Move the child's `Started` event before its `Spawned` one.
    /// let mut events = trace.events().to_vec();
    /// let started = events.iter().position(|e| matches!(e.kind, EventKind::Started { .. })).unwrap();
    /// let e = events.remove(started);
    /// events.insert(1, e);
    /// let report = Trace::from_parts(trace.threads().to_vec(), events).audit();
    /// assert!(!report.rule(Rule::SpawnBeforeStart).held());
    /// ```
    pub fn held(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The verdict of [`Trace::audit`](crate::trace::Trace::audit): which rules held, and where the others
/// broke.
///
/// `Display` prints one line per rule (`✓` or `✗`) and one per violation.
///
/// # Examples
///
/// ```
/// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec(async {}); }));
/// let report = trace.audit();
/// assert!(report.passed(), "{report}");
/// assert!(report.to_string().starts_with("audit: PASSED, 7 rules held"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    pub(super) results: Vec<RuleResult>,
    pub(super) notes: Vec<String>,
}

impl AuditReport {
    /// Whether every rule held.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::{EventKind, Trace};
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
    /// assert!(trace.audit().passed());
    /// // Without its `ScopeClosed` event the scope never closed: a broken trace.
    /// let mut events = trace.events().to_vec();
    /// events.retain(|e| !matches!(e.kind, EventKind::ScopeClosed { .. }));
    /// assert!(!Trace::from_parts(trace.threads().to_vec(), events).audit().passed());
    /// ```
    pub fn passed(&self) -> bool {
        self.results.iter().all(RuleResult::held)
    }

    /// Each rule's verdict, in [`Rule::ALL`] order.
    ///
    /// # Examples
    ///
    /// ```
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
    /// let report = trace.audit();
    /// assert_eq!(report.results().len(), knotwork::trace::Rule::ALL.len());
    /// assert!(report.results().iter().all(|r| r.held()));
    /// ```
    pub fn results(&self) -> &[RuleResult] {
        &self.results
    }

    /// The verdict of one rule.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::Rule;
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec(async {}); }));
    /// let one_loop = trace.audit().rule(Rule::OneLoopPerChild).clone();
    /// assert_eq!(one_loop.rule, Rule::OneLoopPerChild);
    /// assert_eq!(one_loop.checked, 1); // the one async child
    /// assert!(one_loop.held());
    /// ```
    pub fn rule(&self, rule: Rule) -> &RuleResult {
        self.results.iter().find(|r| r.rule == rule).expect("every rule is checked")
    }

    /// Every violation, rule by rule.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::{EventKind, Trace};
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
    /// assert_eq!(trace.audit().violations().count(), 0);
    /// // Move the scope's close before its child's spawn.
    /// let mut events = trace.events().to_vec();
    /// let closed = events.pop().unwrap();
    /// events.insert(1, closed);
    /// let report = Trace::from_parts(trace.threads().to_vec(), events).audit();
    /// let messages: Vec<&str> = report.violations().map(|v| v.message.as_str()).collect();
    /// assert!(messages.iter().any(|m| m.contains("while its scope was not open")));
    /// ```
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.results.iter().flat_map(|r| &r.violations)
    }

    /// Things the audit could not check and says so (a loop created before
    /// the recording began, say).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// pool.scope(|s| { s.exec(async {}); }); // the worker creates its loop now
    /// let ((), trace) = knotwork::trace::record(|| pool.scope(|s| { s.exec(async {}); }));
    /// let report = trace.audit();
    /// assert!(report.passed()); // a note is not a violation
    /// assert_eq!(report.notes().len(), 1);
    /// assert!(report.notes()[0].contains("was created before the recording began"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
