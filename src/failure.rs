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
///
/// # Examples
///
/// ```
/// use knotwork::{BoxError, Failure};
/// let err = knotwork::scope_with(knotwork::Supervise, |s| {
///     s.exec_blocking_try(|| "x".parse::<u8>());
/// })
/// .unwrap_err();
/// let Failure::Error(e) = err.into_failures().remove(0).into_failure() else { unreachable!() };
/// let e: BoxError = e; // the child's own error, boxed: downcast it back
/// assert!(e.downcast_ref::<std::num::ParseIntError>().is_some());
/// ```
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// What a failed child left behind.
///
/// # Examples
///
/// ```
/// use knotwork::Failure;
/// let err = knotwork::scope_with(knotwork::Supervise, |s| {
///     s.exec_blocking(|| panic!("boom"));
///     s.exec_blocking_try(|| Err::<(), _>("bad input"));
/// })
/// .unwrap_err();
/// let what: Vec<String> = err.failures().iter().map(|f| match f.failure() {
///     Failure::Panic(p) => format!("panic: {}", p.message().unwrap()),
///     Failure::Error(e) => format!("error: {e}"),
/// }).collect();
/// assert_eq!(what, ["panic: boom", "error: bad input"]);
/// ```
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
///
/// # Examples
///
/// ```
/// use knotwork::Failure;
/// let err = knotwork::scope_with(knotwork::Supervise, |s| {
///     s.exec(async { panic!("at the disco") });
/// })
/// .unwrap_err();
/// let Failure::Panic(payload) = err.into_failures().remove(0).into_failure() else { panic!("no panic") };
/// assert_eq!(payload.message(), Some("at the disco"));
/// assert_eq!(*payload.into_inner().downcast::<&str>().unwrap(), "at the disco");
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::Failure;
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking(|| panic!("request {} failed", 7)); // a `String` payload
    ///     s.exec_blocking(|| std::panic::panic_any(7_i32)); // not a string
    /// })
    /// .unwrap_err();
    /// let messages: Vec<Option<&str>> = err.failures().iter().map(|f| match f.failure() {
    ///     Failure::Panic(p) => p.message(),
    ///     Failure::Error(_) => unreachable!(),
    /// }).collect();
    /// assert_eq!(messages, [Some("request 7 failed"), None]);
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The original payload, for `std::panic::resume_unwind` or a downcast.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::Failure;
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking(|| std::panic::panic_any(7_i32));
    /// })
    /// .unwrap_err();
    /// let Failure::Panic(p) = err.into_failures().remove(0).into_failure() else { panic!("no panic") };
    /// assert_eq!(p.into_inner().downcast_ref::<i32>(), Some(&7));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking(|| ());
    ///     s.exec_blocking_try(|| Err::<(), _>("second child"));
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.only().unwrap().index(), 1);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Where the child was spawned (the `exec…` call).
    ///
    /// # Examples
    ///
    /// ```
    /// let line = line!() + 2; // the `exec_blocking_try` line
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>("no"));
    /// })
    /// .unwrap_err();
    /// let at = err.only().unwrap().location();
    /// assert_eq!((at.file(), at.line()), (file!(), line));
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// What the child left.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking(|| panic!("boom"));
    /// })
    /// .unwrap_err();
    /// let failure = err.only().unwrap().failure();
    /// assert!(matches!(failure, knotwork::Failure::Panic(_)));
    /// assert_eq!(failure.to_string(), "panicked: boom");
    /// ```
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// Whether the child panicked (rather than returned an error).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking(|| panic!("boom"));
    ///     s.exec_blocking_try(|| Err::<(), _>("bad"));
    /// })
    /// .unwrap_err();
    /// let panics: Vec<bool> = err.failures().iter().map(knotwork::ChildFailure::is_panic).collect();
    /// assert_eq!(panics, [true, false]);
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.failure, Failure::Panic(_))
    }

    /// The error the child returned, if it returned one.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_try(async { Err::<(), _>(std::io::Error::other("disk full")) });
    ///     s.exec_blocking(|| panic!("boom"));
    /// })
    /// .unwrap_err();
    /// let [returned, panicked] = err.failures() else { panic!("two failures") };
    /// assert_eq!(returned.error().unwrap().to_string(), "disk full");
    /// assert!(panicked.error().is_none());
    /// ```
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match &self.failure {
            Failure::Error(e) => Some(&**e),
            Failure::Panic(_) => None,
        }
    }

    /// What the child left, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::Failure;
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>(std::fmt::Error));
    /// })
    /// .unwrap_err();
    /// match err.into_failures().remove(0).into_failure() {
    ///     Failure::Error(e) => assert!(e.is::<std::fmt::Error>()),
    ///     Failure::Panic(p) => std::panic::resume_unwind(p.into_inner()),
    /// }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>("first"));
    ///     s.exec_blocking(|| ());
    ///     s.exec_blocking_try(|| Err::<(), _>("third"));
    /// })
    /// .unwrap_err();
    /// let which: Vec<usize> = err.failures().iter().map(|f| f.index()).collect();
    /// assert_eq!(which, [0, 2]);
    /// ```
    pub fn failures(&self) -> &[ChildFailure] {
        &self.failures
    }

    /// Every failure, by value, in spawn order.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     for name in ["a.txt", "b.txt"] {
    ///         s.exec_blocking_try(move || std::fs::read(format!("/nonexistent/{name}")));
    ///     }
    /// })
    /// .unwrap_err();
    /// let failures: Vec<knotwork::ChildFailure> = err.into_failures();
    /// assert_eq!(failures.len(), 2);
    /// assert!(failures.iter().all(|f| f.error().unwrap().is::<std::io::Error>()));
    /// ```
    pub fn into_failures(self) -> Vec<ChildFailure> {
        self.failures
    }

    /// The failure, when there is exactly one (the common case).
    ///
    /// # Examples
    ///
    /// ```
    /// let one = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>("bad"));
    /// });
    /// assert_eq!(one.unwrap_err().only().unwrap().index(), 0);
    /// let two = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>("bad"));
    ///     s.exec_blocking_try(|| Err::<(), _>("worse"));
    /// });
    /// assert!(two.unwrap_err().only().is_none());
    /// ```
    pub fn only(&self) -> Option<&ChildFailure> {
        match self.failures.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Re-raises the first panic among the failures, with its original
    /// payload; returns `self` if no child panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::{AssertUnwindSafe, catch_unwind};
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>("bad"));
    ///     s.exec_blocking(|| panic!("boom"));
    /// })
    /// .unwrap_err();
    /// let raised = catch_unwind(AssertUnwindSafe(|| err.resume_first_panic())).unwrap_err();
    /// assert_eq!(*raised.downcast::<&str>().unwrap(), "boom");
    ///
    /// // No panic among the failures: the error comes back.
    /// let err = knotwork::scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>("bad"));
    /// });
    /// assert_eq!(err.unwrap_err().resume_first_panic().failures().len(), 1);
    /// ```
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
