//! [`Detached`]: everything a thread knows about the task it runs, cleared
//! at once.
//!
//! A thread's per-task context lives in three thread-locals, each owned by
//! the layer that reads it: the current task (`task::current`), the
//! context-slot bindings (`context::bindings`) and the trace context
//! (`hooks`). Work that runs on a thread while a task waits further up the
//! stack, but is not part of that task (a pool job run while a worker
//! helps), must see none of them: not the waiting child's identity (so
//! `is_cancelled` and a nested scope do not mistake the job for it), not its
//! bindings, not its recording. This guard clears all three, and restores
//! them, in reverse order, when it drops.
//!
//! Prior art: tokio's `task_local!` (<https://docs.rs/tokio/latest/tokio/macro.task_local.html>)
//! scopes a value to one task's polls; work outside the task sees none of it.

use super::bindings::NoBindings;
use crate::hooks::CtxGuard;
use crate::task::NoCurrentTask;

/// Clears this thread's current task, bindings and trace context until
/// dropped (module docs).
pub(crate) struct Detached {
    // Dropped in declaration order, the reverse of `enter`'s.
    _trace: CtxGuard,
    _bindings: NoBindings,
    _task: NoCurrentTask,
}

impl Detached {
    /// Enters a stretch of work that is not part of the running task.
    pub(crate) fn enter() -> Detached {
        let task = NoCurrentTask::enter();
        let bindings = NoBindings::enter();
        Detached { _trace: CtxGuard::clear(), _bindings: bindings, _task: task }
    }
}
