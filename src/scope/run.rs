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
//!  re-raise: the body's panic, else the first unobserved child panic
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
use super::wait::wait_latch;
use crate::hooks::ScopeForm;
use crate::pool::registry::Registry;
use crate::pool::worker::WorkerThread;
use crate::sync::AbortOnUnwind;
use crate::{Pool, ShutdownError};
use std::any::Any;
use std::panic::Location;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

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

fn close_blocking(core: &ScopeCore) -> Option<Box<dyn Any + Send>> {
    // The body's unit; the last one out needs no wait.
    if !core.pending.release_owner() {
        wait_latch(&core.pending, (core as *const ScopeCore).cast());
    }
    core.close_after_children()
}

pub(super) fn rethrow<R>(body: std::thread::Result<R>, child_panic: Option<Box<dyn Any + Send>>) -> R {
    match (body, child_panic) {
        (Err(payload), child_panic) => {
            // Dropped now, not while unwinding: its `Drop` may panic too.
            if let Some(child) = child_panic {
                super::completion::drop_payload(child);
            }
            resume_unwind(payload)
        }
        (Ok(value), Some(payload)) => {
            crate::sync::drop_contained(value, "a scope body's result");
            resume_unwind(payload)
        }
        (Ok(value), None) => value,
    }
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
        self.try_scope(f).unwrap_or_else(|_| panic!("{SHUT_DOWN_MSG}"))
    }

    /// Like [`scope`](Self::scope), but returns [`ShutdownError`] instead of
    /// panicking when the pool is shut down (for a scope opened from outside
    /// the pool; scopes opened by work the pool already runs are accepted
    /// while it drains).
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
        let leased = acquire_lease(&self.registry, true)?;
        let mut scope =
            Scope::new(ScopeCore::new(self.registry.clone(), leased, Location::caller(), ScopeForm::Sync));
        // SAFETY: `scope` is not moved again; it unregisters in `close_blocking`.
        unsafe { scope.core.register() };
        let guard = AbortOnUnwind;
        // Opened on another pool's worker, that worker waits for the
        // scope's work: its pool is recorded there (`pool::awaited`).
        let body =
            catch_unwind(AssertUnwindSafe(crate::pool::awaited::carry_into_scope(&self.registry, || {
                f(&scope)
            })));
        if body.is_err() {
            scope.core.cancel();
        }
        let child_panic = close_blocking(&scope.core);
        std::mem::forget(guard);
        Ok(rethrow(body, child_panic))
    }
}
