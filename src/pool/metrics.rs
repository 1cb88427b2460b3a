//! `Pool::metrics`: cheap per-worker counters, read from any thread.
//!
//! Each slot of the pool (its workers, then its spare slots) has one
//! cache-line-aligned block of counters that only the slot's thread writes:
//! jobs it ran, jobs it stole from another worker's deque, times it parked,
//! and tasks its loop polled. A bump is a relaxed load and store on a line
//! no other core writes (`sync::StatCounter`): no locked instruction, no
//! shared cache line on the fork path. A reader copies the counters one by
//! one, so a snapshot taken while the pool runs is a few events stale and
//! not taken at one instant; each count only grows.
//!
//! Prior art: tokio's `RuntimeMetrics` (<https://docs.rs/tokio/latest/tokio/runtime/struct.RuntimeMetrics.html>)
//! — per-worker counts of polls, steals and parks, kept in per-worker
//! structures and read with relaxed loads.

use crate::sync::{Arc, StatCounter};
use std::fmt;

/// The counters of one pool slot, written by that slot's thread only.
/// Aligned so that two slots never share a cache line.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct SlotCounters {
    /// Jobs this slot's thread ran (from any queue).
    pub(crate) jobs: StatCounter,
    /// Jobs it stole from another worker's deque.
    pub(crate) steals: StatCounter,
    /// Times it parked (idle, or blocked in a wait).
    pub(crate) parks: StatCounter,
    /// Task polls of its loop. Shared with the loop
    /// (`LoopOwner::poll_counter`), which lives as long as the thread does.
    pub(crate) polls: Arc<StatCounter>,
}

/// A snapshot of a pool's counters, from [`Pool::metrics`](crate::Pool::metrics).
///
/// # Examples
///
/// ```
/// let pool = knotwork::Pool::builder().threads(2).build()?;
/// pool.scope(|s| {
///     for _ in 0..10 {
///         s.exec_blocking(|| ());
///     }
/// });
/// let m = pool.metrics();
/// assert_eq!(m.workers().len(), 2);
/// assert!(m.jobs_run() >= 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolMetrics {
    workers: Vec<WorkerMetrics>,
    spares: Vec<WorkerMetrics>,
}

/// The counters of one worker (or spare slot) of a pool.
///
/// # Examples
///
/// ```
/// let pool = knotwork::Pool::builder().threads(1).build()?;
/// pool.run(|| knotwork::block_on(async { knotwork::yield_now().await }))?;
/// let w = pool.metrics().workers()[0];
/// assert_eq!(w.index(), 0);
/// assert!(w.jobs_run() >= 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerMetrics {
    index: usize,
    jobs_run: u64,
    steals: u64,
    parks: u64,
    loop_polls: u64,
}

impl WorkerMetrics {
    /// The slot's index: `0..threads` for workers, then spare slots.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(3).build()?;
    /// let indices: Vec<usize> = pool.metrics().workers().iter().map(|w| w.index()).collect();
    /// assert_eq!(indices, [0, 1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Jobs this thread ran, from any queue: blocking children, the start
    /// of each async child (the job that binds it to this thread's loop;
    /// its polls are [`loop_polls`](Self::loop_polls)), `spawn` and `run`
    /// jobs, stolen `join` halves and `broadcast` calls. A job a thread
    /// picked up and handed on (a blocking child left to an idle worker,
    /// L2, or set aside by a wait it may not run on top of) counts on each
    /// thread that picked it up: counts only grow.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// for _ in 0..3 {
    ///     pool.run(|| ())?;
    /// }
    /// assert_eq!(pool.metrics().workers()[0].jobs_run(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jobs_run(&self) -> u64 {
        self.jobs_run
    }

    /// Jobs this thread stole from another worker's deque (not counting
    /// what it took from the pool's injector).
    ///
    /// # Examples
    ///
    /// ```
    /// // One worker has nobody to steal from.
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// pool.join(|| 1, || 2)?;
    /// assert_eq!(pool.metrics().workers()[0].steals(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn steals(&self) -> u64 {
        self.steals
    }

    /// Times this thread parked in the pool's idle protocol (out of work)
    /// or in one of the pool's own waits (`join`, a scope's close,
    /// `Task::join`) with nothing to help with. The parks of a *blocking*
    /// wait (`block_on`, a wait on another pool) and of a retired spare are
    /// not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// pool.run(|| ())?;
    /// // The worker parks once the job is done, and soon.
    /// let parked = (0..1000).any(|_| {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    ///     pool.metrics().workers()[0].parks() > 0
    /// });
    /// assert!(parked);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parks(&self) -> u64 {
        self.parks
    }

    /// Task polls of this thread's loop (async children and `spawn_local`
    /// tasks; the futures of `block_on` itself are not counted).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// pool.scope(|s| {
    ///     s.exec(async { knotwork::yield_now().await });
    /// });
    /// assert!(pool.metrics().workers()[0].loop_polls() >= 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loop_polls(&self) -> u64 {
        self.loop_polls
    }
}

impl PoolMetrics {
    pub(crate) fn read(counters: &[SlotCounters], core: usize, live: usize) -> PoolMetrics {
        let read = |(index, c): (usize, &SlotCounters)| WorkerMetrics {
            index,
            jobs_run: c.jobs.get(),
            steals: c.steals.get(),
            parks: c.parks.get(),
            loop_polls: c.polls.get(),
        };
        PoolMetrics {
            workers: counters[..core].iter().enumerate().map(read).collect(),
            spares: counters[core..live].iter().enumerate().map(|(i, c)| read((core + i, c))).collect(),
        }
    }

    /// The pool's workers, by index.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// assert_eq!(pool.metrics().workers().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn workers(&self) -> &[WorkerMetrics] {
        &self.workers
    }

    /// The spare slots that have had a thread (a spare stands in for a
    /// blocked worker: `PoolBuilder::spare_threads`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// assert!(pool.metrics().spares().is_empty()); // nothing blocked yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spares(&self) -> &[WorkerMetrics] {
        &self.spares
    }

    fn sum(&self, f: impl Fn(&WorkerMetrics) -> u64) -> u64 {
        self.workers.iter().chain(&self.spares).map(f).sum()
    }

    /// Jobs run by every thread of the pool, spares included.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// pool.run(|| ())?;
    /// assert_eq!(pool.metrics().jobs_run(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jobs_run(&self) -> u64 {
        self.sum(WorkerMetrics::jobs_run)
    }

    /// Steals by every thread of the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// assert_eq!(pool.metrics().steals(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn steals(&self) -> u64 {
        self.sum(WorkerMetrics::steals)
    }

    /// Parks of every thread of the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// let before = pool.metrics().parks();
    /// assert!(pool.metrics().parks() >= before); // counts only grow
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parks(&self) -> u64 {
        self.sum(WorkerMetrics::parks)
    }

    /// Task polls of every loop of the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// pool.scope(|s| {
    ///     s.exec(async {});
    /// });
    /// assert!(pool.metrics().loop_polls() >= 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loop_polls(&self) -> u64 {
        self.sum(WorkerMetrics::loop_polls)
    }
}

impl fmt::Display for PoolMetrics {
    /// One line per thread: `worker 0: 12 jobs, 3 steals, 5 parks, 40 polls`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (role, list) in [("worker", &self.workers), ("spare", &self.spares)] {
            for w in list {
                writeln!(
                    f,
                    "{role} {}: {} jobs, {} steals, {} parks, {} polls",
                    w.index, w.jobs_run, w.steals, w.parks, w.loop_polls
                )?;
            }
        }
        Ok(())
    }
}
