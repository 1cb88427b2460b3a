//! Tasks: futures owned by a loop, polled only on the loop's thread.
//!
//! * [`state`]: the state word (one named bit per fact, a reference count)
//!   and every transition of it, each a method with a typed result, the
//!   invariants checked after each;
//! * [`raw`]: the single allocation (header + future + output), the rules
//!   for who may touch it, and the [`CompletionHook`] a parent gives it;
//! * [`task_ref`]: `TaskRef`, which drives the transitions and does what
//!   each result says (poll, drop the future, queue, tell the parent);
//! * [`waker`]: the task's `Waker`;
//! * [`inbox`]: where a wake queues a task (the remote queue, the owner's
//!   local path);
//! * [`current`]: the task this thread is running, and what a wait on this
//!   thread lets run;
//! * [`shielding`]: a shield's count in its task and the "inside a shield"
//!   thread-local;
//! * [`LocalTask`]: the handle returned by [`spawn_local`](crate::spawn_local).
//!
//! Prior art: async-task (<https://docs.rs/async-task>) and tokio's `runtime/task`
//! (<https://github.com/tokio-rs/tokio/tree/master/tokio/src/runtime/task>).

mod cell_cache;
mod current;
mod inbox;
mod judge;
mod raw;
mod shielding;
mod state;
mod task_ref;
mod waker;

pub(crate) use current::{
    BodyGuard, NoCurrentTask, TaskPtr, allowed_here, current_body, is_waiting, restore_waiting_for,
    set_waiting_for, waiting_for,
};
pub(crate) use inbox::Inbox;
pub(crate) use shielding::{InShield, ShieldMark, body_here, shield_boundary};

/// How many cancellations (of a task, of a scope, a deadline added) the
/// process has seen: the epoch of every cached answer to "is anything above
/// this scope cancelled?" (`scope/cancel.rs`). A plain `std` atomic, as
/// `sync::IdCounter` is; under loom that cache is not used.
static CANCELS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Something that a cancellation check may have cached as "not cancelled"
/// changed: every such cache is stale from now on. Called after the change
/// is made (a flag set, a deadline lowered).
pub(crate) fn cancellation_changed() {
    // ORDERING: Release: a check that reads the new epoch (Acquire) sees
    // the change made before it (the RMWs form one release sequence, so
    // reading any later value synchronizes with this one too).
    CANCELS.fetch_add(1, std::sync::atomic::Ordering::Release);
}

/// The current cancellation epoch (see [`cancellation_changed`]).
#[inline]
pub(crate) fn cancellation_epoch() -> u64 {
    // ORDERING: Acquire pairs with `cancellation_changed`'s Release.
    CANCELS.load(std::sync::atomic::Ordering::Acquire)
}
pub(crate) use judge::{ErrFails, Judge, Plain, RawFailure};
pub(crate) use raw::{
    Completion, CompletionHook, HookCalls, TaskRef, Up, allocate, allocate_child, allocate_orphan,
};
pub(crate) use task_ref::{AfterRun, poll_handle};
pub(crate) use waker::wake_caught;

use crate::TaskError;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// `T` is the output type; the `Rc` makes the handle `!Send` and `!Sync`.
type LocalMarker<T> = (fn() -> T, Rc<()>);

/// A handle to a task spawned on this thread's loop with
/// [`spawn_local`](crate::spawn_local).
///
/// Awaiting it gives the task's output, or a [`TaskError`] if the task
/// panicked or was cancelled. Dropping the handle does **not** cancel the
/// task (it keeps running on the loop, detached, and its output is dropped
/// on the loop's thread); call [`cancel`](Self::cancel) for that.
///
/// The handle is `!Send`: it belongs to the thread whose loop runs the task.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<knotwork::LocalTask<()>>();
/// ```
///
/// # Examples
///
/// ```
/// let out = knotwork::block_on(async {
///     let task = knotwork::spawn_local(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(out, 42);
/// ```
#[must_use = "dropping a LocalTask detaches the task: it still runs, but its output is discarded"]
pub struct LocalTask<T> {
    raw: Option<TaskRef>,
    _marker: PhantomData<LocalMarker<T>>,
}

impl<T> LocalTask<T> {
    pub(crate) fn new(raw: TaskRef) -> Self {
        LocalTask { raw: Some(raw), _marker: PhantomData }
    }

    fn raw(&self) -> &TaskRef {
        self.raw.as_ref().expect("LocalTask polled after it returned its output")
    }

    /// Requests cancellation. The future is dropped on the loop's thread the
    /// next time the loop runs; awaiting the handle then gives an error
    /// whose [`is_cancelled`](TaskError::is_cancelled) is true. A task that
    /// already finished keeps its output.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::block_on(async {
    ///     let task = knotwork::spawn_local(std::future::pending::<()>());
    ///     task.cancel();
    ///     task.await.unwrap_err()
    /// });
    /// assert!(err.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.raw().cancel();
    }

    /// Whether the task has finished (with a value, a panic or a cancellation).
    ///
    /// # Examples
    ///
    /// ```
    /// knotwork::block_on(async {
    ///     let task = knotwork::spawn_local(async { 1 });
    ///     assert!(!task.is_finished()); // queued: the loop has not run it yet
    ///     knotwork::yield_now().await; // let the loop run it
    ///     assert!(task.is_finished());
    ///     assert_eq!(task.await.unwrap(), 1);
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw().is_completed()
    }
}

impl<T> Future for LocalTask<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: this handle's reference, and `T` is the output type of the
        // future `spawn_local` allocated the task for.
        unsafe { poll_handle::<T>(&mut self.raw, cx) }
    }
}

impl<T> Drop for LocalTask<T> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            raw.drop_handle();
        }
    }
}

impl<T> fmt::Debug for LocalTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalTask")
            .field("finished", &self.raw.as_ref().is_none_or(TaskRef::is_completed))
            .finish()
    }
}
