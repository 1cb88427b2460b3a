//! The state shared by a pool's handles and workers.
//!
//! # The outstanding-work count and shutdown
//!
//! `state` packs a [`SHUTDOWN`] bit and a count of *outstanding work*: jobs
//! accepted and not yet finished (queued or running), plus any lease that
//! code above the pool holds to keep the pool open while it may still submit
//! (a scope, in the next layer). One word, so that "is the pool shut down
//! and empty?" is a single atomic read and every transition is one RMW:
//!
//! * **top-level accept** (`accept_top_level`): `fetch_add(ONE)`; if the old
//!   value had `SHUTDOWN`, undo and refuse with `ShutdownError`.
//! * **nested accept** (`accept_nested`, from code already running on behalf
//!   of accepted work): `fetch_add(ONE)`; refused only if the old value was
//!   exactly `SHUTDOWN` (shut down *and* drained), which cannot happen while
//!   the caller's own unit is still counted.
//! * **finish** (`release`): `fetch_sub(ONE)`; whoever moves the word to
//!   exactly `SHUTDOWN` wakes every worker.
//! * **shutdown** (`begin_shutdown`): `fetch_or(SHUTDOWN)`; if the count was
//!   already zero, wake every worker.
//! * a worker exits only when it reads exactly `SHUTDOWN`: shut down, and no
//!   unit outstanding — so no queued job, no running job, no open lease. An
//!   accepted job is never dropped: it holds a unit until a worker ran it.
//!
//! The undo after a refused accept can briefly lift the count from zero;
//! workers that saw the non-zero value go back to sleep and the undo's
//! `release` wakes them again, so termination is only delayed.
//!
//! Prior art: rayon-core's `Registry` (<https://docs.rs/rayon-core>).

use super::broadcast::Inbox;
use super::deadline::Deadlines;
use super::idle::IdleWorkers;
use super::job::JobRef;
use super::metrics::SlotCounters;
use super::spare::Spares;
use crate::ShutdownError;
use crate::sync::deque::{Injector, Stealer};
use crate::sync::thread::JoinHandle;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use std::any::Any;

/// The shutdown flag in `Registry::state`.
const SHUTDOWN: usize = 1;
/// One unit of outstanding work in `Registry::state`.
const ONE: usize = 2;

/// How a scope holds its pool's registry: owned (an async scope, whose
/// core is shared and may outlive any frame), or borrowed from a caller
/// that outlives it (a sync scope, whose core lives on the frame of the
/// call that borrows the registry). Borrowing spares a sync scope two
/// atomic read-modify-writes on the registry's reference count — a line
/// every core writes — per fork (issue 18).
pub(crate) enum RegistryLink {
    Owned(Arc<Registry>),
    /// Valid for as long as the link is (the constructor's contract).
    Borrowed(std::ptr::NonNull<Arc<Registry>>),
}

impl RegistryLink {
    /// A link that borrows `registry`.
    ///
    /// # Safety
    /// `registry` outlives the link, and every use of a reference obtained
    /// through it.
    #[inline]
    pub(crate) unsafe fn borrowed(registry: &Arc<Registry>) -> RegistryLink {
        RegistryLink::Borrowed(std::ptr::NonNull::from(registry))
    }
}

impl std::ops::Deref for RegistryLink {
    type Target = Arc<Registry>;

    #[inline]
    fn deref(&self) -> &Arc<Registry> {
        match self {
            RegistryLink::Owned(registry) => registry,
            // SAFETY: the registry outlives the link (`borrowed`'s contract).
            RegistryLink::Borrowed(registry) => unsafe { registry.as_ref() },
        }
    }
}

/// A thief found this slot's deque empty and asks its worker to promote a
/// latent fork (`latent.rs`). On a line of its own: the owner reads it at
/// every fork, and only thieves write it.
#[repr(align(128))]
pub(crate) struct Wanted(pub(crate) AtomicBool);

/// What the pool does with the panic of a fire-and-forget job.
pub(crate) type PanicHandler = Box<dyn Fn(Box<dyn Any + Send>) + Send + Sync>;

pub(crate) struct Registry {
    /// Process-unique pool id (for `Debug`, for a trace's worker role, and
    /// for the cross-pool wait records of `awaited.rs`).
    pub(crate) id: u64,
    /// `SHUTDOWN` bit | outstanding-work count × `ONE`; see the module docs.
    state: AtomicUsize,
    /// Work submitted from outside the pool.
    pub(crate) injector: Injector<JobRef>,
    /// Handles for stealing from each worker's deque, by worker index: the
    /// `core` workers first, then every spare slot (`spare.rs`).
    pub(crate) stealers: Box<[Stealer<JobRef>]>,
    /// Spare threads that stand in for blocked workers (`spare.rs`).
    pub(crate) spares: Spares,
    /// Deadlines fired by the pool's deadline thread (`deadline.rs`).
    pub(crate) deadlines: Deadlines,
    /// The idle protocol.
    pub(crate) idle: IdleWorkers,
    /// Called with the payload of a panicking `Pool::spawn` job.
    panic_handler: Option<PanicHandler>,
    /// Worker join handles (spares' too, as they start).
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Held by `join_workers` for the whole join, so that concurrent
    /// shutdowns all return only after every thread is joined.
    joining: Mutex<()>,
    /// Number of `Pool` handles alive; the last one to go shuts down.
    handles: AtomicUsize,
    /// Jobs addressed to one worker (`broadcast.rs`), by worker index
    /// (spares have none).
    pub(crate) inboxes: Box<[Inbox]>,
    /// Per-slot "a thief found nothing here" flags (`latent.rs`), by slot
    /// index, spares' included.
    pub(crate) wanted: Box<[Wanted]>,
    /// Per-slot statistics (`metrics.rs`), by slot index, spares' included.
    pub(crate) counters: Box<[SlotCounters]>,
    /// Called on every thread the pool starts, before it takes work, and
    /// before it exits (`PoolBuilder::on_thread_start` / `on_thread_stop`).
    pub(crate) thread_hooks: ThreadHooks,
}

/// A hook called with a slot index on a pool thread.
pub(crate) type ThreadHook = Box<dyn Fn(usize) + Send + Sync>;

/// The builder's thread start and stop hooks.
#[derive(Default)]
pub(crate) struct ThreadHooks {
    pub(crate) start: Option<ThreadHook>,
    pub(crate) stop: Option<ThreadHook>,
}

impl Registry {
    pub(crate) fn new(
        id: u64,
        stealers: Vec<Stealer<JobRef>>,
        spares: Spares,
        idle: IdleWorkers,
        panic_handler: Option<PanicHandler>,
        thread_hooks: ThreadHooks,
    ) -> Self {
        let slots = stealers.len();
        let core = spares.core;
        Registry {
            id,
            state: AtomicUsize::new(0),
            injector: Injector::new(),
            stealers: stealers.into_boxed_slice(),
            spares,
            deadlines: Deadlines::new(),
            idle,
            panic_handler,
            threads: Mutex::new(Vec::new()),
            joining: Mutex::new(()),
            handles: AtomicUsize::new(1),
            inboxes: (0..core).map(|_| Inbox::new()).collect(),
            counters: (0..slots).map(|_| SlotCounters::default()).collect(),
            wanted: (0..slots).map(|_| Wanted(AtomicBool::new(false))).collect(),
            thread_hooks,
        }
    }

    /// Runs a thread hook on slot `index`'s thread. A panic in it is the
    /// user's: caught and given to the panic handler, and the thread goes
    /// on (a worker that never started would take the pool's work with it).
    pub(crate) fn run_thread_hook(&self, hook: &Option<ThreadHook>, index: usize, which: &str) {
        if let Some(hook) = hook {
            if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(index))) {
                self.report_panic(
                    payload,
                    &format!("the thread {which} hook (PoolBuilder::on_thread_{which})"),
                );
            }
        }
    }

    /// The number of workers the pool was built with (spares not counted).
    pub(crate) fn num_threads(&self) -> usize {
        self.spares.core
    }

    pub(crate) fn set_threads(&self, threads: Vec<JoinHandle<()>>) {
        self.threads.lock().extend(threads);
    }

    /// Registers the handle of a spare that just started.
    pub(crate) fn add_thread(&self, handle: JoinHandle<()>) {
        self.threads.lock().push(handle);
    }

    /// The stealers of the slots that have had a thread.
    #[inline]
    pub(crate) fn live_stealers(&self) -> &[Stealer<JobRef>] {
        &self.stealers[..self.spares.live()]
    }

    /// Whether any queue of the pool holds a job.
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.injector.is_empty() || self.live_stealers().iter().any(|s| !s.is_empty())
    }

    /// Called after making a job visible: wakes an idle worker, or — when
    /// none is idle and a worker is blocked — brings in a spare
    /// (`spare.rs`, F1).
    #[inline]
    pub(crate) fn notify_work(this: &Arc<Self>) {
        if !this.idle.notify_one() && this.spares.short_handed() {
            Registry::compensate(this);
        }
    }

    /// Counts a unit of new top-level work, unless the pool is shut down.
    pub(crate) fn accept_top_level(&self) -> Result<(), ShutdownError> {
        // ORDERING: Acquire so a refusal is ordered after the shutdown it
        // observed; the increment itself publishes nothing.
        let prev = self.state.fetch_add(ONE, Ordering::Acquire);
        if prev & SHUTDOWN != 0 {
            self.release();
            return Err(ShutdownError::shut_down());
        }
        Ok(())
    }

    /// Counts a unit of work submitted on behalf of already-accepted work;
    /// refused only once the pool is shut down and fully drained.
    pub(crate) fn accept_nested(&self) -> Result<(), ShutdownError> {
        // ORDERING: as in `accept_top_level`.
        let prev = self.state.fetch_add(ONE, Ordering::Acquire);
        if prev == SHUTDOWN {
            self.release();
            return Err(ShutdownError::shut_down());
        }
        Ok(())
    }

    /// Releases one unit (a job ran, or a lease ended).
    pub(crate) fn release(&self) {
        // ORDERING: Release so the finished work happens-before a worker's
        // Acquire read of the terminated state (and so before `shutdown`
        // returns); Acquire for the waker's own view.
        let prev = self.state.fetch_sub(ONE, Ordering::AcqRel);
        debug_assert!(prev >= ONE, "outstanding-work count underflow");
        if prev == SHUTDOWN + ONE {
            self.wake_all();
        }
    }

    /// Stops accepting top-level work; workers exit once everything drains.
    pub(crate) fn begin_shutdown(&self) {
        // ORDERING: AcqRel: the flag is published to accepters' Acquire.
        let prev = self.state.fetch_or(SHUTDOWN, Ordering::AcqRel);
        if prev == 0 {
            self.wake_all();
        }
    }

    /// Wakes every thread of the pool (termination): workers, spares and
    /// the deadline thread.
    fn wake_all(&self) {
        self.idle.wake_all();
        self.deadlines.wake();
    }

    /// Shut down and nothing outstanding: workers may exit.
    pub(crate) fn is_terminated(&self) -> bool {
        // ORDERING: Acquire pairs with the Release of the last `release`.
        self.state.load(Ordering::Acquire) == SHUTDOWN
    }

    /// Whether `shutdown` has begun.
    pub(crate) fn is_shut_down(&self) -> bool {
        // ORDERING: a status read; Acquire to see what preceded the shutdown.
        self.state.load(Ordering::Acquire) & SHUTDOWN != 0
    }

    /// Queues a job from outside the pool (already accepted) and wakes a worker.
    pub(crate) fn inject(this: &Arc<Self>, job: JobRef) {
        this.injector.push(job);
        Registry::notify_work(this);
    }

    /// Joins every worker thread, spares included. Concurrent callers wait
    /// for the first. The handle list is locked only to take one handle at
    /// a time: a worker may start a spare (and register its handle) while
    /// this waits for the others. Once a worker has been joined the pool is
    /// terminated, so no spare starts any more; the barrier on the spare
    /// lock then makes a handle registered just before visible.
    pub(crate) fn join_workers(&self) {
        let _joining = self.joining.lock();
        let mut settled = false;
        loop {
            let next = self.threads.lock().pop();
            match next {
                Some(handle) => {
                    // Workers catch every panic of user code; an error here
                    // means knotwork itself failed on a worker thread.
                    if handle.join().is_err() {
                        eprintln!(
                            "knotwork: a worker thread of pool {} ended with a panic outside any job; \
                             please report this as a knotwork bug",
                            self.id
                        );
                    }
                    settled = false;
                }
                None if settled => return,
                None => {
                    self.spares_settled();
                    settled = true;
                }
            }
        }
    }

    /// Reports the panic of a fire-and-forget job.
    pub(crate) fn handle_panic(&self, payload: Box<dyn Any + Send>) {
        self.report_panic(payload, "a job spawned with Pool::spawn");
    }

    /// Gives the panic of `what` (user code nobody joins) to the panic
    /// handler, or prints it.
    fn report_panic(&self, payload: Box<dyn Any + Send>, what: &str) {
        match &self.panic_handler {
            Some(handler) => {
                // A panicking handler must not take the worker down with it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(payload)));
            }
            None => {
                let msg = crate::error::panic_message(&*payload).unwrap_or("<non-string payload>");
                eprintln!(
                    "knotwork: {what} panicked: {msg} \
                     (set PoolBuilder::panic_handler to handle this yourself)"
                );
                crate::sync::drop_contained(payload, "a panic payload nobody joins");
            }
        }
    }

    /// Hands a scope's failures that could not be raised (`why`: another
    /// panic was already on its way) to the panic handler, as one
    /// `ScopeError` payload; without a handler, prints them.
    pub(crate) fn report_failures(&self, failures: crate::failure::ScopeError, why: &str) {
        match &self.panic_handler {
            Some(handler) => {
                let payload: Box<dyn Any + Send> = Box::new(failures);
                // A panicking handler must not take the caller down with it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(payload)));
            }
            None => {
                eprintln!(
                    "knotwork: a scope's children failed {why}, so their failures could not be raised: {failures} \
                     (set PoolBuilder::panic_handler to receive them as a ScopeError)"
                );
                crate::sync::drop_contained(failures, "a scope's unreported failures");
            }
        }
    }

    /// A new `Pool` handle was made.
    pub(crate) fn add_handle(&self) {
        // ORDERING: like `Arc::clone`: made from a live handle, publishes nothing.
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A `Pool` handle was dropped; true if it was the last.
    pub(crate) fn drop_handle(&self) -> bool {
        // ORDERING: AcqRel, like `Arc::drop`: every handle's use happens-before
        // the shutdown the last one starts.
        self.handles.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// What owns a worker's loop: the pool it serves, and the slot it runs on.
pub(crate) struct WorkerLoop {
    pub(crate) registry: Arc<Registry>,
    pub(crate) index: usize,
}

/// A worker's loop serves its pool: its local tasks count as outstanding
/// work, and its polls are counted in the slot's metrics.
impl crate::event_loop::LoopOwner for WorkerLoop {
    fn count_task(&self) -> bool {
        self.registry.accept_nested().is_ok()
    }

    fn task_done(&self) {
        Registry::release(&self.registry);
    }

    fn poll_counter(&self) -> Option<Arc<crate::sync::StatCounter>> {
        Some(self.registry.counters[self.index].polls.clone())
    }
}
