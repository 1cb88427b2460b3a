//! Waiting inside a worker: helping, and how far helping may nest.
//!
//! # Helping while waiting
//!
//! A worker that must wait for something (a `join`'s stolen half) does not
//! block: [`WorkerThread::wait_until`] keeps running jobs — and its loop's
//! tasks, when it is not inside one of them — until the condition holds,
//! parking through the same idle protocol when there is nothing to do. This
//! is what lets nested fork/join run on a pool of one thread.
//!
//! # Bounded helping
//!
//! A job a waiting worker runs sits on top of the waiter's frame, and may
//! wait and help in turn, so helping costs stack. Jobs popped from the
//! worker's own deque were spawned by frames on this same stack (the
//! waiter's descendants, or pending siblings of a frame below it), so their
//! nesting is bounded by the program's own recursion and fan-out. Stolen jobs
//! are anyone's: two workers each waiting on a scope whose children the
//! other stole can keep stealing each other's pending siblings, one frame
//! deeper each time — `tests/reliability.rs` saw 2,500 nested scopes on one
//! stack and a stack overflow that way. So a worker that already has
//! [`MAX_NESTED_STEALS`] stolen jobs on its stack, or has used more than
//! [`STEAL_STACK_BUDGET`] of its stack, stops stealing while it waits: it
//! runs its own deque and its loop, or parks until woken.
//!
//! The bound is a trade: a recursive fork-join on 2 threads keeps both
//! busy only if a joiner whose child was stolen can steal back, level after
//! level. With a bound of 8 a fib(24) of scopes ran *slower* on 2 threads
//! than on 1 (the waiters parked); with 64 and the stack budget (half the
//! worker's 8 MiB stack) it runs 1.3× faster, and the 2,500-deep pattern
//! still stops long before the stack ends.
//!
//! This cannot deadlock a fork/join program: a waiting frame waits only for
//! its own descendants, which are in the deque of the worker that spawned
//! them — and every worker runs its own deque whenever it waits — or are
//! running on some stack, above frames older than themselves. Stealing is
//! for parallelism, never needed for progress. Work that arrives from
//! outside the pool (the injector) is stolen too, so the one case the bound
//! can delay is a child submitted *from outside the pool* (through a
//! `ScopeHandle` carried off it) while every worker is that deep: it waits
//! for one of them to unwind (docs/guarantees.md, R3).
//!
//! Prior art: rayon-core's `WorkerThread::wait_until` (<https://docs.rs/rayon-core>).

use super::job::JobRef;
use super::registry::Registry;
use super::worker::WorkerThread;
use crate::event_loop::{Helping, Waiting};
use crate::sync::deque::Steal;
use crate::sync::{SPIN_ROUNDS, WORKER_STACK_SIZE, backoff, with_thread_parker};
use crate::task::is_waiting;
use std::cell::Cell;

/// How many stolen jobs may be nested on one worker's stack before its
/// waits stop stealing; see "Bounded helping" above.
const MAX_NESTED_STEALS: u32 = 64;

/// How much of its stack a worker may have used and still steal while it
/// waits: half the stack a worker is given (no limit where the stack size is
/// not ours to choose, under loom).
const STEAL_STACK_BUDGET: usize = match WORKER_STACK_SIZE {
    Some(size) => size / 2,
    None => usize::MAX,
};

/// An address in the caller's stack frame (stack depth, not a pointer to use).
#[inline(always)]
pub(super) fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Puts a cell's old value back when dropped (unwinding included).
struct Restore<'a, T: Copy>(&'a Cell<T>, T);

impl<T: Copy> Drop for Restore<'_, T> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// Counts one stolen job running on this stack for as long as it lives
/// (unwinding included).
struct NestedSteal<'a>(&'a Cell<u32>);

impl<'a> NestedSteal<'a> {
    fn enter(count: &'a Cell<u32>) -> Self {
        count.set(count.get() + 1);
        NestedSteal(count)
    }
}

impl Drop for NestedSteal<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl WorkerThread {
    /// Runs jobs (and loop tasks) until `done()` holds.
    ///
    /// `target` is what the wait is for (a task's or a scope's address;
    /// `None`: inherit the wait beneath, if any). While it waits, this
    /// thread runs on top of itself only that target's subtree of nursery
    /// children and loop tasks (`task::allowed_here`), plus plain jobs; the
    /// rest is left to other threads. It takes nothing from the injector
    /// then (what it may not run is moved there, for the others), and it
    /// parks as a blocked worker, so a spare stands in for it if work it may
    /// not run is queued (`spare.rs`).
    pub(crate) fn wait_until(&self, done: impl Fn() -> bool, target: Option<*const ()>) {
        // Nothing this worker kept latent may be out of reach while it
        // waits (`latent.rs`).
        self.promote_all();
        let _waiting = Waiting::enter(target);
        let constrained = is_waiting();
        // This wait's own floor and look-no-further flag; the outer wait's
        // come back when it ends.
        let _floor = Restore(&self.floor, self.floor.replace(0));
        let _aside = Restore(&self.set_aside_since_park, self.set_aside_since_park.replace(false));
        let mut idle_rounds = 0;
        while !done() {
            // A broadcast's job for this very thread: nobody else can run
            // it, and its broadcaster may be what this wait waits for
            // (`broadcast.rs`). Anyone's work, so counted as stolen.
            if self.inbox_pending() && self.run_inbox_while_waiting() {
                idle_rounds = 0;
                continue;
            }
            if let Some((job, stolen)) = self.find_work_while_waiting(constrained) {
                // A job run here is not part of any task this thread may be
                // polling further up the stack; let it use the loop freely.
                // (Written out rather than `execute_local`: the call cost
                // 17–30 instructions per child here, under callgrind.)
                let _off = Helping::enter();
                let _nested = stolen.then(|| NestedSteal::enter(&self.nested_steals));
                self.execute(job);
                idle_rounds = 0;
                continue;
            }
            if self.tick_loop() {
                idle_rounds = 0;
                continue;
            }
            if idle_rounds < SPIN_ROUNDS {
                backoff(idle_rounds);
                idle_rounds += 1;
                continue;
            }
            idle_rounds = 0;
            // About to park: one look at the injector, which a constrained
            // waiter does not otherwise touch, for a job of its own subtree
            // (a child spawned into its scope from outside the pool). One
            // it may not run is set aside; then park.
            if constrained && !self.set_aside_since_park.get() && self.run_one_from_injector() {
                continue;
            }
            self.sleep_waiting(&done, constrained);
        }
    }

    /// Runs a job of this worker's inbox from a wait, as a helped job.
    /// Out of line: a second `Helping` in `wait_until` itself would cost
    /// every child the wait runs a call (callgrind: ~35 instructions).
    #[cold]
    #[inline(never)]
    pub(super) fn run_inbox_while_waiting(&self) -> bool {
        let _off = Helping::enter();
        let _nested = NestedSteal::enter(&self.nested_steals);
        self.run_inbox()
    }

    /// For a constrained waiter: runs the injector's first job, if it may
    /// (else that job is set aside). Returns whether one ran.
    fn run_one_from_injector(&self) -> bool {
        let job = loop {
            match self.registry.injector.steal() {
                Steal::Success(job) => break job,
                Steal::Retry => continue,
                Steal::Empty => return false,
            }
        };
        let _off = Helping::enter();
        self.execute(job);
        // A job it may not run was set aside (`set_aside` sets the flag,
        // which was clear: see the caller).
        !self.set_aside_since_park.get()
    }

    /// Puts back a job that the innermost wait took and may not run
    /// (`scope/child.rs`, `hand_on`): onto this worker's deque, under the
    /// wait's floor, so the wait does not take it again; other workers may
    /// steal it (an idle one is woken; a spare comes if all are blocked),
    /// or this worker runs it after the wait.
    pub(crate) fn set_aside(&self, job: JobRef) {
        self.deque.push(job);
        self.floor.set(self.deque.len());
        self.set_aside_since_park.set(true);
        Registry::notify_work(&self.registry);
    }

    /// `find_work` for a waiter: also says whether the job was stolen, and
    /// steals nothing once the stack holds enough stolen jobs ("Bounded
    /// helping" in the module docs).
    fn find_work_while_waiting(&self, constrained: bool) -> Option<(JobRef, bool)> {
        if self.deque.len() > self.floor.get() {
            if let Some(job) = self.deque.pop() {
                return Some((job, false));
            }
        }
        if self.set_aside_since_park.get() {
            // Stealing more would only set more aside: park first.
            return None;
        }
        // One job at a time from the injector: a batch would land unrelated
        // top-level jobs in our own deque, where later pops nest them. None
        // at all when constrained: the injector holds what waiters may not
        // run.
        if self.may_steal() { self.steal(false, !constrained).map(|job| (job, true)) } else { None }
    }

    fn may_steal(&self) -> bool {
        self.nested_steals.get() < MAX_NESTED_STEALS
            && self.stack_top.abs_diff(stack_address()) < STEAL_STACK_BUDGET
    }

    /// How a waiter parks: as a *blocked* worker (`spare.rs`), so that work
    /// it may not run (or cannot reach) goes to a spare meanwhile; on the
    /// idle set if it may steal, so that new work it can help with wakes it.
    /// A waiter that may not steal stays off the idle set: new work
    /// elsewhere is not for it, and a `notify_one` that picked it would be
    /// absorbed (or passed back and forth between two such waiters). What it
    /// needs does not come through the idle set: its own deque is only ever
    /// pushed by itself, and the end of its wait, a wake of its loop's
    /// tasks, and termination all unpark its parker directly (a permit left
    /// before `park` is not lost).
    fn sleep_waiting(&self, done: impl Fn() -> bool, constrained: bool) {
        // What it set aside is not for it: it parks over it (a thief or a
        // spare takes it), and looks again when woken.
        let stealable = self.may_steal() && !self.set_aside_since_park.replace(false);
        let idle = &self.registry.idle;
        Registry::block_enter(&self.registry);
        if stealable {
            idle.prepare_to_sleep(self.index);
        }
        let (loop_ready, deadline) = self.loop_state();
        let visible = self.has_visible_work(stealable, !constrained) || self.inbox_pending();
        if !(loop_ready || done() || visible || self.registry.is_terminated()) {
            self.counters().parks.bump();
            with_thread_parker(|parker| parker.park(deadline));
            // Thieves take from the bottom of the deque, so what lay above
            // the floor may have sunk under it: look at the whole deque
            // again (what is still not ours is set aside once more).
            self.floor.set(0);
        }
        if stealable {
            idle.leave_idle(self.index);
            if self.has_visible_work(true, !constrained) {
                idle.notify_one();
            }
        }
        self.registry.block_exit();
    }
}
