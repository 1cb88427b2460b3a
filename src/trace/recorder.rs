//! The recorder and the hooks the runtime calls.
//!
//! # Who is recorded
//!
//! A recording follows the *tree*, not the process. A thread-local context
//! ([`TraceCtx`]: the recorder and the child being run, if any) is current
//! on the thread that called `record`, and from there it travels the way
//! context slots do:
//!
//! * a scope opened while a context is current is recorded, and remembers
//!   the context ([`ScopeTrace`]);
//! * a child of a recorded scope gets its own context (the recorder and its
//!   task id) in its [`TaskTrace`], which is current around each of its
//!   polls on whatever worker runs it — so scopes, loops and local tasks it
//!   creates are recorded too, with the child as their parent;
//! * a `spawn_local` task inherits the context current at its spawn, and so
//!   does a pool job (`Pool::spawn`, `Pool::run`, the second half of
//!   `Pool::join`);
//! * a pool job run while a task waits (helping) runs with no context, as it
//!   runs with no bindings: it is not part of that task.
//!
//! Unrelated work running at the same time (another test, another
//! recording) is never mixed in.
//!
//! # The cost when nothing records
//!
//! [`ACTIVE`] counts the recordings in progress. Opening a scope, spawning
//! a `spawn_local` task and submitting a pool job read it once (`Relaxed`)
//! and do nothing more when it is zero. Spawning a child reads no atomic at all: it checks
//! whether its scope has a `ScopeTrace` (a plain field). Polling a child
//! is monomorphic: a child spawned while recording is a `Traced` future, any
//! other child is not, so polling and dropping it costs nothing extra.
//!
//! # Order
//!
//! Every event is appended under the recorder's lock, with the timestamp
//! taken under the lock (see `event.rs` for why the audit needs that).

use super::event::*;
use crate::context::bindings;
use crate::event_loop::core as loop_core;
use crate::pool::worker::WorkerThread;
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Instant;

/// How many recordings are in progress, process-wide.
///
/// A plain `std` atomic in both builds: it is a gate, not synchronisation.
/// A thread reaches recorded work only through a queue or a spawn that
/// happens after `record` incremented this, so it never reads a stale zero
/// where it matters; a stale non-zero only costs a thread-local read.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether any recording is in progress (one relaxed load).
#[inline]
pub(crate) fn active() -> bool {
    // ORDERING: Relaxed: a gate only (see `ACTIVE`).
    ACTIVE.load(Ordering::Relaxed) != 0
}

/// One recording in progress.
pub(crate) struct Recorder {
    start: Instant,
    state: Mutex<State>,
}

struct State {
    /// Cleared when the recording ends; later events are dropped.
    open: bool,
    threads: Vec<ThreadInfo>,
    thread_ix: HashMap<ThreadId, ThreadIx>,
    /// Pool ids (process-wide) to pool numbers (within the recording).
    pools: HashMap<u64, u32>,
    events: Vec<Event>,
    scopes: u32,
    /// Where each child's job was queued, indexed by task id - 1.
    queues: Vec<Queue>,
}

impl Recorder {
    pub(crate) fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            state: Mutex::new(State {
                open: true,
                threads: Vec::new(),
                thread_ix: HashMap::new(),
                pools: HashMap::new(),
                events: Vec::new(),
                scopes: 0,
                queues: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held (an allocation failure) leaves the
        // event list consistent: keep recording.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the event `make` builds (given the state and this thread's
    /// index), timestamped now. Returns what `make` returned, or `None` once
    /// the recording has ended.
    fn push<T>(&self, make: impl FnOnce(&mut State, ThreadIx) -> (EventKind, T)) -> Option<T> {
        let mut state = self.lock();
        if !state.open {
            return None;
        }
        let thread = state.thread();
        let (kind, out) = make(&mut state, thread);
        let at_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        state.events.push(Event { at_ns, thread, kind });
        Some(out)
    }

    fn push_kind(&self, kind: EventKind) {
        self.push(|_, _| (kind, ()));
    }

    /// Ends the recording and hands over what it holds.
    pub(crate) fn finish(&self) -> Trace {
        let mut state = self.lock();
        state.open = false;
        Trace { threads: std::mem::take(&mut state.threads), events: std::mem::take(&mut state.events) }
    }

    /// A loop this recording saw created was torn down.
    pub(crate) fn loop_torn_down(&self, id: u64) {
        self.push_kind(EventKind::LoopTornDown { on_loop: LoopIx(id) });
    }
}

impl State {
    /// This thread's index, registering it on its first event.
    fn thread(&mut self) -> ThreadIx {
        let current = std::thread::current();
        if let Some(ix) = self.thread_ix.get(&current.id()) {
            return *ix;
        }
        let ix = ThreadIx(u32::try_from(self.threads.len()).expect("fewer than 2^32 threads"));
        let name = current.name().map_or_else(|| format!("thread {}", ix.0), str::to_owned);
        let worker = WorkerThread::with_current(|w| w.map(|w| (w.registry.id, w.index())));
        let worker = worker.map(|(pool, index)| {
            let next = u32::try_from(self.pools.len() + 1).expect("fewer than 2^32 pools");
            (*self.pools.entry(pool).or_insert(next), index)
        });
        self.threads.push(ThreadInfo { name, worker });
        self.thread_ix.insert(current.id(), ix);
        ix
    }
}

/// The recorder, and the child being run (`None` at the top: the caller of
/// `record`, or a scope's own thread).
pub(crate) struct TraceCtx {
    pub(crate) rec: Arc<Recorder>,
    task: Option<TaskId>,
}

impl TraceCtx {
    pub(crate) fn root(rec: Arc<Recorder>) -> Arc<TraceCtx> {
        Arc::new(TraceCtx { rec, task: None })
    }
}

crate::sync::thread_local_key! {
    /// The context current on this thread (module docs).
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
pub(crate) fn carry_trace<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let ctx = current_ctx();
    move || {
        let _ctx = ctx.map(|c| CtxGuard::enter(Some(c)));
        f()
    }
}

/// What a recorded scope keeps: its id and the context it was opened in.
pub(crate) struct ScopeTrace {
    ctx: Arc<TraceCtx>,
    id: ScopeId,
}

/// A scope is opening here: records it if a recording is current.
#[inline]
pub(crate) fn scope_opened(location: &'static Location<'static>, form: ScopeForm) -> Option<ScopeTrace> {
    let ctx = current_ctx()?;
    let parent = ctx.task;
    let id = ctx.rec.push(|state, _| {
        state.scopes += 1;
        let scope = ScopeId(state.scopes);
        (EventKind::ScopeOpened { scope, parent, location: SourceLoc::from_std(location), form }, scope)
    })?;
    Some(ScopeTrace { ctx, id })
}

impl ScopeTrace {
    /// Every child and timer is done; the scope closes.
    pub(crate) fn closed(&self) {
        self.ctx.rec.push_kind(EventKind::ScopeClosed { scope: self.id });
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
    ) -> Option<TaskTrace> {
        let bindings = bindings::describe_current();
        let scope = self.id;
        let task = self.ctx.rec.push(|state, thread| {
            let queue = if on_worker { Queue::Deque(thread) } else { Queue::Injector };
            state.queues.push(queue);
            let task = TaskId(u32::try_from(state.queues.len()).expect("fewer than 2^32 children"));
            let location = SourceLoc::from_std(location);
            (EventKind::Spawned { task, scope, kind, location, queue, bindings }, task)
        })?;
        let ctx = Arc::new(TraceCtx { rec: self.ctx.rec.clone(), task: Some(task) });
        Some(TaskTrace {
            ctx,
            child: Some(ChildState { task, kind, started: false, in_poll: false, ready: false }),
        })
    }
}

/// A recorded task's future: `fut` with its [`TaskTrace`]. Only a task
/// spawned while recording gets this type (the spawn picks it), so a task
/// that is not recorded pays nothing for the recorder, not even a branch.
pub(crate) struct Traced<F> {
    /// Declared first so it is dropped first: the trace records the task's
    /// end after its future (and a panic of its drop) is gone.
    fut: F,
    trace: TaskTrace,
}

impl<F> Traced<F> {
    pub(crate) fn new(fut: F, trace: TaskTrace) -> Self {
        Traced { fut, trace }
    }
}

impl<F: std::future::Future> std::future::Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned (never moved out or exposed
        // unpinned); `trace` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let fut = unsafe { std::pin::Pin::new_unchecked(&mut this.fut) };
        this.trace.poll(|| fut.poll(cx))
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
    started: bool,
    /// A poll is running: if the task is dropped now, the poll panicked.
    in_poll: bool,
    ready: bool,
}

impl TaskTrace {
    /// For a `spawn_local` task: the context current at its spawn, if any.
    #[inline]
    pub(crate) fn inherit() -> Option<TaskTrace> {
        current_ctx().map(|ctx| TaskTrace { ctx, child: None })
    }

    /// Runs one poll of the task with its context current, recording it.
    pub(crate) fn poll<T>(&mut self, poll: impl FnOnce() -> std::task::Poll<T>) -> std::task::Poll<T> {
        let _ctx = CtxGuard::enter(Some(self.ctx.clone()));
        let Some(child) = &mut self.child else { return poll() };
        let rec = &self.ctx.rec;
        let on_loop =
            child.kind.is_async().then(|| loop_core::try_current().map(|c| LoopIx(c.id()))).flatten();
        let task = child.task;
        if !child.started {
            child.started = true;
            let bindings = bindings::describe_current();
            let stolen = rec.push(|state, thread| {
                let from = state.queues.get(task.0 as usize - 1).copied();
                (EventKind::Started { task, on_loop, bindings }, from.filter(|q| *q != Queue::Deque(thread)))
            });
            if let Some(Some(from)) = stolen {
                rec.push_kind(EventKind::Stolen { task, from });
            }
        }
        if let Some(on_loop) = on_loop {
            rec.push_kind(EventKind::PollBegan { task, on_loop });
        }
        child.in_poll = true;
        let result = poll();
        child.in_poll = false;
        child.ready = result.is_ready();
        if on_loop.is_some() {
            rec.push_kind(EventKind::PollEnded { task, ready: child.ready });
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
        } else if child.ready {
            Outcome::Ok
        } else {
            Outcome::Cancelled
        };
        if child.in_poll && child.kind.is_async() {
            self.ctx.rec.push_kind(EventKind::PollEnded { task: child.task, ready: false });
        }
        self.ctx.rec.push_kind(EventKind::Finished { task: child.task, outcome });
    }
}

/// This thread is creating loop `id`: records it if a recording is current
/// here, and returns the recorder that must hear of its teardown.
#[cold]
pub(crate) fn loop_created(id: u64) -> Option<Arc<Recorder>> {
    let ctx = current_ctx()?;
    ctx.rec.push_kind(EventKind::LoopCreated { on_loop: LoopIx(id), by: ctx.task });
    Some(ctx.rec.clone())
}

/// Starts counting a recording in progress (see [`ACTIVE`]); the returned
/// guard stops counting it.
pub(crate) fn activate() -> Active {
    // ORDERING: Relaxed: a gate; see `ACTIVE`.
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    Active(())
}

/// One recording counted in [`ACTIVE`].
pub(crate) struct Active(());

impl Drop for Active {
    fn drop(&mut self) {
        // ORDERING: Relaxed: a gate; see `ACTIVE`.
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}
