//! Which task this thread is running: a thread-local set around every poll.
//!
//! Nursery code reads it to answer `knotwork::is_cancelled()` and to find
//! the scope in which a nested scope is opened.

use super::raw::Header;
use super::state::CLOSED;
use crate::sync::Ordering;
use std::cell::Cell;
use std::ptr::{self, NonNull};

crate::sync::thread_local_key! {
    /// The task this thread is running right now (null outside any task).
    /// Set around every poll by [`TaskRef::run`]; lets nursery code find the
    /// current child (for `is_cancelled` and the parent of a nested scope).
    static CURRENT_TASK: Cell<*const Header> = Cell::new(ptr::null());
}

/// Restores `CURRENT_TASK` when a run ends, even by unwinding.
pub(super) struct CurrentTaskGuard(*const Header);

impl CurrentTaskGuard {
    pub(super) fn enter(header: *const Header) -> Self {
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

    /// The header's address (the task's identity).
    pub(crate) fn as_ptr(self) -> *const Header {
        self.0.as_ptr().cast_const()
    }

    /// A new reference to the task, keeping it allocated.
    ///
    /// # Safety
    /// As for [`is_closed`](Self::is_closed).
    pub(crate) unsafe fn to_ref(self) -> super::TaskRef {
        // SAFETY: alive per the caller; the clone counts its own reference
        // and the borrowed one is never dropped.
        (*std::mem::ManuallyDrop::new(unsafe { super::TaskRef::from_raw(self.0) })).clone()
    }

    /// The task the parent scope of this one was opened in, if any.
    ///
    /// # Safety
    /// As for [`is_closed`](Self::is_closed); then the answer is alive too
    /// (see `ParentLink::up`).
    pub(crate) unsafe fn up(self) -> Option<TaskPtr> {
        // SAFETY: alive per the caller; `parent` is immutable.
        let link = unsafe { self.0.as_ref() }.parent.as_ref()?;
        // SAFETY: the link's own contract: called while this task runs.
        unsafe { (link.up)(link.data) }
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

/// Clears the current task until dropped: for work that runs on this thread
/// while a task waits further up the stack but is not part of that task.
pub(crate) struct OutsideTask(*const Header);

impl OutsideTask {
    pub(crate) fn enter() -> Self {
        OutsideTask(CURRENT_TASK.try_with(|c| c.replace(ptr::null())).unwrap_or(ptr::null()))
    }
}

impl Drop for OutsideTask {
    fn drop(&mut self) {
        let _ = CURRENT_TASK.try_with(|c| c.set(self.0));
    }
}

/// Appends the lineage of the task this thread runs to `out`: the task, the
/// task its scope was opened in, and so on up to a task with no parent.
///
/// A thread that blocks in a wait must not poll any of these on top of its
/// wait (`LoopCore::exclude_lineage`): each one waits, through the tree, for
/// the frame that is blocked, so polling one there could nest a wait for
/// that frame above it — a cycle on one stack. Every other task may run
/// there: it waits only for its own descendants, none of which is below.
pub(crate) fn lineage(out: &mut Vec<*const Header>) {
    let mut next = TaskPtr::current();
    while let Some(task) = next {
        out.push(task.as_ptr());
        // SAFETY: the current task runs on this thread; each step up is
        // alive while a task below it runs (`ParentLink::up`).
        next = unsafe { task.up() };
    }
}
