//! The trace context of a thread, and the hook handles that carry it: a
//! recorded scope's [`ScopeTrace`], a recorded task's [`TaskTrace`] (inside
//! its [`Traced`] future), a recorded loop's [`LoopTrace`]. Who is recorded
//! and what it costs: the module docs of `hooks`.
//!
//! Prior art: `tracing`'s current span, carried into spawned work by `Instrument`
//! (<https://docs.rs/tracing/latest/tracing/trait.Instrument.html>).

use super::event::*;
use super::{Sink, active};
use std::cell::RefCell;
use std::panic::Location;
use std::sync::Arc;

/// The sink, and the child being run (`None` at the top: the caller of
/// `record`, or a scope's own thread).
pub(crate) struct TraceCtx {
    pub(crate) sink: Arc<dyn Sink>,
    task: Option<TaskId>,
}

impl TraceCtx {
    /// The context at the top of a recording (no child is running).
    pub(crate) fn root(sink: Arc<dyn Sink>) -> Arc<TraceCtx> {
        Arc::new(TraceCtx { sink, task: None })
    }
}

crate::sync::thread_local_key! {
    /// The context current on this thread (module docs of `hooks`).
    static CTX: RefCell<Option<Arc<TraceCtx>>> = RefCell::new(None);
}

/// The current context, if a recording is in progress and this thread is
/// inside it.
#[inline]
pub(crate) fn current_ctx() -> Option<Arc<TraceCtx>> {
    if !active() {
        return None;
    }
    CTX.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// The recorded child this thread is running, if a recording is in
/// progress and this thread is inside one of its children (for the
/// provenance of a context binding).
#[inline]
pub(crate) fn current_task() -> Option<TaskId> {
    if !active() {
        return None;
    }
    CTX.try_with(|c| c.borrow().as_ref().and_then(|ctx| ctx.task)).ok().flatten()
}

/// Makes a context current (or none) until dropped; restores the previous one.
pub(crate) struct CtxGuard {
    /// `Some(previous)` if this guard swapped the thread-local.
    prev: Option<Option<Arc<TraceCtx>>>,
}

impl CtxGuard {
    pub(crate) fn enter(ctx: Option<Arc<TraceCtx>>) -> CtxGuard {
        CtxGuard { prev: CTX.try_with(|c| c.replace(ctx)).ok() }
    }

    /// No context until dropped (helping jobs), if any recording runs.
    #[inline]
    pub(crate) fn clear() -> CtxGuard {
        if active() { CtxGuard::enter(None) } else { CtxGuard { prev: None } }
    }
}

impl Drop for CtxGuard {
    #[inline]
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            let _ = CTX.try_with(|c| c.replace(prev));
        }
    }
}

/// `f`, carrying the current context (if any) to whichever thread runs it:
/// for pool jobs (`Pool::spawn`, `run`, `join`'s second half), so that the
/// scopes they open belong to the recording they descend from. One relaxed
/// load when nothing records.
#[inline]
pub(crate) fn carry<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let ctx = current_ctx();
    move || {
        let _ctx = ctx.map(|c| CtxGuard::enter(Some(c)));
        f()
    }
}

/// What the layer that spawns a child tells the hooks about the thread the
/// child runs on, when they ask: plain functions, given by that (higher)
/// layer, so the hooks never import the loop or the context.
#[derive(Copy, Clone)]
pub(crate) struct Probe {
    /// This thread's loop, if it has one (asked at every poll of an async
    /// child).
    pub(crate) on_loop: fn() -> Option<LoopNumber>,
    /// The context-slot bindings current on this thread (asked at the
    /// child's start).
    pub(crate) bindings: fn() -> Bindings,
    /// The bindings a child of this kind inherits from this thread (asked
    /// at its spawn: the spawner's bindings, less what may not cross).
    pub(crate) inherited: fn(ChildKind) -> Bindings,
}

/// What a recorded scope keeps: its id and the context it was opened in.
pub(crate) struct ScopeTrace {
    ctx: Arc<TraceCtx>,
    id: ScopeId,
}

impl ScopeTrace {
    /// A scope is opening here: records it if a recording is current.
    #[inline]
    pub(crate) fn open(location: &'static Location<'static>, form: ScopeForm) -> Option<ScopeTrace> {
        let ctx = current_ctx()?;
        let id = ctx.sink.scope_opened(ctx.task, SourceLoc::from_std(location), form)?;
        Some(ScopeTrace { ctx, id })
    }

    /// Every child is done; the scope closes.
    pub(crate) fn closed(&self) {
        self.ctx.sink.record(EventKind::ScopeClosed { scope: self.id });
    }

    /// Makes the scope's context current (for work done on a child's
    /// behalf before it runs: creating a worker's loop).
    pub(crate) fn enter(&self) -> CtxGuard {
        CtxGuard::enter(Some(self.ctx.clone()))
    }

    /// A child is being spawned on this thread; `on_worker`: its job goes to
    /// this thread's deque (else to the injector). Call before the job is
    /// queued, so the spawn precedes the start.
    pub(crate) fn child_spawned(
        &self,
        kind: ChildKind,
        location: &'static Location<'static>,
        on_worker: bool,
        probe: Probe,
    ) -> Option<TaskTrace> {
        let bindings = (probe.inherited)(kind);
        let location = SourceLoc::from_std(location);
        let task = self.ctx.sink.child_spawned(self.id, kind, location, on_worker, bindings)?;
        let ctx = Arc::new(TraceCtx { sink: self.ctx.sink.clone(), task: Some(task) });
        Some(TaskTrace {
            ctx,
            child: Some(ChildState {
                task,
                kind,
                probe,
                started: false,
                in_poll: false,
                ready: false,
                failed: false,
            }),
        })
    }
}

pin_project_lite::pin_project! {
    /// A recorded task's future: `fut` with its [`TaskTrace`]. Only a task
    /// spawned while recording gets this type (the spawn picks it), so a
    /// task that is not recorded pays nothing for the recording, not even a
    /// branch.
    pub(crate) struct Traced<F: std::future::Future> {
        // Declared first so it is dropped first: the trace records the
        // task's end after its future (and a panic of its drop) is gone.
        #[pin]
        fut: F,
        trace: TaskTrace,
        // Which outputs are failures (`Outcome::Failed`): an `Err` of a
        // try child, none for any other task.
        failed: fn(&F::Output) -> bool,
    }
}

impl<F: std::future::Future> Traced<F> {
    pub(crate) fn new(fut: F, trace: TaskTrace, failed: fn(&F::Output) -> bool) -> Self {
        Traced { fut, trace, failed }
    }
}

impl<F: std::future::Future> std::future::Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        let fut = this.fut;
        let failed = *this.failed;
        this.trace.poll(|| fut.poll(cx), failed)
    }
}

/// What a recorded task carries: the context current around its polls, and
/// for a scope's child, what is needed to record its polls and its end.
pub(crate) struct TaskTrace {
    ctx: Arc<TraceCtx>,
    child: Option<ChildState>,
}

struct ChildState {
    task: TaskId,
    kind: ChildKind,
    probe: Probe,
    started: bool,
    /// A poll is running: if the task is dropped now, the poll panicked.
    in_poll: bool,
    ready: bool,
    /// Its output was a failure (an `Err` of a try child).
    failed: bool,
}

impl TaskTrace {
    /// For a `spawn_local` task: the context current at its spawn, if any.
    #[inline]
    pub(crate) fn inherit() -> Option<TaskTrace> {
        current_ctx().map(|ctx| TaskTrace { ctx, child: None })
    }

    /// Runs one poll of the task with its context current, recording it.
    pub(crate) fn poll<T>(
        &mut self,
        poll: impl FnOnce() -> std::task::Poll<T>,
        failed: fn(&T) -> bool,
    ) -> std::task::Poll<T> {
        let _ctx = CtxGuard::enter(Some(self.ctx.clone()));
        let Some(child) = &mut self.child else { return poll() };
        let sink = &self.ctx.sink;
        let task = child.task;
        let on_loop = if child.kind.is_async() { (child.probe.on_loop)() } else { None };
        if !child.started {
            child.started = true;
            sink.child_started(task, on_loop, (child.probe.bindings)());
        }
        if let Some(on_loop) = on_loop {
            sink.record(EventKind::PollBegan { task, on_loop });
        }
        child.in_poll = true;
        let result = poll();
        child.in_poll = false;
        child.ready = result.is_ready();
        child.failed = matches!(&result, std::task::Poll::Ready(out) if failed(out));
        if on_loop.is_some() {
            sink.record(EventKind::PollEnded { task, ready: child.ready });
        }
        result
    }
}

impl Drop for TaskTrace {
    fn drop(&mut self) {
        let Some(child) = &self.child else { return };
        // The future is dropped before this (field order in `Traced`), so a
        // panic in its drop is unwinding now.
        let outcome = if std::thread::panicking() || child.in_poll {
            Outcome::Panicked
        } else if child.ready && child.failed {
            Outcome::Failed
        } else if child.ready {
            Outcome::Ok
        } else {
            Outcome::Cancelled
        };
        if child.in_poll && child.kind.is_async() {
            self.ctx.sink.record(EventKind::PollEnded { task: child.task, ready: false });
        }
        self.ctx.sink.record(EventKind::Finished { task: child.task, outcome });
    }
}

/// A recorded loop: the sink that must hear of its teardown.
pub(crate) struct LoopTrace {
    sink: Arc<dyn Sink>,
    on_loop: LoopNumber,
}

/// This thread is creating loop `id`: records it if a recording is current
/// here.
#[cold]
pub(crate) fn loop_created(id: u64) -> Option<LoopTrace> {
    let ctx = current_ctx()?;
    let on_loop = LoopNumber(id);
    ctx.sink.record(EventKind::LoopCreated { on_loop, by: ctx.task });
    Some(LoopTrace { sink: ctx.sink.clone(), on_loop })
}

impl LoopTrace {
    /// The loop was torn down.
    pub(crate) fn torn_down(&self) {
        self.sink.record(EventKind::LoopTornDown { on_loop: self.on_loop });
    }
}

/// A recorded shield: the sink that must hear of its end.
pub(crate) struct ShieldTrace {
    sink: Arc<dyn Sink>,
    task: Option<TaskId>,
}

/// A shield begins here: records it if a recording is current.
#[cold]
pub(crate) fn shield_began(location: &'static Location<'static>) -> Option<ShieldTrace> {
    let ctx = current_ctx()?;
    ctx.sink.record(EventKind::ShieldBegan { task: ctx.task, location: SourceLoc::from_std(location) });
    Some(ShieldTrace { sink: ctx.sink.clone(), task: ctx.task })
}

impl ShieldTrace {
    /// The shield ended.
    pub(crate) fn ended(&self, deferred: bool, deadline_passed: bool) {
        self.sink.record(EventKind::ShieldEnded { task: self.task, deferred, deadline_passed });
    }
}
