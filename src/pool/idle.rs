//! The idle protocol: how out-of-work workers park and how new work wakes
//! them, with no lost wake-ups.
//!
//! # State
//!
//! * `idle`: under a mutex, the stack of parked-or-parking workers and a flag
//!   per worker saying whether it is on that stack;
//! * `sleepers`: the stack's length, readable without the lock;
//! * each worker's thread parker (permit-based, see `sync::parker`).
//!
//! # Protocol
//!
//! ```text
//!  submitter                               worker out of work
//!  ─────────                               ──────────────────
//!  push job (deque or injector)            lock; push self on `idle`; sleepers += 1; unlock
//!  fence(SeqCst)                  (F1)     fence(SeqCst)                               (F2)
//!  if sleepers > 0:                        if any queue non-empty / terminated / loop busy:
//!      lock; pop a worker W; unlock            remove self from `idle`; go back to work
//!      unpark(W)                           park (until unparked or the loop's next deadline)
//!                                          remove self from `idle` if still there
//! ```
//!
//! **No lost wake-up.** F1 and F2 are `SeqCst` fences, so they are totally
//! ordered. If F1 comes first, the worker's check after F2 sees the pushed
//! job (the push is sequenced before F1). If F2 comes first, the submitter's
//! load after F1 sees `sleepers > 0` (the increment is sequenced before F2),
//! so it wakes *some* idle worker, which then finds the job. And an unpark
//! that lands before the worker has actually parked is not lost either: it
//! leaves a permit, so `park` returns at once.
//!
//! Shutdown wakes every worker (`wake_all`) once the outstanding-work count
//! reaches zero; a worker checks for termination after F2, so the same
//! argument covers it. Cross-thread wakes of tasks on a worker's loop unpark
//! the same parker directly.
//!
//! Prior art: rayon-core's `sleep` module
//! (<https://github.com/rayon-rs/rayon/tree/main/rayon-core/src/sleep>), whose counters and fences
//! this simplifies.

use crate::sync::{AtomicUsize, Mutex, Ordering, Unparker, fence};

pub(crate) struct IdleWorkers {
    /// Number of workers on the idle stack; a lock-free hint for submitters.
    sleepers: AtomicUsize,
    /// Workers taken off the idle stack by `wake_one` that have not woken
    /// up yet: about to look for work (a hint for `defer_blocking`).
    waking: AtomicUsize,
    /// Workers out of work and spinning before they park (a hint, too).
    searching: AtomicUsize,
    idle: Mutex<IdleSet>,
    /// Each worker's unparker, by index.
    unparkers: Box<[Unparker]>,
}

struct IdleSet {
    /// Idle workers, most recently idle last (woken first: its caches are warm).
    stack: Vec<usize>,
    /// `on_stack[i]`: worker `i` is on `stack`.
    on_stack: Vec<bool>,
    /// `woken[i]`: `wake_one` took worker `i` off the stack and it has not
    /// called `leave_idle` since (counted in `waking`).
    woken: Vec<bool>,
}

impl IdleWorkers {
    pub(crate) fn new(unparkers: Vec<Unparker>) -> Self {
        let n = unparkers.len();
        IdleWorkers {
            sleepers: AtomicUsize::new(0),
            waking: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
            idle: Mutex::new(IdleSet {
                stack: Vec::with_capacity(n),
                on_stack: vec![false; n],
                woken: vec![false; n],
            }),
            unparkers: unparkers.into_boxed_slice(),
        }
    }

    /// Called after making a job visible: wakes one idle worker, if any.
    /// Returns whether there was one.
    #[inline]
    pub(crate) fn notify_one(&self) -> bool {
        // ORDERING: F1 in the module docs.
        fence(Ordering::SeqCst);
        // ORDERING: Relaxed after the fence: the fence pair is what orders it.
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.wake_one();
            return true;
        }
        false
    }

    /// Whether some worker is on the idle stack (a hint, read after a fence).
    pub(crate) fn has_sleepers(&self) -> bool {
        // ORDERING: Relaxed: callers fence first (F3 in `spare.rs`).
        self.sleepers.load(Ordering::Relaxed) != 0
    }

    /// Whether some worker is idle: parked, woken to look for work, or
    /// spinning before it parks (a hint).
    pub(crate) fn has_idle_or_waking(&self) -> bool {
        // ORDERING: Relaxed: a hint; `defer_blocking` takes a deferred job
        // back after its grace period whatever happened.
        self.sleepers.load(Ordering::Relaxed)
            + self.waking.load(Ordering::Relaxed)
            + self.searching.load(Ordering::Relaxed)
            != 0
    }

    /// A worker ran out of work and spins before parking.
    pub(crate) fn start_searching(&self) {
        // ORDERING: Relaxed: a hint.
        self.searching.fetch_add(1, Ordering::Relaxed);
    }

    /// That worker found work, or goes to park.
    pub(crate) fn stop_searching(&self) {
        // ORDERING: Relaxed: a hint.
        self.searching.fetch_sub(1, Ordering::Relaxed);
    }

    #[cold]
    fn wake_one(&self) {
        let woken = {
            let mut idle = self.idle.lock();
            let woken = idle.stack.pop();
            if let Some(i) = woken {
                idle.on_stack[i] = false;
                idle.woken[i] = true;
                // ORDERING: Relaxed: only written under the lock.
                self.sleepers.fetch_sub(1, Ordering::Relaxed);
                // ORDERING: Relaxed: a hint, decremented under the lock too.
                self.waking.fetch_add(1, Ordering::Relaxed);
            }
            woken
        };
        if let Some(i) = woken {
            self.unparkers[i].unpark();
        }
    }

    /// Unparks worker `i` directly (the end of its `join` wait).
    pub(crate) fn unpark_worker(&self, i: usize) {
        self.unparkers[i].unpark();
    }

    /// Wakes every worker (termination).
    pub(crate) fn wake_all(&self) {
        for unparker in self.unparkers.iter() {
            unparker.unpark();
        }
    }

    /// Puts worker `i` on the idle stack; the caller then re-checks for work
    /// and parks (or calls [`leave_idle`](Self::leave_idle) if it found some).
    pub(crate) fn prepare_to_sleep(&self, i: usize) {
        {
            let mut idle = self.idle.lock();
            if idle.woken[i] {
                idle.woken[i] = false;
                // ORDERING: Relaxed: a hint (see `waking`).
                self.waking.fetch_sub(1, Ordering::Relaxed);
            }
            if !idle.on_stack[i] {
                idle.on_stack[i] = true;
                idle.stack.push(i);
                // ORDERING: Relaxed: written under the lock; F2 publishes it.
                self.sleepers.fetch_add(1, Ordering::Relaxed);
            }
        }
        // ORDERING: F2 in the module docs.
        fence(Ordering::SeqCst);
    }

    /// Takes worker `i` off the idle stack if it is still there.
    pub(crate) fn leave_idle(&self, i: usize) {
        let mut idle = self.idle.lock();
        if !idle.on_stack[i] && idle.woken[i] {
            // Taken off the stack by `wake_one`: it is awake now.
            idle.woken[i] = false;
            // ORDERING: Relaxed: a hint (see `waking`).
            self.waking.fetch_sub(1, Ordering::Relaxed);
        }
        if idle.on_stack[i] {
            idle.on_stack[i] = false;
            if let Some(pos) = idle.stack.iter().rposition(|&w| w == i) {
                idle.stack.remove(pos);
            }
            // ORDERING: Relaxed: only written under the lock.
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
