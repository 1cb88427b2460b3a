//! Leaving a blocking child to an idle worker (L2 in docs/guarantees.md).
//!
//! A worker with async tasks pinned to its loop that is about to start a
//! blocking child from its main loop would stall those tasks for the
//! child's whole run. If another worker is idle right now, it leaves the
//! job to it instead: pushes it to the injector, wakes a worker, and for a
//! grace period takes nothing from the injector itself, so that the woken
//! worker gets it. The same job met again (taken back after the grace
//! periods, or at once when every worker is busy) runs here: the stall is
//! then the documented cost of a fixed pool.
//!
//! Prior art: tokio's `block_in_place` moves the *other* work off a worker
//! that is about to block; knotwork moves the blocking job instead, since
//! its loop's tasks are pinned.

use super::job::JobRef;
use super::registry::Registry;
use super::worker::WorkerThread;
use crate::event_loop;
use crate::sync::time::Instant;
use crate::task::is_waiting;
use std::ptr;

/// How long a worker leaves a deferred blocking job to the idle worker it
/// woke before it looks again (an idle worker takes it within microseconds,
/// a loaded machine may take a few milliseconds to schedule it).
const DEFER_GRACE: std::time::Duration = std::time::Duration::from_millis(2);

/// How many grace periods in a row it waits while some worker still looks
/// idle; then it takes the job back whatever (the others are busy after
/// all, or slow to wake: a fixed pool's cost).
const DEFER_ROUNDS: u32 = 10;

impl WorkerThread {
    /// While a deferred blocking job is left to an idle worker: until when.
    pub(super) fn deferring(&self) -> Option<Instant> {
        match self.defer_until.get() {
            Some(until) if Instant::now() < until => Some(until),
            Some(_) if self.defer_rounds.get() < DEFER_ROUNDS && self.registry.idle.has_idle_or_waking() => {
                // Not taken yet, but a worker still looks idle: it may be
                // slow to be scheduled. Another grace period.
                self.defer_rounds.set(self.defer_rounds.get() + 1);
                let until = Instant::now() + DEFER_GRACE;
                self.defer_until.set(Some(until));
                Some(until)
            }
            Some(_) => {
                self.defer_until.set(None);
                None
            }
            None => None,
        }
    }

    /// For a blocking child this worker is about to start from its main
    /// loop (L2 in docs/guarantees.md): if async tasks are pinned to this
    /// worker's loop and the pool has other workers, leave the job to one of
    /// them — on the injector, with a worker woken — so that those tasks and
    /// their timers keep running. The same job met again (taken back after
    /// [`DEFER_GRACE`] with no worker idle any more, or after
    /// [`DEFER_ROUNDS`] of them: the others are busy) runs here. Returns whether the job was deferred; `job` makes it.
    #[inline]
    pub(crate) fn defer_blocking(&self, addr: *const (), job: impl FnOnce() -> JobRef) -> bool {
        if self.registry.num_threads() < 2 {
            return false;
        }
        self.defer_blocking_slow(addr, job)
    }

    fn defer_blocking_slow(&self, addr: *const (), job: impl FnOnce() -> JobRef) -> bool {
        // Only to a worker that is idle right now: otherwise the job would
        // just wait in the injector for a busy one.
        if is_waiting() || !self.registry.idle.has_idle_or_waking() {
            self.deferred.set(ptr::null());
            return false;
        }
        if std::ptr::eq(self.deferred.replace(ptr::null()), addr) {
            return false;
        }
        if event_loop::live_task_count() == 0 {
            return false;
        }
        self.deferred.set(addr);
        self.defer_until.set(Some(Instant::now() + DEFER_GRACE));
        self.defer_rounds.set(0);
        self.registry.injector.push(job());
        Registry::notify_work(&self.registry);
        true
    }
}
