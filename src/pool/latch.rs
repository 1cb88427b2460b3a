//! The latch a thread blocks on until a job it is waiting for has run
//! (`Pool::run`'s job, `Pool::join`'s second half): a one-shot flag, and
//! who to wake when it is set. Modelled on rayon-core's `latch.rs`
//! (<https://docs.rs/rayon-core>), whose contract it states the same way.
//!
//! # Contract
//!
//! * **Set once, then done.** [`Latch::set`] stores `done = true` once; a
//!   latch never goes back.
//! * **What `probe` returning true guarantees.** Everything the setter did
//!   before `set` (the job's result written into the job) happens-before
//!   everything the waiter does after `probe` returned true: the store is
//!   `Release`, the load `Acquire`.
//! * **The waiter may free the latch the instant it sees `done`.** So `set`
//!   reads everything it needs (the unparker, the registry pointer and
//!   index) *before* the store, and touches nothing behind the latch after
//!   it.
//! * **No lost wake-up.** The waiter parks on a permit-based parker
//!   (`sync::parker`): an unpark that lands before the park leaves a
//!   permit, so a waiter that probed `false`, then parks, returns at once
//!   if `set` ran in between; it probes again after every wake.
//! * **Whom it wakes.** A thread outside the pool (its unparker, cloned
//!   when the latch is made), or worker `index` of the registry the latch
//!   was made for. `set` checks that this is the registry of the thread
//!   setting it (a job on a pool's queues runs only on that pool), before
//!   anything is decided, and then unparks through the setter's own borrow
//!   of it, which outlives the call.
//!
//! `set` always unparks, even a waiter that is busy rather than parked (a
//! joining worker helping with other jobs): a `SLEEPING` state, as
//! rayon-core has, would save that unpark, but a worker's wait parks
//! through the pool's idle protocol, not on the latch, so the latch cannot
//! know; the cost is one parker lock and a permit left behind, which makes
//! the worker's next park return at once and re-check (docs/architecture.md).

use super::registry::Registry;
use crate::sync::{AtomicBool, Ordering, Unparker};
use std::ptr::NonNull;

/// A one-shot flag a waiting thread blocks on; setting it unparks the waiter.
pub(crate) struct Latch {
    done: AtomicBool,
    waiter: LatchWaiter,
}

/// Who waits on a [`Latch`].
#[derive(Clone)]
enum LatchWaiter {
    /// A thread outside the pool: its unparker, cloned before the set.
    Thread(Unparker),
    /// Worker `index` of `registry` (compared, never dereferenced: `set`
    /// unparks through the setter's own registry, which must be this one).
    Worker { registry: NonNull<Registry>, index: usize },
}

impl Latch {
    /// A latch whose `set` wakes the thread owning `waiter`.
    pub(crate) fn new(waiter: Unparker) -> Self {
        Latch { done: AtomicBool::new(false), waiter: LatchWaiter::Thread(waiter) }
    }

    /// A latch whose `set` wakes worker `index` of `registry` (the waiter).
    pub(crate) fn for_worker(registry: &Registry, index: usize) -> Self {
        let waiter = LatchWaiter::Worker { registry: NonNull::from(registry), index };
        Latch { done: AtomicBool::new(false), waiter }
    }

    /// Whether the latch is set. Once true, everything the setter did before
    /// `set` is visible.
    pub(crate) fn probe(&self) -> bool {
        // ORDERING: Acquire pairs with the Release store in `set`.
        self.done.load(Ordering::Acquire)
    }

    /// Sets the latch and wakes the waiter.
    ///
    /// # Safety
    /// `this` is live on entry. The waiter may free the latch the instant
    /// `done` becomes true, so nothing behind `this` is touched afterwards:
    /// a thread's unparker is cloned first, a worker's registry pointer and
    /// index copied. `running_on` is the pool of the thread calling this.
    pub(crate) unsafe fn set(this: *const Latch, running_on: &Registry) {
        // SAFETY: live on entry, per the caller.
        let waiter = unsafe { (*this).waiter.clone() };
        if let LatchWaiter::Worker { registry, .. } = &waiter {
            // A worker's latch belongs to a job on its own pool's queues,
            // which only that pool's threads run: the index means a worker
            // of `running_on`. Checked before the store, while nothing is
            // decided yet (a mismatch is a bug in knotwork: the waiter
            // would never be woken, but nothing is freed under anyone).
            assert!(
                std::ptr::eq(registry.as_ptr().cast_const(), running_on),
                "knotwork bug: a worker's join latch was set by another pool's thread"
            );
        }
        // ORDERING: Release publishes the job's result to `probe`'s Acquire.
        // SAFETY: still live: `done` is not yet true, so the waiter is still waiting.
        unsafe { (*this).done.store(true, Ordering::Release) };
        match waiter {
            LatchWaiter::Thread(unparker) => unparker.unpark(),
            // Through `running_on`, which the caller borrows for the call,
            // so it outlives the unpark even if the waiter, woken by `done`,
            // has already gone (and with it, perhaps, its pool).
            LatchWaiter::Worker { index, .. } => running_on.idle.unpark_worker(index),
        }
    }
}
