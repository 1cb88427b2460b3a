//! The task layer's half of a shield (`knotwork::shield`, in the scope
//! layer): the count of active shields in the running task's header, which
//! keeps a cancelled task polled instead of dropped (`state.rs`,
//! "Shields"), and the thread-local that says "this thread is inside a
//! shield of the task it runs", which makes `is_cancelled` read false.
//!
//! The thread-local records the task the shield runs in, as `CURRENT_BODY`
//! does: a task polled on top of the shield (a loop task run by a
//! `block_on` inside it) makes the current task differ, and so is not
//! shielded — with no write on any task's hot path.
//!
//! Prior art: Trio's shielded cancel scopes (<https://trio.readthedocs.io/en/stable/reference-core.html#trio.CancelScope.shield>).

use super::TaskRef;
use super::current::{TaskPtr, current_body, current_task_header};
use super::inbox::Inbox;
use super::raw::Header;
use super::state::Wake;
use crate::sync::Ordering;
use std::cell::Cell;
use std::ptr;
use std::ptr::NonNull;

crate::sync::thread_local_key! {
    /// The innermost shield around the code running now: how many are
    /// nested, the task they run in (null: outside any task), and the
    /// scope body that was current when the innermost began (null: none).
    static SHIELD: Cell<(usize, *const Header, *const ())> = Cell::new((0, ptr::null(), ptr::null()));
}

/// The scope body current where this thread's innermost shield began
/// (null if none was), if the code running now is inside a shield of the
/// task (or body) it belongs to. A scope opened with exactly that body
/// current (or, with none, directly in the task) crosses the shield's
/// boundary: it is cut off from the cancellation above. A scope opened in
/// the body of a scope that was itself opened inside the shield is not.
#[inline]
pub(crate) fn shield_boundary() -> Option<*const ()> {
    let (depth, task, body) = SHIELD.try_with(Cell::get).unwrap_or((0, ptr::null(), ptr::null()));
    (depth > 0 && ptr::eq(task, current_task_header())).then_some(body)
}

/// The scope body current on this thread, if it is innermost (null: none).
#[inline]
pub(crate) fn body_here() -> *const () {
    current_body().map_or(ptr::null(), |b| b.as_ptr().cast_const())
}

/// Inside a shield until dropped (around the shielded code's poll or call).
pub(crate) struct InShield((usize, *const Header, *const ()));

impl InShield {
    #[inline]
    pub(crate) fn enter() -> InShield {
        let task = current_task_header();
        let prev = SHIELD.with(|s| s.get());
        let depth = if ptr::eq(prev.1, task) { prev.0 + 1 } else { 1 };
        SHIELD.with(|s| s.set((depth, task, body_here())));
        InShield(prev)
    }
}

impl Drop for InShield {
    #[inline]
    fn drop(&mut self) {
        let _ = SHIELD.try_with(|s| s.set(self.0));
    }
}

/// One shield's count in the running task (`Header::shields`), held from
/// the shield's first poll to its end. Holds a reference to the task, so a
/// shield moved out of its task (a boxed future sent elsewhere) never
/// touches freed memory; the last one to end re-arms the task, so that a
/// cancellation that waited for it takes effect even if the task is idle.
pub(crate) struct ShieldMark {
    task: Option<TaskRef>,
}

impl ShieldMark {
    /// Counts a shield in the task running on this thread, if any (a
    /// shield outside any task, in `block_on` or a body, has no task to
    /// keep: only `is_cancelled` changes there).
    pub(crate) fn mark_current() -> ShieldMark {
        let Some(task) = TaskPtr::current() else { return ShieldMark { task: None } };
        // SAFETY: the task is running on this thread, so it is alive.
        let task = unsafe { task.to_ref() };
        // ORDERING: Relaxed: on the runner, during the poll; the poll's end
        // (an RMW of the state word) orders it for every later reader.
        task.header().shields.fetch_add(1, Ordering::Relaxed);
        ShieldMark { task: Some(task) }
    }

    /// Ends the shield; returns whether the task's cancellation is pending
    /// (then it takes effect at the task's next suspension point, or at
    /// once if the task is idle: it is queued to be dropped).
    pub(crate) fn end(&mut self) -> bool {
        let Some(task) = self.task.take() else { return false };
        let header = task.header();
        // ORDERING: Release: the re-arm below (or the poll's end) carries
        // this to the runner's Acquire read of the count.
        if header.shields.fetch_sub(1, Ordering::Release) != 1 {
            return header.state.load().is_closed();
        }
        // The last shield: an RMW of the word, whatever the task's state,
        // so that a cancel racing this end is ordered with it (`rearm`).
        let (wake, closed) = header.state.rearm();
        if wake == Wake::Queue {
            // SAFETY: the transition added the reference this new
            // `TaskRef` owns (the queue entry `SCHEDULED` stands for).
            let queued = unsafe { TaskRef::from_raw(NonNull::from(header)) };
            let owner = std::ptr::from_ref::<Inbox>(queued.owner());
            // SAFETY: `task` (still held) keeps the header, and so its
            // `owner` Arc, alive for the call.
            unsafe { (*owner).schedule(queued) };
        }
        closed
    }
}
impl Drop for ShieldMark {
    fn drop(&mut self) {
        let _ = self.end();
    }
}
