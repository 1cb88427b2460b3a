//! `Scope`: the handle a scope body (and its children) spawn through.
//!
//! Prior art: `std::thread::Scope` (<https://doc.rust-lang.org/std/thread/struct.Scope.html>): the
//! `'scope`/`'env` lifetimes.

use super::child::{self, Blocking, Kind};
use super::core::ScopeCore;
use super::task::Task;
use crate::failure::BoxError;
use crate::sync::time::Instant;
use crate::task::{ErrFails, Plain};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::time::Duration;

/// A nursery: the children spawned through it are all finished before the
/// scope that owns it returns.
///
/// Made by [`scope`](crate::scope), [`scope_async`](crate::scope_async) and
/// their [`Pool`](crate::Pool) forms. Like `std::thread::Scope`, it is
/// invariant in both lifetimes: `'env` is what children may borrow from
/// outside, `'scope` the scope's own extent.
///
/// ```text
///   scope(|s| { ... })
///   ├── body ─────────────┬──────────────┬──────────────▶ returns R
///   │                     │ s.exec(..)   │ s.exec_blocking(..)
///   │                     ▼              ▼
///   │              async child      blocking child
///   │              (pinned to a     (runs on a
///   │               worker's loop)   worker thread)
///   │                     │              │
///   └──────────── join ◀──┴──────────────┘   scope returns only here
/// ```
///
/// # Examples
///
/// ```
/// let mut data = vec![1, 2, 3, 4];
/// knotwork::scope(|s| {
///     let (left, right) = data.split_at_mut(2);
///     s.exec_blocking(move || left.iter_mut().for_each(|x| *x *= 10));
///     s.exec(async move { right.iter_mut().for_each(|x| *x += 1) });
/// }); // both children are done here
/// assert_eq!(data, [10, 20, 4, 5]);
/// ```
///
/// # Checked by the compiler
///
/// A `Scope` cannot escape its closure (its children would outlive the
/// join that makes their borrows sound):
///
/// ```compile_fail
/// let mut leaked = None;
/// knotwork::scope(|s| leaked = Some(s)); // error: borrowed data escapes the closure
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    pub(crate) core: ScopeCore,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    #[inline(always)]
    pub(crate) fn new(core: ScopeCore) -> Self {
        Scope { core, _scope: PhantomData, _env: PhantomData }
    }

    /// Runs `fut` as an async child: it is started on a pool worker's loop
    /// and, once started, stays on that worker. It may use
    /// [`sleep`](crate::sleep), [`timeout`](crate::timeout),
    /// [`yield_now`](crate::yield_now) and open scopes of its own.
    ///
    /// The child inherits the context slots bound here (a snapshot, taken
    /// now). If the scope is cancelled, the future is dropped at its next
    /// suspension point.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let v = knotwork::scope(|s| {
    ///     s.exec(async {
    ///         knotwork::sleep(Duration::from_millis(1)).await;
    ///         7
    ///     })
    ///     .join()
    /// });
    /// assert_eq!(v.unwrap(), 7);
    /// ```
    ///
    /// The future must be `Send`: it is started by whichever worker takes
    /// its job (and then stays on that worker's loop).
    ///
    /// ```compile_fail
    /// knotwork::scope(|s| {
    ///     let rc = std::rc::Rc::new(1); // !Send
    ///     s.exec(async move {
    ///         knotwork::yield_now().await;
    ///         assert_eq!(*rc, 1); // error: the future cannot be sent between threads
    ///     });
    /// });
    /// ```
    #[track_caller]
    pub fn exec<F>(&self, fut: F) -> Task<'scope, F::Output>
    where
        F: Future + Send + 'scope,
        F::Output: Send + 'scope,
    {
        // SAFETY: the scope joins every child before `core` goes away
        // (`run.rs`), and `'scope` bounds what `fut` and its output borrow.
        Task::new(unsafe { child::spawn::<_, Plain>(&self.core, Kind::Async, Location::caller(), fut) })
    }

    /// Runs `f` as a blocking child on a pool worker thread. Inside it,
    /// [`block_on`](crate::block_on) runs on that worker's own loop, and
    /// [`is_cancelled`](crate::is_cancelled) says whether the scope (or the
    /// task) was cancelled meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = knotwork::scope(|s| {
    ///     s.exec_blocking(|| knotwork::block_on(async { knotwork::yield_now().await; 5 }))
    ///         .join()
    /// });
    /// assert_eq!(v.unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn exec_blocking<F, T>(&self, f: F) -> Task<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        // SAFETY: as in `exec`.
        Task::new(unsafe {
            child::spawn::<_, Plain>(&self.core, Kind::Blocking, Location::caller(), Blocking(Some(f)))
        })
    }

    /// Like [`exec`](Self::exec), for a future that returns a `Result`: an
    /// `Err` is a failure of the scope exactly as a panic is — under the
    /// default policy it cancels the scope — and, if nobody joins this
    /// child's [`Task`] to observe it, it comes back from the scope (in the
    /// [`ScopeError`](crate::ScopeError) of [`scope_with`](crate::scope_with),
    /// or re-raised by a plain [`scope`](crate::scope)). Whoever joins the
    /// `Task` gets the typed `Result`.
    ///
    /// The error is anything that converts into a boxed
    /// `std::error::Error + Send + Sync` (an error type, a `String`, a
    /// `&'static str`, `Box<dyn Error + Send + Sync>`, `anyhow::Error`).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope_with(knotwork::FailFast, |s| {
    ///     s.exec_try(async { "42".parse::<u8>().map(|_| ()) });
    ///     s.exec_try(async { "x".parse::<u8>().map(|_| ()) });
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.only().unwrap().index(), 1);
    /// ```
    #[track_caller]
    pub fn exec_try<F, T, E>(&self, fut: F) -> Task<'scope, Result<T, E>>
    where
        F: Future<Output = Result<T, E>> + Send + 'scope,
        T: Send + 'scope,
        E: Into<BoxError> + Send + 'scope,
    {
        // SAFETY: as in `exec`.
        Task::new(unsafe { child::spawn::<_, ErrFails>(&self.core, Kind::Async, Location::caller(), fut) })
    }

    /// Like [`exec_blocking`](Self::exec_blocking), for a closure that
    /// returns a `Result`: an `Err` fails the scope as in
    /// [`exec_try`](Self::exec_try).
    ///
    /// # Examples
    ///
    /// ```
    /// let res = knotwork::scope(|s| {
    ///     let t = s.exec_blocking_try(|| std::fs::read_to_string("/no/such/file"));
    ///     t.join().unwrap() // observed here: the scope does not fail
    /// });
    /// assert!(res.is_err());
    /// ```
    #[track_caller]
    pub fn exec_blocking_try<F, T, E>(&self, f: F) -> Task<'scope, Result<T, E>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
        E: Into<BoxError> + Send + 'scope,
    {
        // SAFETY: as in `exec`.
        Task::new(unsafe {
            child::spawn::<_, ErrFails>(&self.core, Kind::Blocking, Location::caller(), Blocking(Some(f)))
        })
    }

    /// Cancels the scope: every async child is dropped at its next
    /// suspension point, blocking children that have not started never
    /// start, running ones see [`is_cancelled`](crate::is_cancelled), and
    /// every scope nested inside a child is cancelled too. The scope still
    /// joins all of them. Children spawned after this are cancelled at once.
    ///
    /// A blocking child that is already running is **not interrupted**:
    /// Rust cannot stop a thread in the middle of a closure. It runs to its
    /// end unless it looks at [`is_cancelled`](crate::is_cancelled) and
    /// returns early, and the scope waits for it (N5 in
    /// [guarantees](crate::guide::guarantees)).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| {
    ///     let forever = s.exec(std::future::pending::<()>());
    ///     s.cancel();
    ///     forever.join().unwrap_err()
    /// });
    /// assert!(err.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.core.cancel();
    }

    /// Cancels the scope once `deadline` has passed (measured from now),
    /// unless it has finished by then. The deadline (fired by the pool's
    /// deadline thread) does not hold up the join.
    ///
    /// As with [`cancel`](Self::cancel), a blocking child already running
    /// when the deadline passes is not interrupted: it sees
    /// [`is_cancelled`](crate::is_cancelled) and is still joined.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = knotwork::scope(|s| {
    ///     s.cancel_after(Duration::from_millis(5));
    ///     s.exec(std::future::pending::<()>()).join().unwrap_err()
    /// });
    /// assert!(err.is_cancelled());
    /// ```
    pub fn cancel_after(&self, deadline: Duration) {
        // A deadline too far to represent never comes.
        if let Some(at) = Instant::now().checked_add(deadline) {
            self.core.cancel_at(at);
        }
    }

    /// Whether the scope has been cancelled (by [`cancel`](Self::cancel),
    /// [`cancel_after`](Self::cancel_after), a child's panic, or the
    /// cancellation of the task or scope it is nested in).
    ///
    /// # Examples
    ///
    /// ```
    /// knotwork::scope(|s| {
    ///     assert!(!s.is_cancelled());
    ///     s.cancel();
    ///     assert!(s.is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        // Through a `ScopeHandle` this may come after the scope finished.
        self.core.is_cancelled_from_outside()
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("id", &self.core.id())
            .field("cancelled", &self.core.is_cancelled_from_outside())
            .finish_non_exhaustive()
    }
}
