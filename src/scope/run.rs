//! Opening and closing sync scopes (`Pool::scope`, `Pool::try_scope`); the
//! async form is in `async_scope.rs` and closes the same way.
//!
//! # Closing (both kinds)
//!
//! ```text
//!  body returns (or panics: cancel the scope, keep the payload)
//!  release the body's unit of `pending`; wait until `pending` is set
//!  remove the `cancel_after` deadlines from the pool (waiting out one that
//!  is firing); refuse new ones
//!  unregister from the enclosing scope; release the lease on the pool
//!  the result: the policy's (`scope_with`), or for a plain scope the
//!  body's value, else its failures raised (`rethrow`); a body's panic is
//!  re-raised, the failures then go to the pool's panic handler
//! ```
//!
//! A sync scope cannot be leaked half-way: it is one function call, and an
//! abort guard covers the span in which an unwind would free the core under
//! running children.
//!
//! Prior art: rayon's `scope` (<https://docs.rs/rayon/latest/rayon/fn.scope.html>): the body runs,
//! then the caller helps until every spawned job is done.

use super::core::ScopeCore;
use super::nursery::Scope;
use super::policy::{Hooks, Policy};
use super::wait::wait_latch;
use crate::failure::{ChildFailure, Failure, ScopeError};
use crate::hooks::ScopeForm;
use crate::pool::registry::{Registry, RegistryLink};
use crate::pool::worker::WorkerThread;
use crate::sync::AbortOnUnwind;
use crate::sync::Arc;
use crate::{Pool, ShutdownError};
use std::panic::Location;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr::NonNull;

/// Takes the lease that keeps `registry`'s pool open while a scope may
/// still submit children, and returns whether it took one.
///
/// * A sync scope opened on one of the pool's own workers takes none:
///   whatever runs there (a job, or a task of the worker's loop) already
///   holds a unit of outstanding work until it returns, and a sync scope
///   closes before that.
/// * Any other scope on one of the pool's workers takes one as nested work
///   (accepted while the pool drains).
/// * Elsewhere it takes one as new top-level work, refused once the pool is
///   shut down.
pub(crate) fn acquire_lease(registry: &Registry, sync: bool) -> Result<bool, ShutdownError> {
    let on_own_worker = WorkerThread::with_current(|w| w.is_some_and(|w| w.belongs_to(registry)));
    match (on_own_worker, sync) {
        // Only code in a worker's teardown (a loop's `on_teardown` hook) runs
        // on a worker after termination; it is refused, as `accept_nested` would.
        (true, true) if registry.is_terminated() => Err(ShutdownError::shut_down()),
        (true, true) => Ok(false),
        (true, false) => registry.accept_nested().map(|()| true),
        (false, _) => registry.accept_top_level().map(|()| true),
    }
}

fn close_blocking(core: &ScopeCore) -> Vec<ChildFailure> {
    // The body's unit; the last one out needs no wait.
    if !core.pending.release_owner() {
        wait_latch(&core.pending, (core as *const ScopeCore).cast());
    }
    core.close_after_children()
}

/// What a plain scope (`scope`, `scope_async`) does with its body's result
/// and the failures nobody observed: the value if there are none; else the
/// failures are raised ([`raise`]). A panic of the body wins: it is
/// re-raised, and the children's failures go to the pool's panic handler
/// ([`report_lost`]), since one unwind can carry one payload.
#[inline]
pub(super) fn rethrow<R>(
    registry: &Registry,
    body: std::thread::Result<R>,
    failures: Vec<ChildFailure>,
) -> R {
    if failures.is_empty() {
        // The common close: the body's value, or its panic.
        return body.unwrap_or_else(|payload| resume_unwind(payload));
    }
    rethrow_failures(registry, body, failures)
}

/// [`rethrow`] when children failed.
#[cold]
fn rethrow_failures<R>(registry: &Registry, body: std::thread::Result<R>, failures: Vec<ChildFailure>) -> R {
    match body {
        Err(payload) => {
            report_lost(registry, failures, "while its body panicked");
            resume_unwind(payload)
        }
        Ok(value) if failures.is_empty() => value,
        Ok(value) => {
            crate::sync::drop_contained(value, "a scope body's result");
            raise(registry, failures)
        }
    }
}

/// Raises a plain scope's failures (F3 in docs/guarantees.md):
///
/// * if a child panicked, the first such panic in spawn order is re-raised
///   with its own payload, as it always was (code that downcasts the
///   payload keeps working); the other failures are not dropped but
///   reported to the pool's panic handler ([`report_lost`]): one unwind
///   carries one payload, and a foreign payload has no room for more;
/// * if the failures are all errors that try children returned, they are
///   raised together as a [`ScopeError`] payload (`catch_unwind`, then
///   `downcast::<ScopeError>()`).
pub(super) fn raise(registry: &Registry, failures: Vec<ChildFailure>) -> ! {
    let mut failures = failures;
    let Some(first) = failures.iter().position(ChildFailure::is_panic) else {
        std::panic::panic_any(ScopeError::new(failures))
    };
    let Failure::Panic(payload) = failures.remove(first).into_failure() else {
        unreachable!("found by is_panic")
    };
    report_lost(registry, failures, "alongside a child panic that was re-raised");
    resume_unwind(payload.into_inner())
}

/// Hands failures that cannot be raised (another panic is already on its
/// way) to the pool's panic handler, as one [`ScopeError`], so that none is
/// lost; `why` says why they could not be raised.
pub(super) fn report_lost(registry: &Registry, failures: Vec<ChildFailure>, why: &str) {
    if !failures.is_empty() {
        registry.report_failures(ScopeError::new(failures), why);
    }
}

/// Runs a sync scope: opens it (with `policy`, if any), runs the body,
/// joins every child, closes. Returns the body's result and every failure
/// nobody observed.
#[track_caller]
fn run_sync<'env, F, R>(
    registry: &Arc<Registry>,
    policy: Option<NonNull<dyn Hooks>>,
    f: F,
) -> Result<(std::thread::Result<R>, Vec<ChildFailure>), ShutdownError>
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let leased = acquire_lease(registry, true)?;
    let mut scope = Scope::new(ScopeCore::new(
        // SAFETY: `registry` is borrowed for this whole call, and the core
        // lives on this frame: it is dropped before the call returns.
        unsafe { RegistryLink::borrowed(registry) },
        leased,
        Location::caller(),
        ScopeForm::Sync,
        policy,
    ));
    // SAFETY: `scope` is not moved again; it unregisters in `close_blocking`.
    unsafe { scope.core.register() };
    let guard = AbortOnUnwind;
    // Opened on another pool's worker, that worker waits for the
    // scope's work: its pool is recorded there (`pool::awaited`).
    let body = catch_unwind(AssertUnwindSafe(crate::pool::awaited::carry_into_scope(registry, || {
        let _body = scope.core.enter_body();
        f(&scope)
    })));
    if body.is_err() {
        scope.core.cancel();
    }
    let failures = close_blocking(&scope.core);
    std::mem::forget(guard);
    Ok((body, failures))
}

pub(crate) const SHUT_DOWN_MSG: &str = "knotwork::scope: the pool is shut down and accepts no new scopes; \
                             use Pool::try_scope to get a ShutdownError instead of this panic";

impl Pool {
    /// Opens a scope on this pool: runs `f` on this thread, and returns only
    /// after every child spawned through the scope has finished — whether
    /// `f` returns, panics, or the scope is cancelled.
    ///
    /// A child's panic cancels the scope; if no `join`/`.await` observed it,
    /// the scope re-raises it (with the original payload) once everything
    /// is joined. A panic of `f` cancels the children and is re-raised after
    /// the join. While it waits, a pool worker helps run other work; any
    /// other thread parks. Called from inside an async task, it blocks that
    /// worker's loop until the scope is done.
    ///
    /// # Panics
    ///
    /// If the pool is shut down (see [`try_scope`](Self::try_scope)), and
    /// as described above.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// let words = ["fork", "join"];
    /// let lens = pool.scope(|s| {
    ///     let tasks: Vec<_> = words.iter().map(|w| s.exec_blocking(move || w.len())).collect();
    ///     tasks.into_iter().map(|t| t.join().unwrap()).sum::<usize>()
    /// });
    /// assert_eq!(lens, 8);
    /// # Ok::<(), knotwork::BuildError>(())
    /// ```
    #[track_caller]
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        scope_on(&self.registry, f)
    }

    /// Like [`scope`](Self::scope), but returns [`ShutdownError`] instead of
    /// panicking when the pool is shut down (for a scope opened from outside
    /// the pool; scopes opened by work the pool already runs are accepted
    /// while it drains).
    ///
    /// The only error is the pool's: children's failures are handled as in
    /// [`scope`](Self::scope) (a panic re-raised). For a scope whose
    /// children return `Err` and that fails on the first one, use
    /// [`scope_with`](Self::scope_with) with [`FailFast`](crate::FailFast)
    /// and [`exec_try`](Scope::exec_try) children.
    ///
    /// # Errors
    ///
    /// [`ShutdownError`] if the pool no longer accepts new top-level work.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// pool.shutdown()?;
    /// assert!(pool.try_scope(|_| ()).unwrap_err().is_shut_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn try_scope<'env, F, R>(&self, f: F) -> Result<R, ShutdownError>
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        try_scope_on(&self.registry, f)
    }

    /// Opens a scope whose children's completions go through `policy`
    /// (see [`Policy`]): [`FailFast`](crate::FailFast) (what
    /// [`scope`](Self::scope) does), [`Supervise`](crate::Supervise),
    /// [`FirstSuccess`](crate::FirstSuccess), or your own. Returns what the
    /// policy makes of the body's value and of every failure nobody
    /// observed — for the built-ins, `Result<R, ScopeError>` with every
    /// failure in spawn order. A panic of the body is re-raised after the
    /// join, and the failures go to the pool's panic handler.
    ///
    /// # Panics
    ///
    /// If the pool is shut down, as [`scope`](Self::scope); and when the
    /// body panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// let res = pool.scope_with(knotwork::Supervise, |s| {
    ///     s.exec_blocking_try(|| Err::<(), _>("one"));
    ///     s.exec_blocking_try(|| Err::<(), _>("two"));
    ///     "body done"
    /// });
    /// let err = res.unwrap_err();
    /// assert_eq!(err.failures().len(), 2);
    /// # Ok::<(), knotwork::BuildError>(())
    /// ```
    #[track_caller]
    pub fn scope_with<'env, P, F, R>(&self, policy: P, f: F) -> P::Output<R>
    where
        P: Policy,
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        scope_with_on(&self.registry, policy, f)
    }
}

/// [`Pool::scope`] on `registry`'s pool (the free `scope` borrows its
/// registry instead of cloning a handle).
#[track_caller]
pub(crate) fn scope_on<'env, F, R>(registry: &Arc<Registry>, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    match try_scope_on(registry, f) {
        Ok(value) => value,
        // Here, not in a closure: the panic names the caller's line.
        Err(_) => panic!("{SHUT_DOWN_MSG}"),
    }
}

/// [`Pool::try_scope`] on `registry`'s pool.
#[track_caller]
pub(crate) fn try_scope_on<'env, F, R>(registry: &Arc<Registry>, f: F) -> Result<R, ShutdownError>
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let (body, failures) = run_sync(registry, None, f)?;
    Ok(rethrow(registry, body, failures))
}

/// [`Pool::scope_with`] on `registry`'s pool.
#[track_caller]
pub(crate) fn scope_with_on<'env, P, F, R>(registry: &Arc<Registry>, policy: P, f: F) -> P::Output<R>
where
    P: Policy,
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let hooks: &dyn Hooks = &policy;
    // The policy outlives every child: `run_sync` joins them all before
    // it returns, and `policy` lives on this frame until then.
    let (body, failures) = match run_sync(registry, Some(NonNull::from(hooks)), f) {
        Ok(ran) => ran,
        Err(_) => panic!("{SHUT_DOWN_MSG}"),
    };
    match body {
        Ok(value) => policy.finish(Some(value), failures),
        Err(payload) => {
            report_lost(registry, failures, "while its body panicked");
            resume_unwind(payload)
        }
    }
}
