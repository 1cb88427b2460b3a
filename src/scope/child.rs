//! Spawning a child: one allocation that is at once the pool job, the loop
//! task and the result cell.
//!
//! ```text
//!  Scope::exec / exec_blocking
//!    ├─ pending += 1                         (the child's unit)
//!    ├─ allocate_child(WithBindings { snapshot (the view its kind inherits), fut },
//!    │                 CompletionHook → ScopeCore)
//!    │     references: job, handle (+ the scope's table, for `exec`)
//!    ├─ exec only: register with the scope (so `cancel` can reach it)
//!    └─ push the JobRef: this worker's deque, or the injector off-pool
//!
//!  a worker takes the job
//!    ├─ exec:           bind the task to *this* worker's loop, queue it
//!    │                  there: it is polled only on this worker from now on
//!    └─ exec_blocking:  run the closure right here, inside `TaskRef::run`
//!
//!  completion (either kind): result published, awaiter woken, then the
//!  scope's hook: panic bookkeeping, and last `pending -= 1`.
//! ```
//!
//! A child costs one heap allocation. Scope children run under their
//! scope's lease on the pool, so they touch no pool-wide counter.
//!
//! Prior art: async-task (<https://docs.rs/async-task>): one allocation for the future, its output
//! and how it is scheduled.

use super::completion;
use super::core::ScopeCore;
use crate::context::bindings::{self, Crossing};
use crate::context::with_bindings::WithBindings;
use crate::event_loop;
use crate::hooks::{ChildKind, LoopNumber, Probe, Traced};
use crate::pool::job::JobRef;
use crate::pool::registry::Registry;
use crate::pool::worker::WorkerThread;
use crate::task::{CompletionHook, Judge, TaskRef, allocate_child, allocate_orphan, allowed_here};
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// What a recorded child's hooks ask of the thread it runs on.
const PROBE: Probe = Probe {
    on_loop: || event_loop::try_current().map(|c| LoopNumber(c.id())),
    bindings: bindings::describe_current,
    inherited: bindings::describe_inherited,
};

/// A blocking closure as a future that is ready on its first poll.
pub(crate) struct Blocking<F>(pub(crate) Option<F>);

impl<F> Unpin for Blocking<F> {}

impl<T, F: FnOnce() -> T> Future for Blocking<F> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<T> {
        let f = self.0.take().expect("a blocking child runs once");
        Poll::Ready(f())
    }
}

/// Which kind of child to spawn.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `exec`: a future, pinned to the worker that starts it.
    Async,
    /// `exec_blocking`: a closure, run by the worker that takes its job.
    Blocking,
}

impl Kind {
    fn traced(self) -> ChildKind {
        match self {
            Kind::Async => ChildKind::Exec,
            Kind::Blocking => ChildKind::ExecBlocking,
        }
    }
}

/// Spawns `fut` as a child of `core`; returns the handle's reference.
///
/// # Safety
/// `core` stays valid until the child's unit is released (the scope's
/// join); everything `fut` and its output borrow outlives that too.
pub(crate) unsafe fn spawn<F: Future, J: Judge<F::Output>>(
    core: &ScopeCore,
    kind: Kind,
    location: &'static Location<'static>,
    fut: F,
) -> TaskRef {
    let calls = match kind {
        Kind::Async => &completion::ASYNC,
        Kind::Blocking => &completion::BLOCKING,
    };
    // An async scope opens at its first spawn, if not polled yet.
    core.open_async();
    if !core.pending.try_increment() {
        // Spawned through a `ScopeHandle` after its scope finished.
        return refused(fut);
    }
    let index = core.fork(location);
    let link = CompletionHook::new(NonNull::from(core).cast(), calls, index, location);
    // This thread's worker, if it is one of the pool's (then the job goes
    // to its deque, else to the injector). No acceptance check: the
    // scope's lease keeps the pool open.
    let worker = WorkerThread::current_ptr().filter(|w| {
        // SAFETY: `current_ptr` is this thread's live worker.
        unsafe { w.as_ref() }.belongs_to(&core.registry)
    });
    let on_worker = worker.is_some();
    // Recorded (if the scope is) before the job is queued: spawn precedes start.
    let trace = core.trace.as_ref().and_then(|t| t.child_spawned(kind.traced(), location, on_worker, PROBE));
    let refs = if kind == Kind::Blocking { 2 } else { 3 };
    // The context snapshot taken at spawn (the view this kind of child
    // inherits), entered around every poll; a recorded child's future is
    // wrapped in its trace.
    let crossing = Crossing::of(kind.traced());
    // SAFETY: forwarded from our caller: the core and the borrows outlive
    // the child's completion hook.
    let ptr = unsafe {
        match trace {
            None => allocate_child::<_, J>(WithBindings::capture(fut, crossing), link, refs),
            Some(trace) => allocate_child::<_, J>(
                WithBindings::capture(Traced::new(fut, trace, J::failed), crossing),
                link,
                refs,
            ),
        }
    };
    // SAFETY: `allocate_child` counted `refs` references; each `from_raw`
    // below takes one of them.
    let (job, handle) = unsafe { (TaskRef::from_raw(ptr), TaskRef::from_raw(ptr)) };
    let start: unsafe fn(NonNull<()>, &Registry) = match kind {
        Kind::Async => {
            // SAFETY: the third reference.
            let table = unsafe { TaskRef::from_raw(ptr) };
            let key = core.register_task(table);
            handle.parent().expect("children have a parent").set_key(key);
            start_async
        }
        // A cancelled scope is checked when the job starts (`start_blocking`),
        // which covers a cancellation before or after this spawn alike.
        Kind::Blocking => start_blocking,
    };
    // SAFETY: the job owns the `queued` reference until `start` consumes it,
    // once, on a worker of this pool.
    let job = unsafe { JobRef::new(job.into_raw().cast(), start) };
    match worker {
        // SAFETY: this thread's worker, alive while this thread runs it.
        Some(w) => unsafe { w.as_ref() }.push(job),
        None => Registry::inject(&core.registry, job),
    }
    handle
}

/// A child its scope refused (the scope has finished): a task that is
/// completed as cancelled at once, without running, and handed back.
fn refused<F: Future>(fut: F) -> TaskRef {
    // SAFETY: completed (the future dropped) below, before we return.
    let ptr = unsafe { allocate_orphan(fut) };
    // SAFETY: `allocate_orphan` counted two references; each takes one.
    let (queued, handle) = unsafe { (TaskRef::from_raw(ptr), TaskRef::from_raw(ptr)) };
    handle.cancel();
    // SAFETY: we are its only runner and `queued` is its queue entry; it is
    // CLOSED, so `run` drops the future and completes it as cancelled.
    let _ = unsafe { queued.run() };
    handle
}

/// Starts an async child on this worker: binds it to the worker's loop.
///
/// # Safety
/// `data` is the job's reference to a not-yet-bound child task; called once.
unsafe fn start_async(data: NonNull<()>, _registry: &Registry) {
    // SAFETY: the job's reference, handed over.
    let task = unsafe { TaskRef::from_raw(data.cast()) };
    let scope = task.parent().expect("children have a parent").data.cast::<ScopeCore>();
    // SAFETY: unstarted, so alive and not completed; its scope is alive.
    if !unsafe { allowed_here(task.as_task_ptr()) } {
        // Taken by a waiter it is no part of: binding it here would pin it
        // to a loop that may not poll it until that wait ends.
        // SAFETY: as above.
        return unsafe { hand_on(scope, task, start_async) };
    }
    // A recorded child's loop, if created now, is recorded too.
    // SAFETY: the child holds a unit of its scope, which keeps it alive.
    let _trace = unsafe { scope.as_ref() }.trace.as_ref().map(|t| t.enter());
    let core = event_loop::current();
    // SAFETY: we are about to run the task for the first time, and no waker
    // of it exists before its first poll.
    unsafe { task.bind(core.inbox.clone()) };
    core.adopt(task);
}

/// Runs a blocking child right here.
///
/// # Safety
/// As for [`start_async`].
unsafe fn start_blocking(data: NonNull<()>, _registry: &Registry) {
    // SAFETY: the job's reference, handed over.
    let task = unsafe { TaskRef::from_raw(data.cast()) };
    let scope = task.parent().expect("children have a parent").data.cast::<ScopeCore>();
    // SAFETY: unstarted, so alive and not completed; its scope is alive.
    if !unsafe { allowed_here(task.as_task_ptr()) } {
        // Taken by a waiter it is no part of: run on top of that wait, it
        // could wait for the very frame beneath it.
        // SAFETY: as above.
        return unsafe { hand_on(scope, task, start_blocking) };
    }
    // A worker with async tasks pinned to its loop leaves the child to an
    // idle worker rather than stall them (L2).
    if let Some(worker) = WorkerThread::current_ptr() {
        let addr = task.addr();
        let mut task = Some(task);
        // SAFETY: this thread's live worker.
        let deferred = unsafe { worker.as_ref() }.defer_blocking(addr, || {
            let task = task.take().expect("made once");
            // SAFETY: the job owns the reference until `start` consumes it.
            unsafe { JobRef::new(task.into_raw().cast(), start_blocking) }
        });
        if deferred {
            return;
        }
        // SAFETY: as below; the job's reference, not deferred.
        return unsafe { run_blocking(scope, task.take().expect("not deferred")) };
    }
    // SAFETY: as below.
    unsafe { run_blocking(scope, task) }
}

/// Runs a blocking child on this thread (the rest of `start_blocking`).
///
/// # Safety
/// As for [`start_blocking`]; `scope` is the child's.
unsafe fn run_blocking(scope: NonNull<ScopeCore>, task: TaskRef) {
    // SAFETY: the child holds a unit of its scope, which keeps it alive.
    if unsafe { scope.as_ref() }.is_cancelled() {
        // Cancelled before it started: it never starts (`run` sees CLOSED).
        task.cancel_by_parent();
    }
    // SAFETY: this worker is the child's runner (it is never bound to a
    // loop), and `task` is its queue entry. The closure's panic is caught
    // inside `run`; a blocking child is ready on its first poll.
    let _ = unsafe { task.run() };
}

/// Puts a child's job back, for a thread that may run it: a waiter took it
/// that may not (`task::allowed_here`). It goes back onto this worker's own
/// deque, below a floor this wait does not pop under (`WorkerThread::
/// set_aside`), where other workers steal it — an idle one is woken, and a
/// spare is brought in if every worker is blocked (`pool/spare.rs`) — or
/// this worker runs it once its wait is over.
///
/// # Safety
/// `task` is the job's reference to an unstarted child of `scope`, which
/// is alive (the child holds a unit of it); `start` is its start function.
unsafe fn hand_on(scope: NonNull<ScopeCore>, task: TaskRef, start: unsafe fn(NonNull<()>, &Registry)) {
    // SAFETY: the job owns the reference until `start` consumes it, once.
    let job = unsafe { JobRef::new(task.into_raw().cast(), start) };
    match WorkerThread::current_ptr() {
        // SAFETY: this thread's live worker (of the child's pool: it took the job).
        Some(worker) => unsafe { worker.as_ref() }.set_aside(job),
        // SAFETY: alive per the caller.
        None => Registry::inject(&unsafe { scope.as_ref() }.registry, job),
    }
}
