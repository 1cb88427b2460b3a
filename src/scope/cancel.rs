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

use super::core::{NO_DEADLINE, ParentScope, ScopeCore};
use crate::pool::registry::Registry;
use crate::sync::Ordering;
use crate::sync::time::{Instant, nanos};

pub(super) use crate::task::cancellation_changed;
use crate::task::cancellation_epoch;

/// `above`'s cached word: the epoch, shifted, then two bits.
const ABOVE_CANCELLED: u64 = 1;
const ABOVE_DEADLINE: u64 = 2;
/// `above` holds no answer yet.
pub(super) const ABOVE_UNKNOWN: u64 = u64::MAX;

impl ScopeCore {
    /// Whether this scope, or the child it is nested in (or any scope
    /// further out), has been cancelled.
    ///
    /// A nested scope asks every scope up its lineage; to keep that O(1)
    /// in the common case, the answer for what is *above* this scope is
    /// cached with the epoch it was computed at (`task::cancellation_epoch`): until some
    /// cancellation happens anywhere, the cache is the answer. A deadline
    /// above (a time, not an event) is only cached as "there is one", and
    /// then the lineage is walked as before, so a passed deadline is seen
    /// at once (L1 in docs/guarantees.md).
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        // ORDERING: Acquire pairs with the store in `cancel`.
        if self.cancelled.load(Ordering::Acquire) || self.deadline_passed() {
            return true;
        }
        // A top-level scope stops here (`parent` reads `opened` once), and
        // so does one opened inside a shield.
        let Some(p) = self.cancel_parent() else { return false };
        if cfg!(loom) {
            return walk_from(p);
        }
        let (cancelled, deadline) = self.above_of(p, cancellation_epoch());
        cancelled || (deadline && walk_from(p))
    }

    /// [`is_cancelled`](Self::is_cancelled) for a caller that may hold no
    /// unit of this scope: `Scope::is_cancelled` and `Debug`, reached
    /// through an async scope's `ScopeHandle`, which may outlive the scope
    /// and the scopes it was nested in. The lineage above is read only
    /// while a unit taken here keeps this scope open — and so its parent
    /// link alive (the scope holds its parent's unit until it closes);
    /// once the scope has finished, its own flag and deadline answer.
    /// (Found by review: the walk read a sync parent's freed frame.) A sync
    /// scope's `&Scope` never outlives it, so it needs no unit.
    pub(crate) fn is_cancelled_from_outside(&self) -> bool {
        if self.is_sync() {
            return self.is_cancelled();
        }
        if !self.pending.try_increment() {
            // ORDERING: as in `is_cancelled`.
            return self.cancelled.load(Ordering::Acquire) || self.deadline_passed();
        }
        let answer = self.is_cancelled();
        // SAFETY: the unit taken just above; `self` stays alive after it
        // (the caller's handle keeps the core), and nothing of the lineage
        // is touched after the decrement.
        unsafe { super::latch::CountLatch::decrement(&raw const self.pending) };
        answer
    }

    /// Above this scope, as of `epoch`: whether a task or scope is
    /// cancelled, and whether a scope has a deadline. Cached per epoch.
    fn above(&self, epoch: u64) -> (bool, bool) {
        self.cancel_parent().map_or((false, false), |p| self.above_of(p, epoch))
    }

    /// [`above`](Self::above), for this scope's parent link `p`.
    fn above_of(&self, p: ParentScope, epoch: u64) -> (bool, bool) {
        // ORDERING: Relaxed: the word is only a cache of an answer that was
        // right at `epoch` (its writer read the flags after reading that
        // epoch); `epoch` itself was read with Acquire.
        let cached = self.above.load(Ordering::Relaxed);
        if cached != ABOVE_UNKNOWN && cached >> 2 == epoch {
            return (cached & ABOVE_CANCELLED != 0, cached & ABOVE_DEADLINE != 0);
        }
        // SAFETY: the parent task (when kept) and scope outlive this scope
        // (`ParentScope`).
        let (task_closed, scope) = unsafe { (p.task.is_some_and(|t| t.is_closed()), p.scope.as_ref()) };
        // ORDERING: as in `is_cancelled`.
        let own = scope.cancelled.load(Ordering::Acquire);
        // ORDERING: Relaxed: see `deadline_passed`.
        let has_deadline = scope.deadline.load(Ordering::Relaxed) != NO_DEADLINE;
        let (up_cancelled, up_deadline) = scope.above(epoch);
        let answer = (task_closed || own || up_cancelled, has_deadline || up_deadline);
        let word =
            (epoch << 2) | (u64::from(answer.0) * ABOVE_CANCELLED) | (u64::from(answer.1) * ABOVE_DEADLINE);
        // ORDERING: Relaxed: see the load above.
        self.above.store(word, Ordering::Relaxed);
        answer
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
        let mut inner = self.lock();
        if inner.is_closed() {
            return;
        }
        // ORDERING: Relaxed: see `deadline_passed`.
        self.deadline.fetch_min(nanos(at).min(NO_DEADLINE - 1), Ordering::Relaxed);
        // A scope below may have cached "no deadline above".
        cancellation_changed();
        let core = CorePtr(self);
        // The lock order is scope → deadlines here; the deadline thread runs
        // the callback with no lock held, and the close cancels with none.
        let callback = Box::new(move || {
            // SAFETY: the close removes this callback (and waits for it if
            // it is running) before the core goes away (`close_after_children`).
            unsafe { (*core.get()).cancel() }
        });
        if let Some(key) = Registry::register_deadline(&self.registry, at, callback) {
            inner.tables().deadlines.push(key);
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
        cancellation_changed();
        let locked = self.lock();
        let Some(inner) = locked.tables_if_any() else { return };
        for (_, task) in inner.tasks.iter() {
            task.cancel_by_parent();
        }
        for (_, nested) in inner.nested.iter() {
            // SAFETY: registered scopes are valid until they unregister,
            // which needs this lock.
            let nested = unsafe { nested.as_ref() };
            // One opened inside a shield is out of reach from above.
            if !nested.is_shielded() {
                nested.cancel();
            }
        }
    }
}

/// Whether anything from the parent link `p` up is cancelled, walking the
/// whole lineage (deadlines included): the uncached answer.
fn walk_from(p: ParentScope) -> bool {
    // SAFETY: the parent task (when kept) and scope outlive the scope the
    // link belongs to (`ParentScope`).
    unsafe {
        p.task.is_some_and(|t| t.is_closed()) || {
            let scope = p.scope.as_ref();
            // ORDERING: as in `is_cancelled`.
            scope.cancelled.load(Ordering::Acquire)
                || scope.deadline_passed()
                || scope.cancel_parent().is_some_and(walk_from)
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
