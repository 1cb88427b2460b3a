//! A worker thread: its deque, its main loop, and helping while waiting.
//!
//! # Main loop
//!
//! ```text
//!  loop {
//!      tick this thread's loop (due timers, woken tasks) if it exists
//!      job = pop own deque (LIFO) ─or─ steal a batch from the injector
//!            ─or─ steal from the other workers, starting at a random one
//!      if job: run it, release its unit of work; continue
//!      if the pool is terminated (shut down, nothing outstanding): exit
//!      spin a little, then follow the idle protocol (`sleep.rs`) and park
//!      until new work, a task wake, or the loop's next timer deadline
//!  }
//!  tear down this thread's loop (explicitly, before the thread returns)
//! ```
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

use super::job::JobRef;
use super::registry::Registry;
use crate::event_loop::core::{self as loop_core, Helping, Waiting};
use crate::hooks;
use crate::sync::deque::{Steal, Worker};
use crate::sync::time::Instant;
use crate::sync::{
    Arc, BlockHook, Parker, SPIN_ROUNDS, WORKER_STACK_SIZE, backoff, install_thread_parker, set_block_hook,
    with_thread_parker,
};
use crate::task::is_waiting;
use std::cell::Cell;
use std::ptr;

/// How many of the loop's ready tasks a worker polls between two looks at
/// the job queues.
const LOOP_BUDGET: usize = 32;

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

pub(crate) struct WorkerThread {
    index: usize,
    pub(crate) registry: Arc<Registry>,
    deque: Worker<JobRef>,
    /// xorshift state for picking the first victim to steal from.
    rng: Cell<u64>,
    /// How many jobs stolen while waiting are running on this stack.
    nested_steals: Cell<u32>,
    /// An address near the top of this worker's stack (in `main`'s frame).
    stack_top: usize,
    /// The blocking job this worker last left to an idle worker
    /// ([`defer_blocking`](Self::defer_blocking)), by address.
    deferred: Cell<*const ()>,
    /// Until then, this worker takes nothing from the injector, so that the
    /// idle worker it woke gets the deferred job.
    defer_until: Cell<Option<Instant>>,
    /// Grace periods spent on the current deferred job (see [`DEFER_ROUNDS`]).
    defer_rounds: Cell<u32>,
    /// The innermost wait pops this worker's own deque only while it holds
    /// more jobs than this: the ones below were set aside (`set_aside`).
    floor: Cell<usize>,
    /// The innermost wait set a job aside since it last parked: it looks
    /// no further (stealing more would only set more aside) until it has.
    set_aside_since_park: Cell<bool>,
}

/// How long a worker leaves a deferred blocking job to the idle worker it
/// woke before it looks again (an idle worker takes it within microseconds,
/// a loaded machine may take a few milliseconds to schedule it).
const DEFER_GRACE: std::time::Duration = std::time::Duration::from_millis(2);

/// How many grace periods in a row it waits while some worker still looks
/// idle; then it takes the job back whatever (the others are busy after
/// all, or slow to wake: a fixed pool's cost).
const DEFER_ROUNDS: u32 = 10;

crate::sync::thread_local_key! {
    /// The worker running on this thread, if any. Points to a `WorkerThread`
    /// on this thread's stack for as long as `main` runs.
    static WORKER: Cell<*const WorkerThread> = Cell::new(ptr::null());
}

/// The body of worker thread `index`.
pub(crate) fn main(registry: Arc<Registry>, index: usize, deque: Worker<JobRef>, parker: Parker) {
    install_thread_parker(parker);
    loop_core::install_owner(Box::new(registry.clone()));
    let worker = WorkerThread {
        index,
        registry,
        deque,
        rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)),
        nested_steals: Cell::new(0),
        stack_top: stack_address(),
        deferred: Cell::new(ptr::null()),
        defer_until: Cell::new(None),
        defer_rounds: Cell::new(0),
        floor: Cell::new(0),
        set_aside_since_park: Cell::new(false),
    };
    {
        let _registered = Registration::enter(&worker);
        worker.run();
        // Dropping the registration ends this thread's time as a worker:
        // code that teardown runs (the drops of tasks left on the loop,
        // `on_teardown` hooks) must not push to this exiting worker's
        // deque; a submission from it now goes through the top-level path,
        // which the shut-down pool refuses.
    }
    // Explicit teardown before the thread returns: `join` (loom's in
    // particular) may return before thread-local destructors have run, and
    // `shutdown` promises the loops are gone when it returns.
    let _had_loop = loop_core::teardown_current();
    loop_core::uninstall_owner();
}

/// The thread-locals that make this thread a worker, set for as long as the
/// guard lives: the `WORKER` pointer, the block hook (`spare.rs`) and the
/// role a trace reports (`hooks::set_worker_role`). A guard rather than a
/// set and a clear by hand (as rayon-core's `WorkerThread` registration):
/// even an unwind out of `run` — which catches every user panic, so this
/// would be a bug in knotwork — cannot leave `WORKER` pointing at a frame
/// that is gone.
struct Registration;

impl Registration {
    fn enter(worker: &WorkerThread) -> Registration {
        WORKER.with(|w| w.set(worker));
        set_block_hook(Some(BlockHook { data: ptr::from_ref(worker).cast(), call: block_hook }));
        hooks::set_worker_role(Some((worker.registry.id, worker.index)));
        Registration
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        hooks::set_worker_role(None);
        set_block_hook(None);
        let _ = WORKER.try_with(|w| w.set(ptr::null()));
    }
}

/// The block hook of a worker thread (`sync::blocking`, `spare.rs`).
///
/// # Safety
/// `data` is this thread's live `WorkerThread` (installed by `main`, removed
/// before it returns).
unsafe fn block_hook(data: *const (), entering: bool) {
    // SAFETY: per the contract above.
    let worker = unsafe { &*data.cast::<WorkerThread>() };
    if entering {
        Registry::block_enter(&worker.registry);
    } else {
        worker.registry.block_exit();
    }
}

impl WorkerThread {
    /// Runs `f` with the current thread's worker, if it is one.
    #[inline]
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&WorkerThread>) -> R) -> R {
        // SAFETY: a non-null pointer was set by `main` on this thread and
        // points to its stack frame, which outlives every use here (it is
        // cleared before `main` returns).
        f(Self::current_ptr().map(|p| unsafe { p.as_ref() }))
    }

    /// This worker's index in its pool.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The worker running on this thread, if any, as a pointer that is valid
    /// (and points to this thread's worker) for as long as this thread is
    /// inside the worker's run — that is, for any code running on it.
    #[inline]
    pub(crate) fn current_ptr() -> Option<std::ptr::NonNull<WorkerThread>> {
        std::ptr::NonNull::new(WORKER.try_with(Cell::get).unwrap_or(ptr::null()).cast_mut())
    }

    /// Whether this worker belongs to `registry`.
    pub(crate) fn belongs_to(&self, registry: &Registry) -> bool {
        ptr::eq(&*self.registry, registry)
    }

    /// Pushes an accepted job onto this worker's deque and wakes a sleeper.
    pub(crate) fn push(&self, job: JobRef) {
        self.deque.push(job);
        Registry::notify_work(&self.registry);
    }

    /// Whether this is a spare slot (`spare.rs`), not one the pool was built with.
    fn is_spare(&self) -> bool {
        self.index >= self.registry.spares.core
    }

    fn run(&self) {
        let mut idle_rounds = 0;
        loop {
            // A spare whose blocked worker is back retires between jobs.
            if self.is_spare()
                && !self.registry.has_queued_work()
                && self.registry.spares.try_retire(self.index)
            {
                let tick = || (self.tick_loop(), self.loop_state().1);
                match self.registry.retire(self.index, tick) {
                    super::spare::Recall::Resume => continue,
                    super::spare::Recall::Exit => return,
                }
            }
            let loop_busy = self.tick_loop();
            if let Some(job) = self.find_work() {
                self.stop_searching(&mut idle_rounds);
                self.execute(job);
                continue;
            }
            if loop_busy {
                self.stop_searching(&mut idle_rounds);
                continue;
            }
            if self.registry.is_terminated() {
                self.stop_searching(&mut idle_rounds);
                return;
            }
            if idle_rounds < SPIN_ROUNDS {
                if idle_rounds == 0 {
                    // Out of work, spinning before it parks: idle, for
                    // `defer_blocking`.
                    self.registry.sleep.start_searching();
                }
                backoff(idle_rounds);
                idle_rounds += 1;
                continue;
            }
            self.stop_searching(&mut idle_rounds);
            self.sleep();
        }
    }

    /// Ends a spell of looking for work in the main loop, if one was on.
    #[inline]
    fn stop_searching(&self, idle_rounds: &mut u32) {
        if *idle_rounds > 0 {
            self.registry.sleep.stop_searching();
        }
        *idle_rounds = 0;
    }

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
        let _waiting = Waiting::enter(target);
        let constrained = is_waiting();
        // This wait's own floor and look-no-further flag; the outer wait's
        // come back when it ends.
        let _floor = Restore(&self.floor, self.floor.replace(0));
        let _aside = Restore(&self.set_aside_since_park, self.set_aside_since_park.replace(false));
        let mut idle_rounds = 0;
        while !done() {
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

    /// Polls this thread's loop if it exists. Returns whether anything ran.
    ///
    /// This also happens re-entrantly, when a task of this loop blocks in a
    /// `join` or a sync `scope` (which lands in `wait_until`): the blocked
    /// task is `RUNNING` and in no queue, so it is never polled again from
    /// here, while its siblings — possibly the very children it waits for,
    /// pinned to this worker — keep running. That is what keeps a blocking
    /// wait inside an async task from deadlocking, even on one thread.
    fn tick_loop(&self) -> bool {
        match loop_core::try_current() {
            Some(core) => core.tick(LOOP_BUDGET),
            None => false,
        }
    }

    fn loop_state(&self) -> (bool, Option<Instant>) {
        match loop_core::try_current() {
            Some(core) => (core.has_ready(), core.next_deadline()),
            None => (false, None),
        }
    }

    /// Runs one job (which settles its own unit of outstanding work).
    pub(crate) fn execute(&self, job: JobRef) {
        // SAFETY: the job came out of one of this pool's queues, which hand
        // each entry to exactly one taker.
        unsafe { job.execute(&self.registry) }
    }

    /// Pops the newest job of this worker's own deque.
    pub(crate) fn pop_local(&self) -> Option<JobRef> {
        self.deque.pop()
    }

    /// Runs a job taken from this worker's own deque by a waiter (`join`,
    /// `Task::join`), as [`wait_until`](Self::wait_until) would.
    pub(crate) fn execute_local(&self, job: JobRef) {
        let _off = Helping::enter();
        self.execute(job);
    }

    /// If the newest job of this worker's deque is the one at `addr`, runs
    /// it here and returns `true`; otherwise leaves the deque as it was.
    /// For a waiter about to block on that very job: running it now saves
    /// the wake-up (the job would be popped first by the wait anyway).
    pub(crate) fn run_if_newest(&self, addr: *const ()) -> bool {
        match self.deque.pop() {
            Some(job) if std::ptr::eq(job.addr(), addr) => {
                self.execute_local(job);
                true
            }
            // Back on top, where it was. Announced again: a thief that found
            // the deque empty in between may have gone to sleep.
            Some(job) => {
                self.push(job);
                false
            }
            None => false,
        }
    }

    fn find_work(&self) -> Option<JobRef> {
        let injector = self.deferring().is_none();
        self.deque.pop().or_else(|| self.steal(true, injector))
    }

    /// While a deferred blocking job is left to an idle worker: until when.
    fn deferring(&self) -> Option<Instant> {
        match self.defer_until.get() {
            Some(until) if Instant::now() < until => Some(until),
            Some(_) if self.defer_rounds.get() < DEFER_ROUNDS && self.registry.sleep.has_idle_or_waking() => {
                // Not taken yet, but a worker still looks idle: it may be
                // slow to be scheduled. Another grace period.
                self.defer_rounds.set(self.defer_rounds.get() + 1);
                let until = Instant::now() + DEFER_GRACE;
                self.defer_until.set(Some(until));
                Some(until)
            }
            Some(_) => {
                self.defer_until.set(None);
                None
            }
            None => None,
        }
    }

    /// For a blocking child this worker is about to start from its main
    /// loop (L2 in docs/guarantees.md): if async tasks are pinned to this
    /// worker's loop and the pool has other workers, leave the job to one of
    /// them — on the injector, with a worker woken — so that those tasks and
    /// their timers keep running. The same job met again (taken back after
    /// [`DEFER_GRACE`] with no worker idle any more, or after
    /// [`DEFER_ROUNDS`] of them: the others are busy) runs here. Returns whether the job was deferred; `job` makes it.
    #[inline]
    pub(crate) fn defer_blocking(&self, addr: *const (), job: impl FnOnce() -> JobRef) -> bool {
        if self.registry.num_threads() < 2 {
            return false;
        }
        self.defer_blocking_slow(addr, job)
    }

    fn defer_blocking_slow(&self, addr: *const (), job: impl FnOnce() -> JobRef) -> bool {
        // Only to a worker that is idle right now: otherwise the job would
        // just wait in the injector for a busy one.
        if is_waiting() || !self.registry.sleep.has_idle_or_waking() {
            self.deferred.set(ptr::null());
            return false;
        }
        if std::ptr::eq(self.deferred.replace(ptr::null()), addr) {
            return false;
        }
        if loop_core::live_task_count() == 0 {
            return false;
        }
        self.deferred.set(addr);
        self.defer_until.set(Some(Instant::now() + DEFER_GRACE));
        self.defer_rounds.set(0);
        self.registry.injector.push(job());
        Registry::notify_work(&self.registry);
        true
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

    /// Steals a job: from the injector (when `injector`; a batch into our
    /// deque when `batch`), else from another worker, starting at a random
    /// one.
    fn steal(&self, batch: bool, injector: bool) -> Option<JobRef> {
        let stealers = self.registry.live_stealers();
        loop {
            let mut retry = false;
            let from_injector = if !injector {
                Steal::Empty
            } else if batch {
                self.registry.injector.steal_batch_and_pop(&self.deque)
            } else {
                self.registry.injector.steal()
            };
            match from_injector {
                Steal::Success(job) => return Some(job),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let n = stealers.len();
            let start = self.next_random() as usize % n;
            for k in 0..n {
                let victim = (start + k) % n;
                if victim == self.index {
                    continue;
                }
                match stealers[victim].steal() {
                    Steal::Success(job) => return Some(job),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Whether any queue holds work: this worker's own (above the innermost
    /// wait's floor), or (when `stealable`) the other workers' and (when
    /// `injector`) the injector.
    fn has_visible_work(&self, stealable: bool, injector: bool) -> bool {
        self.deque.len() > self.floor.get()
            || stealable
                && (injector && !self.registry.injector.is_empty()
                    || self.registry.live_stealers().iter().any(|s| !s.is_empty()))
    }

    /// The idle protocol (see `sleep.rs`): announce, re-check, park.
    fn sleep(&self) {
        let sleep = &self.registry.sleep;
        sleep.prepare_to_sleep(self.index);
        let (loop_ready, mut deadline) = self.loop_state();
        // While a deferred job waits for the worker it woke, the injector
        // is not ours to look at: park until the grace period ends instead
        // of spinning on it.
        let deferring = self.deferring();
        if let Some(until) = deferring {
            deadline = Some(deadline.map_or(until, |d| d.min(until)));
        }
        if loop_ready || self.has_visible_work(true, deferring.is_none()) || self.registry.is_terminated() {
            sleep.wake_up(self.index);
            return;
        }
        with_thread_parker(|parker| parker.park(deadline));
        sleep.wake_up(self.index);
        // Whoever woke us may have had a job for us; if more work is queued
        // than we will take, pass the wake on so it is not absorbed.
        if self.has_visible_work(true, true) {
            sleep.notify_one();
        }
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
        let sleep = &self.registry.sleep;
        Registry::block_enter(&self.registry);
        if stealable {
            sleep.prepare_to_sleep(self.index);
        }
        let (loop_ready, deadline) = self.loop_state();
        let visible = self.has_visible_work(stealable, !constrained);
        if !(loop_ready || done() || visible || self.registry.is_terminated()) {
            with_thread_parker(|parker| parker.park(deadline));
            // Thieves take from the bottom of the deque, so what lay above
            // the floor may have sunk under it: look at the whole deque
            // again (what is still not ours is set aside once more).
            self.floor.set(0);
        }
        if stealable {
            sleep.wake_up(self.index);
            if self.has_visible_work(true, !constrained) {
                sleep.notify_one();
            }
        }
        self.registry.block_exit();
    }

    fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }
}

/// An address in the caller's stack frame (stack depth, not a pointer to use).
#[inline(always)]
fn stack_address() -> usize {
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
