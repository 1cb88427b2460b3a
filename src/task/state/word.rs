//! The state word's bits, and [`Snapshot`], a value of the word with its
//! invariants (the table and the rules are in the parent's module docs).
//!
//! Prior art: async-task's `state.rs` (<https://docs.rs/async-task>): one named bit per fact,
//! below a reference count.

/// The task sits in a ready queue (local or remote), or was woken while
/// `RUNNING` and must be queued again when the poll returns. A task is in
/// at most one queue at a time: only the transition that sets this bit may
/// push it.
pub(super) const SCHEDULED: usize = 1 << 0;

/// The loop's thread is polling the future right now. Set and cleared only
/// by that thread.
pub(super) const RUNNING: usize = 1 << 1;

/// The loop is done with the task: the future has been dropped and the stage
/// holds the final result (or nothing, if no handle wanted it). From here on
/// only the handle touches the stage. Never cleared.
pub(super) const COMPLETED: usize = 1 << 2;

/// Cancellation was requested. The loop drops the future the next time it
/// looks at the task (which the requester guarantees by scheduling it) and
/// completes it with a "cancelled" error.
pub(super) const CLOSED: usize = 1 << 3;

/// A handle exists and owns the right to the output. Whoever of
/// {completion, handle drop} observes the other one's bit already gone
/// drops the output.
pub(super) const HANDLE: usize = 1 << 4;

/// The handle stored a waker in the header's `awaiter` slot; completion must
/// take and wake it.
pub(super) const AWAITER: usize = 1 << 5;

/// Set together with `COMPLETED` when the task's result is a failure: a
/// panic, or an error value of a try child (`raw::Judge`). A task with a
/// completion hook (a nursery child) keeps a failure nobody has observed
/// for its scope, which reports it; see `TAKEN`.
pub(super) const FAILED: usize = 1 << 6;

/// The result of a `FAILED` nursery child was claimed: by its handle
/// (`join`/`.await` observed the failure) or by its scope (which reports
/// it). Whoever sets this bit first owns the stage; used only for failed
/// children whose handle was alive at completion, the one case where two
/// parties may both want the result.
pub(super) const TAKEN: usize = 1 << 7;

/// A canceller is telling the task's parent about the cancellation (the
/// scopes opened inside the task must hear of it: L4 in docs/guarantees.md).
/// Set in the same RMW that sets `CLOSED`, only while the task is not
/// `COMPLETED`; cleared by that canceller when it is done. A completing
/// task waits for it to clear before it calls its hook's `on_complete`
/// (after which the parent may be freed), so the canceller may use the
/// parent throughout. The canceller waits for nothing the completer holds.
pub(super) const CANCELLING: usize = 1 << 8;

/// One reference. Holders: the loop's task table, the queue entry that
/// `SCHEDULED` stands for (for a nursery child not yet started: its pool
/// job), every `Waker`, the handle, and a scope's registration.
pub(super) const REFERENCE: usize = 1 << 9;

/// The mask of the reference count.
pub(super) const REFERENCE_MASK: usize = !(REFERENCE - 1);

/// A value of the state word, read or written by one transition.
#[must_use]
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(super) usize);

impl Snapshot {
    pub(crate) fn is_scheduled(self) -> bool {
        self.0 & SCHEDULED != 0
    }
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_completed(self) -> bool {
        self.0 & COMPLETED != 0
    }
    pub(crate) fn is_closed(self) -> bool {
        self.0 & CLOSED != 0
    }
    pub(crate) fn has_handle(self) -> bool {
        self.0 & HANDLE != 0
    }
    pub(crate) fn has_awaiter(self) -> bool {
        self.0 & AWAITER != 0
    }
    pub(crate) fn is_failed(self) -> bool {
        self.0 & FAILED != 0
    }
    pub(crate) fn is_taken(self) -> bool {
        self.0 & TAKEN != 0
    }
    pub(crate) fn is_cancelling(self) -> bool {
        self.0 & CANCELLING != 0
    }
    pub(crate) fn refs(self) -> usize {
        (self.0 & REFERENCE_MASK) / REFERENCE
    }

    /// Which invariant of the module docs this value breaks, if any.
    pub(super) fn broken(self) -> Option<&'static str> {
        if self.is_completed() && (self.is_scheduled() || self.is_running()) {
            return Some("COMPLETED ⇒ ¬SCHEDULED ∧ ¬RUNNING");
        }
        if self.is_failed() && !self.is_completed() {
            return Some("FAILED ⇒ COMPLETED");
        }
        if self.is_taken() && !(self.is_completed() && self.is_failed()) {
            return Some("TAKEN ⇒ COMPLETED ∧ FAILED");
        }
        if self.is_cancelling() && !self.is_closed() {
            return Some("CANCELLING ⇒ CLOSED");
        }
        if (self.is_scheduled() || self.is_running() || self.has_handle()) && self.refs() == 0 {
            return Some("SCHEDULED ∨ RUNNING ∨ HANDLE ⇒ count ≥ 1");
        }
        None
    }

    /// `self`, after asserting (in debug builds) that it keeps every
    /// invariant: called on each value a transition writes.
    #[inline]
    #[track_caller]
    pub(super) fn check(self) -> Self {
        self.assert_valid();
        self
    }

    /// Asserts (in debug builds) that `self` keeps every invariant.
    #[inline]
    #[track_caller]
    pub(super) fn assert_valid(self) {
        if cfg!(debug_assertions) {
            if let Some(rule) = self.broken() {
                panic!("knotwork bug: task state {self:?} breaks the invariant {rule}");
            }
        }
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (SCHEDULED, "SCHEDULED"),
            (RUNNING, "RUNNING"),
            (COMPLETED, "COMPLETED"),
            (CLOSED, "CLOSED"),
            (HANDLE, "HANDLE"),
            (AWAITER, "AWAITER"),
            (FAILED, "FAILED"),
            (TAKEN, "TAKEN"),
            (CANCELLING, "CANCELLING"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit != 0 {
                f.write_str(if first { "" } else { "|" })?;
                f.write_str(name)?;
                first = false;
            }
        }
        write!(f, "{}refs={}", if first { "" } else { " " }, self.refs())
    }
}
