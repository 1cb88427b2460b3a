//! The raw task: one heap allocation holding a header, the future and, once
//! it is done, its output.
//!
//! ```text
//!  TaskRef ─┐   ┌──────────── TaskCell<F> (one Box) ─────────────┐
//!  Waker  ──┼──▶│ Header { state, vtable, owner, key, awaiter }  │
//!  handle ──┘   │ stage: Pending(F) | Finished(Result) | Consumed│
//!               └────────────────────────────────────────────────┘
//! ```
//!
//! The header is type-erased and thread-safe; the stage is touched only
//! under the ownership rules below, which the state bits in
//! [`state`](super::state) decide:
//!
//! 1. While [`COMPLETED`] is clear, only the owning loop's thread touches the
//!    stage (to poll the future, or to drop it when cancelled or torn down).
//! 2. The loop writes the final result into the stage *before* the RMW that
//!    sets [`COMPLETED`] (Release); the handle reads it only after observing
//!    [`COMPLETED`] (Acquire). After that RMW the loop never touches the stage.
//! 3. Exactly one of {the completing loop, the dropping handle} drops an
//!    untaken output: the one whose RMW comes second in the state word's
//!    modification order (it sees the other's bit: [`HANDLE`] already clear,
//!    or [`COMPLETED`] already set).
//! 4. Hence, when the last reference goes (possibly on another thread, from
//!    a `Waker`), the stage is `Consumed`: deallocation runs no code of the
//!    future or its output. That is what lets a `!Send` future live in a
//!    task whose wakers are `Send`.

use super::state::*;
use crate::TaskError;
use crate::event_loop::shared::LoopShared;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// The type-erased, thread-safe part of a task.
pub(crate) struct Header {
    /// Flags and reference count; see [`state`](super::state).
    pub(super) state: AtomicUsize,
    /// The functions that know the concrete future type.
    vtable: &'static TaskVTable,
    /// The loop the task belongs to: wakes are queued there.
    pub(crate) owner: Arc<LoopShared>,
    /// The task's key in its loop's task table. Read and written only on
    /// the loop's thread, so `Relaxed` suffices; it is atomic only to keep
    /// the header `Sync` without an `unsafe impl`.
    key: AtomicUsize,
    /// The waker of whoever awaits the handle ([`AWAITER`] says it is set).
    awaiter: Mutex<Option<Waker>>,
}

/// What the type-erased code needs to know about `TaskCell<F>`.
struct TaskVTable {
    /// Polls the future; on `Ready` (or a panic) the future is dropped and
    /// the result stored in the stage.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    /// Drops the future and stores "cancelled" (or the drop's panic).
    cancel: unsafe fn(NonNull<Header>),
    /// Drops whatever the stage holds.
    drop_stage: unsafe fn(NonNull<Header>),
    /// Moves the result out into `*mut Option<Result<T, TaskError>>`.
    take_output: unsafe fn(NonNull<Header>, *mut ()),
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
    /// The caller has exclusive access to the stage (rules 1 and 2 above).
    unsafe fn drop_stage_in_place(stage: *mut Stage<F>) -> Option<Box<dyn std::any::Any + Send>> {
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
    /// Called on the owning loop's thread with `RUNNING` set, by the holder
    /// of a reference.
    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the caller holds a reference, so the cell is live.
        let cell = unsafe { Self::cell(ptr) };
        cell.stage.with_mut(|stage| {
            // SAFETY: RUNNING on the loop's thread gives exclusive access to
            // the stage (rule 1).
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
            // SAFETY: still exclusive; the stage is `Consumed`, nothing is overwritten.
            unsafe { ptr::write(stage, Stage::Finished(result)) };
            Poll::Ready(())
        })
    }

    /// # Safety
    /// As for `poll`, but `RUNNING` need not be set: the caller is the loop's
    /// thread and `COMPLETED` is clear.
    unsafe fn cancel(ptr: NonNull<Header>) {
        // SAFETY: the caller holds a reference.
        let cell = unsafe { Self::cell(ptr) };
        cell.stage.with_mut(|stage| {
            // SAFETY: exclusive access by rule 1.
            let result = match unsafe { Self::drop_stage_in_place(stage) } {
                Some(payload) => Err(TaskError::panicked(payload)),
                None => Err(TaskError::cancelled()),
            };
            // SAFETY: exclusive; the stage is `Consumed`.
            unsafe { ptr::write(stage, Stage::Finished(result)) };
        })
    }

    /// # Safety
    /// The caller has exclusive access to the stage (rules 1–3).
    unsafe fn drop_stage(ptr: NonNull<Header>) {
        // SAFETY: the caller holds a reference.
        let cell = unsafe { Self::cell(ptr) };
        // A panic from dropping an output nobody wanted is discarded: there
        // is no one left to report it to.
        // SAFETY: exclusive access per the caller.
        cell.stage.with_mut(|stage| drop(unsafe { Self::drop_stage_in_place(stage) }));
    }

    /// # Safety
    /// The caller is the handle, has observed `COMPLETED`, and `out` points
    /// to an `Option<Result<F::Output, TaskError>>`.
    unsafe fn take_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: the caller holds a reference.
        let cell = unsafe { Self::cell(ptr) };
        cell.stage.with_mut(|stage| {
            // SAFETY: after COMPLETED only the handle touches the stage (rule 2).
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
    /// The last reference was just released.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the cell was allocated by `Box::new` in `allocate`, and no
        // reference remains. By rule 4 the stage is `Consumed`, so this runs
        // no code of the future or the output, whatever thread this is.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }
}

/// An owned reference to a task (one unit of the reference count).
pub(crate) struct TaskRef {
    ptr: NonNull<Header>,
}

// SAFETY: through a `TaskRef` another thread can only touch the `Sync`
// header (atomics, a mutex, an `Arc`); the stage is reached only through
// `unsafe` methods whose callers prove they are on the loop's thread or are
// the handle after completion. Dropping the last reference anywhere is safe
// by rule 4 of the module docs.
unsafe impl Send for TaskRef {}
// SAFETY: as for `Send`: `&TaskRef` exposes only the header.
unsafe impl Sync for TaskRef {}

/// The three references a new task starts with.
pub(crate) struct NewTask {
    /// Goes into the loop's task table.
    pub(crate) table: TaskRef,
    /// Goes into a ready queue (the task starts [`SCHEDULED`]).
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
    let cell = Box::new(TaskCell {
        header: Header {
            state: AtomicUsize::new(SCHEDULED | HANDLE | (3 * REFERENCE)),
            vtable: &TaskCell::<F>::VTABLE,
            owner,
            key: AtomicUsize::new(usize::MAX),
            awaiter: Mutex::new(None),
        },
        stage: UnsafeCell::new(Stage::Pending(fut)),
    });
    let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
    NewTask { table: TaskRef { ptr }, queued: TaskRef { ptr }, handle: TaskRef { ptr } }
}

/// What a call to [`TaskRef::run`] did.
#[must_use]
pub(crate) enum RunOutcome {
    /// The task is done; the loop removes it from its table.
    Completed,
    /// The task is waiting (or was re-queued).
    Pending,
}

impl TaskRef {
    fn header(&self) -> &Header {
        // SAFETY: a TaskRef owns a reference, so the allocation is live.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn key(&self) -> usize {
        // ORDERING: loop-thread only (see the field docs).
        self.header().key.load(Ordering::Relaxed)
    }

    pub(crate) fn set_key(&self, key: usize) {
        // ORDERING: loop-thread only (see the field docs).
        self.header().key.store(key, Ordering::Relaxed);
    }

    /// Polls the task once. Consumes the reference its queue entry held.
    ///
    /// # Safety
    /// Called on the owning loop's thread, with a reference taken from a
    /// ready queue (so [`SCHEDULED`] is set and this is the only entry).
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
                // SAFETY: loop thread, not completed (rule 1).
                unsafe { (header.vtable.cancel)(self.ptr) };
                self.complete();
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
        // SAFETY: loop thread with RUNNING set.
        if unsafe { (header.vtable.poll)(self.ptr, &mut cx) }.is_ready() {
            self.complete();
            return RunOutcome::Completed;
        }
        // ORDERING: Acquire sees a cancel's or waker's state change.
        let mut state = header.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                // Cancelled during the poll: drop the future now.
                // SAFETY: loop thread, not completed.
                unsafe { (header.vtable.cancel)(self.ptr) };
                self.complete();
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
            let owner = Arc::as_ptr(&header.owner);
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
            unsafe { (header.vtable.cancel)(self.ptr) };
            self.complete();
        }
    }

    /// Publishes the result in the stage (rule 2) and wakes the awaiter.
    fn complete(&self) {
        let header = self.header();
        // ORDERING: Release publishes the stage write to the handle's Acquire;
        // Acquire so that, if the handle is gone, its last accesses to the
        // stage happen-before our drop of the output.
        let prev = header
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s & !(RUNNING | SCHEDULED)) | COMPLETED)
            })
            .unwrap_or_else(|s| s);
        if prev & HANDLE == 0 {
            // Rule 3: the handle is gone, the output is ours to drop.
            // SAFETY: exclusive access per rule 3.
            unsafe { (header.vtable.drop_stage)(self.ptr) };
        }
        if prev & AWAITER != 0 {
            let waker = header.awaiter.lock().take();
            if let Some(waker) = waker {
                waker.wake();
            }
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
        if header.state.load(Ordering::Acquire) & COMPLETED != 0 {
            // SAFETY: forwarded.
            return Poll::Ready(unsafe { self.take_output() });
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
            return Poll::Ready(unsafe { self.take_output() });
        }
        Poll::Pending
    }

    /// # Safety
    /// As for `poll_output`, with `COMPLETED` observed.
    unsafe fn take_output<T>(&self) -> Result<T, TaskError> {
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: the handle after COMPLETED (rule 2); `out` has the type the
        // vtable expects, per the caller.
        unsafe { (self.header().vtable.take_output)(self.ptr, (&raw mut out).cast()) };
        out.expect("take_output always writes")
    }

    /// Whether the task has completed.
    pub(crate) fn is_completed(&self) -> bool {
        // ORDERING: a hint only; callers that read the output use poll_output.
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
            // ORDERING: Release so the loop's Acquire in `run` sees CLOSED
            // with everything the canceller did before.
            match header.state.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if must_queue {
                        header.owner.schedule(TaskRef { ptr: self.ptr });
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
        // output) happen-before a later drop by the loop.
        let prev = header.state.fetch_and(!HANDLE, Ordering::AcqRel);
        if prev & COMPLETED != 0 {
            // SAFETY: completed and we were the handle: exclusive (rule 3).
            unsafe { (header.vtable.drop_stage)(self.ptr) };
        }
    }
}

impl TaskRef {
    /// # Safety
    /// `ptr` is a waker's data pointer (a live header), and the caller hands
    /// over one reference that the new `TaskRef` will own.
    unsafe fn from_waker_ptr(ptr: *const ()) -> TaskRef {
        // SAFETY: waker data pointers are made from `NonNull<Header>` in
        // `raw_waker`, so `ptr` is non-null.
        let ptr = unsafe { NonNull::new_unchecked(ptr.cast_mut().cast::<Header>()) };
        TaskRef { ptr }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> Self {
        increment(self.header());
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

fn increment(header: &Header) {
    // ORDERING: a new reference is made from an existing one, which already
    // keeps the task alive; nothing is published (as `Arc::clone`).
    let prev = header.state.fetch_add(REFERENCE, Ordering::Relaxed);
    if prev > isize::MAX as usize {
        // Like `Arc`: billions of leaked wakers; continuing could overflow.
        std::process::abort();
    }
}

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER_VTABLE)
}

// The waker functions. Each receives a pointer to a live header: a `Waker`
// owns one reference (or, for the borrowed waker in `run`, is backed by the
// runner's reference).

unsafe fn clone_waker(ptr: *const ()) -> RawWaker {
    // SAFETY: the waker's reference keeps the header alive.
    let header = unsafe { &*ptr.cast::<Header>() };
    increment(header);
    RawWaker::new(ptr, &WAKER_VTABLE)
}

unsafe fn wake(ptr: *const ()) {
    // SAFETY: forwarded; then the waker's own reference is released.
    unsafe {
        wake_by_ref(ptr);
        drop_waker(ptr);
    }
}

unsafe fn wake_by_ref(ptr: *const ()) {
    // SAFETY: the waker's reference keeps the header alive.
    let header = unsafe { &*ptr.cast::<Header>() };
    // ORDERING: Relaxed load; the CAS decides.
    let mut state = header.state.load(Ordering::Relaxed);
    loop {
        if state & (COMPLETED | CLOSED | SCHEDULED) != 0 {
            // Done, being cancelled (already queued by the canceller), or
            // already queued: this wake is absorbed.
            return;
        }
        let (next, must_queue) = if state & RUNNING != 0 {
            // The runner re-queues it when the poll returns.
            (state | SCHEDULED, false)
        } else {
            ((state + REFERENCE) | SCHEDULED, true)
        };
        // ORDERING: Release: what the waker did before waking happens-before
        // the poll that the queue entry leads to (the queue's own lock or the
        // RUNNING-clear Acquire carries it on).
        match header.state.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => {
                if must_queue {
                    // SAFETY: the CAS added the reference this TaskRef owns.
                    let task = unsafe { TaskRef::from_waker_ptr(ptr) };
                    header.owner.schedule(task);
                }
                return;
            }
            Err(actual) => state = actual,
        }
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    // SAFETY: the waker owned exactly this reference, which we now release.
    drop(unsafe { TaskRef::from_waker_ptr(ptr) });
}
