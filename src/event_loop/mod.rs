//! The per-thread loop: a minimal single-threaded executor with timers.
//!
//! Every thread — pool worker or not — gets at most one loop, created lazily
//! the first time it needs one and cached in a thread-local for the thread's
//! whole life (the Python original's `ensure_thread_event_loop`, with the
//! teardown it lacks). See `thread_slot.rs` for the lifecycle argument
//! and `loop_core.rs` for teardown.
//!
//! ```text
//!              other threads                         the loop's thread
//!   Waker::wake ──▶ Inbox.remote (Mutex<Vec>) ──────┐
//!                   + unpark the thread               │ drain
//!   Waker::wake (same thread) ──────────────────────▶ ready: VecDeque<TaskRef> ──▶ poll
//!   Sleep ──▶ timers (heap) ── deadline passed ──▶ wake                             │
//!   tasks: Slab<TaskRef>  (every live task; teardown cancels what is left) ◀──────┘
//! ```
//!
//! * [`block_on`]: run one future to completion, driving the loop.
//! * [`spawn_local`]: add a task to this thread's loop.
//! * [`sleep`], [`sleep_until`], [`timeout`], [`yield_now`]: time and fairness;
//!   [`interval`]: ticks on a schedule.
//! * [`Loop`]: a handle to this thread's loop (id, teardown hooks).
//!
//! Pool workers drive their loop between jobs (see `pool::worker`), so tasks
//! pinned to a worker keep running while it also runs jobs.
//!
//! Prior art: asyncio's per-thread event loop
//! (<https://docs.python.org/3/library/asyncio-eventloop.html>); tokio's `LocalSet` is the Rust
//! analogue.

mod block_on;
mod loop_core;
mod thread_slot;
mod ticks;
mod time;
mod timer;
mod waiting;

pub use crate::task::LocalTask;
pub use block_on::block_on;
pub(crate) use block_on::block_on_serving_loop;
pub(crate) use loop_core::{LoopCore, LoopOwner};
pub(crate) use thread_slot::{
    current, install_owner, live_task_count, teardown_current, try_current, uninstall_owner,
};
pub use ticks::{Interval, MissedTicks, Tick, interval, interval_at};
pub use time::{Elapsed, Sleep, Timeout, YieldNow, sleep, sleep_until, timeout, yield_now};
pub(crate) use waiting::{Helping, Waiting};

use std::fmt;
use std::future::Future;
use std::rc::Rc;

/// A handle to one thread's loop.
///
/// Obtained with [`Loop::current`], which creates the loop on first use.
/// The handle is `!Send`: a loop belongs to its thread.
///
/// # Examples
///
/// ```
/// use knotwork::Loop;
/// let here = Loop::current();
/// assert_eq!(here.id(), Loop::current().id()); // cached: the same loop
/// let there = std::thread::spawn(|| Loop::current().id()).join().unwrap();
/// assert_ne!(here.id(), there); // every thread has its own
/// ```
#[derive(Clone)]
pub struct Loop {
    core: Rc<LoopCore>,
}

/// The id of a loop: unique for every loop created in this process.
///
/// # Examples
///
/// ```
/// let id: knotwork::LoopId = knotwork::Loop::current().id();
/// assert_eq!(id.to_string(), format!("loop#{}", id.as_u64()));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LoopId(u64);

impl LoopId {
    /// The id as a number (ids start at 1 and are never reused).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = knotwork::Loop::current().id().as_u64();
    /// let b = std::thread::spawn(|| knotwork::Loop::current().id().as_u64()).join().unwrap();
    /// assert!(a >= 1 && b >= 1 && a != b);
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for LoopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loop#{}", self.0)
    }
}

impl Loop {
    /// This thread's loop, created on first use and cached.
    ///
    /// # Panics
    ///
    /// If the thread's loop has already been torn down (the thread is
    /// exiting, or it is a pool worker that has shut down).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = knotwork::Loop::current(); // created here, on first use
    /// assert_eq!(lp.id(), knotwork::Loop::current().id());
    /// assert_eq!(lp.task_count(), 0);
    /// ```
    #[inline]
    #[track_caller]
    pub fn current() -> Loop {
        Loop { core: thread_slot::current() }
    }

    /// This thread's loop if it already exists; never creates one.
    ///
    /// # Examples
    ///
    /// ```
    /// std::thread::spawn(|| {
    ///     assert!(knotwork::Loop::try_current().is_none());
    ///     let id = knotwork::Loop::current().id();
    ///     assert_eq!(knotwork::Loop::try_current().unwrap().id(), id);
    /// }).join().unwrap();
    /// ```
    pub fn try_current() -> Option<Loop> {
        thread_slot::try_current().map(|core| Loop { core })
    }

    /// The loop's process-unique id.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// let worker_loop = pool.run(|| knotwork::Loop::current().id())?;
    /// assert_ne!(worker_loop, knotwork::Loop::current().id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn id(&self) -> LoopId {
        LoopId(self.core.id())
    }

    /// Spawns `fut` as a task on this loop; see [`spawn_local`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = knotwork::Loop::current();
    /// let task = lp.spawn_local(async { 2 + 2 });
    /// assert_eq!(knotwork::block_on(task).unwrap(), 4);
    /// ```
    pub fn spawn_local<F>(&self, fut: F) -> LocalTask<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn_local(fut)
    }

    /// Registers `hook` to run when this loop is torn down (at thread exit,
    /// or when a pool worker shuts down), after every remaining task has
    /// been cancelled. Runs at once if the loop is already torn down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// static TORN_DOWN: AtomicUsize = AtomicUsize::new(0);
    /// std::thread::spawn(|| {
    ///     knotwork::Loop::current().on_teardown(|| { TORN_DOWN.fetch_add(1, Ordering::SeqCst); });
    /// }).join().unwrap();
    /// assert_eq!(TORN_DOWN.load(Ordering::SeqCst), 1);
    /// ```
    pub fn on_teardown(&self, hook: impl FnOnce() + 'static) {
        self.core.on_teardown(Box::new(hook));
    }

    /// Tears this thread's loop down now, if it has one, instead of at
    /// thread exit: remaining tasks are cancelled (their futures dropped
    /// here), timers dropped, `on_teardown` hooks run. Afterwards this thread
    /// has no loop, and [`Loop::current`] on it panics. Returns whether there
    /// was a loop to tear down.
    ///
    /// Useful on threads whose end you do not control, and in loom models
    /// (where thread-local destructors are not modelled).
    ///
    /// # Panics
    ///
    /// On a pool worker (its loop is the pool's to tear down, at shutdown),
    /// and from inside a task of this loop or a `block_on` on this thread
    /// (the loop would drop a future in the middle of its own poll).
    ///
    /// # Examples
    ///
    /// ```
    /// std::thread::spawn(|| {
    ///     let lp = knotwork::Loop::current();
    ///     assert!(knotwork::Loop::teardown_current());
    ///     assert!(lp.is_torn_down());
    ///     assert!(!knotwork::Loop::teardown_current()); // only once
    /// }).join().unwrap();
    /// ```
    #[track_caller]
    pub fn teardown_current() -> bool {
        if thread_slot::serves_a_pool() {
            panic!(
                "Loop::teardown_current was called on a knotwork pool worker; its loop serves the \
                 worker for its whole life and is torn down by Pool::shutdown"
            );
        }
        if thread_slot::is_running_a_task() {
            panic!(
                "Loop::teardown_current was called from inside a task (or block_on) of the loop \
                 it would tear down; call it once the loop is idle"
            );
        }
        thread_slot::teardown_current()
    }

    /// Whether this loop has been torn down.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = knotwork::Loop::current();
    /// assert!(!lp.is_torn_down());
    /// ```
    pub fn is_torn_down(&self) -> bool {
        self.core.is_torn_down()
    }

    /// How many tasks the loop holds (spawned and not yet finished).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = knotwork::Loop::current();
    /// let task = lp.spawn_local(async {});
    /// assert_eq!(lp.task_count(), 1);
    /// knotwork::block_on(task).unwrap();
    /// assert_eq!(lp.task_count(), 0);
    /// ```
    pub fn task_count(&self) -> usize {
        self.core.task_count()
    }

    /// How many timers are registered on the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = knotwork::Loop::current();
    /// let nap = lp.spawn_local(knotwork::sleep(Duration::from_millis(2)));
    /// knotwork::block_on(async {
    ///     knotwork::yield_now().await; // the nap registers its timer
    ///     assert_eq!(knotwork::Loop::current().timer_count(), 1);
    /// });
    /// knotwork::block_on(nap).unwrap();
    /// assert_eq!(lp.timer_count(), 0);
    /// ```
    pub fn timer_count(&self) -> usize {
        self.core.timers.borrow().len()
    }
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loop")
            .field("id", &self.core.id())
            .field("tasks", &self.core.task_count())
            .field("torn_down", &self.core.is_torn_down())
            .finish()
    }
}

/// Spawns `fut` as a task on this thread's loop (created on first use).
///
/// The task runs whenever the loop is driven: inside [`block_on`] on this
/// thread, or — on a pool worker — whenever the worker is between jobs.
/// Awaiting the returned [`LocalTask`] gives its output; dropping it lets
/// the task run on, detached. A task still pending when the loop is torn
/// down is dropped then, on this thread.
///
/// # Examples
///
/// ```
/// let sum = knotwork::block_on(async {
///     let a = knotwork::spawn_local(async { 1 });
///     let b = knotwork::spawn_local(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(sum, 3);
/// ```
#[track_caller]
pub fn spawn_local<F>(fut: F) -> LocalTask<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    thread_slot::current().spawn_local(fut)
}
