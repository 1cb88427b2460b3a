//! `record` and `record_async`: one recording from start to [`Trace`].
//!
//! Prior art: `tracing::subscriber::with_default`
//! (<https://docs.rs/tracing/latest/tracing/subscriber/fn.with_default.html>): a recording scoped
//! to a closure.

use super::recorder::Recorder;
use super::recording::Trace;
use crate::hooks::{Active, CtxGuard, TraceCtx, activate};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A recording in progress: counted in `ACTIVE` until it ends, however it ends.
struct Session {
    rec: Arc<Recorder>,
    ctx: Arc<TraceCtx>,
    _active: Active,
}

impl Session {
    fn start() -> Session {
        let _active = activate();
        let rec = Recorder::new();
        Session { ctx: TraceCtx::root(rec.clone()), rec, _active }
    }

    fn enter(&self) -> CtxGuard {
        CtxGuard::enter(Some(self.ctx.clone()))
    }

    fn finish(self) -> Trace {
        self.rec.finish()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Ended by a panic: stop recording (the events are dropped).
        let _ = self.rec.finish();
    }
}

/// Runs `f` on this thread and records the structure it runs: every scope
/// opened inside `f` (and inside its children, on any worker), every child,
/// every poll of an async child, the steals, the loops created, and the
/// context bindings each child saw. Returns `f`'s result and the [`Trace`].
///
/// Only work that descends from `f` is recorded — unrelated work running
/// meanwhile, even on the same pool, is not — and recordings on different
/// threads do not mix. A loop created inside the recording is reported torn
/// down only if that happens before `record` returns (shut the pool down
/// inside `f` to see it).
///
/// # Panics
///
/// If `f` panics, the recording is dropped and the panic continues.
///
/// # Examples
///
/// ```
/// let (sum, trace) = knotwork::trace::record(|| {
///     knotwork::scope(|s| {
///         let a = s.exec_blocking(|| 1);
///         let b = s.exec(async { 2 });
///         a.join().unwrap() + b.join().unwrap()
///     })
/// });
/// assert_eq!(sum, 3);
/// assert!(trace.audit().passed());
/// print!("{}", trace.tree());
/// ```
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Trace) {
    let session = Session::start();
    let out = {
        let _ctx = session.enter();
        f()
    };
    (out, session.finish())
}

/// The async form of [`record`]: the future `f()` makes is recorded,
/// including everything its children do on other threads. `f` is called
/// on the first poll, inside the recording, so that a scope it opens when
/// called (as [`scope_async`](crate::scope_async) does) is recorded too.
///
/// # Examples
///
/// ```
/// let (v, trace) = knotwork::block_on(knotwork::trace::record_async(|| {
///     knotwork::scope_async(async |s| s.exec(async { 40 }).await.unwrap() + 2)
/// }));
/// assert_eq!(v, 42);
/// assert!(trace.audit().passed());
/// assert_eq!(trace.events().iter().filter(|e| matches!(e.kind, knotwork::trace::EventKind::Spawned { .. })).count(), 1);
/// ```
pub fn record_async<F, Fut>(f: F) -> impl Future<Output = (Fut::Output, Trace)>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    Recording { make: Some(f), fut: None, session: None }
}

pin_project_lite::pin_project! {
    /// The future of [`record_async`].
    struct Recording<F, Fut> {
        make: Option<F>,
        #[pin]
        fut: Option<Fut>,
        session: Option<Session>,
    }
}

impl<F, Fut> Future for Recording<F, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    type Output = (Fut::Output, Trace);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let session = this.session.get_or_insert_with(Session::start);
        let _ctx = session.enter();
        if let Some(make) = this.make.take() {
            this.fut.set(Some(make()));
        }
        let fut = this.fut.as_mut().as_pin_mut().expect("record_async polled after it completed");
        let out = std::task::ready!(fut.poll(cx));
        this.fut.set(None);
        drop(_ctx);
        let trace = this.session.take().expect("started above").finish();
        Poll::Ready((out, trace))
    }
}
