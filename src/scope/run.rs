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
use crate::pool::worker::{AbortOnUnwind, WorkerThread};
use crate::sync::Arc;
use crate::{Pool, ShutdownError};
use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Takes the lease that keeps `registry`'s pool open while a scope may
/// still submit children: as work already accepted on this pool's own
/// worker, else as new top-level work (refused once shut down).
fn acquire_lease(registry: &Registry) -> Result<(), ShutdownError> {
    let on_own_worker = WorkerThread::with_current(|w| w.is_some_and(|w| w.belongs_to(registry)));
    if on_own_worker { registry.accept_child() } else { registry.accept_top_level() }
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
    /// The body is an async closure (`async |s| { .. }`) or a closure
    /// returning a future (`|s| async move { .. }`); both satisfy the bound.
    ///
    /// This is a plain `fn` returning a future, used exactly like an
    /// `async fn` (`pool.scope_async(f).await`), and the body is bound as
    /// `FnOnce(&'static Scope) -> Fut` rather than `AsyncFnOnce(&Scope) -> R`.
    /// Both are deliberate: with an `async fn` or an `AsyncFnOnce` bound the
    /// future's type holds a projection whose lifetimes rustc erases when it
    /// checks `Send` ("implementation of `AsyncFnOnce` is not general
    /// enough"), so a scope could never be awaited inside an
    /// [`exec`](Scope::exec) child. Here the body's future is a plain type
    /// parameter, and the scope's future is `Send` whenever it is.
    ///
    /// # Panics
    ///
    /// If the pool is shut down (when the future is made), and like
    /// [`scope`](Self::scope) for panics of the body and the children.
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
    pub fn scope_async<F, Fut>(&self, f: F) -> impl Future<Output = Fut::Output> + use<F, Fut>
    where
        F: FnOnce(&'static Scope<'static, 'static>) -> Fut,
        Fut: Future,
    {
        let guard = AsyncScope::open(&self.registry);
        // SAFETY: the scope is a heap allocation that `guard` frees in its
        // `Drop`; the returned future owns `guard` next to the body, which
        // is dropped first (`ScopeFuture`'s field order), and a leaked
        // future leaks both. So the reference outlives every use.
        let scope: &'static Scope<'static, 'static> = unsafe { guard.scope.as_ref() };
        ScopeFuture { body: Some(CatchUnwind(f(scope))), outcome: None, guard }
    }
}

/// The future of `scope_async`: runs the body, then waits for the children.
struct ScopeFuture<Fut: Future> {
    /// The body, until it finishes. Declared first: dropped before `guard`.
    body: Option<CatchUnwind<Fut>>,
    /// The body's result, kept while the children are awaited.
    outcome: Option<std::thread::Result<Fut::Output>>,
    /// The open scope; its `Drop` cancels and blocks if we are dropped early.
    guard: AsyncScope,
}

impl<Fut: Future> Future for ScopeFuture<Fut> {
    type Output = Fut::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        // SAFETY: `body` is structurally pinned (never moved; dropped in
        // place through `Pin::set`); `outcome` and `guard` are not pinned
        // (the scope the children point to is behind the guard's `Box`).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let mut body = unsafe { Pin::new_unchecked(&mut this.body) };
        if let Some(fut) = body.as_mut().as_pin_mut() {
            let Poll::Ready(result) = fut.poll(cx) else { return Poll::Pending };
            body.set(None);
            if result.is_err() {
                this.guard.core().cancel();
            }
            this.outcome = Some(result);
            this.guard.release_body_unit();
        }
        if !this.guard.poll_close(cx) {
            return Poll::Pending;
        }
        let child_panic = this.guard.finish();
        Poll::Ready(rethrow(this.outcome.take().expect("polled after completion"), child_panic))
    }
}

/// An open async scope; closing it is a future, dropping it unclosed
/// cancels and blocks (module docs).
struct AsyncScope {
    /// A leaked `Box`, freed in `Drop`: children hold its address, a leaked
    /// future must leak it, and a raw pointer (unlike a `Box`) asserts no
    /// uniqueness when the guard moves while the body borrows the scope.
    scope: NonNull<Scope<'static, 'static>>,
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
        // Not registered with an enclosing scope: see `ScopeCore::register`.
        let scope = Box::new(Scope::new(ScopeCore::new(registry.clone())));
        AsyncScope { scope: NonNull::from(Box::leak(scope)), stage: CloseStage::Open }
    }

    fn core(&self) -> &ScopeCore {
        // SAFETY: allocated in `open`, freed only in `Drop`.
        unsafe { &self.scope.as_ref().core }
    }

    /// Gives up the body's unit of `pending` (once).
    fn release_body_unit(&mut self) {
        if self.stage == CloseStage::Open {
            // SAFETY: the body's unit, released once.
            unsafe { CountLatch::decrement(&self.core().pending) };
            self.stage = CloseStage::BodyUnitReleased;
        }
    }

    /// Whether every child has finished; registers `cx`'s waker if not.
    fn poll_close(&self, cx: &mut Context<'_>) -> bool {
        self.core().pending.poll_done(cx.waker())
    }

    /// After `poll_close` said yes: stops the timers (a short blocking wait
    /// at most: they are cancelled), unregisters, releases the lease, and
    /// returns the child panic to re-raise.
    fn finish(&mut self) -> Option<Box<dyn Any + Send>> {
        let core = self.core();
        let panic = core.finish();
        // SAFETY: the owner's unit of `daemons`.
        unsafe { CountLatch::decrement(&core.daemons) };
        wait_latch(&core.daemons);
        core.registry.release();
        self.stage = CloseStage::Closed;
        panic
    }
}

impl Drop for AsyncScope {
    fn drop(&mut self) {
        if self.stage != CloseStage::Closed {
            let core = self.core();
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
            core.registry.release();
        }
        // SAFETY: made by `Box::leak` in `open`; every child and timer is
        // done (both latches are set), and the body that borrowed it was
        // dropped before this guard.
        drop(unsafe { Box::from_raw(self.scope.as_ptr()) });
    }
}

// SAFETY: the guard owns its heap `Scope` like a `Box` would; `Scope` is
// `Send + Sync`, so moving or sharing the guard across threads is fine.
unsafe impl Send for AsyncScope {}
// SAFETY: as above.
unsafe impl Sync for AsyncScope {}

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
