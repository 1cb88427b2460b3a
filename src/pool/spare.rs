//! Compensation: a worker that blocks hands its place to a spare thread.
//!
//! # Why
//!
//! A worker that waits can usually keep the pool going itself: a `join` or
//! a scope's close runs other jobs while it waits ([`wait_until`]). Some
//! waits cannot: `block_on` inside a job drives only this thread's loop; a
//! `Pool::run`, `join` or `scope` on *another* pool waits for that pool; a
//! waiter whose helping is bounded (R3) may not steal. If every worker of a
//! pool is in such a wait while the work they wait for sits in the pool's
//! queues, nobody runs it: a deadlock (issue 12's shapes, L3 in
//! docs/guarantees.md).
//!
//! So, like Java's `ForkJoinPool` with a `ManagedBlocker`, tokio's
//! `block_in_place` and Go's hand-off of a P when an M blocks, a pool keeps
//! as many threads *available* to its queues as it has workers:
//!
//! * `avail` counts the pool's threads that are not blocked: running a job,
//!   helping, or idle in the idle protocol. It starts at `core`, the number
//!   of workers the pool was built with.
//! * **Before a worker blocks** (every park outside the idle protocol goes
//!   through [`crate::sync::blocking`], whose hook lands in
//!   [`Registry::block_enter`]) it decrements `avail`, issues a `SeqCst`
//!   fence (F3), and if that left fewer than `core` available threads while
//!   work is queued, it **compensates**: wakes an idle worker if there is
//!   one, else brings a spare thread into play (a retired one, or a new one).
//! * **After it**, it increments `avail` again; the pool may now have one
//!   thread too many, and the first spare to reach the top of its main loop
//!   with `avail > core` **retires**: it takes no new jobs, parks (still
//!   driving its own loop's tasks) and waits to be called again.
//! * **A submitter** (`notify_work`) pushes, fences (F1), and wakes a
//!   sleeper, or — if there is none and `avail < core` — compensates.
//!
//! No lost hand-off: F1 and F3 are `SeqCst`, so they are totally ordered.
//! If F3 comes first, the submitter reads the decremented `avail` and
//! compensates; if F1 comes first, the blocking worker sees the queued job
//! and compensates. Either way, a queued job always has an available thread
//! (or a wake on the way to one) while `avail < core`. The loom models in
//! `loom-tests/tests/spare.rs` check the hand-off (`blocked_worker_hands_off_to_a_spare`),
//! this race (`submit_races_a_worker_blocking`) and retiring and recalling
//! (`spare_retires_and_is_recalled`); a missing F3 is the one planted bug
//! they cannot catch, because the lock-based deque loom runs orders it anyway
//! (docs/loom.md).
//!
//! # Bounds
//!
//! A pool has at most `core + spare_threads` threads
//! ([`PoolBuilder::spare_threads`](super::PoolBuilder::spare_threads), 64 by
//! default). A spare exists only because a worker blocked while work was
//! queued; it is started once, retires when no longer needed, and is
//! reused. Past the limit a blocking worker just blocks (the pool then
//! behaves like a fixed pool of that many threads; docs/guarantees.md L3).
//! Spares exit when the pool terminates and are joined by `shutdown` like
//! the other workers.
//!
//! [`wait_until`]: super::worker::WorkerThread::wait_until
//!
//! Prior art: Java's `ForkJoinPool.ManagedBlocker`
//! (<https://docs.oracle.com/en/java/javase/21/docs/api/java.base/java/util/concurrent/ForkJoinPool.ManagedBlocker.html>),
//! tokio's `block_in_place` (<https://docs.rs/tokio/latest/tokio/task/fn.block_in_place.html>).

use super::job::JobRef;
use super::registry::Registry;
use super::worker;
use crate::sync::deque::Worker;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering, Parker, fence, thread};

/// The spare-thread state of one pool.
pub(crate) struct Spares {
    /// The number of workers the pool was built with.
    pub(crate) core: usize,
    /// Threads available to the pool's queues; see the module docs.
    avail: AtomicUsize,
    /// How many worker slots have had a thread: the slots thieves scan.
    live: AtomicUsize,
    /// Per slot: a retired spare is called back into play.
    recalled: Box<[AtomicBool]>,
    inner: Mutex<Inner>,
    /// For naming and sizing new spare threads.
    thread_name: String,
    stack_size: Option<usize>,
}

struct Inner {
    /// Slots never started yet, highest index first (popped lowest first).
    unstarted: Vec<(usize, Worker<JobRef>, Parker)>,
    /// Retired spares, waiting to be recalled.
    retired: Vec<usize>,
}

/// What a retired spare does next.
pub(crate) enum Recall {
    /// Called back: run the main loop again.
    Resume,
    /// The pool terminated: exit.
    Exit,
}

impl Spares {
    /// `slots`: the spare slots (index ≥ `core`), each with its deque and parker.
    pub(crate) fn new(
        core: usize,
        slots: Vec<(usize, Worker<JobRef>, Parker)>,
        thread_name: String,
        stack_size: Option<usize>,
    ) -> Spares {
        let capacity = core + slots.len();
        let mut unstarted = slots;
        unstarted.reverse();
        Spares {
            core,
            avail: AtomicUsize::new(core),
            live: AtomicUsize::new(core),
            recalled: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            inner: Mutex::new(Inner { unstarted, retired: Vec::new() }),
            thread_name,
            stack_size,
        }
    }

    /// The number of slots that have had a thread (`core` and the started spares).
    #[inline]
    pub(crate) fn live(&self) -> usize {
        // ORDERING: Relaxed: every slot's stealer exists from the start, so
        // any value is safe to scan; a new spare's jobs are announced through
        // the idle protocol, not through this count.
        self.live.load(Ordering::Relaxed)
    }

    /// Whether fewer threads than `core` are available (read after F1).
    #[inline]
    pub(crate) fn short_handed(&self) -> bool {
        // ORDERING: Relaxed after the submitter's SeqCst fence F1; the fence
        // pair F1/F3 is what orders it (module docs).
        self.avail.load(Ordering::Relaxed) < self.core
    }

    /// Spare `index` at the top of its main loop: retire if the pool has a
    /// thread too many. Takes the surplus unit of `avail` and joins the
    /// retired list in **one** critical section of `inner`, the lock under
    /// which `compensate` decides and adds its unit: so it either sees this
    /// spare retired or sees it still counted (never a spare that gave up
    /// its unit but is not yet on the list: that window lost a hand-off —
    /// the loom model `spare_retires_and_is_recalled` found it). The caller checks first
    /// that no queue holds work (a spare stays while there is work, such as
    /// a job a waiter set aside, for it to take).
    pub(crate) fn try_retire(&self, index: usize) -> bool {
        let mut inner = self.inner.lock();
        // ORDERING: Relaxed: a count; the CAS makes each surplus unit
        // retire at most one spare, and the lock orders it with `compensate`.
        let mut a = self.avail.load(Ordering::Relaxed);
        while a > self.core {
            match self.avail.compare_exchange_weak(a, a - 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    inner.retired.push(index);
                    return true;
                }
                Err(now) => a = now,
            }
        }
        false
    }
}

impl Registry {
    /// The block hook's "before": this worker is about to block.
    pub(crate) fn block_enter(this: &Arc<Self>) {
        // ORDERING: the RMW and F3 (module docs): SeqCst so a submitter that
        // fenced after us sees the decrement.
        let prev = this.spares.avail.fetch_sub(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if prev <= this.spares.core && this.has_queued_work() {
            if this.idle.has_sleepers() {
                this.idle.notify_one();
            } else {
                Registry::compensate(this);
            }
        }
    }

    /// The block hook's "after": this worker is back.
    pub(crate) fn block_exit(&self) {
        // ORDERING: Relaxed: a count; a spare that reads the surplus late
        // just retires a little later.
        self.spares.avail.fetch_add(1, Ordering::Relaxed);
    }

    /// Brings one more thread into play if fewer than `core` are available:
    /// a retired spare, else a new one (up to the limit).
    pub(crate) fn compensate(this: &Arc<Self>) {
        let spares = &this.spares;
        // Decided under `inner`, like `try_retire`; the unit of `avail` is
        // added only once a thread stands for it (`bring_in_spare`), so no
        // unit is ever in flight for a retiring spare to take as surplus.
        let inner = spares.inner.lock();
        // ORDERING: Relaxed: a count, read under the lock that orders it
        // with `try_retire` and other compensations.
        if spares.avail.load(Ordering::Relaxed) >= spares.core {
            return;
        }
        Registry::bring_in_spare(this, inner);
    }

    /// Recalls a retired spare or starts a new one (up to the limit), and
    /// counts it in `avail`; with `inner` held since the decision.
    fn bring_in_spare(this: &Arc<Self>, mut inner: crate::sync::MutexGuard<'_, Inner>) {
        let spares = &this.spares;
        if let Some(i) = inner.retired.pop() {
            // ORDERING: Relaxed: a count (see `compensate`).
            spares.avail.fetch_add(1, Ordering::Relaxed);
            drop(inner);
            // ORDERING: Release pairs with the spare's Acquire swap; the
            // unpark wakes it if it already parked.
            spares.recalled[i].swap(true, Ordering::Release);
            this.idle.unpark_worker(i);
            return;
        }
        // Spawned under the lock, after a last look at termination, so that
        // `join_workers` (which takes this lock before its last look at the
        // handles) sees every thread started before termination.
        if !this.is_terminated() {
            if let Some((index, deque, parker)) = inner.unstarted.pop() {
                let mut builder =
                    thread::Builder::new().name(format!("{}-spare-{index}", spares.thread_name));
                if let Some(bytes) = spares.stack_size.or(crate::sync::WORKER_STACK_SIZE) {
                    builder = builder.stack_size(bytes);
                }
                let registry = this.clone();
                // The unit its start hook runs under (`worker::main`):
                // nested in the work that needs the spare (queued work, or
                // the blocked worker's job), so not refused before the pool
                // is drained.
                let start_unit = this.thread_hooks.start.is_some() && this.accept_nested().is_ok();
                // ORDERING: Relaxed: see `live`.
                spares.live.fetch_max(index + 1, Ordering::Relaxed);
                let unparker = parker.unparker();
                // ORDERING: Relaxed: a count (see `compensate`).
                spares.avail.fetch_add(1, Ordering::Relaxed);
                match builder.spawn(move || worker::main(registry, index, deque, parker, start_unit)) {
                    Ok(handle) => {
                        this.add_thread(handle);
                        return;
                    }
                    Err(_) => {
                        if start_unit {
                            this.release();
                        }
                        // The operating system refused: go on without it, as
                        // past the limit. The slot is lost with its thread.
                        drop(unparker);
                        // ORDERING: Relaxed: a count (see `compensate`).
                        spares.avail.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
        }
        drop(inner);
    }

    /// Parks a retired spare (already on the retired list: `try_retire`)
    /// until it is recalled or the pool terminates, driving its loop's tasks
    /// meanwhile (they are pinned to it).
    pub(crate) fn retire(
        &self,
        index: usize,
        tick: impl Fn() -> (bool, Option<crate::sync::time::Instant>),
    ) -> Recall {
        loop {
            // ORDERING: Acquire pairs with the Release swap in `compensate`.
            if self.spares.recalled[index].swap(false, Ordering::Acquire) {
                return Recall::Resume;
            }
            if self.is_terminated() {
                return Recall::Exit;
            }
            let (ran, deadline) = tick();
            if !ran {
                crate::sync::with_thread_parker(|p| p.park(deadline));
            }
        }
    }

    /// Barrier for `join_workers`: a spare being started right now has its
    /// handle registered once this returns.
    pub(crate) fn spares_settled(&self) {
        drop(self.spares.inner.lock());
    }
}
