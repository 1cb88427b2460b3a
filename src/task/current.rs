//! Which task this thread is running: a thread-local set around every poll.
//!
//! Nursery code reads it to answer `knotwork::is_cancelled()` and to find
//! the scope in which a nested scope is opened.
//!
//! Prior art: tokio's per-thread runtime context
//! (<https://github.com/tokio-rs/tokio/blob/master/tokio/src/runtime/context.rs>).

use super::raw::Header;
use std::cell::Cell;
use std::ptr::{self, NonNull};

crate::sync::thread_local_key! {
    /// The task this thread is running right now (null outside any task).
    /// Set around every poll by [`TaskRef::run`]; lets nursery code find the
    /// current child (for `is_cancelled` and the parent of a nested scope).
    static CURRENT_TASK: Cell<*const Header> = Cell::new(ptr::null());
}

crate::sync::thread_local_key! {
    /// The scope whose *body* this thread is running, innermost, and the
    /// task that was current when it was entered (both null if none): a
    /// body is part of its scope's nursery, as its children are — it sees
    /// the scope's cancellation, and scopes opened in it are nested in that
    /// scope. Opaque here (a `ScopeCore`'s address, set by the scope layer:
    /// [`BodyGuard`]). A task run on top of the body makes the current task
    /// differ from the recorded one: then the task is innermost, with no
    /// write to this cell on the task's hot path.
    static CURRENT_BODY: Cell<(*const (), *const Header)> = Cell::new((ptr::null(), ptr::null()));
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

/// Marks this thread as running the body of the scope at `scope` until
/// dropped (then the previous body, if any, is current again).
pub(crate) struct BodyGuard((*const (), *const Header));

impl BodyGuard {
    #[inline]
    pub(crate) fn enter(scope: *const ()) -> BodyGuard {
        let task = CURRENT_TASK.try_with(Cell::get).unwrap_or(ptr::null());
        BodyGuard(CURRENT_BODY.with(|b| b.replace((scope, task))))
    }
}

impl Drop for BodyGuard {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT_BODY.try_with(|b| b.set(self.0));
    }
}

/// The task this thread is running (null if none), for the shield's check.
#[inline]
pub(super) fn current_task_header() -> *const Header {
    CURRENT_TASK.try_with(Cell::get).unwrap_or(ptr::null())
}

/// The scope whose body this thread runs, if that is the innermost thing
/// it runs (no task has been entered on top of it).
#[inline]
pub(crate) fn current_body() -> Option<NonNull<()>> {
    let (body, task) = CURRENT_BODY.try_with(Cell::get).unwrap_or((ptr::null(), ptr::null()));
    let current = CURRENT_TASK.try_with(Cell::get).unwrap_or(ptr::null());
    if ptr::eq(task, current) { NonNull::new(body.cast_mut()) } else { None }
}

/// A borrowed pointer to a task that is running on this thread, or that a
/// caller otherwise proves alive.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct TaskPtr(NonNull<Header>);

impl TaskPtr {
    /// The task this thread is running, if any.
    #[inline]
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
        // A status read (Acquire: see what the canceller did first).
        header.state.load().is_closed()
    }

    pub(super) fn from_non_null(ptr: NonNull<Header>) -> TaskPtr {
        TaskPtr(ptr)
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

    /// The parent's data pointer, if the task is a nursery child.
    ///
    /// # Safety
    /// As for [`is_closed`](Self::is_closed).
    pub(crate) unsafe fn parent_data(self) -> Option<NonNull<()>> {
        // SAFETY: alive per the caller; `parent` is immutable.
        unsafe { self.0.as_ref() }.parent.as_ref().map(|p| p.data)
    }
}

/// Clears the current task (and body) until dropped: part of
/// `context::Detached`, for work that runs on this thread while a task or
/// a body waits further up the stack but is not part of it.
pub(crate) struct NoCurrentTask(*const Header, Option<(*const (), *const Header)>);

impl NoCurrentTask {
    #[inline]
    pub(crate) fn enter() -> Self {
        let task = CURRENT_TASK.try_with(|c| c.replace(ptr::null())).unwrap_or(ptr::null());
        // Cleared only if set (usually not: a read, no write).
        let body = CURRENT_BODY
            .try_with(|b| (!b.get().0.is_null()).then(|| b.replace((ptr::null(), ptr::null()))))
            .ok()
            .flatten();
        NoCurrentTask(task, body)
    }
}

impl Drop for NoCurrentTask {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT_TASK.try_with(|c| c.set(self.0));
        if let Some(body) = self.1 {
            let _ = CURRENT_BODY.try_with(|b| b.set(body));
        }
    }
}

crate::sync::thread_local_key! {
    /// What a wait on this thread's stack is waiting for (a task's or a
    /// scope's address), or null: see [`allowed_here`].
    static WAITING_FOR: Cell<*const ()> = Cell::new(ptr::null());
}

/// Makes `target` what this thread's innermost wait waits for, until the
/// returned previous value is restored with [`restore_waiting_for`].
/// `None` keeps the current one (a wait with no target of its own inherits
/// the constraint of the wait beneath it).
pub(crate) fn set_waiting_for(target: Option<*const ()>) -> *const () {
    let prev = WAITING_FOR.try_with(Cell::get).unwrap_or(ptr::null());
    if let Some(target) = target {
        let _ = WAITING_FOR.try_with(|w| w.set(target));
    }
    prev
}

/// Undoes [`set_waiting_for`].
pub(crate) fn restore_waiting_for(prev: *const ()) {
    let _ = WAITING_FOR.try_with(|w| w.set(prev));
}

/// Whether this thread is inside a wait that constrains what it may run.
pub(crate) fn is_waiting() -> bool {
    !WAITING_FOR.try_with(Cell::get).unwrap_or(ptr::null()).is_null()
}

/// Whether `task` may be run (polled, or started) on this thread now: if a
/// wait on this thread's stack waits for a task or a scope, only that
/// task's or scope's own subtree may run on top of it.
///
/// That is what keeps a wait from ever nesting a wait for a frame beneath
/// it: a task of the subtree waits only for its own descendants, none of
/// which is below (the target's ancestors, siblings and their descendants
/// are all outside). Without it, a sibling polled on top of a blocked task
/// could block on that very task — a cycle on one stack (issue 12). The
/// rest waits in its queue, run by other threads (a spare, if need be) or
/// by this one once the wait is over. See docs/architecture.md, "Who waits
/// for whom".
///
/// # Safety
/// `task` is a live task that has not completed, on a path where its
/// ancestors are alive too (they are, while it is unfinished: each scope
/// joins its children, and an async scope keeps its parent task and scope
/// alive).
pub(crate) unsafe fn allowed_here(task: TaskPtr) -> bool {
    let target = WAITING_FOR.try_with(Cell::get).unwrap_or(ptr::null());
    if target.is_null() {
        return true;
    }
    // SAFETY: alive per the caller.
    if unsafe { task.0.as_ref() }.parent.is_none() {
        // A local task (`spawn_local`): spawned by code running on this
        // thread, on top of whatever waits beneath; never a nursery child
        // anyone waits for through the tree.
        return true;
    }
    let mut next = Some(task);
    while let Some(t) = next {
        if ptr::eq(t.as_ptr().cast(), target) {
            return true;
        }
        // SAFETY: alive per the caller, and by induction up the lineage.
        let Some(link) = (unsafe { t.0.as_ref() }).parent.as_ref() else { return false };
        let mut scope = link.data;
        next = loop {
            if ptr::eq(scope.as_ptr().cast_const(), target) {
                return true;
            }
            // SAFETY: the link's contract (`HookCalls::up`), which holds for
            // every scope up the lineage alike.
            match unsafe { (link.calls.up)(scope) } {
                super::Up::Task(up) => break Some(up),
                // Opened in that scope's body: the lineage goes on from it.
                super::Up::Scope(up) => scope = up,
                // A scope opened by plain work (a job, a `block_on` root)
                // while that wait was on the stack: its subtree is that
                // work's, which may run on top of the wait.
                super::Up::Frame(frame) => return ptr::eq(frame, target),
                super::Up::None => break None,
            }
        };
    }
    false
}

/// What the innermost wait on this thread's stack waits for (null: none).
pub(crate) fn waiting_for() -> *const () {
    WAITING_FOR.try_with(Cell::get).unwrap_or(ptr::null())
}
