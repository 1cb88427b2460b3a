//! The task layer's half of a shield (`knotwork::shield`, in the scope
//! layer): the `SHIELDED` bit of the running task, which keeps a cancelled
//! task polled instead of dropped, and the thread-local that says "this
//! thread is inside a shield of the task it runs", which makes
//! `is_cancelled` read false.
//!
//! The thread-local records the task the shield runs in, as `CURRENT_BODY`
//! does: a task polled on top of the shield (a loop task run by a
//! `block_on` inside it) makes the current task differ, and so is not
//! shielded — with no write on any task's hot path.
//!
//! Prior art: Trio's shielded cancel scopes (<https://trio.readthedocs.io/en/stable/reference-core.html#trio.CancelScope.shield>).

use super::TaskRef;
use super::current::{TaskPtr, current_task_header};
use super::raw::Header;
use std::cell::Cell;
use std::ptr;

crate::sync::thread_local_key! {
    /// How many shields are active around the code running now, and the
    /// task they run in (null: outside any task).
    static SHIELD: Cell<(usize, *const Header)> = Cell::new((0, ptr::null()));
}

/// Whether the code running on this thread is inside a shield of the task
/// (or body) it belongs to.
#[inline]
pub(crate) fn in_shield() -> bool {
    let (depth, task) = SHIELD.try_with(Cell::get).unwrap_or((0, ptr::null()));
    depth > 0 && ptr::eq(task, current_task_header())
}

/// Inside a shield until dropped (around the shielded code's poll or call).
pub(crate) struct InShield((usize, *const Header));

impl InShield {
    #[inline]
    pub(crate) fn enter() -> InShield {
        let task = current_task_header();
        let prev = SHIELD.with(|s| s.get());
        let depth = if ptr::eq(prev.1, task) { prev.0 + 1 } else { 1 };
        SHIELD.with(|s| s.set((depth, task)));
        InShield(prev)
    }
}

impl Drop for InShield {
    #[inline]
    fn drop(&mut self) {
        let _ = SHIELD.try_with(|s| s.set(self.0));
    }
}

/// The running task's `SHIELDED` bit, held by the outermost shield in it:
/// cleared when this is ended or dropped. Holds a reference to the task, so
/// that a shield moved out of its task (a boxed future sent elsewhere)
/// never touches freed memory.
pub(crate) struct ShieldMark {
    task: Option<TaskRef>,
}

impl ShieldMark {
    /// Marks the task running on this thread, if any (a shield outside any
    /// task, in `block_on` or a body, has no task to keep: only
    /// `is_cancelled` changes there).
    pub(crate) fn mark_current() -> ShieldMark {
        let Some(task) = TaskPtr::current() else { return ShieldMark { task: None } };
        // SAFETY: the task is running on this thread, so it is alive.
        let task = unsafe { task.to_ref() };
        if task.header().state.shield() { ShieldMark { task: Some(task) } } else { ShieldMark { task: None } }
    }

    /// Ends the shield; returns whether the task's cancellation is pending
    /// (then it takes effect at the task's next suspension point).
    pub(crate) fn end(&mut self) -> bool {
        self.task.take().is_some_and(|t| t.header().state.unshield())
    }
}

impl Drop for ShieldMark {
    fn drop(&mut self) {
        let _ = self.end();
    }
}
