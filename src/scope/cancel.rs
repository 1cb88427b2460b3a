//! Cancelling a scope: the flag, the deadline, and how a cancellation
//! reaches the children and the scopes nested in them (see "Registration
//! with the enclosing scope" in `core.rs` for the two ways it travels).
//!
//! * [`ScopeCore::cancel`] sets the flag once, cancels every registered
//!   async child (each is queued and dropped at its next poll) and every
//!   registered nested scope, under the scope's lock;
//! * [`ScopeCore::cancel_at`] (`cancel_after`) stores the earliest
//!   deadline, read by every check, and registers a callback with the
//!   pool's deadline thread (`pool/deadline.rs`) that calls `cancel`;
//! * [`ScopeCore::is_cancelled`] looks up: this scope's flag and deadline,
//!   the task it was opened in, and every scope further out.
//!
//! Prior art: Trio's cancel scopes (<https://trio.readthedocs.io/en/stable/reference-core.html#cancellation-and-timeouts>)
//! and Java's `StructuredTaskScope.shutdown` (JEP 480, <https://openjdk.org/jeps/480>).

use super::core::{NO_DEADLINE, ScopeCore};
use crate::pool::registry::Registry;
use crate::sync::Ordering;
use crate::sync::time::{Instant, nanos};

impl ScopeCore {
    /// Whether this scope, or the child it is nested in (or any scope
    /// further out), has been cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        // ORDERING: Acquire pairs with the store in `cancel`.
        if self.cancelled.load(Ordering::Acquire) || self.deadline_passed() {
            return true;
        }
        match self.parent() {
            // SAFETY: the parent task (when kept) and scope outlive this
            // scope (`ParentScope`).
            Some(p) => unsafe { p.task.is_some_and(|t| t.is_closed()) || p.scope.as_ref().is_cancelled() },
            None => false,
        }
    }

    /// Whether this scope's own `cancel_after` deadline has passed.
    #[inline]
    fn deadline_passed(&self) -> bool {
        // ORDERING: Relaxed: a deadline is a time, not a publication; the
        // cancellation it stands for is published by `cancel`.
        let deadline = self.deadline.load(Ordering::Relaxed);
        deadline != NO_DEADLINE && nanos(Instant::now()) >= deadline
    }

    /// Cancels the scope at `at` (`cancel_after`): the pool's deadline
    /// thread calls `cancel` then, and every cancellation check reads the
    /// deadline meanwhile. Refused once the scope has closed.
    pub(crate) fn cancel_at(&self, at: Instant) {
        let mut inner = self.inner.lock();
        if inner.closed {
            return;
        }
        // ORDERING: Relaxed: see `deadline_passed`.
        self.deadline.fetch_min(nanos(at).min(NO_DEADLINE - 1), Ordering::Relaxed);
        let core = CorePtr(self);
        // The lock order is scope → deadlines here; the deadline thread runs
        // the callback with no lock held, and the close cancels with none.
        let callback = Box::new(move || {
            // SAFETY: the close removes this callback (and waits for it if
            // it is running) before the core goes away (`close_after_children`).
            unsafe { (*core.get()).cancel() }
        });
        if let Some(key) = Registry::register_deadline(&self.registry, at, callback) {
            inner.deadlines.push(key);
        }
    }

    /// Cancels the scope: its async children, its nested scopes, and the
    /// blocking children that have not started.
    pub(crate) fn cancel(&self) {
        // ORDERING: AcqRel: Release for the readers in `is_cancelled`; the
        // registrations below are ordered by the lock.
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.lock();
        for (_, task) in inner.tasks.iter() {
            task.cancel_by_parent();
        }
        for (_, nested) in inner.nested.iter() {
            // SAFETY: registered scopes are valid until they unregister,
            // which needs this lock.
            unsafe { nested.as_ref() }.cancel();
        }
    }
}

/// A `Send` pointer to a scope's core, for its deadline callback.
#[derive(Copy, Clone)]
struct CorePtr(*const ScopeCore);

impl CorePtr {
    fn get(self) -> *const ScopeCore {
        self.0
    }
}

// SAFETY: `ScopeCore` is `Sync`, so its address may go to another thread;
// the close removes the callback before the core goes (see `cancel_at`).
unsafe impl Send for CorePtr {}
