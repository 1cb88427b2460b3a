//! `Pool::join`: rayon's fork-join, on this pool.
//!
//! On a worker, `b` goes onto the worker's own deque as a `StackJob` (no
//! allocation: it lives on this frame), `a` runs here, and then the worker
//! either pops `b` back and runs it inline (nobody stole it: no latch to
//! set) or, if a thief has it, helps with other work (`help.rs`) until
//! `b`'s latch is set. Both halves run under `catch_unwind`; a panic is
//! resumed only after both finished, the other half's result dropped with
//! its `Drop` contained. Inside a task, `b` runs as part of that task's
//! work wherever it runs, and in the caller's bindings (T4).
//!
//! Prior art: rayon-core's `join_context` (<https://docs.rs/rayon-core>).

use super::Pool;
use super::job::{Carry, StackJob};
use super::latch::Latch;
use super::worker::WorkerThread;
use crate::ShutdownError;
use crate::context::bindings::Snapshot;
use crate::hooks;
use std::panic::resume_unwind;

impl Pool {
    /// Runs `a` and `b`, potentially in parallel, and returns both results
    /// (rayon's `join`, without allocation).
    ///
    /// On a worker, `b` is pushed to the worker's deque where an idle worker
    /// may steal it, `a` runs here, and then — if `b` was stolen — this
    /// worker keeps running other jobs until `b` is done, so nested joins
    /// never deadlock, even on one thread. Off-pool, the whole join is first
    /// moved onto a worker with [`run`](Self::run). If either closure panics,
    /// the panic is resumed after both have finished.
    ///
    /// # Errors
    ///
    /// [`ShutdownError`] if called off-pool on a shut-down pool.
    ///
    /// # Examples
    ///
    /// ```
    /// fn fib(pool: &knotwork::Pool, n: u64) -> u64 {
    ///     if n < 2 { return n; }
    ///     let (a, b) = pool.join(|| fib(pool, n - 1), || fib(pool, n - 2)).unwrap();
    ///     a + b
    /// }
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// assert_eq!(fib(&pool, 20), 6765);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> Result<(RA, RB), ShutdownError>
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        // SAFETY: `current_ptr` is this thread's live worker, valid while
        // this call runs on it.
        match WorkerThread::current_ptr().map(|w| unsafe { w.as_ref() }) {
            Some(w) if w.belongs_to(&self.registry) => Ok(w.join(a, b)),
            _ => self.run(|| self.join(a, b))?,
        }
    }
}

impl WorkerThread {
    /// [`Pool::join`] on this worker (of whichever pool it is): also what
    /// the free [`knotwork::join`](crate::join) calls, with no pool handle
    /// cloned and no shared counter touched.
    #[inline]
    pub(crate) fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        {
            let worker = self;
            // No unit of outstanding work for `b`: this thread runs accepted
            // work and waits for `b` before returning, so its own unit
            // covers `b` until `b` is done.
            // Inside a task, `b` is part of that task's work wherever it
            // runs: it runs as a wait for that task, so the scopes it opens
            // descend from the task (`task::Up::Frame`) and the joiner's
            // wait below, constrained to the task, may run their children.
            let target: Option<*const ()> = crate::task::TaskPtr::current().map(|t| t.as_ptr().cast());
            let job_b = StackJob::carrying(
                b,
                Carried::capture(target),
                Latch::for_worker(&worker.registry, worker.index()),
            );
            // `job_b` stays on this frame until its latch is set or its
            // reference is taken back below (from the latent stack or the
            // deque); `a` cannot unwind past it (`catch_unwind`).
            // SAFETY: as just said: every path out does one of the two.
            let job_ref = || unsafe { job_b.as_uncounted_job_ref() };
            // Latent if this worker already has work exposed (`latent.rs`).
            let latent = worker.latent.try_push(job_ref);
            if latent.is_none() {
                worker.latent.exposed_one();
                worker.push(job_ref());
            }
            // A thief asked for work: the oldest latent fork goes out.
            worker.answer_thieves();
            let result_a = std::panic::catch_unwind(std::panic::AssertUnwindSafe(a));
            // An unwind out of the wait would free `job_b` while another
            // worker may be running it: abort instead (nothing in the wait
            // is meant to unwind; this is the last line of defence).
            let abort = crate::sync::AbortOnUnwind;
            let still_latent = match latent {
                Some(i) => worker.latent.take_back(i),
                None => false,
            };
            let result_b = if still_latent {
                // A thief that asked while `a` ran (and forked no more) gets
                // the oldest fork still latent below this one: without this, a
                // left-deep tree whose `a`s do not fork leaves it parked for
                // the whole chain (`tests/latent.rs`).
                worker.answer_thieves();
                // Nobody asked for `b`: it runs here, as written.
                job_b.run_inline()
            } else {
                let result_b = loop {
                    if job_b.latch.probe() {
                        break job_b.into_result();
                    }
                    match worker.pop_local() {
                        // Nobody stole `b`: run it here, with no latch to set.
                        Some(job) if job_b.is(&job) => break job_b.run_inline(),
                        // Pushed by `a` (a spawn) above `b`: run it first, as
                        // the wait would.
                        Some(job) => worker.execute_local(job),
                        None => {
                            // For `b`; what runs meanwhile is constrained as for
                            // the task this runs in, if any.
                            worker.wait_until(|| job_b.latch.probe(), target);
                            break job_b.into_result();
                        }
                    }
                };
                worker.latent.exposed_done();
                result_b
            };
            std::mem::forget(abort);
            match (result_a, result_b) {
                (Ok(ra), Ok(rb)) => (ra, rb),
                // The other half's result is dropped before the unwind
                // starts, its `Drop` contained: dropped during the unwind, a
                // second panic would abort the process.
                (Err(payload), Ok(rb)) => {
                    crate::sync::drop_contained(rb, "a join half's result");
                    resume_unwind(payload)
                }
                (Ok(ra), Err(payload)) => {
                    crate::sync::drop_contained(ra, "a join half's result");
                    resume_unwind(payload)
                }
                (Err(payload), Err(second)) => {
                    crate::sync::drop_contained(second, "a panic payload");
                    resume_unwind(payload)
                }
            }
        }
    }
}

/// What `b` carries to a thread that takes it from the deque (`Carry`): the
/// forker's bindings (T4), its trace context, and the task it is part of.
/// Left unused when `b` runs inline, where all three are current already.
struct Carried {
    /// The task `b` is part of, by address (compared, never dereferenced,
    /// hence carried as an integer): run elsewhere, it runs as a wait for
    /// that task, so the scopes it opens descend from the task
    /// (`task::Up::Frame`) and the joiner's wait, constrained to the task,
    /// may run their children.
    part_of: Option<usize>,
    trace: Option<std::sync::Arc<hooks::TraceCtx>>,
    bindings: Option<Snapshot>,
}

impl Carried {
    #[inline]
    fn capture(part_of: Option<*const ()>) -> Carried {
        Carried {
            part_of: part_of.map(|t| t as usize),
            trace: hooks::current_ctx(),
            bindings: Snapshot::capture_if_bound(),
        }
    }
}

impl Carry for Carried {
    fn run<R>(self, f: impl FnOnce() -> R) -> R {
        // Entered in the order `hooks::carry(inherit_bindings(..))` would.
        let _trace = self.trace.map(|c| hooks::CtxGuard::enter(Some(c)));
        let _bindings = self.bindings.as_ref().map(Snapshot::enter);
        let _part_of = self.part_of.map(|t| crate::event_loop::Waiting::enter(Some(t as *const ())));
        f()
    }
}
