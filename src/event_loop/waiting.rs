//! Waits that constrain a thread's loop: [`Waiting`] (a wait on this
//! thread's stack, during which only the subtree of what it waits for runs
//! here; the loop's tasks held back meanwhile are queued again when it
//! ends) and [`Helping`] (a pool job run while a task waits, outside that
//! task). docs/architecture.md, "Who waits for whom", says why these make
//! every wait's graph acyclic.
//!
//! Prior art: rayon-core's `WorkerThread::wait_until` (<https://docs.rs/rayon-core>) runs other
//! work while it waits; which work may run is knotwork's constraint.

use super::loop_core::LoopCore;
use super::thread_slot::{try_current, with_live};
use crate::context::Detached;
use crate::task::{restore_waiting_for, set_waiting_for};
use std::rc::Rc;

/// A wait on this thread's stack: while it lives, only the subtree of what
/// it waits for runs on this thread (`task::allowed_here`); tasks of this
/// thread's loop held back meanwhile are queued again when it ends.
pub(crate) struct Waiting {
    prev: *const (),
}

impl Waiting {
    /// Enters a wait for `target` (a task's or a scope's address); `None`
    /// inherits the wait beneath, if any.
    pub(crate) fn enter(target: Option<*const ()>) -> Waiting {
        Waiting { prev: set_waiting_for(target) }
    }
}

impl Waiting {
    /// Enters a wait that lifts every constraint of the waits beneath it
    /// (until dropped): anything may run on top of it, and the loop's tasks
    /// those waits held back are queued again now. For a wait that any
    /// task of this loop may end (`block_on_serving_loop`).
    pub(crate) fn open() -> Waiting {
        let prev = set_waiting_for(None);
        restore_waiting_for(std::ptr::null());
        with_live(LoopCore::requeue_held);
        Waiting { prev }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        restore_waiting_for(self.prev);
        with_live(LoopCore::requeue_held);
    }
}

/// A pool job runs on this thread while a task waits further up the stack
/// (the worker helps): until dropped, the job runs outside that task — its
/// identity, bindings and trace context are cleared ([`Detached`]) — and
/// this loop's `polling` flag is cleared, so the job may `block_on`
/// (driving the loop, which never re-polls the waiting task: a `RUNNING`
/// task is in no queue). Both are restored on drop.
pub(crate) struct Helping {
    core: Option<(Rc<LoopCore>, bool)>,
    _detached: Detached,
}

impl Helping {
    /// Always inlined: a waiter enters one per job it runs, and a call
    /// (callgrind: ~30 instructions with its drop) showed up per child.
    #[inline(always)]
    pub(crate) fn enter() -> Self {
        Helping {
            core: try_current().map(|core| {
                let prev = core.polling.replace(false);
                (core, prev)
            }),
            _detached: Detached::enter(),
        }
    }
}

impl Drop for Helping {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some((core, prev)) = &self.core {
            core.polling.set(*prev);
        }
    }
}
