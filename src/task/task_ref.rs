//! `TaskRef`: an owned reference to a task, and what each party does around
//! a transition of its state word (`state.rs`): the runner polls, drops the
//! future or re-queues; completion publishes the result and tells the
//! parent; a canceller queues the task and tells the parent; the handle
//! takes or drops the output. The ownership rules these keep are in
//! `raw.rs`.
//!
//! Prior art: tokio's task `Harness`
//! (<https://github.com/tokio-rs/tokio/blob/master/tokio/src/runtime/task/harness.rs>): each
//! transition, then what it implies.

use super::current::CurrentTaskGuard;
use super::inbox::Inbox;
use super::judge::RawFailure;
use super::raw::{Completion, CompletionHook, Header, TaskRef};
use super::state::{Completed, EndPoll, Snapshot, StartRun};
use super::waker::raw_waker;
use crate::TaskError;

use crate::hooks::Outcome;
use crate::sync::{Arc, Ordering};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// What a call to [`TaskRef::run`] did.
#[must_use]
pub(crate) enum AfterRun {
    /// The task is done; the loop removes it from its table.
    Completed,
    /// The task is waiting (or was re-queued).
    Pending,
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

    /// A borrowed pointer to the task, for as long as this reference lives.
    pub(crate) fn as_task_ptr(&self) -> super::TaskPtr {
        super::TaskPtr::from_non_null(self.ptr)
    }

    /// The task's address (a pool job of a nursery child carries it).
    pub(crate) fn addr(&self) -> *const () {
        self.ptr.as_ptr().cast_const().cast()
    }

    pub(crate) fn key(&self) -> usize {
        // ORDERING: loop-thread only (see the field docs).
        self.header().key.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn set_key(&self, key: usize) {
        // ORDERING: loop-thread only (see the field docs).
        let key = u32::try_from(key).expect("fewer than 2^32 tasks live on one loop");
        self.header().key.store(key, Ordering::Relaxed);
    }

    /// The parent link, if this is a nursery child.
    pub(crate) fn parent(&self) -> Option<&CompletionHook> {
        self.header().parent.as_ref()
    }

    /// The loop this task is bound to.
    pub(crate) fn owner(&self) -> &Arc<Inbox> {
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
    pub(crate) unsafe fn bind(&self, owner: Arc<Inbox>) {
        // SAFETY: per the caller, nobody else reads or writes `owner` yet.
        self.header().owner.with_mut(|o| unsafe { *o = Some(owner) });
    }

    /// Polls the task once. Consumes the reference its queue entry held.
    ///
    /// # Safety
    /// Called by the task's runner: on the owning loop's thread, or (for a
    /// task that is never bound) on the worker that started it, with a
    /// reference taken from a ready queue or a pool job (so `SCHEDULED`
    /// is set and this is the only entry).
    pub(crate) unsafe fn run(self) -> AfterRun {
        let header = self.header();
        if header.state.start_run(&header.shields) == StartRun::Cancel {
            // SAFETY: the runner, not completed (rule 1).
            let outcome = unsafe { (header.vtable.cancel)(self.ptr) };
            self.complete(outcome);
            return AfterRun::Completed;
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
            return AfterRun::Completed;
        }
        match header.state.end_poll(&header.shields) {
            EndPoll::Idle => {}
            EndPoll::Cancel => {
                // Cancelled during the poll: drop the future now.
                // SAFETY: the runner, not completed.
                let outcome = unsafe { (header.vtable.cancel)(self.ptr) };
                self.complete(outcome);
                return AfterRun::Completed;
            }
            EndPoll::Requeue => {
                // Woken during the poll: our reference becomes the queue entry.
                let owner = Arc::as_ptr(self.owner());
                // SAFETY: we run on the loop's thread, whose `LoopCore` holds
                // an `Arc` of its `Inbox` for as long as it runs tasks, so
                // `owner` outlives the call even after `self` moves into a
                // queue.
                unsafe { (*owner).schedule(self) };
            }
        }
        AfterRun::Pending
    }

    /// Cancels a task during teardown, on the loop's thread.
    ///
    /// # Safety
    /// Loop thread, task not running.
    pub(crate) unsafe fn cancel_in_place(&self) {
        let header = self.header();
        if header.state.close_in_place() {
            super::cancellation_changed();
            // SAFETY: loop thread, not completed, not running.
            let outcome = unsafe { (header.vtable.cancel)(self.ptr) };
            self.complete(outcome);
        }
    }

    /// Publishes the result in the stage (rule 2), wakes the awaiter and
    /// tells the parent, last.
    fn complete(&self, outcome: Outcome) {
        let header = self.header();
        let failed = matches!(outcome, Outcome::Panicked | Outcome::Failed);
        let Completed(prev) = header.state.complete(failed);
        let handle_alive = prev.has_handle();
        let mut orphan_failure = None;
        if !handle_alive {
            // Rule 3: the handle is gone, the result is ours.
            if failed && header.parent.is_some() {
                // SAFETY: exclusive access per rule 3.
                orphan_failure = unsafe { (header.vtable.take_failure)(self.ptr) };
            } else {
                // SAFETY: exclusive access per rule 3.
                unsafe { (header.vtable.drop_stage)(self.ptr) };
            }
        }
        if prev.has_awaiter() {
            let waker = header.awaiter.lock().take();
            if let Some(waker) = waker {
                // A foreign waker's panic must not skip the parent hook below.
                crate::task::wake_caught(waker);
            }
        }
        if let Some(parent) = &header.parent {
            if prev.is_cancelling() {
                // A canceller is telling the parent; it may use the parent
                // until it clears the bit. It waits for nothing we hold.
                header.state.wait_cancelling();
            }
            let completion = Completion { outcome, orphan_failure, handle_alive };
            // SAFETY: the link's contract: `data` stays valid until this
            // call, the last this task makes to its parent.
            unsafe { (parent.calls.on_complete)(parent.data, self, completion) };
        }
    }

    /// The handle's poll: the output if the task is complete, else the
    /// awaiter is registered and `Pending` returned.
    ///
    /// # Safety
    /// `self` is the handle's reference and `T` the future's output type.
    pub(crate) unsafe fn poll_output<T>(&self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let header = self.header();
        // Acquire pairs with the Release in `complete` (rule 2).
        let state = header.state.load();
        if state.is_completed() {
            // SAFETY: forwarded.
            return Poll::Ready(unsafe { self.take_output(state) });
        }
        let mut slot = header.awaiter.lock();
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        // Under the lock: if completion comes after this, it sees AWAITER and
        // takes the waker under the lock we still hold; if before, we see
        // COMPLETED here and take the output ourselves.
        let state = header.state.set_awaiter();
        drop(slot);
        if state.is_completed() {
            // SAFETY: forwarded.
            return Poll::Ready(unsafe { self.take_output(state) });
        }
        Poll::Pending
    }

    /// # Safety
    /// As for `poll_output`, with `COMPLETED` observed in `state`.
    unsafe fn take_output<T>(&self, state: Snapshot) -> Result<T, TaskError> {
        let header = self.header();
        if state.is_failed() && header.parent.is_some() {
            // Rule 3's exception: race the scope for the failure.
            if !header.state.take() {
                return Err(TaskError::panicked(Box::new(
                    "this child's failure was already taken by its scope, which reports it",
                )));
            }
        }
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: the handle after COMPLETED owns the stage (rules 2 and 3);
        // `out` has the type the vtable expects, per the caller.
        unsafe { (header.vtable.take_output)(self.ptr, (&raw mut out).cast()) };
        out.expect("take_output always writes")
    }

    /// The scope's claim on the unobserved failure of a child whose handle
    /// was alive at completion (rule 3's exception).
    pub(crate) fn claim_failure(&self) -> Option<RawFailure> {
        let header = self.header();
        if !header.state.take() {
            return None; // the handle observed it
        }
        // SAFETY: we set TAKEN first, so we own the completed stage.
        unsafe { (header.vtable.take_failure)(self.ptr) }
    }

    /// Whether a failed child's result was claimed (by its handle or its
    /// scope): `TAKEN`.
    pub(crate) fn is_taken(&self) -> bool {
        self.header().state.load().is_taken()
    }

    /// Whether the task has completed.
    pub(crate) fn is_completed(&self) -> bool {
        // Acquire (in `load`), so a caller that then reads the output through
        // `poll_output` is ordered after the completion.
        self.header().state.load().is_completed()
    }

    /// Requests cancellation: the loop drops the future at its next look.
    /// A nursery child's parent is told (`CompletionHook::on_cancel`), so that
    /// the scopes opened inside the child are cancelled too.
    pub(crate) fn cancel(&self) {
        self.cancel_with(true);
    }

    /// As [`cancel`](Self::cancel), for the parent scope itself cancelling
    /// its children (under its own lock, and reaching the scopes nested in
    /// them by itself): the parent is not told.
    pub(crate) fn cancel_by_parent(&self) {
        self.cancel_with(false);
    }

    fn cancel_with(&self, tell: bool) {
        let header = self.header();
        let Some(cancel) = header.state.cancel(tell && header.parent.is_some()) else { return };
        // A scope below this task may have cached "not cancelled".
        super::cancellation_changed();
        if cancel.queue {
            // The reference `cancel` added is the queue entry's.
            let task = TaskRef { ptr: self.ptr };
            let owner = Arc::as_ptr(task.owner());
            // SAFETY: `self` holds a reference, which keeps the header and
            // its `owner` Arc alive during the call.
            unsafe { (*owner).schedule(task) };
        }
        if cancel.tell_parent {
            if let Some(parent) = header.parent.as_ref() {
                // SAFETY: CANCELLING keeps the task from telling its parent
                // it completed, so the parent is alive until we clear the
                // bit (see `CANCELLING` in `state.rs`).
                unsafe { (parent.calls.on_cancel)(parent.data, self) };
            }
            header.state.end_cancelling();
        }
    }

    /// After the handle took the output (`poll_output` was `Ready`): as
    /// [`drop_handle`](Self::drop_handle), in one exchange when the
    /// handle's is the last reference — a joined child's usual end.
    pub(crate) fn release_completed_handle(self) {
        let header = self.header();
        if let Some(prev) = header.state.drop_last_handle() {
            // The last reference: claim and reference went in one RMW, and
            // the task is ours alone.
            let (ptr, vtable, parent) = (self.ptr, header.vtable, header.parent.is_some());
            std::mem::forget(self);
            if prev.is_completed() && !(prev.is_failed() && parent) {
                // SAFETY: completed, and we were the handle and the last
                // reference: exclusive (rule 3).
                unsafe { (vtable.drop_stage)(ptr) };
            }
            // SAFETY: that was the last reference (as in `Drop`); a failed
            // child's stage, which the scope would have claimed through a
            // reference of its own, goes with the cell, as it did there.
            unsafe { (vtable.dealloc)(ptr) };
            return;
        }
        self.drop_handle();
    }

    /// Drops the handle's claim (rule 3), then its reference.
    pub(crate) fn drop_handle(self) {
        let header = self.header();
        let prev = header.state.drop_handle();
        if prev.is_completed() && !(prev.is_failed() && header.parent.is_some()) {
            // SAFETY: completed and we were the handle: exclusive (rule 3).
            // (A parent's panicked child is left to the scope, which claims
            // it through TAKEN.)
            unsafe { (header.vtable.drop_stage)(self.ptr) };
        }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> Self {
        self.header().state.ref_inc();
        TaskRef { ptr: self.ptr }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (self.header().vtable.dealloc)(self.ptr) };
        }
    }
}

/// The `poll` shared by the two handle types (`LocalTask` and the scope's
/// `Task`): the output once the task is complete, after which the handle's
/// claim and reference are released at once.
///
/// # Safety
/// `raw` holds a handle's reference and `T` is the task's output type.
pub(crate) unsafe fn poll_handle<T>(
    raw: &mut Option<TaskRef>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, TaskError>> {
    let task = raw.as_ref().expect("a knotwork task handle was polled after it returned its result");
    // SAFETY: forwarded from the caller.
    let poll = unsafe { task.poll_output::<T>(cx) };
    if poll.is_ready() {
        if let Some(task) = raw.take() {
            task.release_completed_handle();
        }
    }
    poll
}
