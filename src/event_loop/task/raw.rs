//! The raw task: one heap allocation holding a header, the future and, once
//! it is done, its output.
//!
//! ```text
//!  TaskRef ─┐   ┌──────────────── TaskCell<F> (one Box) ──────────────────┐
//!  Waker  ──┼──▶│ Header { state, vtable, owner, key, awaiter, parent }    │
//!  handle ──┘   │ stage: Pending(F) | Finished(Result) | Consumed          │
//!               └──────────────────────────────────────────────────────────┘
//! ```
//!
//! The header is type-erased and thread-safe; the stage is touched only
//! under the ownership rules below, which the state bits in
//! [`state`](super::state) decide:
//!
//! 1. While [`COMPLETED`] is clear, only the thread running the task touches
//!    the stage: the owning loop's thread (to poll the future, or to drop it
//!    when cancelled or torn down), or — before the task is bound to a loop —
//!    the pool worker that starts it.
//! 2. The runner writes the final result into the stage *before* the RMW
//!    that sets [`COMPLETED`] (Release); the handle reads it only after
//!    observing [`COMPLETED`] (Acquire). After that RMW the runner never
//!    touches the stage, except to claim it under rule 3.
//! 3. Exactly one party drops or takes the result. Normally that is whoever
//!    of {the completing runner, the dropping handle} comes second in the
//!    state word's modification order (it sees the other's bit: [`HANDLE`]
//!    already clear, or [`COMPLETED`] already set). The one exception is a
//!    [`PANICKED`] task with a parent whose handle was alive at completion:
//!    then the handle and the parent scope may both claim the panic, and the
//!    first to set [`TAKEN`] wins; a dropping handle leaves it to the scope.
//! 4. Hence, when the last reference goes (possibly on another thread, from
//!    a `Waker`), the stage is `Consumed` or holds a result someone leaked on
//!    purpose (a forgotten handle): deallocation runs no code of the future.
//!    That is what lets a `!Send` future live in a task whose wakers are
//!    `Send`, and a nursery child borrow its scope's environment.
//!
//! **Owner binding.** A task made by `spawn_local` knows its loop from birth.
//! A nursery child is made on one thread and started by whichever pool
//! worker takes its job: that worker writes `owner` once, before the task is
//! first polled and before any `Waker` of it exists. Every later reader
//! reaches the task through that worker's poll (program order, then the
//! Release/Acquire of the state word or of whatever carried a `Waker`
//! away), so the write happens-before every read. A task that is never
//! bound (a blocking child) is never scheduled on a loop, so nobody reads it.
//!
//! **Parent link.** A nursery child carries a [`ParentLink`]: after the
//! result is published and the awaiter woken, [`TaskRef::complete`] calls the
//! parent's `on_complete` once, as the very last thing the task does to its
//! parent (the scope may return the instant its count reaches zero).

use super::state::*;
use crate::TaskError;
use crate::event_loop::shared::LoopShared;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering, UnsafeCell};
use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, Waker};

pub(crate) use super::waker::raw_waker;

/// The type-erased, thread-safe part of a task.
pub(crate) struct Header {
    /// Flags and reference count; see [`state`](super::state).
    pub(super) state: AtomicUsize,
    /// The functions that know the concrete future type.
    vtable: &'static TaskVTable,
    /// The loop the task belongs to: wakes are queued there. Written once,
    /// before the first poll (see "Owner binding" in the module docs).
    owner: UnsafeCell<Option<Arc<LoopShared>>>,
    /// The task's key in its loop's task table. Read and written only on
    /// the loop's thread, so `Relaxed` suffices.
    key: AtomicUsize,
    /// The waker of whoever awaits the handle ([`AWAITER`] says it is set).
    awaiter: Mutex<Option<Waker>>,
    /// The nursery scope to tell on completion, if any. Immutable.
    parent: Option<ParentLink>,
}

/// How a task ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The future returned a value.
    Ok,
    /// The future (or its drop) panicked.
    Panicked,
    /// The task was cancelled before it finished.
    Cancelled,
}

/// What a completing task tells its parent.
pub(crate) struct Completion {
    pub(crate) outcome: Outcome,
    /// The panic payload, when the task panicked and its handle was already
    /// gone (nobody else can observe it: the parent takes it).
    pub(crate) orphan_panic: Option<Box<dyn Any + Send>>,
    /// The handle was alive at completion (it may still observe the result).
    pub(crate) handle_alive: bool,
}

/// A nursery scope's hook into one of its children.
pub(crate) struct ParentLink {
    /// The parent's state (a `ScopeCore`), opaque to the loop.
    pub(crate) data: NonNull<()>,
    /// Called once when the task completes; see the module docs.
    pub(crate) on_complete: unsafe fn(NonNull<()>, &TaskRef, Completion),
    /// Room for the parent's registration key of this task.
    pub(crate) key: AtomicUsize,
}

/// What the type-erased code needs to know about `TaskCell<F>`.
struct TaskVTable {
    /// Polls the future; on `Ready` (or a panic) the future is dropped and
    /// the result stored in the stage.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<Outcome>,
    /// Drops the future and stores "cancelled" (or the drop's panic).
    cancel: unsafe fn(NonNull<Header>) -> Outcome,
    /// Drops whatever the stage holds.
    drop_stage: unsafe fn(NonNull<Header>),
    /// Moves the result out into `*mut Option<Result<T, TaskError>>`.
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Takes a panic payload out of a finished stage (which becomes `Consumed`).
    take_panic: unsafe fn(NonNull<Header>) -> Option<Box<dyn Any + Send>>,
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
}

enum Stage<F: Future> {
    Pending(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

/// `#[repr(C)]` so that a pointer to the cell is a pointer to its header.
#[repr(C)]
struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

impl<F: Future> TaskCell<F> {
    const VTABLE: TaskVTable = TaskVTable {
        poll: Self::poll,
        cancel: Self::cancel,
        drop_stage: Self::drop_stage,
        take_output: Self::take_output,
        take_panic: Self::take_panic,
        dealloc: Self::dealloc,
    };

    /// # Safety
    /// `ptr` points to a live `TaskCell<F>`.
    unsafe fn cell<'a>(ptr: NonNull<Header>) -> &'a Self {
        // SAFETY: the header is the first field of a #[repr(C)] TaskCell<F>,
        // and the caller guarantees the cell is live.
        unsafe { ptr.cast::<Self>().as_ref() }
    }

    /// Drops the stage in place, catching a panic from the drop, and leaves
    /// it `Consumed`.
    ///
    /// # Safety
    /// The caller has exclusive access to the stage (rules 1 to 3 above).
    unsafe fn drop_stage_in_place(stage: *mut Stage<F>) -> Option<Box<dyn Any + Send>> {
        // SAFETY: exclusive access per the caller. `drop_in_place` drops a
        // pinned future where it lies, as `Pin` requires; if it panics, the
        // remaining fields are still dropped while unwinding, so writing
        // `Consumed` without dropping the old value again is right either way.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(stage) }));
        // SAFETY: as above; the old value is gone, so `write` overwrites no live value.
        unsafe { ptr::write(stage, Stage::Consumed) };
        result.err()
    }

    /// # Safety
    /// Called by the task's runner (rule 1) with `RUNNING` set, holding a
    /// reference.
    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<Outcome> {
        // SAFETY: the caller holds a reference, so the cell is live.
        let cell = unsafe { Self::cell(ptr) };
        cell.stage.with_mut(|stage| {
            // SAFETY: RUNNING on the runner's thread gives exclusive access
            // to the stage (rule 1).
            let Stage::Pending(fut) = (unsafe { &mut *stage }) else {
                unreachable!("a knotwork task was polled after it finished");
            };
            // SAFETY: the future lives inside the heap cell and is never
            // moved: it is dropped in place by `drop_stage_in_place`.
            let fut = unsafe { Pin::new_unchecked(fut) };
            let result = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(value)) => Ok(value),
                Err(payload) => Err(TaskError::panicked(payload)),
            };
            // SAFETY: still exclusive (rule 1).
            let drop_panic = unsafe { Self::drop_stage_in_place(stage) };
            let result = match (result, drop_panic) {
                (Ok(_), Some(payload)) => Err(TaskError::panicked(payload)),
                (result, _) => result,
            };
            let outcome = if result.is_ok() { Outcome::Ok } else { Outcome::Panicked };
            // SAFETY: still exclusive; the stage is `Consumed`, nothing is overwritten.
            unsafe { ptr::write(stage, Stage::Finished(result)) };
            Poll::Ready(outcome)
        })
    }

    /// # Safety
    /// As for `poll`, but `RUNNING` need not be set: the caller is the
    /// runner and `COMPLETED` is clear.
    unsafe fn cancel(ptr: NonNull<Header>) -> Outcome {
        // SAFETY: the caller holds a reference.
        let cell = unsafe { Self::cell(ptr) };
        cell.stage.with_mut(|stage| {
            // SAFETY: exclusive access by rule 1.
            let (result, outcome) = match unsafe { Self::drop_stage_in_place(stage) } {
                Some(payload) => (Err(TaskError::panicked(payload)), Outcome::Panicked),
                None => (Err(TaskError::cancelled()), Outcome::Cancelled),
            };
            // SAFETY: exclusive; the stage is `Consumed`.
            unsafe { ptr::write(stage, Stage::Finished(result)) };
            outcome
        })
    }

    /// # Safety
    /// The caller has exclusive access to the stage (rules 1 to 3).
    unsafe fn drop_stage(ptr: NonNull<Header>) {
        // SAFETY: the caller holds a reference.
        let cell = unsafe { Self::cell(ptr) };
        // A panic from dropping an output nobody wanted is discarded: there
        // is no one left to report it to.
        // SAFETY: exclusive access per the caller.
        cell.stage.with_mut(|stage| drop(unsafe { Self::drop_stage_in_place(stage) }));
    }

    /// # Safety
    /// The caller owns the finished stage (rules 2 and 3), and `out` points
    /// to an `Option<Result<F::Output, TaskError>>`.
    unsafe fn take_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: the caller holds a reference.
        let cell = unsafe { Self::cell(ptr) };
        cell.stage.with_mut(|stage| {
            // SAFETY: the caller owns the stage (rules 2 and 3).
            match unsafe { ptr::replace(stage, Stage::Consumed) } {
                Stage::Finished(result) => {
                    // SAFETY: the caller passes a pointer of exactly this type.
                    unsafe { *out.cast::<Option<Result<F::Output, TaskError>>>() = Some(result) }
                }
                _ => panic!("a knotwork task handle was polled after it returned its output"),
            }
        })
    }

    /// # Safety
    /// The caller owns the finished stage (rules 2 and 3).
    unsafe fn take_panic(ptr: NonNull<Header>) -> Option<Box<dyn Any + Send>> {
        // SAFETY: the caller holds a reference.
        let cell = unsafe { Self::cell(ptr) };
        cell.stage.with_mut(|stage| {
            // SAFETY: the caller owns the stage (rules 2 and 3).
            match unsafe { ptr::replace(stage, Stage::Consumed) } {
                Stage::Finished(Err(err)) => err.try_into_panic().ok(),
                // Not a panic: nothing to re-raise. A value dropped here
                // belongs to the caller anyway, who asked for it to go.
                _ => None,
            }
        })
    }

    /// # Safety
    /// The last reference was just released.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the cell was allocated by `Box::new` in `allocate_cell`,
        // and no reference remains. By rule 4 the stage is `Consumed` (every
        // party that could hold the result held a reference, and released it
        // only after taking or dropping it), so this runs no code of the
        // future or its output, whatever thread this is.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }
}

/// An owned reference to a task (one unit of the reference count).
pub(crate) struct TaskRef {
    pub(super) ptr: NonNull<Header>,
}

// SAFETY: through a `TaskRef` another thread can only touch the header's
// thread-safe parts (atomics, a mutex, the `owner` `Arc` once bound, which
// happens-before any such access); the stage is reached only through
// `unsafe` methods whose callers prove they are the runner or own the
// finished stage. Dropping the last reference anywhere is safe by rule 4.
unsafe impl Send for TaskRef {}
// SAFETY: as for `Send`: `&TaskRef` exposes only the header.
unsafe impl Sync for TaskRef {}

/// The references a new task starts with.
pub(crate) struct NewTask {
    /// Goes into the loop's task table (or, for a nursery child, into its
    /// scope's registration).
    pub(crate) table: TaskRef,
    /// Goes into a ready queue or a pool job (the task starts [`SCHEDULED`]).
    pub(crate) queued: TaskRef,
    /// Goes into the handle (the task starts with [`HANDLE`]).
    pub(crate) handle: TaskRef,
}

/// Allocates a task for `fut`, owned by the loop `owner`.
///
/// # Safety
/// The future is polled and dropped only on `owner`'s thread (the loop
/// guarantees this for every task in its table), so `F` need not be `Send`;
/// and the caller keeps everything `F` borrows alive until the task is
/// completed (trivially true for `F: 'static`).
pub(crate) unsafe fn allocate<F: Future>(fut: F, owner: Arc<LoopShared>) -> NewTask {
    let ptr = allocate_cell(fut, Some(owner), None, 3);
    NewTask { table: TaskRef { ptr }, queued: TaskRef { ptr }, handle: TaskRef { ptr } }
}

/// Allocates a nursery child: not yet bound to a loop, with a parent link,
/// and with `refs` references (each returned `TaskRef` owns one).
///
/// # Safety
/// The caller keeps everything `F` (and `F::Output`, while a handle or the
/// scope may still hold it) borrows alive until the parent's `on_complete`
/// has run, and `link.data` valid until then; the future is run on one
/// thread at a time (it is `Send` or never leaves its thread).
pub(crate) unsafe fn allocate_child<F: Future>(fut: F, link: ParentLink, refs: usize) -> NonNull<Header> {
    allocate_cell(fut, None, Some(link), refs)
}

fn allocate_cell<F: Future>(
    fut: F,
    owner: Option<Arc<LoopShared>>,
    parent: Option<ParentLink>,
    refs: usize,
) -> NonNull<Header> {
    let cell = Box::new(TaskCell {
        header: Header {
            state: AtomicUsize::new(SCHEDULED | HANDLE | (refs * REFERENCE)),
            vtable: &TaskCell::<F>::VTABLE,
            owner: UnsafeCell::new(owner),
            key: AtomicUsize::new(usize::MAX),
            awaiter: Mutex::new(None),
            parent,
        },
        stage: UnsafeCell::new(Stage::Pending(fut)),
    });
    NonNull::from(Box::leak(cell)).cast::<Header>()
}

/// What a call to [`TaskRef::run`] did.
#[must_use]
pub(crate) enum RunOutcome {
    /// The task is done; the loop removes it from its table.
    Completed,
    /// The task is waiting (or was re-queued).
    Pending,
}

crate::sync::thread_local_key! {
    /// The task this thread is running right now (null outside any task).
    /// Set around every poll by [`TaskRef::run`]; lets nursery code find the
    /// current child (for `is_cancelled` and the parent of a nested scope).
    static CURRENT_TASK: Cell<*const Header> = Cell::new(ptr::null());
}

/// Restores `CURRENT_TASK` when a run ends, even by unwinding.
struct CurrentTaskGuard(*const Header);

impl CurrentTaskGuard {
    fn enter(header: *const Header) -> Self {
        CurrentTaskGuard(CURRENT_TASK.with(|c| c.replace(header)))
    }
}

impl Drop for CurrentTaskGuard {
    fn drop(&mut self) {
        let _ = CURRENT_TASK.try_with(|c| c.set(self.0));
    }
}

/// A borrowed pointer to a task that is running on this thread, or that a
/// caller otherwise proves alive.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct TaskPtr(NonNull<Header>);

impl TaskPtr {
    /// The task this thread is running, if any.
    pub(crate) fn current() -> Option<TaskPtr> {
        let ptr = CURRENT_TASK.try_with(Cell::get).unwrap_or(ptr::null());
        NonNull::new(ptr.cast_mut()).map(TaskPtr)
    }

    /// Whether cancellation was requested.
    ///
    /// # Safety
    /// The task is alive (for instance, it is running on this thread).
    pub(crate) unsafe fn is_closed(self) -> bool {
        // SAFETY: alive per the caller.
        let header = unsafe { self.0.as_ref() };
        // ORDERING: a status read; Acquire to see what the canceller did first.
        header.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// The parent's data pointer, if the task is a nursery child.
    ///
    /// # Safety
    /// As for [`is_closed`](Self::is_closed).
    pub(crate) unsafe fn parent_data(self) -> Option<NonNull<()>> {
        // SAFETY: alive per the caller; `parent` is immutable.
        unsafe { self.0.as_ref() }.parent.as_ref().map(|p| p.data)
    }
}

impl TaskRef {
    pub(super) fn header(&self) -> &Header {
        // SAFETY: a TaskRef owns a reference, so the allocation is live.
        unsafe { self.ptr.as_ref() }
    }

    /// Takes over one reference counted on `ptr`.
    ///
    /// # Safety
    /// The caller owns one reference to the live task at `ptr` and hands it over.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> TaskRef {
        TaskRef { ptr }
    }

    /// Gives up ownership of this reference without releasing it.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        ManuallyDrop::new(self).ptr
    }

    pub(crate) fn key(&self) -> usize {
        // ORDERING: loop-thread only (see the field docs).
        self.header().key.load(Ordering::Relaxed)
    }

    pub(crate) fn set_key(&self, key: usize) {
        // ORDERING: loop-thread only (see the field docs).
        self.header().key.store(key, Ordering::Relaxed);
    }

    /// The parent link, if this is a nursery child.
    pub(crate) fn parent(&self) -> Option<&ParentLink> {
        self.header().parent.as_ref()
    }

    /// The loop this task is bound to.
    pub(crate) fn owner(&self) -> &Arc<LoopShared> {
        // SAFETY: read-only access; the single write (in `bind`) happens
        // before every read (module docs, "Owner binding").
        let owner = self.header().owner.with(|o| unsafe { &*o });
        owner.as_ref().expect("a knotwork task was scheduled before it was bound to a loop")
    }

    /// Binds a not-yet-bound task to the loop `owner`.
    ///
    /// # Safety
    /// Called once, by the thread that is about to run the task for the
    /// first time, before any `Waker` of it exists.
    pub(crate) unsafe fn bind(&self, owner: Arc<LoopShared>) {
        // SAFETY: per the caller, nobody else reads or writes `owner` yet.
        self.header().owner.with_mut(|o| unsafe { *o = Some(owner) });
    }

    /// Polls the task once. Consumes the reference its queue entry held.
    ///
    /// # Safety
    /// Called by the task's runner: on the owning loop's thread, or (for a
    /// task that is never bound) on the worker that started it, with a
    /// reference taken from a ready queue or a pool job (so [`SCHEDULED`]
    /// is set and this is the only entry).
    pub(crate) unsafe fn run(self) -> RunOutcome {
        let header = self.header();
        // ORDERING: Acquire pairs with the Release of a cancelling handle.
        let mut state = header.state.load(Ordering::Acquire);
        loop {
            debug_assert!(state & SCHEDULED != 0 && state & RUNNING == 0);
            if state & COMPLETED != 0 {
                // Cancelled and completed while queued (teardown); nothing to do.
                return RunOutcome::Pending;
            }
            if state & CLOSED != 0 {
                // SAFETY: the runner, not completed (rule 1).
                let outcome = unsafe { (header.vtable.cancel)(self.ptr) };
                self.complete(outcome);
                return RunOutcome::Completed;
            }
            let next = (state & !SCHEDULED) | RUNNING;
            // ORDERING: Acquire, as above; nothing is published by this RMW.
            match header.state.compare_exchange_weak(state, next, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        // A waker borrowed from our own reference: not counted, never dropped.
        // SAFETY: the vtable's functions uphold the RawWaker contract for a
        // pointer to a live header, and `self` keeps it live during the poll.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(self.ptr)) });
        let mut cx = Context::from_waker(&waker);
        let current = CurrentTaskGuard::enter(self.ptr.as_ptr());
        // SAFETY: the runner with RUNNING set.
        let poll = unsafe { (header.vtable.poll)(self.ptr, &mut cx) };
        drop(current);
        if let Poll::Ready(outcome) = poll {
            self.complete(outcome);
            return RunOutcome::Completed;
        }
        // ORDERING: Acquire sees a cancel's or waker's state change.
        let mut state = header.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                // Cancelled during the poll: drop the future now.
                // SAFETY: the runner, not completed.
                let outcome = unsafe { (header.vtable.cancel)(self.ptr) };
                self.complete(outcome);
                return RunOutcome::Completed;
            }
            let next = state & !RUNNING;
            // ORDERING: Release so the poll's writes happen-before whoever
            // observes the task idle (a waker that then queues it).
            match header.state.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        if state & SCHEDULED != 0 {
            // Woken during the poll: our reference becomes the queue entry.
            let owner = Arc::as_ptr(self.owner());
            // SAFETY: we run on the loop's thread, whose `LoopCore` holds an
            // `Arc` of its `LoopShared` for as long as it runs tasks, so
            // `owner` outlives the call even after `self` moves into a queue.
            unsafe { (*owner).schedule(self) };
        }
        RunOutcome::Pending
    }

    /// Cancels a task during teardown, on the loop's thread.
    ///
    /// # Safety
    /// Loop thread, task not running.
    pub(crate) unsafe fn cancel_in_place(&self) {
        let header = self.header();
        // ORDERING: Acquire pairs with the completion Release (none here:
        // only the loop completes, and that is us).
        let state = header.state.fetch_or(CLOSED, Ordering::Acquire);
        if state & COMPLETED == 0 {
            // SAFETY: loop thread, not completed, not running.
            let outcome = unsafe { (header.vtable.cancel)(self.ptr) };
            self.complete(outcome);
        }
    }

    /// Publishes the result in the stage (rule 2), wakes the awaiter and
    /// tells the parent, last.
    fn complete(&self, outcome: Outcome) {
        let header = self.header();
        let panicked = if outcome == Outcome::Panicked { PANICKED } else { 0 };
        // ORDERING: Release publishes the stage write to the handle's Acquire;
        // Acquire so that, if the handle is gone, its last accesses to the
        // stage happen-before our drop of the output.
        let prev = header
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s & !(RUNNING | SCHEDULED)) | COMPLETED | panicked)
            })
            .unwrap_or_else(|s| s);
        let handle_alive = prev & HANDLE != 0;
        let mut orphan_panic = None;
        if !handle_alive {
            // Rule 3: the handle is gone, the result is ours.
            if panicked != 0 && header.parent.is_some() {
                // SAFETY: exclusive access per rule 3.
                orphan_panic = unsafe { (header.vtable.take_panic)(self.ptr) };
            } else {
                // SAFETY: exclusive access per rule 3.
                unsafe { (header.vtable.drop_stage)(self.ptr) };
            }
        }
        if prev & AWAITER != 0 {
            let waker = header.awaiter.lock().take();
            if let Some(waker) = waker {
                // A foreign waker's panic must not skip the parent hook below.
                crate::event_loop::core::wake_caught(waker);
            }
        }
        if let Some(parent) = &header.parent {
            let completion = Completion { outcome, orphan_panic, handle_alive };
            // SAFETY: the link's contract: `data` stays valid until this
            // call, the last this task makes to its parent.
            unsafe { (parent.on_complete)(parent.data, self, completion) };
        }
    }

    /// The handle's poll: the output if the task is complete, else the
    /// awaiter is registered and `Pending` returned.
    ///
    /// # Safety
    /// `self` is the handle's reference and `T` the future's output type.
    pub(crate) unsafe fn poll_output<T>(&self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let header = self.header();
        // ORDERING: Acquire pairs with the Release in `complete` (rule 2).
        let state = header.state.load(Ordering::Acquire);
        if state & COMPLETED != 0 {
            // SAFETY: forwarded.
            return Poll::Ready(unsafe { self.take_output(state) });
        }
        let mut slot = header.awaiter.lock();
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        // ORDERING: AcqRel. This RMW and the one in `complete` are ordered in
        // the state word: if ours is first, `complete` sees AWAITER and takes
        // the waker under the lock we still hold; if it is second, we see
        // COMPLETED here and take the output ourselves (Acquire for rule 2).
        let state = header.state.fetch_or(AWAITER, Ordering::AcqRel);
        drop(slot);
        if state & COMPLETED != 0 {
            // SAFETY: forwarded.
            return Poll::Ready(unsafe { self.take_output(state) });
        }
        Poll::Pending
    }

    /// # Safety
    /// As for `poll_output`, with `COMPLETED` observed in `state`.
    unsafe fn take_output<T>(&self, state: usize) -> Result<T, TaskError> {
        let header = self.header();
        if state & PANICKED != 0 && header.parent.is_some() {
            // Rule 3's exception: race the scope for the panic.
            // ORDERING: AcqRel: whoever sets TAKEN first owns the stage;
            // Acquire so the loser's view is ordered after the winner's claim.
            if header.state.fetch_or(TAKEN, Ordering::AcqRel) & TAKEN != 0 {
                return Err(TaskError::panicked(Box::new(
                    "this child's panic was already re-raised by its scope",
                )));
            }
        }
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: the handle after COMPLETED owns the stage (rules 2 and 3);
        // `out` has the type the vtable expects, per the caller.
        unsafe { (header.vtable.take_output)(self.ptr, (&raw mut out).cast()) };
        out.expect("take_output always writes")
    }

    /// The scope's claim on the unobserved panic of a child whose handle
    /// was alive at completion (rule 3's exception).
    pub(crate) fn claim_panic(&self) -> Option<Box<dyn Any + Send>> {
        let header = self.header();
        // ORDERING: as in `take_output`.
        let state = header.state.fetch_or(TAKEN, Ordering::AcqRel);
        debug_assert!(state & COMPLETED != 0 && state & PANICKED != 0);
        if state & TAKEN != 0 {
            return None; // the handle observed it
        }
        // SAFETY: we set TAKEN first, so we own the completed stage.
        unsafe { (header.vtable.take_panic)(self.ptr) }
    }

    /// Whether the task has completed.
    pub(crate) fn is_completed(&self) -> bool {
        // ORDERING: Acquire, so a caller that then reads the output through
        // `poll_output` is ordered after the completion.
        self.header().state.load(Ordering::Acquire) & COMPLETED != 0
    }

    /// Requests cancellation: the loop drops the future at its next look.
    pub(crate) fn cancel(&self) {
        let header = self.header();
        // ORDERING: Relaxed load; the CAS below decides.
        let mut state = header.state.load(Ordering::Relaxed);
        loop {
            if state & (COMPLETED | CLOSED) != 0 {
                return;
            }
            let mut next = state | CLOSED;
            let must_queue = state & (SCHEDULED | RUNNING) == 0;
            if must_queue {
                next |= SCHEDULED;
                next += REFERENCE;
            }
            // ORDERING: Release so the runner's Acquire in `run` sees CLOSED
            // with everything the canceller did before; Acquire so that,
            // when we must queue, the owner binding is visible (it
            // happened-before the runner's Release that cleared RUNNING).
            match header.state.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if must_queue {
                        let task = TaskRef { ptr: self.ptr };
                        let owner = Arc::as_ptr(task.owner());
                        // SAFETY: `self` holds a reference, which keeps the
                        // header and its `owner` Arc alive during the call.
                        unsafe { (*owner).schedule(task) };
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Drops the handle's claim (rule 3), then its reference.
    pub(crate) fn drop_handle(self) {
        let header = self.header();
        // ORDERING: AcqRel: Acquire to see the stage written before
        // COMPLETED (rule 2), Release so our own stage accesses (a taken
        // output) happen-before a later drop by the runner.
        let prev = header.state.fetch_and(!HANDLE, Ordering::AcqRel);
        if prev & COMPLETED != 0 && !(prev & PANICKED != 0 && header.parent.is_some()) {
            // SAFETY: completed and we were the handle: exclusive (rule 3).
            // (A parent's panicked child is left to the scope, which claims
            // it through TAKEN.)
            unsafe { (header.vtable.drop_stage)(self.ptr) };
        }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> Self {
        super::waker::increment(self.header());
        TaskRef { ptr: self.ptr }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // ORDERING: AcqRel as in `Arc`: Release makes our accesses
        // happen-before the deallocation, Acquire makes everyone else's.
        let prev = self.header().state.fetch_sub(REFERENCE, Ordering::AcqRel);
        if prev & REFERENCE_MASK == REFERENCE {
            // SAFETY: that was the last reference.
            unsafe { (self.header().vtable.dealloc)(self.ptr) };
        }
    }
}
