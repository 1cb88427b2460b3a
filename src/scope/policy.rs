//! Completion policies: what a scope does when its children finish, and
//! what it returns.
//!
//! One mechanism, after Java's `StructuredTaskScope.Joiner`: a [`Policy`]
//! hears of every fork ([`Policy::on_fork`]) and every completion
//! ([`Policy::on_complete`], which says whether to cancel the scope), and
//! turns the body's result and every failure nobody observed into the
//! scope's result ([`Policy::finish`]). The built-ins:
//!
//! | policy | a failure | a success | the scope returns |
//! |---|---|---|---|
//! | [`FailFast`] (what a plain `scope` does) | cancels the rest | — | the body's value, or every unobserved failure |
//! | [`Supervise`] | cancels nothing | — | the body's value, or every unobserved failure |
//! | [`FirstSuccess`] | cancels nothing | the first cancels the rest | the body's value if a child succeeded, else every failure |
//!
//! The policy runs on whichever thread completes a child, under no lock of
//! knotwork's; it must be quick and must not block (it is `Send + Sync`).
//!
//! Prior art: Java's `StructuredTaskScope.Joiner` (JEP 505,
//! <https://openjdk.org/jeps/505>), Go's errgroup (<https://pkg.go.dev/golang.org/x/sync/errgroup>),
//! Kotlin's `supervisorScope` (<https://kotlinlang.org/docs/exception-handling.html#supervision>).

use crate::failure::{ChildFailure, ScopeError};
use crate::hooks::Outcome;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};

/// A child, as a policy sees it.
///
/// # Examples
///
/// A policy that notes every child as it is forked:
///
/// ```
/// use knotwork::{ChildFailure, ChildInfo, Policy, Verdict, trace::Outcome};
/// use std::sync::Mutex;
///
/// #[derive(Default)]
/// struct Forks(Mutex<Vec<usize>>);
///
/// impl Policy for Forks {
///     type Output<R> = Vec<usize>;
///     fn on_fork(&self, child: &ChildInfo) {
///         self.0.lock().unwrap().push(child.index());
///     }
///     fn on_complete(&self, _: &ChildInfo, _: Outcome) -> Verdict {
///         Verdict::Continue
///     }
///     fn finish<R>(self, _body: Option<R>, _: Vec<ChildFailure>) -> Vec<usize> {
///         self.0.into_inner().unwrap()
///     }
/// }
///
/// let forked = knotwork::scope_with(Forks::default(), |s| {
///     s.exec_blocking(|| ());
///     s.exec(async {});
///     s.exec_blocking(|| ());
/// });
/// assert_eq!(forked, [0, 1, 2]);
/// ```
#[derive(Copy, Clone, Debug)]
pub struct ChildInfo {
    pub(crate) index: usize,
    pub(crate) location: &'static Location<'static>,
}

impl ChildInfo {
    /// The child's place among its scope's children, in spawn order, from 0.
    ///
    /// # Examples
    ///
    /// A policy for a scope whose first child is the main work and the
    /// others its helpers: when child #0 is done, the rest are cancelled.
    ///
    /// ```
    /// use knotwork::{ChildFailure, ChildInfo, Policy, Verdict, trace::Outcome};
    ///
    /// struct UntilFirstChild;
    ///
    /// impl Policy for UntilFirstChild {
    ///     type Output<R> = Option<R>;
    ///     fn on_complete(&self, child: &ChildInfo, _: Outcome) -> Verdict {
    ///         if child.index() == 0 { Verdict::Cancel } else { Verdict::Continue }
    ///     }
    ///     fn finish<R>(self, body: Option<R>, _: Vec<ChildFailure>) -> Option<R> {
    ///         body
    ///     }
    /// }
    ///
    /// let helper_cancelled = knotwork::scope_with(UntilFirstChild, |s| {
    ///     s.exec_blocking(|| ());
    ///     let helper = s.exec(std::future::pending::<()>());
    ///     helper.join().unwrap_err().is_cancelled()
    /// });
    /// assert_eq!(helper_cancelled, Some(true));
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Where it was spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::{ChildFailure, ChildInfo, Policy, Verdict, trace::Outcome};
    /// use std::sync::Mutex;
    ///
    /// #[derive(Default)]
    /// struct Lines(Mutex<Vec<u32>>);
    ///
    /// impl Policy for Lines {
    ///     type Output<R> = Vec<u32>;
    ///     fn on_fork(&self, child: &ChildInfo) {
    ///         self.0.lock().unwrap().push(child.location().line());
    ///     }
    ///     fn on_complete(&self, _: &ChildInfo, _: Outcome) -> Verdict {
    ///         Verdict::Continue
    ///     }
    ///     fn finish<R>(self, _body: Option<R>, _: Vec<ChildFailure>) -> Vec<u32> {
    ///         self.0.into_inner().unwrap()
    ///     }
    /// }
    ///
    /// let first = line!() + 2; // the first `exec…` line
    /// let lines = knotwork::scope_with(Lines::default(), |s| {
    ///     s.exec_blocking(|| ());
    ///     s.exec(async {});
    /// });
    /// assert_eq!(lines, [first, first + 1]);
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

/// What a policy decides when a child completes.
///
/// # Examples
///
/// A policy under which the first child to complete, however it ends,
/// cancels the rest:
///
/// ```
/// use knotwork::{ChildFailure, ChildInfo, Policy, Verdict, trace::Outcome};
///
/// struct FirstDone;
///
/// impl Policy for FirstDone {
///     type Output<R> = Option<R>;
///     fn on_complete(&self, _: &ChildInfo, _: Outcome) -> Verdict {
///         Verdict::Cancel
///     }
///     fn finish<R>(self, body: Option<R>, _: Vec<ChildFailure>) -> Option<R> {
///         body
///     }
/// }
///
/// let slow_cancelled = knotwork::scope_with(FirstDone, |s| {
///     let slow = s.exec(std::future::pending::<()>());
///     s.exec_blocking(|| ()); // done first: cancels `slow`
///     slow.join().unwrap_err().is_cancelled()
/// });
/// assert_eq!(slow_cancelled, Some(true)); // a sync body runs on to its end
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The scope goes on.
    Continue,
    /// Cancel the scope: its other children, the scopes nested in them, and
    /// its body (a `scope_async` body is dropped at its next suspension
    /// point; a sync body sees [`is_cancelled`](crate::is_cancelled)).
    Cancel,
}

/// What a scope does as its children finish, and what it returns.
///
/// # Examples
///
/// A policy that cancels the scope after two failures, and returns how many
/// children failed:
///
/// ```
/// use knotwork::{ChildFailure, ChildInfo, Policy, ScopeError, Verdict, trace::Outcome};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// #[derive(Default)]
/// struct TwoStrikes(AtomicUsize);
///
/// impl Policy for TwoStrikes {
///     type Output<R> = usize;
///     fn on_complete(&self, _: &ChildInfo, outcome: Outcome) -> Verdict {
///         let failed = matches!(outcome, Outcome::Failed | Outcome::Panicked);
///         if failed && self.0.fetch_add(1, Ordering::Relaxed) + 1 >= 2 { Verdict::Cancel } else { Verdict::Continue }
///     }
///     fn finish<R>(self, _body: Option<R>, failures: Vec<ChildFailure>) -> usize {
///         failures.len()
///     }
/// }
///
/// let failed = knotwork::scope_with(TwoStrikes::default(), |s| {
///     for i in 0..3 {
///         s.exec_blocking_try(move || if i > 0 { Err("no") } else { Ok(()) });
///     }
/// });
/// assert_eq!(failed, 2);
/// ```
pub trait Policy: Send + Sync + 'static {
    /// What the scope returns, given the body's result type `R`.
    type Output<R>;

    /// A child was spawned (before it can start).
    fn on_fork(&self, child: &ChildInfo) {
        let _ = child;
    }

    /// A child completed: with a value ([`Outcome::Ok`]), an error
    /// ([`Outcome::Failed`]), a panic, or cancelled. Says whether to
    /// cancel the scope.
    fn on_complete(&self, child: &ChildInfo, outcome: Outcome) -> Verdict;

    /// Every child is done: the scope's result, from the body's value
    /// (`None` if the body was dropped because the policy cancelled the
    /// scope) and every failure nobody observed, in spawn order. Not called
    /// if the body panicked (that panic is re-raised).
    fn finish<R>(self, body: Option<R>, failures: Vec<ChildFailure>) -> Self::Output<R>;
}

/// The policy's result when every failure makes the scope fail: the
/// body's value if none did, else every failure.
fn value_or_failures<R>(body: Option<R>, failures: Vec<ChildFailure>) -> Result<R, ScopeError> {
    match body {
        Some(value) if failures.is_empty() => Ok(value),
        Some(value) => {
            crate::sync::drop_contained(value, "a scope body's result");
            Err(ScopeError::new(failures))
        }
        None => Err(ScopeError::new(failures)),
    }
}

/// The first failure cancels the rest (Go's errgroup; what a plain
/// [`scope`](crate::scope) does). Returns the body's value, or
/// [`ScopeError`] with every failure nobody observed.
///
/// # Examples
///
/// ```
/// let err = knotwork::scope_with(knotwork::FailFast, |s| {
///     s.exec_blocking_try(|| Err::<(), _>("bad input"));
///     s.exec(async {
///         knotwork::sleep(std::time::Duration::from_secs(60)).await; // cancelled, not waited for
///     });
/// })
/// .unwrap_err();
/// assert_eq!(err.only().unwrap().error().unwrap().to_string(), "bad input");
/// ```
#[derive(Copy, Clone, Debug, Default)]
pub struct FailFast;

impl Policy for FailFast {
    type Output<R> = Result<R, ScopeError>;

    fn on_complete(&self, _: &ChildInfo, outcome: Outcome) -> Verdict {
        if matches!(outcome, Outcome::Failed | Outcome::Panicked) {
            Verdict::Cancel
        } else {
            Verdict::Continue
        }
    }

    fn finish<R>(self, body: Option<R>, failures: Vec<ChildFailure>) -> Result<R, ScopeError> {
        value_or_failures(body, failures)
    }
}

/// A failure cancels nothing (Kotlin's `supervisorScope`, tokio's
/// `JoinSet`): every child runs to its end, and the scope returns the
/// body's value, or [`ScopeError`] with every failure nobody observed.
///
/// # Examples
///
/// ```
/// let err = knotwork::scope_with(knotwork::Supervise, |s| {
///     for i in 0..10 {
///         s.exec_blocking_try(move || if i % 4 == 0 { Err(format!("#{i}")) } else { Ok(()) });
///     }
/// })
/// .unwrap_err();
/// let which: Vec<usize> = err.failures().iter().map(|f| f.index()).collect();
/// assert_eq!(which, [0, 4, 8]);
/// ```
#[derive(Copy, Clone, Debug, Default)]
pub struct Supervise;

impl Policy for Supervise {
    type Output<R> = Result<R, ScopeError>;

    fn on_complete(&self, _: &ChildInfo, _: Outcome) -> Verdict {
        Verdict::Continue
    }

    fn finish<R>(self, body: Option<R>, failures: Vec<ChildFailure>) -> Result<R, ScopeError> {
        value_or_failures(body, failures)
    }
}

/// The first child to succeed cancels the rest (a race, Java's
/// `anySuccessfulResultOrThrow`): the scope returns the body's value if
/// some child succeeded — the body usually takes the winner's value from
/// its [`Task`](crate::Task) — else [`ScopeError`] with every failure.
/// Once the race is won, the errors the others returned (before the win or
/// after it) are not the scope's failures — they raced, and lost, as in
/// Java — but a panic is, at any time: a bug, not a lost race.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let fastest = knotwork::scope_with(knotwork::FirstSuccess::new(), |s| {
///     let slow = s.exec_try(async {
///         knotwork::sleep(Duration::from_secs(60)).await;
///         Ok::<_, std::io::Error>("slow")
///     });
///     let fast = s.exec_try(async { Ok::<_, std::io::Error>("fast") });
///     let _ = slow; // cancelled by the win
///     fast.join().unwrap().unwrap()
/// })
/// .unwrap();
/// assert_eq!(fastest, "fast");
/// ```
#[derive(Debug, Default)]
pub struct FirstSuccess {
    won: AtomicBool,
}

impl FirstSuccess {
    /// A race nobody has won yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope_with(knotwork::FirstSuccess::new(), |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>("mirror 1 is down"));
    ///     s.exec_blocking_try(|| Err::<(), _>("mirror 2 is down"));
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.failures().len(), 2); // nobody won: every error is the scope's
    /// ```
    pub fn new() -> Self {
        FirstSuccess::default()
    }
}

impl Policy for FirstSuccess {
    type Output<R> = Result<R, ScopeError>;

    fn on_complete(&self, _: &ChildInfo, outcome: Outcome) -> Verdict {
        // ORDERING: Relaxed: only the verdict depends on it; `finish` runs
        // after every child's completion, which the scope's join orders.
        if outcome == Outcome::Ok && !self.won.swap(true, Ordering::Relaxed) {
            Verdict::Cancel
        } else {
            Verdict::Continue
        }
    }

    fn finish<R>(self, body: Option<R>, failures: Vec<ChildFailure>) -> Result<R, ScopeError> {
        if !self.won.into_inner() {
            return value_or_failures(body, failures);
        }
        // The race was won: the errors of the others are not the scope's;
        // a panic is.
        let kept: Vec<ChildFailure> = failures.into_iter().filter(ChildFailure::is_panic).collect();
        value_or_failures(body, kept)
    }
}

/// The part of a policy a scope calls while it runs, object-safe.
pub(crate) trait Hooks: Send + Sync {
    fn fork(&self, child: &ChildInfo);
    fn complete(&self, child: &ChildInfo, outcome: Outcome) -> Verdict;
}

impl<P: Policy> Hooks for P {
    fn fork(&self, child: &ChildInfo) {
        self.on_fork(child);
    }
    fn complete(&self, child: &ChildInfo, outcome: Outcome) -> Verdict {
        self.on_complete(child, outcome)
    }
}
