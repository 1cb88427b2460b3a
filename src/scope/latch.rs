//! `CountLatch`: a counter of unfinished work that wakes one waiter when it
//! reaches zero, and that may be freed by that waiter the moment it does.
//!
//! A scope counts its body and every child in `count`. Each finisher calls
//! [`CountLatch::decrement`]; the one that takes the count to zero (the
//! *zero-maker*) sets `done` and takes the registered waker **under the
//! lock**, then wakes it after unlocking.
//!
//! # Why `done` lives under the lock
//!
//! The waiter frees the latch (it is on the stack of a sync scope) as soon
//! as it knows the latch is set. If it could learn that from an atomic that
//! the zero-maker writes *before* its last access, the zero-maker could
//! touch freed memory. So the waiter concludes "set" only by reading `done`
//! with the lock held, which it can acquire only after the zero-maker's
//! unlock — the zero-maker's last access to the latch. (rayon-core's
//! `LockLatch` relies on the same argument: its setter sets the flag and
//! notifies under the mutex. `std::thread::scope` needs none of this: its
//! `ScopeData` is in an `Arc` that every spawned thread holds, so it outlives
//! the last decrement; a knotwork scope's core is on the caller's stack and
//! costs its children no reference count.) The waker the zero-maker wakes
//! afterwards is its own, taken out of the lock.
//!
//! `count` may be read without the lock as a *hint* (a worker that helps
//! while it waits checks it between jobs), never as the final word.
//!
//! # No lost wake-up
//!
//! A waiter registers its waker (under the lock) *before* it gives up its
//! own unit of the count, or re-registers under the lock after seeing
//! `done == false`; the zero-maker takes whatever waker is registered under
//! the same lock after the count reached zero. Either the waiter's critical
//! section comes first (its waker is taken and woken) or the zero-maker's
//! does (the waiter sees `done`).
//!
//! Prior art: rayon-core's `LockLatch` and `CountLatch` (<https://docs.rs/rayon-core>).

use crate::sync::{AtomicUsize, Mutex, Ordering};
use std::task::Waker;

pub(crate) struct CountLatch {
    /// Units outstanding: the owner's own unit plus one per unfinished child.
    count: AtomicUsize,
    /// `done` and the waiter's waker; see the module docs.
    state: Mutex<Waiter>,
}

struct Waiter {
    done: bool,
    waker: Option<Waker>,
}

impl CountLatch {
    /// A latch holding the owner's unit.
    pub(crate) fn new() -> Self {
        CountLatch { count: AtomicUsize::new(1), state: Mutex::new(Waiter { done: false, waker: None }) }
    }

    /// Adds a unit unless the count has reached zero (the latch is set, or
    /// about to be: the owner may be gone). Usually the caller holds a unit
    /// itself (the body's, or a running child's) and this cannot fail; it
    /// fails for a spawn through a `ScopeHandle` that outlived its scope.
    #[inline]
    pub(crate) fn try_increment(&self) -> bool {
        // ORDERING: Relaxed: like `Arc::clone`, a new unit publishes
        // nothing; the CAS only has to be atomic with the zero-maker's RMW
        // (either it sees our unit, or we see its zero).
        let mut count = self.count.load(Ordering::Relaxed);
        loop {
            if count == 0 {
                return false;
            }
            match self.count.compare_exchange_weak(count, count + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => count = actual,
            }
        }
    }

    /// Releases one unit; the zero-maker sets the latch and wakes the waiter.
    ///
    /// # Safety
    /// `this` is live on entry and the caller owns one unit. The latch may
    /// be freed by its waiter as soon as this releases the last unit, so
    /// nothing behind `this` is touched after the unlock.
    #[inline]
    pub(crate) unsafe fn decrement(this: *const CountLatch) {
        // SAFETY: live on entry; our unit keeps the waiter from freeing it
        // until the count reaches zero.
        let latch = unsafe { &*this };
        // ORDERING: AcqRel: Release publishes this unit's work (a child's
        // result, its writes to borrowed data) to the waiter, whose Acquire
        // comes through the lock below; Acquire so the zero-maker's view
        // includes every other finisher's work before it hands it on.
        if latch.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            latch.set();
        }
    }

    /// Releases the owner's unit. Returns `true` if it was the last one:
    /// every child had already finished, so the latch is done without being
    /// set, and the owner must not wait for it (nobody will set it).
    #[inline]
    pub(crate) fn release_owner(&self) -> bool {
        // ORDERING: AcqRel as in `decrement`; when this is the last unit,
        // the Acquire orders every child's work before the owner goes on.
        self.count.fetch_sub(1, Ordering::AcqRel) == 1
    }

    #[cold]
    fn set(&self) {
        let waker = {
            let mut state = self.state.lock();
            state.done = true;
            state.waker.take()
        };
        // The unlock above was the last access to `self`. An async owner's
        // waker may be foreign; its panic must not unwind into the finisher.
        if let Some(waker) = waker {
            crate::task::wake_caught(waker);
        }
    }

    /// The count is zero (a hint: the latch is set, or about to be).
    #[inline]
    pub(crate) fn is_zero_hint(&self) -> bool {
        // ORDERING: Acquire pairs with the finishers' Release; a hint only,
        // the final word is `poll_done`.
        self.count.load(Ordering::Acquire) == 0
    }

    /// Whether the latch is set; if not, `waker` is registered to be woken
    /// when it is. The only way the waiter learns that the latch is set.
    pub(crate) fn poll_done(&self, waker: &Waker) -> bool {
        let mut state = self.state.lock();
        if state.done {
            return true;
        }
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        false
    }
}
