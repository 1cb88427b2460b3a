//! `scope_async`: a scope for async callers, and `ScopeHandle`, what its
//! body spawns through.
//!
//! # Lifetime
//!
//! The scope lives in an `Arc` shared by the scope's future (its guard) and
//! every [`ScopeHandle`]. Children point into it; they are all finished
//! before the guard lets go. A handle may outlive the scope (a body can
//! return it, or hand it to a thread): the memory then stays alive, and a
//! spawn through it finds the `pending` count at zero and gets a `Task`
//! that is already cancelled — it never runs.
//!
//! # Dropped or leaked half-way
//!
//! Dropping the future before it completes runs the guard's `Drop`: it
//! cancels the children and **blocks** until they have stopped. Leaking it
//! (`mem::forget`) leaks the guard's `Arc`, so the children's pointers stay
//! valid; and because those children are `'static`, nothing they borrow can
//! be freed either. That is the whole reason `scope_async` children must be
//! `'static` (docs/guarantees.md). A leaked scope that had opened never
//! returns its lease, so its pool's shutdown would wait for it forever; one
//! that never opened (never polled) holds nothing (L5).
//!
//! # Nested in a child
//!
//! Opened inside a nursery child, an async scope registers with that
//! child's scope and holds one of its `pending` units until it closes (see
//! `ScopeCore::open_async`), so the enclosing scope's cancellation
//! reaches it even when it is driven by `block_on` inside a blocking child.
//!
//! Prior art: Trio's `open_nursery`
//! (<https://trio.readthedocs.io/en/stable/reference-core.html#nurseries-and-spawning>) and
//! asyncio's `TaskGroup` (<https://docs.python.org/3/library/asyncio-task.html#task-groups>).

use super::core::ScopeCore;
use super::latch::CountLatch;
use super::nursery::Scope;
use super::policy::{Hooks, Policy};
use super::run::{SHUT_DOWN_MSG, raise, report_lost, rethrow};
use super::wait::wait_latch;
use crate::Pool;
use crate::failure::ChildFailure;
use crate::pool::registry::Registry;
use crate::sync::AbortOnUnwind;
use crate::sync::Arc;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::Location;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// What a [`scope_async`](crate::scope_async) body spawns through: an owned,
/// cheaply cloned handle to the scope, which dereferences to
/// [`Scope<'static, 'static>`](Scope) (`exec`, `exec_blocking`, `cancel`, …).
///
/// It may outlive the scope — a body can return it or send it away — and
/// stays memory-safe to use: once the scope has finished, a spawn through it
/// gives a `Task` that is already cancelled and never runs.
///
/// # Examples
///
/// ```
/// let (v, handle) = knotwork::block_on(knotwork::scope_async(async |s| {
///     (s.exec(async { 7 }).await.unwrap(), s.clone())
/// }));
/// assert_eq!(v, 7);
/// // The scope is over: the handle no longer spawns anything.
/// assert!(handle.exec(async { 1 }).join().unwrap_err().is_cancelled());
/// ```
///
/// # Checked by the compiler
///
/// A child spawned through a handle must be `'static`: the handle may
/// outlive any borrow (it is `Clone` and `Send`), so unlike
/// [`Scope::exec`](crate::Scope::exec) its children cannot borrow.
///
/// ```compile_fail
/// let v = vec![1, 2, 3];
/// let n = knotwork::block_on(knotwork::scope_async(async |s| {
///     s.exec(async { v.len() }).await.unwrap() // error: `v` does not live long enough
/// }));
/// ```
#[derive(Clone)]
pub struct ScopeHandle {
    scope: Arc<Scope<'static, 'static>>,
}

impl Deref for ScopeHandle {
    type Target = Scope<'static, 'static>;

    fn deref(&self) -> &Scope<'static, 'static> {
        &self.scope
    }
}

impl fmt::Debug for ScopeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.scope, f)
    }
}

impl Pool {
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
    /// returning a future (`|s| async move { .. }`), and receives a
    /// [`ScopeHandle`]. The scope opens (takes its lease on the pool and
    /// registers with the enclosing scope, if any) at its first poll — or
    /// at the first spawn through the handle, if the body's closure spawns
    /// before returning its future — and closes when the future completes
    /// or is dropped. A future that is never polled holds nothing.
    ///
    /// This is a plain `fn` returning a future, used exactly like an
    /// `async fn` (`pool.scope_async(f).await`), and the body receives an
    /// owned handle rather than `&Scope`. Both are deliberate: with an
    /// `async fn` and an `AsyncFnOnce(&Scope)` bound, the future's type holds
    /// a projection whose lifetimes rustc erases when it checks `Send`
    /// ("implementation of `AsyncFnOnce` is not general enough"), so a scope
    /// could never be awaited inside an [`exec`](Scope::exec) child; and a
    /// reference with a fixed lifetime could escape the body and outlive the
    /// scope. With an owned handle the body's future is a plain type
    /// parameter — the scope's future is `Send` whenever it is — and an
    /// escaped handle is harmless.
    ///
    /// # Panics
    ///
    /// If the pool is shut down (when this is called), and like
    /// [`scope`](Self::scope) for panics of the body and the children.
    /// Polling the future again after it completed panics.
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
    #[track_caller]
    pub fn scope_async<F, Fut>(&self, f: F) -> impl Future<Output = Fut::Output> + use<F, Fut>
    where
        F: FnOnce(ScopeHandle) -> Fut,
        Fut: Future,
    {
        scope_async_on(&self.registry, f)
    }

    /// The async form of [`scope_with`](Self::scope_with): children's
    /// completions go through `policy`, and the future's output is what the
    /// policy makes of the body's value and every failure nobody observed.
    /// Under a policy that cancels on a failure ([`FailFast`](crate::FailFast)),
    /// the body is woken and dropped at its next suspension point; the
    /// policy then gets `None` for its value.
    ///
    /// # Panics
    ///
    /// As [`scope_async`](Self::scope_async).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// let res = knotwork::block_on(pool.scope_async_with(knotwork::FailFast, async |s| {
    ///     s.exec_try(async { Err::<(), _>("refused") });
    ///     knotwork::sleep(Duration::from_secs(60)).await; // dropped here by the failure
    ///     "never"
    /// }));
    /// assert_eq!(res.unwrap_err().only().unwrap().error().unwrap().to_string(), "refused");
    /// # Ok::<(), knotwork::BuildError>(())
    /// ```
    #[track_caller]
    pub fn scope_async_with<P, F, Fut>(
        &self,
        policy: P,
        f: F,
    ) -> impl Future<Output = P::Output<Fut::Output>> + use<P, F, Fut>
    where
        P: Policy,
        F: FnOnce(ScopeHandle) -> Fut,
        Fut: Future,
    {
        scope_async_with_on(&self.registry, policy, f)
    }
}

/// [`Pool::scope_async`] on `registry`'s pool (the free `scope_async`
/// borrows its registry instead of cloning a handle).
#[track_caller]
pub(crate) fn scope_async_on<F, Fut>(
    registry: &Arc<Registry>,
    f: F,
) -> impl Future<Output = Fut::Output> + use<F, Fut>
where
    F: FnOnce(ScopeHandle) -> Fut,
    Fut: Future,
{
    let guard = ScopeGuard::open(registry, Location::caller(), None);
    let handle = guard.handle.clone();
    ScopeFuture { body: Some(CatchUnwind { fut: f(handle) }), outcome: None, guard, closer: Some(Rethrow) }
}

/// [`Pool::scope_async_with`] on `registry`'s pool.
#[track_caller]
pub(crate) fn scope_async_with_on<P, F, Fut>(
    registry: &Arc<Registry>,
    policy: P,
    f: F,
) -> impl Future<Output = P::Output<Fut::Output>> + use<P, F, Fut>
where
    P: Policy,
    F: FnOnce(ScopeHandle) -> Fut,
    Fut: Future,
{
    // On the heap, so that it stays put however the future moves; it is
    // dropped after the guard, which joins every child first.
    let policy = Box::new(policy);
    let hooks: &dyn Hooks = &*policy;
    let guard = ScopeGuard::open(registry, Location::caller(), Some(NonNull::from(hooks)));
    let handle = guard.handle.clone();
    ScopeFuture {
        body: Some(CatchUnwind { fut: f(handle) }),
        outcome: None,
        guard,
        closer: Some(WithPolicy(policy)),
    }
}

/// How a `ScopeFuture` turns the body's result and the failures nobody
/// observed into its output.
trait Closer<R> {
    type Output;
    /// `body`: `None` if the body was dropped by a failure.
    fn close(
        self,
        registry: &Registry,
        body: Option<std::thread::Result<R>>,
        failures: Vec<ChildFailure>,
    ) -> Self::Output;
}

/// A plain `scope_async`: the value, else the failures raised.
struct Rethrow;

impl<R> Closer<R> for Rethrow {
    type Output = R;
    fn close(
        self,
        registry: &Registry,
        body: Option<std::thread::Result<R>>,
        failures: Vec<ChildFailure>,
    ) -> R {
        match body {
            Some(body) => rethrow(registry, body, failures),
            None => raise(registry, failures),
        }
    }
}

/// `scope_async_with`: the policy decides.
struct WithPolicy<P>(Box<P>);

impl<R, P: Policy> Closer<R> for WithPolicy<P> {
    type Output = P::Output<R>;
    fn close(
        self,
        registry: &Registry,
        body: Option<std::thread::Result<R>>,
        failures: Vec<ChildFailure>,
    ) -> P::Output<R> {
        match body {
            Some(Ok(value)) => self.0.finish(Some(value), failures),
            Some(Err(payload)) => {
                report_lost(registry, failures, "while its body panicked");
                std::panic::resume_unwind(payload)
            }
            None => self.0.finish(None, failures),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of `scope_async`: runs the body, then waits for the
    /// children. Fields drop in order: the body first, then the guard.
    struct ScopeFuture<Fut: Future, C> {
        // The body, until it finishes (or a failure drops it).
        #[pin]
        body: Option<CatchUnwind<Fut>>,
        // The body's result, kept while the children are awaited.
        outcome: Option<std::thread::Result<Fut::Output>>,
        // The open scope; its `Drop` cancels and blocks if we are dropped
        // early.
        guard: ScopeGuard,
        // What the output is made of (the policy of `scope_async_with`,
        // which the children's completions call: dropped after the guard).
        closer: Option<C>,
    }
}

impl<Fut: Future, C: Closer<Fut::Output>> Future for ScopeFuture<Fut, C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let this = self.project();
        assert!(this.guard.stage != CloseStage::Closed, "a scope_async future was polled after it completed");
        let core = this.guard.core();
        // Opens (once) where it is first polled.
        core.open_async();
        let mut body = this.body;
        if let Some(fut) = body.as_mut().as_pin_mut() {
            // A child's failure may have cancelled the scope, body included:
            // then the body is polled once more — it may be just about to
            // observe that very failure, by awaiting the child — and dropped
            // if it is still suspended (F4), its drop's panic kept.
            let cancelled = !core.watch_body(cx.waker());
            let poll = {
                let _body = core.enter_body();
                fut.poll(cx)
            };
            match poll {
                Poll::Ready(result) => {
                    body.set(None);
                    if result.is_err() {
                        core.cancel();
                    }
                    *this.outcome = Some(result);
                }
                // Cancelled, but every failure was observed (the body took
                // them from their tasks): the body handles them, and runs on.
                Poll::Pending if !cancelled || !core.has_unclaimed_failures() => return Poll::Pending,
                Poll::Pending => {
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body.set(None))) {
                        *this.outcome = Some(Err(payload));
                    }
                }
            }
            this.guard.release_body_unit();
        }
        if !this.guard.core().pending.poll_done(cx.waker()) {
            return Poll::Pending;
        }
        let failures = this.guard.close();
        let closer = this.closer.take().expect("a scope_async future closes once");
        let registry = &this.guard.core().registry;
        Poll::Ready(closer.close(registry, this.outcome.take(), failures))
    }
}

/// An open async scope; closing it is done by `ScopeFuture`, dropping it
/// unclosed cancels and blocks (module docs).
struct ScopeGuard {
    handle: ScopeHandle,
    /// How far closing got; `Drop` finishes the rest.
    stage: CloseStage,
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum CloseStage {
    Open,
    BodyUnitReleased,
    Closed,
}

impl ScopeGuard {
    #[track_caller]
    fn open(
        registry: &Arc<Registry>,
        location: &'static Location<'static>,
        policy: Option<NonNull<dyn Hooks>>,
    ) -> ScopeGuard {
        // Refused here, at the caller's line, if the pool is shut down; the
        // lease itself is taken when the scope opens (its first poll or
        // spawn): a future never polled holds nothing (L5).
        if registry.is_shut_down() && !on_own_worker(registry) {
            panic!("{SHUT_DOWN_MSG}");
        }
        let scope = Arc::new(Scope::new(ScopeCore::new_async(registry.clone(), location, policy)));
        ScopeGuard { handle: ScopeHandle { scope }, stage: CloseStage::Open }
    }

    fn core(&self) -> &ScopeCore {
        &self.handle.scope.core
    }

    /// Gives up the body's unit of `pending` (once).
    fn release_body_unit(&mut self) {
        if self.stage == CloseStage::Open {
            // SAFETY: the body's unit, released once.
            unsafe { CountLatch::decrement(&self.core().pending) };
            self.stage = CloseStage::BodyUnitReleased;
        }
    }

    /// Once `pending` is set: removes the `cancel_after` deadlines (a short
    /// blocking wait at most, for one that is firing), unregisters,
    /// releases the lease, and returns every failure nobody observed. Runs
    /// once.
    fn close(&mut self) -> Vec<ChildFailure> {
        self.stage = CloseStage::Closed;
        self.core().close_after_children()
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if self.stage == CloseStage::Closed {
            return;
        }
        // Never polled (nor spawned into): it never opens now, so a spawn
        // through an escaped handle takes no lease.
        self.core().seal_unopened();
        self.core().cancel();
        self.release_body_unit();
        let guard = AbortOnUnwind;
        wait_latch(&self.core().pending, (self.core() as *const ScopeCore).cast());
        let failures = self.close();
        std::mem::forget(guard);
        if failures.is_empty() {
            return;
        }
        // Nothing lost (F5): raised from this drop, unless the thread is
        // already unwinding (a second panic would abort the process); then
        // they go to the pool's panic handler.
        if std::thread::panicking() {
            report_lost(
                &self.core().registry,
                failures,
                "while their scope_async future was dropped by an unwinding thread",
            );
        } else {
            raise(&self.core().registry, failures);
        }
    }
}

pin_project_lite::pin_project! {
    /// Catches a panic of the body future, so the scope can cancel and join
    /// before re-raising it.
    struct CatchUnwind<F> {
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Whether this thread is one of `registry`'s workers (which may still open
/// scopes while the pool drains).
fn on_own_worker(registry: &Registry) -> bool {
    crate::pool::worker::WorkerThread::with_current(|w| w.is_some_and(|w| w.belongs_to(registry)))
}
