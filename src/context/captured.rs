//! [`Context`]: the current bindings, captured, to be reinstated anywhere —
//! on a `std::thread`, in a `Pool::spawn` job, in a task of another
//! executor. The explicit form of what a spawn does implicitly.
//!
//! Capturing is the snapshot a spawn takes (one reference count, O(1));
//! reinstating enters the view of it that the work inherits, so a slot's
//! [`Inheritance`](crate::Inheritance) holds across a `Context` exactly as
//! across a child: `run` is blocking work, `wrap` async work. A recording in
//! progress is carried too, so the scopes opened inside belong to it.
//!
//! Prior art: Python's `contextvars.copy_context().run(f)`
//! (<https://docs.python.org/3/library/contextvars.html#contextvars.copy_context>), which the seed
//! library calls on every thread it offloads to; Java's `ScopedValue.Carrier`.

use super::bindings::{Crossing, Snapshot};
use super::with_bindings::WithBindings;
use crate::hooks::{CtxGuard, TraceCtx, current_ctx};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

/// The context-slot bindings current where it was captured, to run code
/// inside them anywhere.
///
/// A [`Scope`](crate::Scope)'s children inherit their spawner's bindings by
/// themselves. Everything else starts with none: a
/// [`Pool::spawn`](crate::Pool::spawn) job, a `std::thread`, a tokio or smol
/// task. [`capture`](Self::capture) where the bindings are, then
/// [`run`](Self::run) a closure or [`wrap`](Self::wrap) a future there.
/// Slots follow their [`Inheritance`](crate::Inheritance): `run` counts as
/// blocking work and `wrap` as async work, so a [`Slot::local`](crate::Slot::local)
/// binding never crosses, and an `AsyncOnly` one crosses only into `wrap`.
///
/// # Examples
///
/// ```
/// static REQUEST: knotwork::Slot<u64> = knotwork::Slot::new();
/// let ctx = REQUEST.bind(7, knotwork::Context::capture);
/// let seen = std::thread::spawn(move || ctx.run(|| REQUEST.get())).join().unwrap();
/// assert_eq!(seen, Some(7));
/// ```
#[derive(Clone, Default)]
pub struct Context {
    snapshot: Snapshot,
    /// The recording in progress here, if any, with the child it is in.
    trace: Option<Arc<TraceCtx>>,
}

impl Context {
    /// The bindings current here, in O(1) (the snapshot a spawn takes).
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: knotwork::Slot<&'static str> = knotwork::Slot::new();
    /// let ctx = USER.bind("ada", knotwork::Context::capture);
    /// assert_eq!(USER.get(), None);
    /// assert_eq!(ctx.run(|| USER.get()), Some("ada"));
    /// ```
    #[inline]
    pub fn capture() -> Context {
        Context { snapshot: Snapshot::capture(), trace: current_ctx() }
    }

    /// Runs `f` inside the captured bindings (less those that do not cross
    /// into blocking work), on this thread; the bindings current before are
    /// back when it returns or unwinds.
    ///
    /// # Examples
    ///
    /// ```
    /// static TENANT: knotwork::Slot<u32> = knotwork::Slot::new();
    /// let ctx = TENANT.bind(3, knotwork::Context::capture);
    /// let pool = knotwork::Pool::builder().threads(1).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.spawn(move || tx.send(ctx.run(|| TENANT.get())).unwrap()).unwrap();
    /// assert_eq!(rx.recv().unwrap(), Some(3));
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let view = self.snapshot.view(Crossing::Blocking);
        let _trace = self.trace.clone().map(|c| CtxGuard::enter(Some(c)));
        let _entered = view.enter();
        f()
    }

    /// `fut`, run inside the captured bindings (less those that do not
    /// cross into async work) at every poll and at its drop, on whatever
    /// executor polls it. It is `Send` when `fut` is.
    ///
    /// # Examples
    ///
    /// ```
    /// static TRACE_ID: knotwork::Slot<&'static str> = knotwork::Slot::new();
    /// let fut = TRACE_ID.bind("t-1", || knotwork::Context::capture().wrap(async { TRACE_ID.get() }));
    /// // Polled by another executor, outside the binding.
    /// assert_eq!(futures_lite::future::block_on(fut), Some("t-1"));
    /// ```
    pub fn wrap<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> + use<F> {
        Wrapped {
            fut: WithBindings::new(fut, self.snapshot.view(Crossing::Async)),
            trace: self.trace.clone(),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots: Vec<u32> = self.snapshot.describe().slots.iter().map(|s| s.slot).collect();
        f.debug_struct("Context").field("slots", &slots).finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Context::wrap`].
    struct Wrapped<F> {
        #[pin]
        fut: WithBindings<F>,
        trace: Option<Arc<TraceCtx>>,
    }
}

impl<F: Future> Future for Wrapped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _trace = this.trace.clone().map(|c| CtxGuard::enter(Some(c)));
        this.fut.poll(cx)
    }
}
