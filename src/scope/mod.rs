//! Nursery scopes: split the flow with `exec` and `exec_blocking`, and get
//! the join back as a guarantee.
//!
//! * `nursery`: [`Scope`], what a body spawns through;
//! * `task`: [`Task`], a child's handle (`join`, `.await`, `cancel`);
//! * `run`: opening and closing sync scopes (`Pool::scope`, `try_scope`);
//! * `async_scope`: `scope_async`, [`ScopeHandle`], the async scope's
//!   future and its blocking `Drop`;
//! * `core`: `ScopeCore`, the state shared with the children: the pending
//!   count, cancellation, registrations, panics;
//! * `child`: spawning — one allocation that is the pool job, the loop task
//!   and the result cell at once;
//! * `latch`: `CountLatch`, the counter whose zero wakes the owner, and the
//!   argument for why the owner may free it at once;
//! * `wait`: blocking waits (a worker helps, other threads park);
//! * `shield`: [`shield`], [`shield_for`], [`shield_blocking`]: cleanup
//!   whose task's cancellation waits until it is done;
//! * `start`: the start handshake ([`Scope::start`]): wait until a child says
//!   it is ready, while it runs on in the scope;
//! * `limiter`: [`Limiter`], at most n holders, FIFO, with waiters that never
//!   stall the pool.
//!
//! docs/guarantees.md states each guarantee and names its test.
//!
//! Prior art: Trio's nurseries
//! (<https://vorpus.org/blog/notes-on-structured-concurrency-or-go-statement-considered-harmful/>)
//! and `std::thread::scope` (<https://doc.rust-lang.org/std/thread/fn.scope.html>).

mod async_scope;
mod cancel;
mod child;
mod completion;
mod core;
mod failures;
mod latch;
mod limiter;
mod nursery;
mod policy;
mod run;
mod shield;
mod start;
mod tables;
mod task;
mod task_set;
mod wait;

pub use async_scope::ScopeHandle;
pub use limiter::{Acquire, Limiter, Permit};
pub use nursery::Scope;
pub use policy::{ChildInfo, FailFast, FirstSuccess, Policy, Supervise, Verdict};
pub use shield::{Shield, ShieldFor, shield, shield_blocking, shield_for};
pub use start::{Ready, StartError, Starting};
pub use task::Task;
pub use task_set::TaskSet;

use crate::Pool;
use crate::task::TaskPtr;
use core::ScopeCore;
use std::future::Future;

/// Opens a scope on the current pool (the one whose worker this is, else
/// the global pool); see [`Pool::scope`].
///
/// # Panics
///
/// If that pool is shut down, and as [`Pool::scope`] describes.
///
/// # Examples
///
/// ```
/// let mut left = 0;
/// let mut right = 0;
/// knotwork::scope(|s| {
///     s.exec_blocking(|| left = 1);
///     s.exec_blocking(|| right = 2);
/// });
/// assert_eq!(left + right, 3);
/// ```
#[track_caller]
pub fn scope<'env, F, R>(f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    // SAFETY: used during this call, on this thread.
    run::scope_on(unsafe { Pool::current_or_global_registry() }, f)
}

/// Opens an async scope on the current pool (chosen when this is called);
/// see [`Pool::scope_async`], which also says why this is a plain `fn`
/// returning a future rather than an `async fn` (it is awaited the same way).
///
/// # Examples
///
/// ```
/// let v = knotwork::block_on(knotwork::scope_async(async |s| {
///     s.exec(async { 40 }).await.unwrap() + 2
/// }));
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn scope_async<F, Fut>(f: F) -> impl Future<Output = Fut::Output>
where
    F: FnOnce(ScopeHandle) -> Fut,
    Fut: Future,
{
    // SAFETY: used during this call, on this thread (the future keeps its
    // own reference to the registry).
    async_scope::scope_async_on(unsafe { Pool::current_or_global_registry() }, f)
}

/// Opens a scope on the current pool whose children's completions go
/// through `policy`; see [`Pool::scope_with`].
///
/// # Examples
///
/// ```
/// // "Run these requests, stop at the first error, tell me which failed."
/// let requests = ["ok", "ok", "timeout", "ok"];
/// let err = knotwork::scope_with(knotwork::FailFast, |s| {
///     for r in requests {
///         s.exec_blocking_try(move || if r == "ok" { Ok(()) } else { Err(format!("request {r}")) });
///     }
/// })
/// .unwrap_err();
/// let failed = err.only().unwrap();
/// assert_eq!((failed.index(), failed.error().unwrap().to_string()), (2, "request timeout".into()));
/// ```
#[track_caller]
pub fn scope_with<'env, P, F, R>(policy: P, f: F) -> P::Output<R>
where
    P: Policy,
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    // SAFETY: used during this call, on this thread.
    run::scope_with_on(unsafe { Pool::current_or_global_registry() }, policy, f)
}

/// The async form of [`scope_with`], on the current pool; see
/// [`Pool::scope_async_with`].
///
/// # Examples
///
/// ```
/// let res = knotwork::block_on(knotwork::scope_async_with(knotwork::Supervise, async |s| {
///     s.exec_try(async { Err::<(), _>("lost") });
///     s.exec(async { 1 }).await.unwrap()
/// }));
/// assert_eq!(res.unwrap_err().failures().len(), 1);
/// ```
#[track_caller]
pub fn scope_async_with<P, F, Fut>(policy: P, f: F) -> impl Future<Output = P::Output<Fut::Output>>
where
    P: Policy,
    F: FnOnce(ScopeHandle) -> Fut,
    Fut: Future,
{
    // SAFETY: as in `scope_async`.
    async_scope::scope_async_with_on(unsafe { Pool::current_or_global_registry() }, policy, f)
}

/// Whether the current task has been cancelled: the nursery child running
/// on this thread (its own [`Task::cancel`], or its scope's cancellation,
/// or that of any scope it is nested in) — or, in a scope's body, that
/// scope (a body is part of its nursery: F4 in docs/guarantees.md).
/// `false` outside any child and any body.
///
/// A running blocking child (or a sync body) cannot be stopped from
/// outside; it polls this to stop early. Inside a [`shield`] it reads
/// `false`: the cancellation waits for the shield to end.
///
/// # Examples
///
/// ```
/// knotwork::scope(|s| {
///     s.cancel();
///     assert!(knotwork::is_cancelled()); // the body sees its scope's cancellation
///     // Spawned after the cancellation: never starts.
///     let t = s.exec_blocking(|| knotwork::is_cancelled());
///     assert!(t.join().unwrap_err().is_cancelled());
/// });
/// assert!(!knotwork::is_cancelled());
/// ```
pub fn is_cancelled() -> bool {
    // Inside a shield of the running task (or body), the cancellation from
    // outside the shield is deferred; a scope opened inside it still has
    // its own (its body asks it, and it stops at the shield's boundary).
    if let Some(boundary) = crate::task::shield_boundary() {
        let body = crate::task::current_body().filter(|b| !std::ptr::eq(b.as_ptr().cast_const(), boundary));
        // SAFETY: as below: the body runs on this thread, inside its scope.
        return body.is_some_and(|b| unsafe { b.cast::<ScopeCore>().as_ref() }.is_cancelled());
    }
    if let Some(body) = crate::task::current_body() {
        // SAFETY: the body runs on this thread, inside its scope's call (or
        // poll), so the scope is alive.
        return unsafe { body.cast::<ScopeCore>().as_ref() }.is_cancelled();
    }
    let Some(task) = TaskPtr::current() else { return false };
    // SAFETY: the task is running on this thread, so it is alive, and so is
    // its scope (which joins it before going away).
    unsafe {
        task.is_closed() || task.parent_data().is_some_and(|d| d.cast::<ScopeCore>().as_ref().is_cancelled())
    }
}
