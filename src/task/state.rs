//! The task state machine: one word, flag bits below a reference count,
//! and every transition of it as one function.
//!
//! One `AtomicUsize` per task holds everything another thread may need to
//! know, so that every transition is a single atomic read-modify-write and
//! the order of those RMWs decides every race (the total modification order
//! of one atomic is what the ownership rules in `raw.rs` lean on). No other
//! file touches the word: each transition below is a method of [`State`]
//! that returns a `#[must_use]` value saying what the caller must do next,
//! and checks the invariants on the word it wrote (in debug builds). The
//! layout follows async-task's `state.rs` (<https://docs.rs/async-task>);
//! the typed transitions follow tokio's `runtime/task/state.rs`
//! (<https://github.com/tokio-rs/tokio/blob/master/tokio/src/runtime/task/state.rs>).
//!
//! # Bits
//!
//! | bit | set by | cleared by | meaning |
//! |---|---|---|---|
//! | `SCHEDULED` | a wake, a cancel, birth | the run that takes the entry, completion | in a queue (or woken while running: queue again after the poll) |
//! | `RUNNING` | the runner | the runner | the future is being polled |
//! | `COMPLETED` | completion | never | the future is gone; the stage holds the result |
//! | `CLOSED` | a cancel | never | cancellation requested |
//! | `HANDLE` | birth | the handle's drop | a handle owns the right to the output |
//! | `AWAITER` | the handle's poll | never | the header's `awaiter` slot holds a waker |
//! | `FAILED` | completion | never | the result is a failure (a panic, or a try child's `Err`) |
//! | `TAKEN` | handle or scope | never | a nursery child's failure was claimed |
//! | `CANCELLING` | a cancel that tells the parent | that canceller | the parent is being told |
//! | count | clones, wakes, birth | drops | references held (`REFERENCE` per unit) |
//!
//! # Invariants
//!
//! Checked after every transition ([`Snapshot::check`]):
//!
//! 1. `COMPLETED ⇒ ¬SCHEDULED ∧ ¬RUNNING`: a finished task is in no queue
//!    and nobody polls it.
//! 2. `FAILED ⇒ COMPLETED`, and `TAKEN ⇒ COMPLETED ∧ FAILED`.
//! 3. `CANCELLING ⇒ CLOSED`.
//! 4. `SCHEDULED ∨ RUNNING ∨ HANDLE ⇒ count ≥ 1`: the queue entry, the
//!    runner and the handle each hold a reference.
//!
//! **Shields.** Next to the word, the header counts the shields active in
//! the task (`raw::Header::shields`, `knotwork::shield`). While it is not
//! zero, a `CLOSED` task is polled on rather than dropped (`start_run`,
//! `end_poll`) and its wakes count (`wake`): it waits on its shielded work.
//! The shield that brings the count to zero re-arms the task
//! ([`rearm`](State::rearm)), so a task whose last shield ended outside its
//! poll (a shield moved to another task) is queued and dropped. Why no
//! decision misses that decrement: the re-arm is always an RMW of the word
//! (even when it finds the task queued), and the runner reads the count
//! only after an RMW of its own (`start_run`'s exchange; `end_poll`'s
//! `fetch_or(0)` for a closed task). The two RMWs are ordered in the word's
//! modification order: if the re-arm's is first, the runner's reads from it
//! and sees the count at zero; if the runner's is first, the re-arm sees
//! what the runner left (idle: queue it; running: mark it to requeue;
//! queued: its next run's RMW comes after). The loom model
//! `a_shield_ended_elsewhere_rearms_its_task` found the race this closes:
//! a re-arm that found the task queued and did no RMW, and a run that read
//! a stale count of 1.
//!
//! Transitions also assert their preconditions (a run starts only from a
//! queued, idle, unfinished task; the handle is dropped once).

use crate::sync::{AtomicU32, AtomicUsize, Ordering};

/// Whether a shield is active in the task (module docs, "Shields").
#[inline]
fn shielded(shields: &AtomicU32) -> bool {
    // ORDERING: Acquire: read after the word; pairs with the Release of a
    // shield's change made before its re-arm (module docs).
    shields.load(Ordering::Acquire) != 0
}

/// The bits and the word's values, apart (`state/word.rs`).
mod word;

pub(crate) use word::Snapshot;
use word::*;

/// What the runner does with a task it took from a queue
/// ([`State::start_run`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StartRun {
    /// `RUNNING` is set and `SCHEDULED` cleared: poll the future.
    Poll,
    /// Cancellation was requested: drop the future and complete (the state
    /// is unchanged; completion clears the bits).
    Cancel,
}

/// What the runner does after a poll returned `Pending`
/// ([`State::end_poll`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EndPoll {
    /// `RUNNING` is clear; a later wake queues the task. The runner's
    /// reference is released.
    Idle,
    /// It was woken during the poll: `RUNNING` is clear and `SCHEDULED`
    /// stays set; the runner's reference becomes the queue entry.
    Requeue,
    /// Cancelled during the poll: drop the future now and complete.
    Cancel,
}

/// What a wake does ([`State::wake`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Done, being cancelled (already queued by the canceller), or already
    /// queued: nothing to do.
    Absorbed,
    /// Running: `SCHEDULED` is set and the runner queues it after the poll.
    Deferred,
    /// Idle: `SCHEDULED` is set and a reference added for the queue entry,
    /// which the waker must push.
    Queue,
}

/// What a cancel does ([`State::cancel`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Cancel {
    /// The task was idle: a reference was added for the queue entry, which
    /// the canceller must push so the runner drops the future.
    pub(crate) queue: bool,
    /// `CANCELLING` was set: the canceller tells the parent, then calls
    /// [`State::end_cancelling`].
    pub(crate) tell_parent: bool,
}

/// What completion found ([`State::complete`]): the word before it.
#[must_use]
#[derive(Copy, Clone, Debug)]
pub(crate) struct Completed(pub(crate) Snapshot);

/// The state word of one task.
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: queued (its first queue entry or pool job is one of the
    /// `refs` references), with a handle.
    pub(crate) fn new(refs: usize) -> State {
        State(AtomicUsize::new(Snapshot(SCHEDULED | HANDLE | (refs * REFERENCE)).check().0))
    }

    /// The current value, for status reads (`is_completed`, `is_closed`).
    pub(crate) fn load(&self) -> Snapshot {
        // ORDERING: Acquire, so a caller that then reads the output is
        // ordered after the completion, and a reader of CLOSED sees what
        // the canceller did first.
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// The runner took the task's queue entry (or pool job). `shields`: the
    /// header's count of active shields.
    pub(crate) fn start_run(&self, shields: &AtomicU32) -> StartRun {
        // ORDERING: Acquire pairs with the Release of a cancelling handle.
        let mut state = self.0.load(Ordering::Acquire);
        loop {
            let now = Snapshot(state);
            // Checked in release builds too (the word is loaded anyway): a
            // run of a completed task would drop its stage again and tell
            // its parent twice. No path queues a completed task (completion
            // clears `SCHEDULED`, and teardown drops the queues), so this
            // panics only on a bug in knotwork, before anything is touched.
            assert!(
                !now.is_completed(),
                "knotwork bug: a run started from {now:?} (a run needs an unfinished task)"
            );
            debug_assert!(
                now.is_scheduled() && !now.is_running(),
                "knotwork bug: a run started from {now:?} (a run needs a queued, idle task)"
            );
            let next = Snapshot((state & !SCHEDULED) | RUNNING).check();
            // ORDERING: Acquire, as above; nothing is published by this RMW.
            // For a closed task, AcqRel: the shield count is read after this
            // RMW, which follows (or is followed by) any re-arm's RMW in the
            // word's order (module docs, "Shields").
            match self.0.compare_exchange_weak(state, next.0, Ordering::AcqRel, Ordering::Acquire) {
                // A closed task is dropped by its runner (it is `RUNNING` now,
                // as when a cancel is seen at the end of a poll), unless a
                // shield keeps it.
                Ok(_) if now.is_closed() && !shielded(shields) => return StartRun::Cancel,
                Ok(_) => return StartRun::Poll,
                Err(actual) => state = actual,
            }
        }
    }

    /// The poll returned `Pending`. `shields`: as for `start_run`.
    pub(crate) fn end_poll(&self, shields: &AtomicU32) -> EndPoll {
        // ORDERING: Acquire sees a cancel's or waker's state change.
        let mut state = self.0.load(Ordering::Acquire);
        loop {
            debug_assert!(
                Snapshot(state).is_running(),
                "knotwork bug: a poll ended in {:?}",
                Snapshot(state)
            );
            if Snapshot(state).is_closed() {
                // Read the shield count only after an RMW of the word: it
                // then sees the decrement of any shield whose re-arm came
                // before it (module docs, "Shields"); a later re-arm changes
                // the word (or finds it `SCHEDULED`), failing or requeueing
                // the exchange below.
                // ORDERING: AcqRel, as the re-arm's RMW.
                state = self.0.fetch_or(0, Ordering::AcqRel);
                if !shielded(shields) {
                    return EndPoll::Cancel;
                }
            }
            // What the exchange below decides from (after the RMW above, if
            // any: a wake may have set `SCHEDULED` since the first load).
            let now = Snapshot(state);
            let next = Snapshot(state & !RUNNING).check();
            // ORDERING: Release so the poll's writes happen-before whoever
            // observes the task idle (a waker that then queues it).
            match self.0.compare_exchange_weak(state, next.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return if now.is_scheduled() { EndPoll::Requeue } else { EndPoll::Idle },
                Err(actual) => state = actual,
            }
        }
    }

    /// The last shield of the task ended: queue it (as a wake would, but
    /// also when it is `CLOSED`), so that a cancellation that waited for
    /// the shield takes effect. Absorbed if it is queued, done, or running
    /// (then `RUNNING` is followed by `end_poll`, which sees the count).
    ///
    /// Only a `CLOSED` task is re-armed; for any other the RMW leaves the
    /// word as it is (a later cancel then sees the count at zero: the
    /// cancel's RMW comes after this one). Returns whether it was closed.
    pub(crate) fn rearm(&self) -> (Wake, bool) {
        // ORDERING: Relaxed load; the CAS decides.
        let mut state = self.0.load(Ordering::Relaxed);
        loop {
            let closed = state & CLOSED != 0;
            let (next, outcome) = if !closed || state & (COMPLETED | SCHEDULED) != 0 {
                // Still an RMW (of the same value): the runner's next RMW of
                // the word comes after it and so sees the count's decrement.
                (state, Wake::Absorbed)
            } else if state & RUNNING != 0 {
                (state | SCHEDULED, Wake::Deferred)
            } else {
                ((state + REFERENCE) | SCHEDULED, Wake::Queue)
            };
            Snapshot(next).assert_valid();
            // ORDERING: AcqRel, as in `wake`: the shield's count change
            // happens-before whoever reads this value of the word.
            match self.0.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return (outcome, closed),
                Err(actual) => state = actual,
            }
        }
    }

    /// The runner stored the result in the stage: publish it.
    pub(crate) fn complete(&self, failed: bool) -> Completed {
        let failed = if failed { FAILED } else { 0 };
        // ORDERING: Release publishes the stage write to the handle's Acquire;
        // Acquire so that, if the handle is gone, its last accesses to the
        // stage happen-before our drop of the output.
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s & !(RUNNING | SCHEDULED)) | COMPLETED | failed)
            })
            .unwrap_or_else(|s| s);
        debug_assert!(!Snapshot(prev).is_completed(), "knotwork bug: a task completed twice");
        Snapshot((prev & !(RUNNING | SCHEDULED)) | COMPLETED | failed).assert_valid();
        Completed(Snapshot(prev))
    }

    /// Waits until a canceller that is telling the parent is done
    /// (`CANCELLING` clear): a completing task calls this before its
    /// hook's `on_complete`. The canceller waits for nothing the completer
    /// holds, so this ends.
    pub(crate) fn wait_cancelling(&self) {
        // ORDERING: Acquire pairs with the canceller's Release clear.
        while self.0.load(Ordering::Acquire) & CANCELLING != 0 {
            crate::sync::thread::yield_now();
        }
    }

    /// A waker fired. `shields`: as for `start_run`.
    pub(crate) fn wake(&self, shields: &AtomicU32) -> Wake {
        // ORDERING: Relaxed load; the CAS decides.
        let mut state = self.0.load(Ordering::Relaxed);
        loop {
            // A closed task is queued already (its canceller saw to it),
            // unless a shield keeps it polled: then its wakes count. The
            // count is read after an Acquire load of the word, which sees
            // the poll's end (Release) that published the shield's count.
            // ORDERING: Acquire, as said.
            let closed = state & CLOSED != 0 && {
                state = self.0.load(Ordering::Acquire);
                !shielded(shields)
            };
            if closed || state & (COMPLETED | SCHEDULED) != 0 {
                return Wake::Absorbed;
            }
            let (next, outcome) = if state & RUNNING != 0 {
                (state | SCHEDULED, Wake::Deferred)
            } else {
                ((state + REFERENCE) | SCHEDULED, Wake::Queue)
            };
            Snapshot(next).assert_valid();
            // ORDERING: Release: what the waker did before waking happens-before
            // the poll that the queue entry leads to (the queue's own lock or the
            // RUNNING-clear Acquire carries it on). Acquire: a task that was
            // polled (so a waker exists) was bound to its loop before that poll.
            match self.0.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return outcome,
                Err(actual) => state = actual,
            }
        }
    }

    /// Requests cancellation; `None` if the task is already completed or
    /// closed. `tell_parent`: set `CANCELLING` (the task has a parent to
    /// tell).
    pub(crate) fn cancel(&self, tell_parent: bool) -> Option<Cancel> {
        // ORDERING: Relaxed load; the CAS below decides.
        let mut state = self.0.load(Ordering::Relaxed);
        loop {
            if state & (COMPLETED | CLOSED) != 0 {
                return None;
            }
            let mut next = state | CLOSED;
            if tell_parent {
                next |= CANCELLING;
            }
            let queue = state & (SCHEDULED | RUNNING) == 0;
            if queue {
                next = (next | SCHEDULED) + REFERENCE;
            }
            Snapshot(next).assert_valid();
            // ORDERING: Release so the runner's Acquire in `start_run` sees
            // CLOSED with everything the canceller did before; Acquire so
            // that, when we must queue, the owner binding is visible (it
            // happened-before the runner's Release that cleared RUNNING).
            match self.0.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Cancel { queue, tell_parent }),
                Err(actual) => state = actual,
            }
        }
    }

    /// The canceller is done telling the parent.
    pub(crate) fn end_cancelling(&self) {
        // ORDERING: Release pairs with the completer's Acquire wait: our
        // use of the parent happens-before its `on_complete`.
        let prev = self.0.fetch_and(!CANCELLING, Ordering::Release);
        debug_assert!(Snapshot(prev).is_cancelling(), "knotwork bug: CANCELLING cleared twice");
    }

    /// Cancels on the loop's thread (at teardown, or for a task spawned onto
    /// or adopted by a loop already torn down): sets `CLOSED`; true if the
    /// task is unfinished, and the caller (the runner) must drop the future
    /// and complete it.
    #[must_use]
    pub(crate) fn close_in_place(&self) -> bool {
        // ORDERING: Acquire pairs with the completion Release (none here:
        // only the runner completes, and that is the caller).
        let prev = self.0.fetch_or(CLOSED, Ordering::Acquire);
        Snapshot(prev | CLOSED).assert_valid();
        !Snapshot(prev).is_completed()
    }

    /// The handle stored its waker in the `awaiter` slot (under the slot's
    /// lock); returns the word before, whose `COMPLETED` says whether
    /// completion came first.
    pub(crate) fn set_awaiter(&self) -> Snapshot {
        // ORDERING: AcqRel. This RMW and the one in `complete` are ordered in
        // the state word: if ours is first, `complete` sees AWAITER and takes
        // the waker under the lock we still hold; if it is second, we see
        // COMPLETED here and take the output ourselves (Acquire for rule 2).
        let prev = self.0.fetch_or(AWAITER, Ordering::AcqRel);
        Snapshot(prev | AWAITER).assert_valid();
        Snapshot(prev)
    }

    /// Claims a failed child's result for the caller (its handle or its
    /// scope); true if the caller is first, and so owns the stage.
    #[must_use]
    pub(crate) fn take(&self) -> bool {
        // ORDERING: AcqRel: whoever sets TAKEN first owns the stage; Acquire
        // so the loser's view is ordered after the winner's claim.
        let prev = self.0.fetch_or(TAKEN, Ordering::AcqRel);
        Snapshot(prev | TAKEN).assert_valid();
        !Snapshot(prev).is_taken()
    }

    /// The handle is dropped; returns the word before.
    pub(crate) fn drop_handle(&self) -> Snapshot {
        // ORDERING: AcqRel: Acquire to see the stage written before
        // COMPLETED (rule 2), Release so our own stage accesses (a taken
        // output) happen-before a later drop by the runner.
        let prev = self.0.fetch_and(!HANDLE, Ordering::AcqRel);
        debug_assert!(Snapshot(prev).has_handle(), "knotwork bug: a task handle was dropped twice");
        Snapshot(prev)
    }

    /// The handle's drop when its reference is the last one: `HANDLE` and
    /// the reference go in one RMW (a joined child's usual end), and the
    /// caller frees the task. `None`, with nothing changed, if another
    /// reference remains: then [`drop_handle`](Self::drop_handle) and
    /// [`ref_dec`](Self::ref_dec), in turn.
    ///
    /// With one reference left — the handle's — nobody else can change the
    /// word (every other party holds a reference), so the exchange fails
    /// only if the load was stale, and then the slow path is taken.
    #[must_use]
    #[inline]
    pub(crate) fn drop_last_handle(&self) -> Option<Snapshot> {
        // ORDERING: Relaxed: only a guess; the exchange decides.
        let cur = self.0.load(Ordering::Relaxed);
        if Snapshot(cur).refs() != 1 {
            return None;
        }
        debug_assert!(Snapshot(cur).has_handle(), "knotwork bug: a task handle was dropped twice");
        // ORDERING: AcqRel, as `drop_handle` and `ref_dec` together: Acquire
        // to see the stage and every other party's accesses before their
        // releases, Release for ours before the free.
        self.0
            .compare_exchange(cur, cur - HANDLE - REFERENCE, Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            .map(Snapshot)
    }

    /// Adds a reference, made from an existing one.
    pub(crate) fn ref_inc(&self) {
        // ORDERING: a new reference is made from an existing one, which already
        // keeps the task alive; nothing is published (as `Arc::clone`).
        let prev = self.0.fetch_add(REFERENCE, Ordering::Relaxed);
        if prev > isize::MAX as usize {
            // Like `Arc`: billions of leaked wakers; continuing could overflow.
            std::process::abort();
        }
    }

    /// Releases a reference; true if it was the last (then the caller frees
    /// the task).
    #[must_use]
    pub(crate) fn ref_dec(&self) -> bool {
        // ORDERING: AcqRel as in `Arc`: Release makes our accesses
        // happen-before the deallocation, Acquire makes everyone else's.
        let prev = self.0.fetch_sub(REFERENCE, Ordering::AcqRel);
        debug_assert!(Snapshot(prev).refs() > 0, "knotwork bug: a task reference released twice");
        Snapshot(prev).refs() == 1
    }
}

/// One test per transition, and one per invariant (`state/tests.rs`).
#[cfg(all(test, not(loom)))]
mod tests;
