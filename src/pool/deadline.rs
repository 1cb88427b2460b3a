//! The pool's deadline thread: runs a callback when a deadline passes,
//! whatever the workers are doing.
//!
//! # Why a thread
//!
//! A scope's `cancel_after` used to be a timer on the loop of the worker
//! that called it. That worker may be running a blocking child (the scope's
//! own, often) for seconds, and then nothing fires the deadline: on a pool
//! of one thread it never fired before the children were done (issue 12).
//! A deadline is the pool's business, not one worker's, so each pool has
//! one thread, started at the first deadline, that sleeps until the
//! earliest one and fires it (L1 in docs/guarantees.md). Scopes also check
//! their deadline lazily wherever they check for cancellation, so a running
//! blocking child sees it even before this thread is scheduled.
//!
//! # Protocol
//!
//! Under one lock: a heap of `(deadline, key)` over a slab of callbacks, and
//! the key of the callback being run, if any.
//!
//! * `register` inserts, and unparks the thread if the new deadline is the
//!   earliest (or starts the thread, once).
//! * The thread takes the earliest due entry's callback out of the slab,
//!   records its key as `firing`, **drops the lock**, runs the callback,
//!   and clears `firing` under the lock again. It parks until the earliest
//!   deadline, or until unparked.
//! * `cancel(key)` removes a pending entry; if that entry is firing right
//!   now it waits (yielding) until the callback returned. So once `cancel`
//!   returns, the callback is not running and never will: the owner may
//!   free what the callback points to. The callback runs without the lock,
//!   so it may take other locks (a scope's) that a `cancel` caller holds
//!   none of: `cancel` is called with no scope lock held.
//! * The thread exits when the pool terminates (it is woken then) and is
//!   joined by `shutdown` like the workers.
//!
//! Prior art: Java's `ScheduledThreadPoolExecutor`
//! (<https://docs.oracle.com/en/java/javase/21/docs/api/java.base/java/util/concurrent/ScheduledThreadPoolExecutor.html>):
//! one timer thread for a pool's deadlines.

use super::registry::Registry;
use crate::sync::time::Instant;
use crate::sync::{Arc, Mutex, Parker, Unparker, thread};
use slab::Slab;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A callback to run at a deadline.
pub(crate) type Callback = Box<dyn FnOnce() + Send>;

/// One pool's deadlines.
pub(crate) struct Deadlines {
    state: Mutex<State>,
}

/// Names one registered deadline. The sequence number tells a slab slot's
/// occupants apart, so a stale heap entry or a late `cancel` never touches a
/// later registration that reuses the slot.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) struct DeadlineKey {
    slot: usize,
    seq: u64,
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    callbacks: Slab<(u64, Callback)>,
    next_seq: u64,
    /// The deadline whose callback is running now (outside the lock).
    firing: Option<DeadlineKey>,
    /// The deadline thread's unparker, once it is started.
    thread: Option<Unparker>,
}

impl Deadlines {
    pub(crate) fn new() -> Deadlines {
        Deadlines { state: Mutex::new(State::default()) }
    }

    /// Wakes the deadline thread (for termination).
    pub(crate) fn wake(&self) {
        if let Some(unparker) = &self.state.lock().thread {
            unparker.unpark();
        }
    }
}

impl Registry {
    /// Runs `callback` on the pool's deadline thread once `at` has passed,
    /// unless [`cancel_deadline`](Self::cancel_deadline) removes it first.
    /// Returns the key for that, or `None` if the thread could not be
    /// started (then the caller relies on its lazy checks alone).
    pub(crate) fn register_deadline(
        this: &Arc<Self>,
        at: Instant,
        callback: Callback,
    ) -> Option<DeadlineKey> {
        let mut state = this.deadlines.state.lock();
        if state.thread.is_none() {
            let parker = Parker::new();
            let unparker = parker.unparker();
            let registry = this.clone();
            let spawned = thread::Builder::new()
                .name(format!("knotwork-deadlines-{}", this.id))
                .spawn(move || deadline_thread(registry, parker));
            match spawned {
                Ok(handle) => {
                    this.add_thread(handle);
                    state.thread = Some(unparker);
                }
                Err(_) => return None,
            }
        }
        let earliest = state.heap.peek().is_none_or(|Reverse((first, _, _))| at < *first);
        let seq = state.next_seq;
        state.next_seq += 1;
        let slot = state.callbacks.insert((seq, callback));
        state.heap.push(Reverse((at, seq, slot)));
        if earliest {
            state.thread.as_ref().expect("started above").unpark();
        }
        Some(DeadlineKey { slot, seq })
    }

    /// Removes the deadline `key`; if its callback is running, waits until
    /// it has returned. Afterwards the callback is not running and never will.
    pub(crate) fn cancel_deadline(&self, key: DeadlineKey) {
        loop {
            {
                let mut state = self.deadlines.state.lock();
                if state.firing != Some(key) {
                    // Pending (removed now; its heap entry goes stale), or
                    // already run.
                    if state.callbacks.get(key.slot).is_some_and(|(seq, _)| *seq == key.seq) {
                        drop(state.callbacks.remove(key.slot));
                    }
                    return;
                }
            }
            // Firing: a short callback (a scope's `cancel`), outside the lock.
            thread::yield_now();
        }
    }
}

fn deadline_thread(registry: Arc<Registry>, parker: Parker) {
    let deadlines = &registry.deadlines;
    loop {
        let mut state = deadlines.state.lock();
        state.firing = None;
        if registry.is_terminated() {
            return;
        }
        let now = Instant::now();
        let mut next = None;
        let mut due = None;
        while let Some(&Reverse((at, seq, slot))) = state.heap.peek() {
            if state.callbacks.get(slot).is_none_or(|(s, _)| *s != seq) {
                // Cancelled (its slot empty, or reused): stale.
                state.heap.pop();
                continue;
            }
            if at <= now {
                state.heap.pop();
                let (_, callback) = state.callbacks.remove(slot);
                due = Some((DeadlineKey { slot, seq }, callback));
            } else {
                next = Some(at);
            }
            break;
        }
        match due {
            Some((key, callback)) => {
                state.firing = Some(key);
                drop(state);
                if catch_unwind(AssertUnwindSafe(callback)).is_err() {
                    eprintln!("knotwork: a deadline callback panicked; the panic was discarded");
                }
            }
            None => {
                drop(state);
                parker.park(next);
            }
        }
    }
}
