//! Opening and closing scopes: the sync `scope` and the async `scope_async`.
//!
//! # Closing (both kinds)
//!
//! ```text
//!  body returns (or panics: cancel the scope, keep the payload)
//!  release the body's unit of `pending`; wait until `pending` is set
//!  stop the `cancel_after` timers; release the owner's unit of `daemons`;
//!  wait until `daemons` is set
//!  unregister from the enclosing scope; release the lease on the pool
//!  re-raise: the body's panic, else the first unobserved child panic
//! ```
//!
//! A sync scope cannot be leaked half-way: it is one function call, and an
//! abort guard covers the span in which an unwind would free the core under
//! running children. An async scope can be dropped half-way (its future is
//! dropped): its guard's `Drop` cancels the children and **blocks** until
//! they have stopped. It can also be leaked (`mem::forget` of the future):
//! then the core, in a `Box` the leaked future owns, is never freed, so the
//! children's pointers stay valid; and because those children are
//! `'static`, nothing they borrow can be freed either. That is the whole
//! reason `scope_async` children must be `'static` (docs/guarantees.md).

use super::core::ScopeCore;
use super::latch::CountLatch;
use super::nursery::Scope;
use super::wait::wait_latch;
use crate::pool::registry::Registry;
use crate::pool::worker::WorkerThread;
use crate::sync::Arc;
use crate::{Pool, ShutdownError};
use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Takes the lease that keeps `registry`'s pool open while a scope may
/// still submit children: as work already accepted on this pool's own
/// worker, else as new top-level work (refused once shut down).
fn acquire_lease(registry: &Registry) -> Result<(), ShutdownError> {
    let on_own_worker = WorkerThread::with_current(|w| w.is_some_and(|w| w.belongs_to(registry)));
    if on_own_worker { registry.accept_child() } else { registry.accept_top_level() }
}

/// Aborts the process if dropped during an unwind: covers the span in which
/// unwinding would free a scope's core while children still point to it.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("knotwork: a scope unwound while its children were running; aborting to stay sound");
            std::process::abort();
        }
    }
}

/// Waits for every child and timer of `core` (blocking), after the body is
/// done; returns the child panic to re-raise, if any.
fn close_blocking(core: &ScopeCore) -> Option<Box<dyn Any + Send>> {
    // SAFETY: the body's unit; `core` outlives this call.
    unsafe { CountLatch::decrement(&core.pending) };
    wait_latch(&core.pending);
    let panic = core.finish();
    // SAFETY: the owner's unit of `daemons`.
    unsafe { CountLatch::decrement(&core.daemons) };
    wait_latch(&core.daemons);
    core.unregister();
    core.registry.release();
    panic
}

fn rethrow<R>(body: std::thread::Result<R>, child_panic: Option<Box<dyn Any + Send>>) -> R {
    match (body, child_panic) {
        (Err(payload), _) => resume_unwind(payload),
        (Ok(_), Some(payload)) => resume_unwind(payload),
        (Ok(value), None) => value,
    }
}

const SHUT_DOWN_MSG: &str = "knotwork::scope: the pool is shut down and accepts no new scopes; \
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
    pub fn try_scope<'env, F, R>(&self, f: F) -> Result<R, ShutdownError>
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        acquire_lease(&self.registry)?;
        let mut scope = Scope::new(ScopeCore::new(self.registry.clone()));
        // SAFETY: `scope` is not moved again; it unregisters in `close_blocking`.
        unsafe { scope.core.register() };
        let guard = AbortOnUnwind;
        let body = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        if body.is_err() {
            scope.core.cancel();
        }
        let child_panic = close_blocking(&scope.core);
        std::mem::forget(guard);
        Ok(rethrow(body, child_panic))
    }

    /// The async form of [`scope`](Self::scope): `f` runs inside the
    /// calling task, and the returned future completes only after every
    /// child has finished. Waiting for the children suspends only the
    /// calling task. Children must be `'static` (see docs/guarantees.md:
    /// a future can be leaked, and its children must not borrow anything
    /// that a leak would let go away).
    ///
    /// **Dropping the future before it completes cancels the children and
    /// blocks the dropping thread until they have stopped.**
    ///
    /// # Panics
    ///
    /// If the pool is shut down, and like [`scope`](Self::scope) for panics
    /// of the body and the children.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// let total = knotwork::block_on(pool.scope_async(async |s| {
    ///     let a = s.exec(async { 1 });
    ///     let b = s.exec_blocking(|| 2);
    ///     a.await.unwrap() + b.await.unwrap()
    /// }));
    /// assert_eq!(total, 3);
    /// # Ok::<(), knotwork::BuildError>(())
    /// ```
    pub async fn scope_async<F, R>(&self, f: F) -> R
    where
        F: AsyncFnOnce(&Scope<'static, 'static>) -> R,
    {
        let mut guard = AsyncScope::open(&self.registry);
        let scope: &Scope<'static, 'static> = &guard.scope;
        let body = CatchUnwind(f(scope)).await;
        if body.is_err() {
            scope.core.cancel();
        }
        let child_panic = guard.close().await;
        rethrow(body, child_panic)
    }
}

/// An open async scope; closing it is a future, dropping it unclosed
/// cancels and blocks (module docs).
struct AsyncScope {
    /// Boxed: children hold its address, and a leaked future must leak it.
    scope: Box<Scope<'static, 'static>>,
    /// How far closing got; `Drop` finishes the rest.
    stage: CloseStage,
}

#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum CloseStage {
    Open,
    BodyUnitReleased,
    Closed,
}

impl AsyncScope {
    fn open(registry: &Arc<Registry>) -> AsyncScope {
        if acquire_lease(registry).is_err() {
            panic!("{SHUT_DOWN_MSG}");
        }
        let mut scope = Box::new(Scope::new(ScopeCore::new(registry.clone())));
        // SAFETY: the box is never moved out of; it unregisters when closed.
        unsafe { scope.core.register() };
        AsyncScope { scope, stage: CloseStage::Open }
    }

    async fn close(&mut self) -> Option<Box<dyn Any + Send>> {
        let core = &self.scope.core;
        // SAFETY: the body's unit.
        unsafe { CountLatch::decrement(&core.pending) };
        self.stage = CloseStage::BodyUnitReleased;
        let core = &self.scope.core;
        poll_fn(|cx| if core.pending.poll_done(cx.waker()) { Poll::Ready(()) } else { Poll::Pending }).await;
        let panic = core.finish();
        // SAFETY: the owner's unit of `daemons`. From here on nothing can
        // suspend, so `Drop` never sees this half-done.
        unsafe { CountLatch::decrement(&core.daemons) };
        wait_latch(&core.daemons);
        core.unregister();
        core.registry.release();
        self.stage = CloseStage::Closed;
        panic
    }
}

impl Drop for AsyncScope {
    fn drop(&mut self) {
        if self.stage == CloseStage::Closed {
            return;
        }
        let core = &self.scope.core;
        core.cancel();
        if self.stage == CloseStage::Open {
            // SAFETY: the body's unit, not yet released.
            unsafe { CountLatch::decrement(&core.pending) };
        }
        let guard = AbortOnUnwind;
        wait_latch(&core.pending);
        // Nobody is left to re-raise to: the scope's own future is gone.
        drop(core.finish());
        // SAFETY: the owner's unit of `daemons`.
        unsafe { CountLatch::decrement(&core.daemons) };
        wait_latch(&core.daemons);
        std::mem::forget(guard);
        core.unregister();
        core.registry.release();
    }
}

/// Catches a panic of the body future, so the scope can cancel and join
/// before re-raising it.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field.
        let fut = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
