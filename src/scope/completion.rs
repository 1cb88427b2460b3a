//! What a child's completion hook does to its scope: the functions behind
//! the task layer's `CompletionHook` (one static table per kind of child),
//! called with the scope's `ScopeCore` as their data.
//!
//! * `on_complete` (`on_async_complete`, `on_blocking_complete`): panic
//!   bookkeeping, then the child's unit of the scope's `CountLatch`, last;
//! * `on_cancel` (`on_child_cancel`): a `Task::cancel` reaches the scopes
//!   opened inside that child (L4 in docs/guarantees.md);
//! * `up` (`opened_in`): the next step up the child's lineage, for the wait
//!   constraint (`task::allowed_here`).
//!
//! Prior art: Java's `StructuredTaskScope.handleComplete` (JEP 480,
//! <https://openjdk.org/jeps/480>): the scope's code runs as each subtask completes.

use super::core::{ParentScope, ScopeCore};
use super::latch::CountLatch;
use crate::sync::Ordering;
use crate::task::{Completion, CompletionHook, HookCalls, TaskRef, Up};
use std::ptr::NonNull;

/// What a scope does for its `exec` children.
pub(super) static ASYNC: HookCalls =
    HookCalls { on_complete: on_async_complete, on_cancel: on_child_cancel, up: opened_in };

/// What a scope does for its `exec_blocking` children.
pub(super) static BLOCKING: HookCalls =
    HookCalls { on_complete: on_blocking_complete, on_cancel: on_child_cancel, up: opened_in };

/// `CompletionHook::on_cancel` of every child: a `Task::cancel` of a child
/// reaches the scopes opened inside it (L4): each is cancelled, waking its
/// suspended async children, as a cancellation of this scope would.
///
/// # Safety
/// `data` is the child's live `ScopeCore` (its canceller holds
/// `CANCELLING`, so the child has not told the scope it completed).
pub(crate) unsafe fn on_child_cancel(data: NonNull<()>, task: &TaskRef) {
    // SAFETY: per the contract above.
    let core = unsafe { data.cast::<ScopeCore>().as_ref() };
    let locked = core.lock();
    let Some(inner) = locked.tables_if_any() else { return };
    for (_, nested) in inner.nested.iter() {
        // SAFETY: registered scopes are valid until they unregister, which
        // needs this lock.
        let nested = unsafe { nested.as_ref() };
        if !nested.is_shielded()
            && nested.parent().is_some_and(|p| {
                p.task.is_some_and(|t| std::ptr::eq(t.as_ptr(), task.as_task_ptr().as_ptr()))
            })
        {
            nested.cancel();
        }
    }
}

/// `CompletionHook::up` of every child: the task its scope was opened in.
///
/// # Safety
/// `data` is a live `ScopeCore` (a running child's scope). The answer is
/// alive while the child runs: a sync scope's task runs further down the
/// stack, and an async scope keeps a reference to its task (`owner`).
pub(crate) unsafe fn opened_in(data: NonNull<()>) -> Up {
    // SAFETY: per the contract above.
    let core = unsafe { data.cast::<ScopeCore>().as_ref() };
    match core.parent() {
        Some(ParentScope { task: Some(task), .. }) => return Up::Task(task),
        // Opened in that scope's body: its lineage goes on.
        Some(ParentScope { scope, task: None, .. }) => return Up::Scope(scope.cast()),
        None => {}
    }
    // ORDERING: Acquire: see `parent`.
    if !core.opened.load(Ordering::Acquire) {
        return Up::None;
    }
    // SAFETY: written once, before `opened` was set (field docs).
    let frame = core.frame.with(|f| unsafe { *f });
    if frame.is_null() { Up::None } else { Up::Frame(frame) }
}

/// `CompletionHook::on_complete` of an `exec_blocking` child.
///
/// # Safety
/// `data` is the child's `ScopeCore`, and the child holds one `pending` unit.
pub(crate) unsafe fn on_blocking_complete(data: NonNull<()>, task: &TaskRef, completion: Completion) {
    let core = data.cast::<ScopeCore>().as_ptr().cast_const();
    // SAFETY: the child's unit keeps the core alive until the decrement.
    unsafe { (*core).child_finished(task, completion) };
    // SAFETY: live on entry; our unit; the last access (see `CountLatch`).
    unsafe { CountLatch::decrement(&raw const (*core).pending) };
}

/// `CompletionHook::on_complete` of an `exec` child.
///
/// # Safety
/// As for [`on_blocking_complete`]; the child was registered with
/// `register_task` under the key in its link.
pub(crate) unsafe fn on_async_complete(data: NonNull<()>, task: &TaskRef, completion: Completion) {
    let core = data.cast::<ScopeCore>().as_ptr().cast_const();
    let key = task.parent().and_then(CompletionHook::key);
    // SAFETY: the child's unit keeps the core alive until the decrement.
    let registered =
        key.and_then(|k| unsafe { (*core).lock().tables_mut_if_any().and_then(|t| t.tasks.try_remove(k)) });
    // Not the last reference (the runner holds one): dropping it is cheap.
    drop(registered);
    // SAFETY: as in `on_blocking_complete`.
    unsafe {
        (*core).child_finished(task, completion);
        CountLatch::decrement(&raw const (*core).pending);
    }
}
