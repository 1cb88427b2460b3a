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
