//! Latent forks: a `join` whose second half nobody has asked for costs no
//! atomic operation at all.
//!
//! # The idea
//!
//! Most forks of a recursive divide and conquer are never stolen: on two
//! workers, fib(30) makes 1.3 million forks and a handful of steals. A
//! rayon-style join still pays for every fork as if it might be: a push on
//! the Chase–Lev deque, the idle protocol's `SeqCst` fence (F1 in
//! `idle.rs`), and the deque's own fence when the owner pops the job back.
//! Heartbeat scheduling (Acar, Charguéraud, Guatto, Rainey and Sieczkowski,
//! PLDI 2018; Spice and its Rust port chili) and lazy binary splitting
//! (Tzannes, Caragea, Barua and Vishkin, PPoPP 2010) both keep forks
//! *latent* — recorded where only the owner looks — and expose them only
//! when parallelism is wanted.
//!
//! knotwork's join does the same:
//!
//! * **Exposed or latent.** A worker that has none of its joins' second
//!   halves on its deque (`exposed == 0`) pushes `b` there as always, so
//!   the first fork is stealable at once (a top-level `join(big, big)`
//!   runs both halves in parallel). Otherwise `b` goes on this worker's
//!   latent stack: a few `Cell` writes.
//! * **Asked for.** A worker that finds nothing to steal from a victim sets
//!   the victim's `wanted` flag. At its next fork, or when it next takes a
//!   latent half back, the victim sees it (one relaxed load, only while it
//!   has a fork latent) and promotes
//!   its **oldest** latent fork — the biggest piece of work it has — to its
//!   deque, with the normal push and wake-up. The flag is cleared only
//!   where a fork is promoted: a request that arrives while nothing is
//!   latent waits for the next latent fork instead of being used up (a
//!   thief that asked and parked does not ask again; the loom model
//!   `a_thiefs_request_promotes_the_oldest_latent_fork` found the schedule
//!   where clearing it unanswered left a fork's whole subtree serial).
//! * **Waiting.** Before any wait on a worker (`wait_until`, and a blocking
//!   park through the block hook), and before it runs any job on top of a
//!   latent fork (`execute`: a job a wait took, a child `Task::join` runs
//!   inline), every latent fork is promoted: a wait is
//!   where other code runs on this thread and where other threads may have
//!   to help, so from then on everything is as it always was — the wait may
//!   run those halves itself, thieves and spares may take them, and no wait
//!   can depend on a half nobody can reach (L3 in docs/guarantees.md).
//! * **Joining.** When `a` returns, the join looks at its own entry: still
//!   latent, it is taken back and `b` runs inline, as written (no latch,
//!   nothing carried). Promoted, the join goes the exposed way (pop it
//!   back, or wait for its latch).
//!
//! # Invariants
//!
//! * Entries live in `slots[bottom..top]`; everything below `bottom` was
//!   promoted. A join's entry index `i` is `top` when it pushed; the joins
//!   above it are nested in its `a` and have all finished when it looks
//!   again, so then `top == i + 1` if `i` is still latent (`i >= bottom`).
//! * Promotion goes oldest first, so this worker's deque keeps its order:
//!   every entry there is older than every latent one.
//! * A latent entry points to a `StackJob` on the frame of a join that is
//!   still running `a`: the join takes its entry back (or finds it
//!   promoted) before the job can go away, and `a` cannot unwind past it
//!   (it runs under `catch_unwind`).
//! * The stack is only touched by its own worker (`Cell`s; `WorkerThread`
//!   is not shared). Only `wanted` is shared, and it is a hint for
//!   results: a lost or stale request costs parallelism, never a result —
//!   the owner runs every latent half itself. A request is not lost while
//!   the owner keeps forking: it stays set until a promotion answers it,
//!   and a request made after the clearing store sets it again.
//!
//! Checked by the loom models in `loom-tests/tests/latent.rs` (a thief's
//! request, a blocking park; each catches its planted bug, docs/loom.md)
//! and by `tests/latent.rs` (the promotion before a wait and before a job
//! run on top, exactly-once, panics).
//!
//! Limits, for parallelism (never for results): a request waits for the
//! owner's next fork or take-back, so an `a` that runs long without either
//! holds it that long (a heartbeat — a timer that interrupts the owner, as
//! in the PLDI'18 paper — would bound that; knotwork has none); and the flag
//! is one bit, so several thieves asking at once get one promotion per
//! such point, the next at the next one.
//!
//! What it cannot do: a latent half is invisible to a wait knotwork does
//! not know about, written in `a`'s own code. A `join` whose `a` blocks on
//! a `std` channel until `b` sends hangs unless `b` was exposed — as it hangs on one thread in
//! rayon, and as any wait outside knotwork may (docs/guarantees.md, L3).
//!
//! Prior art: heartbeat scheduling (<https://dl.acm.org/doi/10.1145/3192366.3192391>),
//! chili (<https://docs.rs/chili>), lazy binary splitting
//! (<https://dl.acm.org/doi/10.1145/1693453.1693479>).

use super::job::JobRef;
use super::worker::WorkerThread;
use crate::sync::{AtomicBool, Ordering};
use std::cell::Cell;

/// How many latent forks a worker keeps; a deeper fork is exposed.
const CAPACITY: usize = 128;

/// A worker's latent forks (module docs).
pub(crate) struct Latent {
    slots: Box<[Cell<Option<JobRef>>]>,
    /// The oldest entry still latent.
    bottom: Cell<usize>,
    /// One past the newest entry.
    top: Cell<usize>,
    /// How many second halves of this worker's running joins are (or were)
    /// on its deque: pushed exposed, or promoted.
    exposed: Cell<usize>,
}

impl Latent {
    pub(crate) fn new() -> Latent {
        Latent {
            slots: (0..CAPACITY).map(|_| Cell::new(None)).collect(),
            bottom: Cell::new(0),
            top: Cell::new(0),
            exposed: Cell::new(0),
        }
    }

    /// Keeps `job` latent if this worker already has work exposed and room
    /// is left; returns its index. `None`: the caller exposes it (and
    /// counts it with [`exposed_one`](Self::exposed_one)).
    #[inline]
    pub(crate) fn try_push(&self, job: impl FnOnce() -> JobRef) -> Option<usize> {
        let top = self.top.get();
        if self.exposed.get() == 0 || top == CAPACITY {
            return None;
        }
        self.slots[top].set(Some(job()));
        self.top.set(top + 1);
        Some(top)
    }

    /// A join pushed its second half to the deque.
    #[inline]
    pub(crate) fn exposed_one(&self) {
        self.exposed.set(self.exposed.get() + 1);
    }

    /// A join whose second half was on the deque has it back (run inline,
    /// or its latch set).
    #[inline]
    pub(crate) fn exposed_done(&self) {
        self.exposed.set(self.exposed.get() - 1);
    }

    /// The join of entry `i` takes it back: `true` if it was still latent
    /// (the caller runs it inline); `false` if it was promoted (it is on
    /// the deque, and counted as exposed).
    #[inline]
    pub(crate) fn take_back(&self, i: usize) -> bool {
        debug_assert_eq!(self.top.get(), i + 1, "latent forks are taken back in stack order");
        self.top.set(i);
        if self.bottom.get() <= i {
            self.slots[i].set(None);
            true
        } else {
            // Everything from `i` up was promoted: nothing is latent now.
            self.bottom.set(i);
            false
        }
    }

    /// The oldest latent fork, promoted: the caller pushes it.
    pub(crate) fn promote_oldest(&self) -> Option<JobRef> {
        let bottom = self.bottom.get();
        if bottom == self.top.get() {
            return None;
        }
        self.bottom.set(bottom + 1);
        self.exposed_one();
        self.slots[bottom].take()
    }

    /// Whether any fork is latent.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.bottom.get() != self.top.get()
    }
}

/// A worker's side of the protocol: answering thieves, promoting before a wait.
impl WorkerThread {
    /// This slot's "a thief asks" flag.
    #[inline]
    fn wanted(&self) -> &AtomicBool {
        // SAFETY: points into `self.registry.wanted`, kept alive as
        // `counters` is.
        unsafe { &*self.wanted }
    }

    /// At a fork: if a thief asked, promotes the oldest latent fork
    /// (`latent.rs`).
    #[inline]
    pub(super) fn answer_thieves(&self) {
        // ORDERING: Relaxed: a hint. The promoted job is published by the
        // deque push and the idle protocol's fence, not by this flag.
        if self.latent.any() && self.wanted().load(Ordering::Relaxed) {
            self.promote_asked();
        }
    }

    /// Answers a thief's request. The flag is cleared only here, where a
    /// fork is promoted: cleared with nothing latent, a request made just
    /// after this worker's last push would be used up unanswered, and the
    /// thief, parked, would not ask again (the loom model
    /// `a_thiefs_request_promotes_the_oldest_latent_fork` found that
    /// schedule).
    #[cold]
    fn promote_asked(&self) {
        if let Some(job) = self.latent.promote_oldest() {
            // ORDERING: Relaxed, as above. Cleared before the push: a
            // request made after this store sets it again and is answered
            // at a later fork; one made before is answered by this push.
            self.wanted().store(false, Ordering::Relaxed);
            self.push(job);
        }
    }

    /// Promotes every latent fork, oldest first: before any wait on this
    /// worker (`latent.rs`).
    #[inline]
    pub(crate) fn promote_all(&self) {
        if self.latent.any() {
            self.promote_all_slow();
        }
    }

    #[cold]
    fn promote_all_slow(&self) {
        while let Some(job) = self.latent.promote_oldest() {
            self.push(job);
        }
    }
}
