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
//!      spin a little, then follow the idle protocol (`idle.rs`) and park
//!      until new work, a task wake, or the loop's next timer deadline
//!  }
//!  tear down this thread's loop (explicitly, before the thread returns)
//! ```
//!
//! Finding work and going to sleep: `search.rs`. Waiting, and helping
//! while waiting: `help.rs`. Latent forks and answering thieves: `latent.rs`.
//!
//! Prior art: rayon-core's `WorkerThread` and its main loop (<https://docs.rs/rayon-core>).

use super::broadcast::Inbox;
use super::job::JobRef;
use super::latent::Latent;
use super::metrics::SlotCounters;
use super::registry::Registry;
use crate::event_loop::{self, Helping};
use crate::hooks;
use crate::sync::deque::Worker;
use crate::sync::time::Instant;
use crate::sync::{
    Arc, AtomicBool, BlockHook, Parker, SPIN_ROUNDS, backoff, install_thread_parker, set_block_hook,
};
use std::cell::Cell;
use std::ptr;

/// How many of the loop's ready tasks a worker polls between two looks at
/// the job queues.
const LOOP_BUDGET: usize = 32;

pub(crate) struct WorkerThread {
    pub(super) index: usize,
    pub(crate) registry: Arc<Registry>,
    pub(super) deque: Worker<JobRef>,
    /// xorshift state for picking the first victim to steal from.
    pub(super) rng: Cell<u64>,
    /// How many jobs stolen while waiting are running on this stack.
    pub(super) nested_steals: Cell<u32>,
    /// An address near the top of this worker's stack (in `main`'s frame).
    pub(super) stack_top: usize,
    /// The blocking job this worker last left to an idle worker
    /// ([`defer_blocking`](Self::defer_blocking)), by address.
    pub(super) deferred: Cell<*const ()>,
    /// Until then, this worker takes nothing from the injector, so that the
    /// idle worker it woke gets the deferred job.
    pub(super) defer_until: Cell<Option<Instant>>,
    /// This slot's counters (`metrics.rs`) and inbox (`broadcast.rs`; null
    /// on a spare), in `registry`, which this worker keeps alive: cached
    /// here so that the hot paths do not index the registry's slices.
    counters: *const SlotCounters,
    inbox: *const Inbox,
    /// This slot's "a thief asks" flag (`latent.rs`), in `registry`, cached
    /// like `counters`.
    pub(super) wanted: *const AtomicBool,
    /// This worker's latent forks (`latent.rs`).
    pub(super) latent: Latent,
    /// Grace periods spent on the current deferred job (see [`DEFER_ROUNDS`]).
    pub(super) defer_rounds: Cell<u32>,
    /// The innermost wait pops this worker's own deque only while it holds
    /// more jobs than this: the ones below were set aside (`set_aside`).
    pub(super) floor: Cell<usize>,
    /// The innermost wait set a job aside since it last parked: it looks
    /// no further (stealing more would only set more aside) until it has.
    pub(super) set_aside_since_park: Cell<bool>,
}

crate::sync::thread_local_key! {
    /// The pool (its registry, by address: compared, never dereferenced)
    /// whose exiting thread this is, between the end of its time as a
    /// worker and its end: the stop hook and the loop's teardown run here.
    static EXITING: Cell<*const ()> = Cell::new(ptr::null());
}

/// Whether this thread is one of `registry`'s threads on its way out (its
/// stop hook or its loop's teardown): a `shutdown` from here would join
/// this very thread.
pub(crate) fn exiting_from(registry: &Registry) -> bool {
    EXITING.try_with(Cell::get).is_ok_and(|p| ptr::eq(p, ptr::from_ref(registry).cast()))
}

crate::sync::thread_local_key! {
    /// The worker running on this thread, if any. Points to a `WorkerThread`
    /// on this thread's stack for as long as `main` runs.
    static WORKER: Cell<*const WorkerThread> = Cell::new(ptr::null());
}

/// The body of worker thread `index`. `start_unit`: the thread was given
/// a unit of outstanding work to hold while its start hook runs (whoever
/// started it took one: `PoolBuilder::build`, `bring_in_spare`), so that
/// the pool cannot terminate under the hook, and whatever the hook submits
/// is accepted work that the pool runs before it does.
pub(crate) fn main(
    registry: Arc<Registry>,
    index: usize,
    deque: Worker<JobRef>,
    parker: Parker,
    start_unit: bool,
) {
    install_thread_parker(parker);
    event_loop::install_owner(Box::new(super::registry::WorkerLoop { registry: registry.clone(), index }));
    let counters: *const SlotCounters = &registry.counters[index];
    let inbox = registry.inboxes.get(index).map_or(ptr::null(), ptr::from_ref);
    let wanted: *const AtomicBool = &registry.wanted[index].0;
    let worker = WorkerThread {
        index,
        counters,
        inbox,
        wanted,
        latent: Latent::new(),
        registry,
        deque,
        rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)),
        nested_steals: Cell::new(0),
        stack_top: super::help::stack_address(),
        deferred: Cell::new(ptr::null()),
        defer_until: Cell::new(None),
        defer_rounds: Cell::new(0),
        floor: Cell::new(0),
        set_aside_since_park: Cell::new(false),
    };
    {
        let _registered = Registration::enter(&worker);
        worker.registry.run_thread_hook(&worker.registry.thread_hooks.start, index, "start");
        if start_unit {
            worker.registry.release();
        }
        worker.run();
        // Dropping the registration ends this thread's time as a worker:
        // code that teardown runs (the drops of tasks left on the loop,
        // `on_teardown` hooks) must not push to this exiting worker's
        // deque; a submission from it now goes through the top-level path,
        // which the shut-down pool refuses.
    }
    // The pool has terminated: everything accepted has run. The stop hook
    // runs here, no longer as a worker — what it submits to the pool goes
    // the top-level way, which the shut-down pool refuses (as a worker it
    // would be "nested" work that no unit covers) — and before the loop's
    // teardown, so it may still use the loop.
    // From here to the end the thread is still one `shutdown` joins: a
    // `shutdown` of this pool from the hook or the teardown would wait for
    // itself (`exiting_from`).
    EXITING.with(|e| e.set(ptr::from_ref(&*worker.registry).cast()));
    worker.registry.run_thread_hook(&worker.registry.thread_hooks.stop, index, "stop");
    // Explicit teardown before the thread returns: `join` (loom's in
    // particular) may return before thread-local destructors have run, and
    // `shutdown` promises the loops are gone when it returns.
    let _had_loop = event_loop::teardown_current();
    event_loop::uninstall_owner();
    EXITING.with(|e| e.set(ptr::null()));
}

/// The thread-locals that make this thread a worker, set for as long as the
/// guard lives: the `WORKER` pointer, the block hook (`spare.rs`) and the
/// role a trace reports (`hooks::set_worker_role`). A guard rather than a
/// set and a clear by hand (as rayon-core's `WorkerThread` registration):
/// even an unwind out of `run` — which catches every user panic, so this
/// would be a bug in knotwork — cannot leave `WORKER` pointing at a frame
/// that is gone.
struct Registration<'a>(std::marker::PhantomData<&'a WorkerThread>);

impl<'a> Registration<'a> {
    fn enter(worker: &'a WorkerThread) -> Registration<'a> {
        WORKER.with(|w| w.set(worker));
        set_block_hook(Some(BlockHook {
            data: ptr::from_ref(worker).cast(),
            call: block_hook,
            serve: serve_hook,
        }));
        hooks::set_worker_role(Some((worker.registry.id, worker.index)));
        Registration(std::marker::PhantomData)
    }
}

impl Drop for Registration<'_> {
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
        // Before the pool is told (and brings in a spare): what this worker
        // kept latent must be where others can take it (`latent.rs`).
        worker.promote_all();
        Registry::block_enter(&worker.registry);
    } else {
        worker.registry.block_exit();
    }
}

/// The block hook's `serve`: runs one of this worker's broadcast calls
/// before a blocking park (`sync::park_blocking`), as a helped job.
///
/// # Safety
/// As for [`block_hook`].
unsafe fn serve_hook(data: *const ()) -> bool {
    // SAFETY: per the contract above.
    let worker = unsafe { &*data.cast::<WorkerThread>() };
    worker.inbox_pending() && worker.run_inbox_while_waiting()
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

    /// This slot's counters.
    #[inline]
    pub(super) fn counters(&self) -> &SlotCounters {
        // SAFETY: points into `self.registry.counters`, a boxed slice that
        // is never resized and lives as long as the registry, which
        // `self.registry` keeps alive.
        unsafe { &*self.counters }
    }

    /// This worker's inbox; `None` on a spare.
    #[inline]
    pub(super) fn inbox(&self) -> Option<&Inbox> {
        // SAFETY: null, or a pointer into `self.registry.inboxes`, kept
        // alive as `counters` is.
        unsafe { self.inbox.as_ref() }
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
            if self.run_inbox() {
                self.stop_searching(&mut idle_rounds);
                continue;
            }
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
                    self.registry.idle.start_searching();
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
            self.registry.idle.stop_searching();
        }
        *idle_rounds = 0;
    }

    /// Polls this thread's loop if it exists. Returns whether anything ran.
    ///
    /// This also happens re-entrantly, when a task of this loop blocks in a
    /// `join` or a sync `scope` (which lands in `wait_until`): the blocked
    /// task is `RUNNING` and in no queue, so it is never polled again from
    /// here, while its siblings — possibly the very children it waits for,
    /// pinned to this worker — keep running. That is what keeps a blocking
    /// wait inside an async task from deadlocking, even on one thread.
    pub(super) fn tick_loop(&self) -> bool {
        match event_loop::try_current() {
            Some(core) => core.tick(LOOP_BUDGET),
            None => false,
        }
    }

    pub(super) fn loop_state(&self) -> (bool, Option<Instant>) {
        match event_loop::try_current() {
            Some(core) => (core.has_ready(), core.next_deadline()),
            None => (false, None),
        }
    }

    /// Runs one job (which settles its own unit of outstanding work).
    pub(crate) fn execute(&self, job: JobRef) {
        // A job run on top of latent forks (by a wait, or a `Task::join`
        // running its child inline) may block in ways knotwork cannot see:
        // what this worker kept latent is exposed first (`latent.rs`).
        self.promote_all();
        // Counted before it runs: whoever the job's end releases then reads
        // a count that includes it.
        self.counters().jobs.bump();
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
}
