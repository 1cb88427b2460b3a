//! How children fail, as values: [`Failure`] (a panic payload or an error
//! a child returned), [`ChildFailure`] (a failure with the child it came
//! from) and [`ScopeError`] (every failure of a scope that nobody
//! observed, in spawn order).
//!
//! A child *fails* when it panics, or — for a child spawned with
//! [`Scope::exec_try`](crate::Scope::exec_try) or
//! [`Scope::exec_blocking_try`](crate::Scope::exec_blocking_try) — when it
//! returns `Err`. A failure that the child's [`Task`](crate::Task) hands to
//! whoever joins it is *observed* and is theirs; every other one is the
//! scope's, and comes back from it: in the [`ScopeError`] of
//! [`scope_with`](crate::scope_with), or re-raised by a plain
//! [`scope`](crate::scope) (docs/guarantees.md, F-rules).
//!
//! Prior art: Trio's and asyncio's `ExceptionGroup`
//! (<https://docs.python.org/3/library/exceptions.html#ExceptionGroup>), which keep
//! every failure of a nursery, and Go's errgroup (<https://pkg.go.dev/golang.org/x/sync/errgroup>).

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::sync::Mutex;

/// A boxed error a child returned (`exec_try`, `exec_blocking_try`).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// What a failed child left behind.
pub enum Failure {
    /// It panicked (or its future's drop did): the payload, as
    /// `std::panic::catch_unwind` gives it.
    Panic(PanicPayload),
    /// It returned `Err` (a child spawned with `exec_try` or
    /// `exec_blocking_try`): the error, boxed.
    Error(BoxError),
}

/// A panic payload, kept so that the errors holding it are `Send + Sync`
/// (a payload is only `Send`): it can be taken out once, by value.
pub struct PanicPayload {
    message: Option<String>,
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl PanicPayload {
    pub(crate) fn new(payload: Box<dyn Any + Send>) -> PanicPayload {
        let message = crate::error::panic_message(&*payload).map(str::to_owned);
        PanicPayload { message, payload: Mutex::new(Some(payload)) }
    }

    /// The panic message, when the payload is a string.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The original payload, for `std::panic::resume_unwind` or a downcast.
    pub fn into_inner(self) -> Box<dyn Any + Send> {
        self.payload
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .expect("a panic payload is taken only by into_inner, which consumes it")
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PanicPayload").field(&self.message().unwrap_or("<non-string payload>")).finish()
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Panic(p) => f.debug_tuple("Panic").field(p).finish(),
            Failure::Error(e) => f.debug_tuple("Error").field(e).finish(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Panic(p) => match p.message() {
                Some(msg) => write!(f, "panicked: {msg}"),
                None => f.write_str("panicked with a non-string payload"),
            },
            Failure::Error(e) => write!(f, "returned an error: {e}"),
        }
    }
}

/// One failure of a scope's child: which child (its place in spawn order
/// and the line that spawned it) and what it left.
///
/// # Examples
///
/// ```
/// let err = knotwork::scope_with(knotwork::Supervise, |s| {
///     s.exec_blocking_try(|| Err::<(), _>("disk full"));
/// })
/// .unwrap_err();
/// let only = err.only().expect("one failure");
/// assert_eq!(only.index(), 0);
/// assert_eq!(only.error().unwrap().to_string(), "disk full");
/// ```
#[derive(Debug)]
pub struct ChildFailure {
    index: usize,
    location: &'static Location<'static>,
    failure: Failure,
}

impl ChildFailure {
    pub(crate) fn new(index: usize, location: &'static Location<'static>, failure: Failure) -> Self {
        ChildFailure { index, location, failure }
    }

    /// The child's place among its scope's children, in spawn order, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Where the child was spawned (the `exec…` call).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// What the child left.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// Whether the child panicked (rather than returned an error).
    pub fn is_panic(&self) -> bool {
        matches!(self.failure, Failure::Panic(_))
    }

    /// The error the child returned, if it returned one.
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match &self.failure {
            Failure::Error(e) => Some(&**e),
            Failure::Panic(_) => None,
        }
    }

    /// What the child left, by value.
    pub fn into_failure(self) -> Failure {
        self.failure
    }
}

impl fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child #{} (spawned at {}) {}", self.index, self.location, self.failure)
    }
}

/// Every failure of a scope's children that nobody observed, in spawn
/// order: what [`scope_with`](crate::scope_with) returns when its policy
/// says the scope failed.
///
/// # Examples
///
/// ```
/// let err = knotwork::scope_with(knotwork::Supervise, |s| {
///     for i in 0..4 {
///         s.exec_blocking_try(move || if i % 2 == 1 { Err(format!("request {i} failed")) } else { Ok(()) });
///     }
/// })
/// .unwrap_err();
/// assert_eq!(err.failures().len(), 2);
/// assert_eq!(err.failures()[0].index(), 1);
/// assert!(err.to_string().contains("request 3 failed"));
/// ```
#[derive(Debug)]
pub struct ScopeError {
    failures: Vec<ChildFailure>,
}

impl ScopeError {
    /// A scope error holding `failures` (sorted into spawn order).
    pub(crate) fn new(mut failures: Vec<ChildFailure>) -> ScopeError {
        failures.sort_by_key(ChildFailure::index);
        ScopeError { failures }
    }

    /// Every failure, in spawn order. Empty only when the policy dropped
    /// the body of a `scope_async` for failures the body itself had
    /// already observed (through the failing children's `Task`s).
    pub fn failures(&self) -> &[ChildFailure] {
        &self.failures
    }

    /// Every failure, by value, in spawn order.
    pub fn into_failures(self) -> Vec<ChildFailure> {
        self.failures
    }

    /// The failure, when there is exactly one (the common case).
    pub fn only(&self) -> Option<&ChildFailure> {
        match self.failures.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Re-raises the first panic among the failures, with its original
    /// payload; returns `self` if no child panicked.
    pub fn resume_first_panic(self) -> ScopeError {
        let Some(at) = self.failures.iter().position(ChildFailure::is_panic) else { return self };
        let mut failures = self.failures;
        match failures.swap_remove(at).failure {
            Failure::Panic(p) => std::panic::resume_unwind(p.into_inner()),
            Failure::Error(_) => unreachable!("checked above"),
        }
    }
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failures.as_slice() {
            [] => f.write_str(
                "the scope's body was cancelled by its policy after failures it had observed itself",
            ),
            [one] => write!(f, "a child of the scope failed: {one}"),
            all => {
                write!(f, "{} children of the scope failed:", all.len())?;
                for failure in all {
                    write!(f, "\n  {failure}")?;
                }
                Ok(())
            }
        }
    }
}

impl Error for ScopeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.failures.first().and_then(|f| f.error()).map(|e| e as &(dyn Error + 'static))
    }
}
