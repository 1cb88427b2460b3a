//! The raw task: one heap allocation holding a header, the future and, once
//! it is done, its output.
//!
//! ```text
//!  TaskRef ─┐   ┌── TaskCell<F> (one allocation, cell_cache.rs) ───────────┐
//!  Waker  ──┼──▶│ Header { state, vtable, owner, key, awaiter, parent }    │
//!  handle ──┘   │ stage: Pending(F) | Finished(Result) | Consumed          │
//!               └──────────────────────────────────────────────────────────┘
//! ```
//!
//! The header is type-erased and thread-safe; the stage is touched only
//! under the ownership rules below, which the state bits in
//! [`state`](super::state) decide:
//!
//! 1. While `COMPLETED` is clear, only the thread running the task touches
//!    the stage: the owning loop's thread (to poll the future, or to drop it
//!    when cancelled or torn down), or — before the task is bound to a loop —
//!    the pool worker that starts it.
//! 2. The runner writes the final result into the stage *before* the RMW
//!    that sets `COMPLETED` (Release); the handle reads it only after
//!    observing `COMPLETED` (Acquire). After that RMW the runner never
//!    touches the stage, except to claim it under rule 3.
//! 3. Exactly one party drops or takes the result. Normally that is whoever
//!    of {the completing runner, the dropping handle} comes second in the
//!    state word's modification order (it sees the other's bit: `HANDLE`
//!    already clear, or `COMPLETED` already set). The one exception is a
//!    `PANICKED` task with a parent whose handle was alive at completion:
//!    then the handle and the parent scope may both claim the panic, and the
//!    first to set `TAKEN` wins; a dropping handle leaves it to the scope.
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
//! **Parent link.** A nursery child carries a [`CompletionHook`]: after the
//! result is published and the awaiter woken, [`TaskRef::complete`] calls the
//! parent's `on_complete` once, as the very last thing the task does to its
//! parent (the scope may return the instant its count reaches zero).
//!
//! This file holds the cell and its allocation; `state.rs` the state word
//! and its transitions; `task_ref.rs` what the runner, the handle and a
//! canceller do around each transition; `current.rs` the running-task
//! pointer.
//!
//! Prior art: async-task's `RawTask` (<https://docs.rs/async-task>): header, vtable and stage in
//! one allocation.

use super::inbox::Inbox;
use super::judge::{Judge, Plain, RawFailure};
use super::state::State;
use crate::TaskError;
use crate::hooks::Outcome;
use crate::sync::{Arc, AtomicU32, AtomicU64, Mutex, Ordering, UnsafeCell};
use std::alloc::Layout;
use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, Waker};

/// The type-erased, thread-safe part of a task.
pub(crate) struct Header {
    /// Flags and reference count; see [`state`](super::state).
    pub(super) state: State,
    /// The functions that know the concrete future type.
    pub(super) vtable: &'static TaskVTable,
    /// The loop the task belongs to: wakes are queued there. Written once,
    /// before the first poll (see "Owner binding" in the module docs).
    pub(super) owner: UnsafeCell<Option<Arc<Inbox>>>,
    /// The task's key in its loop's task table. Read and written only on
    /// the loop's thread, so `Relaxed` suffices.
    pub(super) key: AtomicU32,
    /// How many shields are active in the task (`knotwork::shield`): while
    /// non-zero, a `CLOSED` task is polled on instead of being dropped, and
    /// its wakes count (`state.rs`). Changed by the shields (on the runner,
    /// or wherever a shield moved out of the task ends); shares the word
    /// with `key` in size, so the header did not grow.
    pub(super) shields: AtomicU32,
    /// The waker of whoever awaits the handle (`AWAITER` says it is set).
    pub(super) awaiter: Mutex<Option<Waker>>,
    /// The nursery scope to tell on completion, if any. Immutable.
    pub(super) parent: Option<CompletionHook>,
}

/// What a completing task tells its parent.
pub(crate) struct Completion {
    pub(crate) outcome: Outcome,
    /// The failure (a panic payload, or the error a try child returned),
    /// when the task failed and its handle was already gone (nobody else
    /// can observe it: the parent takes it).
    pub(crate) orphan_failure: Option<RawFailure>,
    /// The handle was alive at completion (it may still observe the result).
    pub(crate) handle_alive: bool,
}

/// Who is told when a task completes or is cancelled, and what the task's
/// lineage is (`current::allowed_here`): its parent, known to this layer
/// only as `data` and a table of plain functions. A nursery scope gives one
/// to each of its children (`scope/completion.rs`); a `spawn_local` task
/// has none.
pub(crate) struct CompletionHook {
    /// The parent's state (a `ScopeCore`), opaque to this layer.
    pub(crate) data: NonNull<()>,
    /// What the parent does for the task (one static table per kind of
    /// child, so the hook stays three words).
    pub(crate) calls: &'static HookCalls,
    /// The task's place among its parent's children, in spawn order (the
    /// high 32 bits), and room for the parent's registration key of the
    /// task (the low 32 bits; all ones: none). One word, to keep the
    /// header small.
    slot: AtomicU64,
    /// Where the task was spawned.
    pub(crate) location: &'static std::panic::Location<'static>,
}

/// The low half of `CompletionHook::slot` when no key is stored.
const NO_KEY: u64 = u32::MAX as u64;

impl CompletionHook {
    /// A hook for `data`'s child number `index` (in spawn order), spawned at
    /// `location`.
    #[inline]
    pub(crate) fn new(
        data: NonNull<()>,
        calls: &'static HookCalls,
        index: usize,
        location: &'static std::panic::Location<'static>,
    ) -> Self {
        let index = index.min(u32::MAX as usize) as u64;
        CompletionHook { data, calls, slot: AtomicU64::new((index << 32) | NO_KEY), location }
    }

    /// The task's place among its parent's children (saturating at
    /// `u32::MAX`).
    #[inline]
    pub(crate) fn index(&self) -> usize {
        // ORDERING: Relaxed: the index is written at creation, before the
        // task is shared.
        (self.slot.load(Ordering::Relaxed) >> 32) as usize
    }

    /// Stores the parent's registration key (below 2^32 - 1: a slab of
    /// live children, far smaller than that).
    #[inline]
    pub(crate) fn set_key(&self, key: usize) {
        assert!((key as u64) < NO_KEY, "fewer than 2^32 - 1 live registered children");
        // ORDERING: Relaxed: read by the completion hook, which runs after
        // the task's job is taken from a queue (the queue orders it).
        let index = self.slot.load(Ordering::Relaxed) & !NO_KEY;
        self.slot.store(index | key as u64, Ordering::Relaxed);
    }

    /// The parent's registration key, if one was stored.
    #[inline]
    pub(crate) fn key(&self) -> Option<usize> {
        // ORDERING: as in `set_key`.
        let key = self.slot.load(Ordering::Relaxed) & NO_KEY;
        (key != NO_KEY).then_some(key as usize)
    }
}

/// A parent's functions, called with its [`CompletionHook::data`].
pub(crate) struct HookCalls {
    /// Called once when the task completes; see the module docs.
    pub(crate) on_complete: unsafe fn(NonNull<()>, &TaskRef, Completion),
    /// Called by a canceller of this (unfinished) task, which holds
    /// `CANCELLING` (`state.rs`) meanwhile: the parent
    /// cancels the scopes opened inside this task.
    pub(crate) on_cancel: unsafe fn(NonNull<()>, &TaskRef),
    /// The task the parent scope was opened in, if any: the next step up
    /// this task's lineage (`current::allowed_here`). Called only while
    /// this task is unfinished, when the answer is alive (the parent keeps
    /// it so).
    pub(crate) up: unsafe fn(NonNull<()>) -> Up,
}

/// The next step up a task's lineage, past its parent scope.
pub(crate) enum Up {
    /// The task the scope was opened in.
    Task(super::TaskPtr),
    /// The scope was opened in another scope's body: that scope, whose
    /// lineage goes on (its data, for the same `up`).
    Scope(NonNull<()>),
    /// The scope was opened in no task, while a wait on that thread waited
    /// for this (a task's or a scope's address, or a `block_on`): the end of
    /// the lineage, and what it descends from (`current::allowed_here`).
    Frame(*const ()),
    /// Opened in no task and no wait: the end of the lineage.
    None,
}

/// What the type-erased code needs to know about `TaskCell<F>`.
pub(super) struct TaskVTable {
    /// Polls the future; on `Ready` (or a panic) the future is dropped and
    /// the result stored in the stage.
    pub(super) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<Outcome>,
    /// Drops the future and stores "cancelled" (or the drop's panic).
    pub(super) cancel: unsafe fn(NonNull<Header>) -> Outcome,
    /// Drops whatever the stage holds.
    pub(super) drop_stage: unsafe fn(NonNull<Header>),
    /// Moves the result out into `*mut Option<Result<T, TaskError>>`.
    pub(super) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Takes the failure out of a finished stage (which becomes
    /// `Consumed`): its panic payload, or the error its output is.
    pub(super) take_failure: unsafe fn(NonNull<Header>) -> Option<RawFailure>,
    /// Frees the allocation.
    pub(super) dealloc: unsafe fn(NonNull<Header>),
}

enum Stage<F: Future> {
    Pending(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

/// `#[repr(C)]` so that a pointer to the cell is a pointer to its header.
#[repr(C)]
struct TaskCell<F: Future, J> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
    _judge: PhantomData<J>,
}

impl<F: Future, J: Judge<F::Output>> TaskCell<F, J> {
    const VTABLE: TaskVTable = TaskVTable {
        poll: Self::poll,
        cancel: Self::cancel,
        drop_stage: Self::drop_stage,
        take_output: Self::take_output,
        take_failure: Self::take_failure,
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
            let outcome = match &result {
                Ok(value) if J::failed(value) => Outcome::Failed,
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Panicked,
            };
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
    unsafe fn take_failure(ptr: NonNull<Header>) -> Option<RawFailure> {
        // SAFETY: the caller holds a reference.
        let cell = unsafe { Self::cell(ptr) };
        cell.stage.with_mut(|stage| {
            // SAFETY: the caller owns the stage (rules 2 and 3).
            match unsafe { ptr::replace(stage, Stage::Consumed) } {
                Stage::Finished(Err(err)) => err.try_into_panic().ok().map(RawFailure::Panic),
                // An error value of a try child; any other value is not a
                // failure, and is dropped here (its owner asked for it to go).
                Stage::Finished(Ok(value)) => J::into_error(value).map(RawFailure::Error),
                _ => None,
            }
        })
    }

    /// # Safety
    /// The last reference was just released.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // By rule 4 the stage is `Consumed` (every party that could hold the
        // result held a reference, and released it only after taking or
        // dropping it), so this runs no code of the future or its output.
        let cell = ptr.cast::<Self>();
        // SAFETY: written in `allocate_cell` as this very `TaskCell<F, J>`,
        // in room from `cell_cache::acquire` with this layout; no reference
        // remains, so it is dropped once, here, and its room given back.
        unsafe {
            ptr::drop_in_place(cell.as_ptr());
            super::cell_cache::release(cell.cast(), Layout::new::<Self>());
        }
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
    /// Goes into a ready queue or a pool job (the task starts `SCHEDULED`).
    pub(crate) queued: TaskRef,
    /// Goes into the handle (the task starts with `HANDLE`).
    pub(crate) handle: TaskRef,
}

/// Allocates a task for `fut`, owned by the loop `owner`.
///
/// # Safety
/// The future is polled and dropped only on `owner`'s thread (the loop
/// guarantees this for every task in its table), so `F` need not be `Send`;
/// and the caller keeps everything `F` borrows alive until the task is
/// completed (trivially true for `F: 'static`).
pub(crate) unsafe fn allocate<F: Future>(fut: F, owner: Arc<Inbox>) -> NewTask {
    let ptr = allocate_cell::<F, Plain>(fut, Some(owner), None, 3);
    NewTask { table: TaskRef { ptr }, queued: TaskRef { ptr }, handle: TaskRef { ptr } }
}

/// Allocates a nursery child: not yet bound to a loop, with a parent link,
/// and with `refs` references (each returned `TaskRef` owns one). `J` says
/// which of its outputs are failures ([`Plain`]: none; [`ErrFails`]: `Err`).
///
/// # Safety
/// The caller keeps everything `F` (and `F::Output`, while a handle or the
/// scope may still hold it) borrows alive until the parent's `on_complete`
/// has run, and `link.data` valid until then; the future is run on one
/// thread at a time (it is `Send` or never leaves its thread).
pub(crate) unsafe fn allocate_child<F: Future, J: Judge<F::Output>>(
    fut: F,
    link: CompletionHook,
    refs: usize,
) -> NonNull<Header> {
    allocate_cell::<F, J>(fut, None, Some(link), refs)
}

/// Allocates a task that belongs to nobody (no loop, no parent), with two
/// references (each returned `TaskRef` owns one): for a child its scope
/// refused, which is completed as cancelled at once.
///
/// # Safety
/// As for [`allocate_child`]: the caller completes the task before
/// anything `F` borrows goes away.
pub(crate) unsafe fn allocate_orphan<F: Future>(fut: F) -> NonNull<Header> {
    allocate_cell::<F, Plain>(fut, None, None, 2)
}

#[inline]
fn allocate_cell<F: Future, J: Judge<F::Output>>(
    fut: F,
    owner: Option<Arc<Inbox>>,
    parent: Option<CompletionHook>,
    refs: usize,
) -> NonNull<Header> {
    let cell = TaskCell {
        header: Header {
            state: State::new(refs),
            vtable: &TaskCell::<F, J>::VTABLE,
            owner: UnsafeCell::new(owner),
            key: AtomicU32::new(u32::MAX),
            shields: AtomicU32::new(0),
            awaiter: Mutex::new(None),
            parent,
        },
        stage: UnsafeCell::new(Stage::Pending(fut)),
        _judge: PhantomData::<J>,
    };
    // One allocation per task, usually a block this thread freed last
    // (`cell_cache.rs`).
    let room = super::cell_cache::acquire(Layout::new::<TaskCell<F, J>>()).cast::<TaskCell<F, J>>();
    // SAFETY: fresh room for a `TaskCell<F, J>` (its layout), unused.
    unsafe { room.as_ptr().write(cell) };
    room.cast::<Header>()
}
