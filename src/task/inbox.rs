//! A task's inbox: where a wake (or a cancellation) queues it, and the only
//! part of a loop that other threads touch: the remote wake queue and the
//! unparker of the thread that runs it.
//!
//! A waker fired on another thread pushes the task here and unparks the
//! loop's thread. The queue is a plain mutex-protected `Vec` (one
//! uncontended lock per cross-thread wake). A wake on the loop's own thread
//! takes the owner's lock-free local path instead: a plain function the
//! owner (the loop layer, above this one) gives the inbox when it makes it,
//! so this layer never names a loop. Prior art: async-task's `schedule`
//! function, given at spawn (<https://docs.rs/async-task>).
//!
//! **Dead loops.** Teardown sets `closed` under the lock and empties the
//! queue. A wake that finds the queue closed drops its task reference *after*
//! releasing the lock: dropping the last reference frees the task, whose
//! header owns an `Arc` of this very struct, so it must never happen while a
//! guard into it is alive. Waking a dead loop therefore does nothing, and
//! touches no freed memory.

use super::TaskRef;
use crate::sync::{AtomicBool, Mutex, Ordering, Unparker};

/// The local fast path of a wake: queues `task` directly if `inbox` belongs
/// to this thread's loop (and returns `None`), else hands it back.
pub(crate) type LocalPath = fn(inbox: &Inbox, task: TaskRef) -> Option<TaskRef>;

/// The remote wake queue of one loop, and how to wake its thread.
pub(crate) struct Inbox {
    /// Tasks woken from other threads, waiting to be moved to the ready queue.
    remote: Mutex<Remote>,
    /// Set (under the lock) when `remote.tasks` became non-empty; lets the
    /// loop skip the lock when nothing arrived.
    remote_pending: AtomicBool,
    /// Wakes the loop's thread (its thread parker).
    pub(crate) unparker: Unparker,
    /// The owner's local fast path (module docs).
    local: LocalPath,
}

struct Remote {
    tasks: Vec<TaskRef>,
    closed: bool,
}

impl Inbox {
    /// An open, empty inbox for the loop on the thread `unparker` wakes,
    /// whose wakes on that thread take `local`.
    pub(crate) fn new(unparker: Unparker, local: LocalPath) -> Self {
        Inbox {
            remote: Mutex::new(Remote { tasks: Vec::new(), closed: false }),
            remote_pending: AtomicBool::new(false),
            unparker,
            local,
        }
    }

    /// Queues a task that was woken (or cancelled) for its next run.
    pub(crate) fn schedule(&self, task: TaskRef) {
        if let Some(task) = (self.local)(self, task) {
            self.schedule_remote(task);
        }
    }

    fn schedule_remote(&self, task: TaskRef) {
        let mut remote = self.remote.lock();
        if remote.closed {
            drop(remote);
            // The loop is gone; its tasks were cancelled at teardown. See the
            // module docs for why this drop happens after the unlock.
            drop(task);
            return;
        }
        remote.tasks.push(task);
        // ORDERING: Relaxed under the lock; the loop reads it with `swap`
        // and then takes the same lock, which orders the push before the drain.
        // A `swap`, not a `store`: loom (0.7.3) does not keep a plain store's
        // place in the modification order when it races the loop's `swap`
        // (loom#282): a model then saw the flag still `false` after this
        // store, even from this very thread, and reported a false deadlock.
        // Under the lock the RMW costs nothing measurable (docs/loom.md).
        self.remote_pending.swap(true, Ordering::Relaxed);
        drop(remote);
        self.unparker.unpark();
    }

    /// Moves remotely woken tasks into `out`.
    pub(crate) fn drain_remote(&self, out: &mut impl Extend<TaskRef>) {
        // ORDERING: Acquire pairs with the unlock after the Relaxed store;
        // the lock below is what actually orders the data.
        if self.remote_pending.swap(false, Ordering::Acquire) {
            let tasks = std::mem::take(&mut self.remote.lock().tasks);
            out.extend(tasks);
        }
    }

    /// Whether tasks are waiting in the remote queue.
    pub(crate) fn has_remote(&self) -> bool {
        // ORDERING: a hint; a wake after this read also unparks the thread.
        self.remote_pending.load(Ordering::Relaxed)
    }

    /// Closes the remote queue for good; returns what was left in it, for the
    /// caller to drop outside the lock.
    pub(crate) fn close(&self) -> Vec<TaskRef> {
        let mut remote = self.remote.lock();
        remote.closed = true;
        std::mem::take(&mut remote.tasks)
    }
}
