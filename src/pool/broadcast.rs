//! `Pool::broadcast`: run a closure once on every worker.
//!
//! # Inboxes
//!
//! A job for one worker in particular cannot go through the deques (any
//! thief may take from them), so each worker has an *inbox*: a locked list
//! of jobs only it runs, and a `pending` flag readable without the lock.
//!
//! ```text
//!  broadcaster, for each worker i          worker i
//!  ──────────────────────────────          ────────
//!  lock inbox i; push job; pending = true  main loop and every wait (`wait_until`):
//!  unlock                                      if pending: lock; pop a job; unlock; run it
//!  unpark worker i                  (U)    before parking: if pending, do not park
//! ```
//!
//! **No lost wake-up.** The unpark (U) comes after the push and leaves a
//! permit if worker i is not parked yet, so its next park returns at once
//! and it goes round its loop, where it looks at the inbox before it parks
//! again. So the flag needs no fence against the parking check: the permit
//! carries the wake.
//!
//! **Who waits for whom.** The broadcaster waits for every worker to reach a
//! point where it takes jobs: its main loop, any wait of its own in the
//! pool (`join`, a scope, `Task::join`: `wait_until` runs inbox jobs first,
//! constrained or not), and any *blocking* wait of knotwork's on that
//! thread (`block_on`, `Starting::wait`, `Limiter::acquire_blocking`, a
//! `run`, `scope` or `broadcast` on another pool: `sync::park_blocking`
//! asks the worker's block hook to serve its inbox before it parks, and a
//! delivery unparks it; the exception is `shutdown` of another pool, whose
//! join of threads is not a park). So broadcasts from two workers at once, nested
//! broadcasts, and two pools broadcasting into each other all finish. A
//! worker blocked in a wait knotwork does not see — a `std` lock or
//! channel, `thread::sleep`, another executor's `block_on`, blocking I/O —
//! runs its call only when it comes back; a spare cannot run it in its
//! place (the call is for *that* thread). So a broadcast made from code
//! that such a worker waits for never finishes (docs/guarantees.md, L9).
//!
//! Each job holds a unit of the pool's outstanding work until it has run,
//! so no worker exits with a broadcast job in its inbox.
//!
//! Prior art: rayon-core's `broadcast` (<https://docs.rs/rayon-core/latest/rayon_core/fn.broadcast.html>),
//! which keeps a per-thread queue for the same reason.

use super::Pool;
use super::job::{JobRef, StackJob};
use super::latch::Latch;
use super::registry::Registry;
use super::worker::WorkerThread;
use crate::ShutdownError;
use crate::hooks;
use crate::sync::{AtomicBool, Mutex, Ordering, with_thread_parker};
use std::collections::VecDeque;
use std::panic::resume_unwind;

/// The jobs addressed to one worker.
pub(crate) struct Inbox {
    jobs: Mutex<VecDeque<JobRef>>,
    /// `jobs` is not empty (set under the lock; read without it).
    pending: AtomicBool,
}

impl Inbox {
    pub(crate) fn new() -> Inbox {
        Inbox { jobs: Mutex::new(VecDeque::new()), pending: AtomicBool::new(false) }
    }

    /// Whether a job waits here (a hint; `take` decides).
    #[inline]
    pub(crate) fn is_pending(&self) -> bool {
        // ORDERING: Relaxed: a hint. A job seen here is taken under the
        // lock, which orders it; a job missed here is not lost, because
        // its delivery unparks this worker after the push.
        self.pending.load(Ordering::Relaxed)
    }

    /// Takes the oldest job, if any.
    pub(crate) fn take(&self) -> Option<JobRef> {
        if !self.is_pending() {
            return None;
        }
        let mut jobs = self.jobs.lock();
        let job = jobs.pop_front();
        // ORDERING: under the lock, which orders it with every push.
        self.pending.store(!jobs.is_empty(), Ordering::Relaxed);
        job
    }

    fn push(&self, job: JobRef) {
        let mut jobs = self.jobs.lock();
        jobs.push_back(job);
        // ORDERING: under the lock (see `take`).
        self.pending.store(true, Ordering::Relaxed);
    }
}

impl Registry {
    /// Puts `job` in worker `i`'s inbox and wakes that worker.
    fn deliver(&self, i: usize, job: JobRef) {
        self.inboxes[i].push(job);
        // (U) in the module docs: after the push, whatever the worker is doing.
        self.idle.unpark_worker(i);
    }
}

impl WorkerThread {
    /// Runs one job from this worker's inbox. Returns whether one ran.
    #[inline]
    pub(crate) fn run_inbox(&self) -> bool {
        // Spares have no inbox.
        let Some(inbox) = self.inbox() else { return false };
        match inbox.take() {
            Some(job) => {
                self.execute(job);
                true
            }
            None => false,
        }
    }

    /// Whether this worker's inbox holds a job.
    #[inline]
    pub(crate) fn inbox_pending(&self) -> bool {
        self.inbox().is_some_and(Inbox::is_pending)
    }
}

impl Pool {
    /// Runs `f(index)` once on every worker of the pool — each of the
    /// [`threads`](Self::threads) workers runs it exactly once, on its own
    /// thread — and returns the results by worker index (rayon's
    /// `broadcast`). For per-thread set-up and for gathering per-thread
    /// state (a thread-local cache, a loop's counters).
    ///
    /// The caller waits until every worker has run its call: a worker busy
    /// with a job runs it when that job ends or waits in the pool. Called
    /// on one of the pool's own workers, the caller's own call runs there
    /// too, and the caller helps while it waits, so broadcasts from several
    /// workers at once, nested ones, and broadcasts between two pools
    /// finish: every wait of knotwork's on a worker (a join, a scope's
    /// close, `block_on`, a wait on another pool) runs the calls addressed
    /// to it. A worker blocked in a wait knotwork does not see (a `std`
    /// lock or channel, `thread::sleep`, blocking I/O) delays it, and a
    /// broadcast made from code such a worker waits for never finishes (L9
    /// in [guarantees](crate::guide::guarantees)).
    /// `f` runs in the caller's context bindings, as with [`run`](Self::run).
    ///
    /// A worker may run its call *on top of* whatever wait it is in — a
    /// join, a scope's close, `block_on`, a `run` on another pool — in the
    /// middle of the job that waits, as a job stolen by that wait would
    /// (rayon's broadcast does the same). So `f` must not need a lock or a
    /// `RefCell` borrow that the code it interrupts holds across its wait:
    /// it would wait for itself, or panic. The one wait that does not run
    /// calls is `shutdown` of another pool (joining threads), which delays
    /// them until it returns.
    /// If calls panic, the first worker's panic (by index) is resumed here
    /// once every call has finished.
    ///
    /// # Errors
    ///
    /// [`ShutdownError`] if the pool is shut down (from outside the pool).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(3).build()?;
    /// let names = pool.broadcast(|i| (i, std::thread::current().name().unwrap().to_owned()))?;
    /// assert_eq!(names, [(0, "knotwork-0".into()), (1, "knotwork-1".into()), (2, "knotwork-2".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn broadcast<F, R>(&self, f: F) -> Result<Vec<R>, ShutdownError>
    where
        F: Fn(usize) -> R + Sync,
        R: Send,
    {
        let n = self.threads();
        let on_worker =
            WorkerThread::with_current(|w| w.filter(|w| w.belongs_to(&self.registry)).map(|w| w.index()));
        // One unit of outstanding work per job. From outside, the first
        // accept is the one that may be refused; the rest are nested in it.
        match on_worker {
            Some(_) => self.registry.accept_nested()?,
            None => self.registry.accept_top_level()?,
        }
        for _ in 1..n {
            self.registry.accept_nested().expect("a unit already held keeps the pool open");
        }
        let f = &f;
        let latch = || match on_worker {
            Some(me) => Latch::for_worker(&self.registry, me),
            None => Latch::new(with_thread_parker(|p| p.unparker())),
        };
        let carried = |i: usize| {
            let call = move || f(i);
            let call = super::inherit_bindings(super::awaited::carry(&self.registry, call));
            hooks::carry(call)
        };
        // Built in full before any reference is taken: the vector is not
        // resized (nor its jobs moved) after that.
        let jobs: Vec<_> = (0..n).map(|i| StackJob::new(carried(i), latch())).collect();
        // From the first delivery until every latch is set, workers may run
        // these jobs on this frame: an unwind out of here would free them.
        let abort = crate::sync::AbortOnUnwind;
        for (i, job) in jobs.iter().enumerate() {
            // SAFETY: every job stays in `jobs`, unmoved, until its latch is
            // set: the waits below return only then, and an unwind aborts.
            // Each reference is delivered once, so executed at most once.
            self.registry.deliver(i, unsafe { job.as_job_ref() });
        }
        let all_done = || jobs.iter().all(|j| j.latch.probe());
        match on_worker {
            Some(_) => WorkerThread::with_current(|w| {
                // Runs this worker's own call (its inbox comes first) and
                // helps until the others have run theirs — constrained, as
                // `join`'s wait is, to the task this runs in, if any: a
                // sibling task polled on top of this frame could block
                // waiting for it (the shape fuzzer found one: an async
                // task's `Task::join` of a blocking child whose broadcast
                // had polled that task on top of itself).
                let target = crate::task::TaskPtr::current().map(|t| t.as_ptr().cast::<()>());
                w.expect("checked above").wait_until(all_done, target);
            }),
            None => super::wait_off_pool(all_done),
        }
        std::mem::forget(abort);
        let mut results = Vec::with_capacity(n);
        let mut panic = None;
        for job in jobs {
            match job.into_result() {
                Ok(r) => results.push(r),
                Err(payload) if panic.is_none() => panic = Some(payload),
                Err(payload) => crate::sync::drop_contained(payload, "a panic payload"),
            }
        }
        match panic {
            None => Ok(results),
            Some(payload) => {
                crate::sync::drop_contained(results, "broadcast results");
                resume_unwind(payload)
            }
        }
    }
}
