//! The work-stealing pool.
//!
//! * [`builder`]: `PoolBuilder`, which starts the workers;
//! * `registry`: the state handles and workers share, including the
//!   outstanding-work count that makes shutdown exact;
//! * `job`: type-erased jobs (`HeapJob`: one allocation; `StackJob`: none);
//! * `worker`: a worker's main loop, stealing and helping while waiting;
//! * `broadcast`: per-worker inboxes, for `Pool::broadcast`;
//! * `metrics`: per-worker counters, for `Pool::metrics`;
//! * `sleep`: the idle protocol and its no-lost-wake-up argument;
//! * `global`: the process-wide default pool.
//!
//! How a job travels: `Pool::spawn` on a worker pushes to that worker's
//! deque, off-pool it pushes to the injector; either way one sleeping worker
//! is woken if any sleeps. Workers pop their own deque LIFO, then take a
//! batch from the injector, then steal FIFO from a random victim; they run
//! the job, release its unit of outstanding work, and go round again.
//! docs/architecture.md draws it.
//!
//! Prior art: rayon-core's registry and `join` (<https://docs.rs/rayon-core>); the deques are
//! crossbeam's Chase–Lev deques (<https://docs.rs/crossbeam-deque>).

pub(crate) mod awaited;
mod broadcast;
mod builder;
pub(crate) mod deadline;
mod defer;
mod global;
mod help;
mod idle;
pub(crate) mod job;
mod join;
pub(crate) mod latch;
mod latent;
mod metrics;
pub(crate) mod registry;
mod search;
mod spare;
pub(crate) mod worker;

pub use builder::PoolBuilder;
pub use metrics::{PoolMetrics, WorkerMetrics};

use crate::ShutdownError;
use crate::context::bindings::Snapshot;
use crate::hooks;
use crate::sync::{Arc, SPIN_ROUNDS, with_thread_parker};
use job::{HeapJob, StackJob};
use latch::Latch;
use registry::Registry;
use std::fmt;
use std::panic::resume_unwind;
use worker::WorkerThread;

/// A handle to a work-stealing pool of threads.
///
/// Cheap to clone (`Clone + Send + Sync`); all clones drive the same pool.
/// Dropping the last handle shuts the pool down exactly as
/// [`shutdown`](Self::shutdown) does.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let pool = knotwork::Pool::builder().threads(4).build()?;
/// let count = Arc::new(AtomicUsize::new(0));
/// for _ in 0..100 {
///     let count = count.clone();
///     pool.spawn(move || { count.fetch_add(1, Ordering::Relaxed); })?;
/// }
/// pool.shutdown()?; // runs everything accepted, then joins the workers
/// assert_eq!(count.load(Ordering::Relaxed), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    pub(crate) registry: Arc<Registry>,
}

impl Pool {
    /// A builder for a new pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// assert_eq!(pool.threads(), 2);
    /// # Ok::<(), knotwork::BuildError>(())
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The global default pool, built on first use with one thread per
    /// available core unless [`PoolBuilder::build_global`] installed one.
    ///
    /// # Panics
    ///
    /// If the global pool has to be built and the operating system refuses
    /// to start its threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let answer = knotwork::Pool::global().run(|| 6 * 7).unwrap();
    /// assert_eq!(answer, 42);
    /// ```
    pub fn global() -> &'static Pool {
        global::get()
    }

    /// The pool whose worker thread this is, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// assert!(knotwork::Pool::current().is_none());
    /// let inside = pool.run(|| knotwork::Pool::current().map(|p| p.threads()))?;
    /// assert_eq!(inside, Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn current() -> Option<Pool> {
        WorkerThread::with_current(|w| w.map(|w| Pool::from_registry_clone(&w.registry)))
    }

    /// The pool free functions use here: [`Pool::current`], else [`Pool::global`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(3).build()?;
    /// let inside = pool.run(|| knotwork::Pool::current_or_global().threads())?;
    /// assert_eq!(inside, 3);
    /// assert_eq!(knotwork::Pool::current_or_global().threads(), knotwork::Pool::global().threads());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn current_or_global() -> Pool {
        Pool::current().unwrap_or_else(|| Pool::global().clone())
    }

    /// The registry of the pool free functions use here (that of
    /// [`current_or_global`](Self::current_or_global)), borrowed: no handle
    /// is cloned, so finding it touches no shared counter (issue 18).
    ///
    /// # Safety
    /// The reference is used only on this thread and only while the
    /// caller's frame is live: a worker's registry lives as long as the
    /// worker's run, which encloses every frame on its thread; the global
    /// pool's lives for ever.
    #[inline]
    pub(crate) unsafe fn current_or_global_registry<'a>() -> &'a Arc<Registry> {
        match WorkerThread::current_ptr() {
            // SAFETY: this thread's live worker (`current_ptr`), which
            // outlives the caller's use (the contract above).
            Some(w) => unsafe { &(*w.as_ptr()).registry },
            None => &Pool::global().registry,
        }
    }

    pub(crate) fn from_registry(registry: Arc<Registry>) -> Pool {
        Pool { registry }
    }

    fn from_registry_clone(registry: &Arc<Registry>) -> Pool {
        registry.add_handle();
        Pool { registry: registry.clone() }
    }

    /// The number of worker threads (spares that stand in for blocked
    /// workers not counted).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(4).build()?;
    /// assert_eq!(pool.threads(), 4);
    /// # Ok::<(), knotwork::BuildError>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.registry.num_threads()
    }

    /// A snapshot of the pool's per-worker counters: jobs run, steals,
    /// parks and loop polls (`metrics.rs`). Cheap to keep: each counter is
    /// written only by its own thread, with no locked instruction; reading
    /// them takes no lock either and never blocks the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// let (a, b) = pool.join(|| 1, || 2)?;
    /// let m = pool.metrics();
    /// assert_eq!(m.workers().len(), 2);
    /// assert!(m.jobs_run() >= 1, "the join ran on a worker:\n{m}");
    /// # assert_eq!(a + b, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> PoolMetrics {
        PoolMetrics::read(&self.registry.counters, self.registry.num_threads(), self.registry.spares.live())
    }

    /// Whether [`shutdown`](Self::shutdown) has begun (from any handle, or
    /// by dropping the last one).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// let other = pool.clone();
    /// assert!(!other.is_shut_down());
    /// pool.shutdown()?;
    /// assert!(other.is_shut_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.registry.is_shut_down()
    }

    /// Runs `f` on a worker, fire-and-forget, in one heap allocation.
    ///
    /// Called on one of this pool's workers (from work the pool already
    /// runs), the job goes to that worker's deque and is accepted even while
    /// the pool drains after [`shutdown`](Self::shutdown); called from
    /// anywhere else it goes to the injector. A panic in `f` is caught and
    /// given to the [panic handler](PoolBuilder::panic_handler).
    ///
    /// # Errors
    ///
    /// [`ShutdownError`] if the pool is shut down (for calls from outside
    /// the pool, as soon as shutdown has begun).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.spawn(move || tx.send(6 * 7).unwrap())?;
    /// assert_eq!(rx.recv()?, 42);
    /// pool.shutdown()?;
    /// assert!(pool.spawn(|| ()).unwrap_err().is_shut_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<F>(&self, f: F) -> Result<(), ShutdownError>
    where
        F: FnOnce() + Send + 'static,
    {
        let f = hooks::carry(f);
        WorkerThread::with_current(|worker| match worker {
            Some(w) if w.belongs_to(&self.registry) => {
                self.registry.accept_nested()?;
                w.push(HeapJob::boxed(f));
                Ok(())
            }
            _ => {
                self.registry.accept_top_level()?;
                Registry::inject(&self.registry, HeapJob::boxed(f));
                Ok(())
            }
        })
    }

    /// Runs `f` on one of the pool's workers and waits for its result (the
    /// Python original's `exec_in_executor_threading_future(...).result()`).
    ///
    /// On one of this pool's own workers, `f` simply runs in place. Off-pool,
    /// the job lives on the caller's stack (no allocation) and the caller
    /// parks until it is done. A panic in `f` is resumed here.
    ///
    /// # Errors
    ///
    /// [`ShutdownError`] if the pool is shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// let data = vec![1, 2, 3];
    /// let sum: i32 = pool.run(|| data.iter().sum())?; // may borrow
    /// assert_eq!(sum, 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run<F, R>(&self, f: F) -> Result<R, ShutdownError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        if WorkerThread::with_current(|w| w.is_some_and(|w| w.belongs_to(&self.registry))) {
            return Ok(inherit_bindings(f)());
        }
        self.registry.accept_top_level()?;
        // The pools waiting for this thread's work now wait for `f` too
        // (a binding made inside the caller's bindings, so entered after them).
        let f = inherit_bindings(awaited::carry(&self.registry, f));
        let job = StackJob::new(hooks::carry(f), Latch::new(with_thread_parker(|p| p.unparker())));
        // From the push until the latch is set, a worker may be running the
        // job on this stack frame: an unwind out of the wait (nothing in it
        // runs user code, so only a bug in knotwork could unwind) would free
        // the job under it. Abort instead. Armed before `inject`, which
        // pushes first and then wakes a worker: an unwind out of the wake
        // would already be one out of the wait.
        let abort = crate::sync::AbortOnUnwind;
        // SAFETY: `job` stays on this stack frame until its latch is set: the
        // loop below returns only then, and an unwind out of it aborts.
        Registry::inject(&self.registry, unsafe { job.as_job_ref() });
        wait_off_pool(|| job.latch.probe());
        std::mem::forget(abort);
        match job.into_result() {
            Ok(value) => Ok(value),
            Err(payload) => resume_unwind(payload),
        }
    }

    /// Shuts the pool down, gracefully and exactly.
    ///
    /// New top-level work is refused from now on; every job already
    /// accepted — and all the work it spawns on the pool — runs to the end;
    /// then every worker tears down its loop (once), exits, and is joined
    /// before this returns. Calling it again, from any clone, waits for the
    /// same end and returns `Ok`.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::is_called_from_worker`] if called on one of this
    /// pool's own workers, which would have to wait for itself, or from work
    /// that one of them waits for (handed to another pool with `run`,
    /// `join` or `scope`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// let done = Arc::new(AtomicBool::new(false));
    /// let flag = done.clone();
    /// pool.spawn(move || flag.store(true, Ordering::SeqCst))?;
    /// pool.shutdown()?; // the accepted job ran before this returned
    /// assert!(done.load(Ordering::SeqCst));
    /// // From a worker of the pool, shutdown would wait for itself.
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// let inner = pool.clone();
    /// assert!(pool.run(move || inner.shutdown())?.unwrap_err().is_called_from_worker());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self) -> Result<(), ShutdownError> {
        if WorkerThread::with_current(|w| w.is_some_and(|w| w.belongs_to(&self.registry)))
            || worker::exiting_from(&self.registry)
        {
            return Err(ShutdownError::called_from_worker());
        }
        if awaited::awaited_by(&self.registry) {
            // A worker of this pool waits for the work running here: it
            // could never drain.
            return Err(ShutdownError::called_from_awaited_work());
        }
        self.registry.begin_shutdown();
        // Joining threads blocks: on another pool's worker, that pool
        // hands this thread's place to a spare meanwhile.
        crate::sync::blocking(|| self.registry.join_workers());
        Ok(())
    }
}

/// The number of worker threads of the current pool: the one whose worker
/// this is, else the global pool (built here if nothing has built it yet).
/// rayon's `current_num_threads`. On a worker it reads the worker's own
/// pool, touching no shared counter.
///
/// # Examples
///
/// ```
/// let pool = knotwork::Pool::builder().threads(3).build()?;
/// assert_eq!(pool.run(knotwork::current_num_threads)?, 3);
/// assert_eq!(knotwork::current_num_threads(), knotwork::Pool::global().threads());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn current_num_threads() -> usize {
    WorkerThread::with_current(|w| w.map(|w| w.registry.num_threads()))
        .unwrap_or_else(|| Pool::global().threads())
}

/// A `Pool` may be used across `catch_unwind`: no panic of user code can
/// leave it half-updated. Every job, child and task runs under its own
/// `catch_unwind` inside the pool, and the pool's own state changes are
/// single atomic steps or guarded sections that run no user code. So a
/// `&Pool` captured by a closure passed to `std::panic::catch_unwind` needs
/// no `AssertUnwindSafe`.
impl std::panic::UnwindSafe for Pool {}
/// See the `UnwindSafe` impl.
impl std::panic::RefUnwindSafe for Pool {}

impl Clone for Pool {
    fn clone(&self) -> Self {
        Pool::from_registry_clone(&self.registry)
    }
}

impl Drop for Pool {
    /// Dropping the last handle shuts the pool down like
    /// [`shutdown`](Pool::shutdown). If that last handle is dropped on one of
    /// the pool's own workers (a job owned it), the workers cannot be joined
    /// from there: shutdown begins, and they exit on their own once drained.
    fn drop(&mut self) {
        if self.registry.drop_handle() && self.shutdown().is_err() {
            self.registry.begin_shutdown();
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("id", &self.registry.id)
            .field("threads", &self.threads())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// Waits, off this pool, until `done()`: a caller whose work runs on the
/// pool's workers and whose latch unparks it. Spins briefly first (short
/// jobs finish sooner than a park/unpark round trip takes), then parks as a
/// blocking wait: on another pool's worker, that pool hands this thread's
/// place to a spare meanwhile (`spare.rs`) and the worker still runs the
/// broadcast calls addressed to it (`sync::park_blocking`).
fn wait_off_pool(done: impl Fn() -> bool) {
    let mut round = 0;
    while !done() {
        if round < SPIN_ROUNDS {
            crate::sync::backoff(round);
            round += 1;
        } else {
            crate::sync::park_blocking(None);
        }
    }
}

/// `f`, run inside the caller's bindings — all of them, as they are —
/// wherever it runs: inline on this thread or taken by another worker. For
/// `run` and `join`'s second half: the caller waits for them as for a call
/// of its own, so they are its own work, not children (no slot policy
/// applies), and what they see does not depend on who ran them (T4 in
/// docs/guarantees.md).
#[inline]
pub(super) fn inherit_bindings<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    // Nothing bound here: whoever runs `f` has nothing current either (a
    // worker runs jobs with no bindings, and a helped job is `Detached`),
    // so there is nothing to enter — the common fork-join case costs a read.
    let snapshot = Snapshot::capture_if_bound();
    move || match snapshot {
        None => f(),
        Some(snapshot) => {
            let _entered = snapshot.enter();
            f()
        }
    }
}
