//! A scope's side of its children's failures, and of its body: the index
//! each child gets in spawn order (`fork`), what a completion does to the
//! scope (`child_finished`: keep the failure, ask the policy, cancel), and
//! how a failure cancels the body (`cancel_body`, `watch_body`,
//! `enter_body`). The rules are F1–F7 in docs/guarantees.md.
//!
//! Prior art: Java's `StructuredTaskScope.Joiner` (JEP 505, <https://openjdk.org/jeps/505>) for
//! the policy's hooks; Trio's nursery, whose body a child's crash cancels
//! (<https://trio.readthedocs.io/en/stable/reference-core.html#nurseries-and-spawning>).

use super::core::ScopeCore;
use super::latch::CountLatch;
use super::policy::{ChildInfo, Verdict};
use crate::failure::{ChildFailure, Failure, PanicPayload};
use crate::hooks::Outcome;
use crate::sync::Ordering;
use crate::task::{BodyGuard, Completion, RawFailure, TaskRef};
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::task::Waker;

impl ScopeCore {
    /// Marks this thread as running this scope's body until the guard
    /// drops: the body sees the scope's cancellation, and scopes opened in
    /// it nest in this scope (F4 in docs/guarantees.md).
    #[inline]
    pub(crate) fn enter_body(&self) -> BodyGuard {
        BodyGuard::enter((self as *const ScopeCore).cast())
    }

    /// The next child's index, told to the policy (if any) before it runs.
    #[inline]
    pub(super) fn fork(&self, location: &'static Location<'static>) -> usize {
        // ORDERING: Relaxed: a counter; the index is carried by the child.
        let index = self.spawned.fetch_add(1, Ordering::Relaxed);
        if let Some(policy) = self.policy {
            let info = ChildInfo { index, location };
            // SAFETY: the policy outlives every child (field docs); the
            // spawner holds a unit, so the scope has not closed.
            let forked = catch_unwind(AssertUnwindSafe(|| unsafe { policy.as_ref() }.fork(&info)));
            if let Err(payload) = forked {
                // The child will never exist: its unit goes back (the last
                // access to the scope here), and the policy's panic goes on
                // at the spawn, as the spawner's own.
                // SAFETY: the unit `spawn` took for this child, given back once.
                unsafe { CountLatch::decrement(&raw const self.pending) };
                resume_unwind(payload);
            }
        }
        index
    }

    /// Bookkeeping shared by both kinds of child, before the unit goes: the
    /// failure is kept (or left to the handle), and the policy decides
    /// whether the scope is cancelled (a plain scope: on any failure).
    #[inline]
    pub(super) fn child_finished(&self, task: &TaskRef, completion: Completion) {
        let failed = matches!(completion.outcome, Outcome::Panicked | Outcome::Failed);
        if !failed && self.policy.is_none() {
            return; // the common case: nothing to keep, nobody to ask
        }
        self.child_finished_slow(task, completion, failed);
    }

    #[cold]
    fn child_finished_slow(&self, task: &TaskRef, completion: Completion, mut failed: bool) {
        if failed {
            if let Some(failure) = completion.orphan_failure {
                let failure = child_failure(task, failure);
                self.lock().tables().failures.push(failure);
            } else if completion.handle_alive {
                self.lock().tables().unobserved.push(task.clone());
            }
        }
        let verdict = match self.policy {
            None if failed => Verdict::Cancel,
            None => Verdict::Continue,
            Some(policy) => {
                let hook = task.parent().expect("a child has a completion hook");
                let info = ChildInfo { index: hook.index(), location: hook.location };
                let decided = catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: the policy outlives every child (field docs),
                    // and this child still holds its unit.
                    unsafe { policy.as_ref() }.complete(&info, completion.outcome)
                }));
                decided.unwrap_or_else(|payload| {
                    // A panicking policy must not skip this child's unit (the
                    // scope would never close): its panic is a failure of
                    // the scope, kept with the child it was deciding on, and
                    // the scope is cancelled.
                    let failure = ChildFailure::new(
                        info.index,
                        info.location,
                        Failure::Panic(PanicPayload::new(payload)),
                    );
                    self.lock().tables().failures.push(failure);
                    failed = true;
                    Verdict::Cancel
                })
            }
        };
        if verdict == Verdict::Cancel {
            if failed {
                self.cancel_body();
            }
            self.cancel();
        }
    }

    /// Before a poll of a `scope_async` body: whether the body may run
    /// (a failure has not cancelled it), keeping `waker` to wake it when a
    /// failure does.
    pub(crate) fn watch_body(&self, waker: &Waker) -> bool {
        // ORDERING: Acquire pairs with the Release in `cancel_body`.
        if self.body_cancelled.load(Ordering::Acquire) {
            return false;
        }
        let mut locked = self.lock();
        let inner = locked.tables();
        if !inner.body_waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            inner.body_waker = Some(waker.clone());
        }
        drop(locked);
        // Checked again after the waker is in place: a failure between the
        // two either saw the waker or is seen here.
        // ORDERING: as above.
        !self.body_cancelled.load(Ordering::Acquire)
    }

    /// Whether a failure is the scope's still: kept for it, or left to a
    /// handle that has not taken it yet.
    pub(crate) fn has_unclaimed_failures(&self) -> bool {
        let locked = self.lock();
        locked
            .tables_if_any()
            .is_some_and(|inner| !inner.failures.is_empty() || inner.unobserved.iter().any(|t| !t.is_taken()))
    }

    /// A failure cancels the body too: a `scope_async` body is woken, to be
    /// dropped at its next poll.
    fn cancel_body(&self) {
        // ORDERING: Release pairs with the body's Acquire check in its poll.
        self.body_cancelled.store(true, Ordering::Release);
        let waker = self.lock().tables_mut_if_any().and_then(|t| t.body_waker.take());
        if let Some(waker) = waker {
            crate::task::wake_caught(waker);
        }
    }
}

/// A failure with the child it came from.
pub(super) fn child_failure(task: &TaskRef, failure: RawFailure) -> ChildFailure {
    let hook = task.parent().expect("a child has a completion hook");
    ChildFailure::new(hook.index(), hook.location, failure.into_failure())
}
