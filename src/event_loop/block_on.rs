//! `block_on`: drive this thread's loop until one future completes.
//!
//! ```text
//!  loop {
//!      if the root future was woken: poll it (Ready → return)
//!      fire due timers, pull remote wakes, poll up to BUDGET ready tasks
//!      if nothing is runnable: park until the next deadline or an unpark
//!  }
//! ```
//!
//! The root future is woken through a small `Arc` holding a flag and the
//! thread's unparker; tasks are woken through their own wakers, which push
//! them to the local or remote queue (and unpark this thread). Because the
//! parker keeps a permit, a wake that lands between "nothing runnable" and
//! `park` makes `park` return at once.
//!
//! Prior art: `futures::executor::block_on` and pollster (<https://docs.rs/pollster>): a root waker
//! that unparks the thread.

use super::loop_core::{LoopCore, PollGuard};
use super::thread_slot;
use super::waiting::Waiting;
use crate::sync::backoff;
use crate::sync::{AtomicBool, Ordering, SPIN_ROUNDS, Unparker, park_blocking};
use crate::task::TaskPtr;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

/// How many ready tasks run between two looks at the root future.
const BUDGET: usize = 64;

const REENTRANT_MSG: &str = "knotwork::block_on was called from inside a task that this thread's loop is \
                             already running (asyncio: \"This event loop is already running\"); \
                             use .await inside async code instead of block_on";

struct RootWaker {
    woken: AtomicBool,
    unparker: Unparker,
}

impl Wake for RootWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        // ORDERING: Release pairs with the Acquire swap in `block_on`: what
        // the waker did before waking is visible to the next poll. A `swap`
        // rather than a `store`, like the parker's `unpark`: loom mis-orders
        // a plain store racing an RMW (loom#254, loom#282; docs/loom.md).
        self.woken.swap(true, Ordering::Release);
        self.unparker.unpark();
    }
}

/// Runs `fut` to completion on this thread's loop, driving the loop's other
/// tasks and timers meanwhile.
///
/// The loop is created on first use and cached for the thread's life (the
/// `ensure_thread_event_loop` idea); inside a pool job it is that worker's
/// own loop.
///
/// # Panics
///
/// If called from inside a task this thread's loop is already polling
/// (including inside the future of an outer `block_on`): that would poll the
/// loop from within one of its own tasks. Use `.await` there. A panic of
/// `fut` itself propagates to the caller.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let v = knotwork::block_on(async {
///     knotwork::sleep(Duration::from_millis(1)).await;
///     42
/// });
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn block_on<F: Future>(fut: F) -> F::Output {
    // Checked here, so that the panic names the caller's line (`drive`
    // checks again, for the internal callers).
    if thread_slot::try_current().is_some_and(|core| core.is_polling()) {
        panic!("{REENTRANT_MSG}");
    }
    on_this_loop(|core| drive(core, fut, true))
}

/// Runs `f` with this thread's loop. On a thread that is exiting (a
/// thread-local destructor), its loop may be gone: a loop of this call's
/// own, torn down when `f` returns or unwinds (L7).
fn on_this_loop<R>(f: impl FnOnce(&std::rc::Rc<LoopCore>) -> R) -> R {
    if let Some(exit) = thread_slot::exit_loop() {
        /// Tears the call's own loop down, also on unwind.
        struct Teardown(std::rc::Rc<LoopCore>);
        impl Drop for Teardown {
            fn drop(&mut self) {
                self.0.teardown();
            }
        }
        let exit = Teardown(exit);
        // Timers polled inside find this loop; unset before the teardown.
        let _driving = thread_slot::driving_exit_loop(&exit.0);
        return f(&exit.0);
    }
    f(&thread_slot::current())
}

/// [`block_on`], for a wait that any task of this loop may end (a
/// limiter's blocking acquire: the permit may be released by any holder,
/// including an async task pinned to this very loop). It does not narrow
/// what may run here to the current child's subtree, and lifts the
/// constraint of the waits beneath it: every task of this loop keeps
/// running on top of it (`Waiting::open`). It parks without spinning
/// first. The cost, stated where it is used: an async task that *blocks*
/// its thread (N9) waiting for a frame beneath would deadlock.
pub(crate) fn block_on_serving_loop<F: Future>(fut: F) -> F::Output {
    on_this_loop(|core| drive(core, fut, false))
}

/// `block_on`'s loop, on `core`; `narrow`: only the current child's
/// subtree may run on top of it.
fn drive<F: Future>(core: &std::rc::Rc<LoopCore>, fut: F, narrow: bool) -> F::Output {
    if core.is_polling() {
        panic!("{REENTRANT_MSG}");
    }
    // The root waker is a std `Arc` because `Waker::from` needs one; the
    // flag inside is a facade atomic, so loom still sees every wake.
    let root = std::sync::Arc::new(RootWaker {
        woken: AtomicBool::new(true),
        unparker: core.inbox.unparker.clone(),
    });
    let waker = Waker::from(root.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    // Inside a nursery child (a blocking child calling `block_on`), only
    // that child's own subtree runs on this loop until this returns
    // (`task::allowed_here`): nothing that may wait for this frame.
    let _waiting =
        if narrow { Waiting::enter(TaskPtr::current().map(|t| t.as_ptr().cast())) } else { Waiting::open() };
    let mut idle_rounds = 0;
    loop {
        // ORDERING: Acquire pairs with the Release store in `wake_by_ref`.
        if root.woken.swap(false, Ordering::Acquire) {
            let guard = PollGuard::enter(core);
            let poll = fut.as_mut().poll(&mut cx);
            drop(guard);
            if let Poll::Ready(out) = poll {
                return out;
            }
        }
        if core.tick(BUDGET) {
            continue;
        }
        // ORDERING: Relaxed: a hint only; a wake after it leaves a permit.
        if root.woken.load(Ordering::Relaxed) || core.has_ready() {
            idle_rounds = 0;
            continue;
        }
        // Spin (then yield) a little before parking, as a pool worker does:
        // an answer from another thread (an offloaded child's result) often
        // comes within microseconds, sooner than a park/unpark round trip.
        // An unpark that arrives meanwhile leaves a permit: nothing is lost.
        // (A serving wait parks at once: it waits for a release that may be
        // far off, and a spinning waiter counts as available to the pool,
        // so enough of them would keep the pool from compensating.)
        if narrow && idle_rounds < SPIN_ROUNDS {
            backoff(idle_rounds);
            idle_rounds += 1;
            continue;
        }
        idle_rounds = 0;
        let deadline = core.next_deadline();
        // A blocking park: on a pool worker, the pool's queued work goes to
        // a spare meanwhile (`pool/spare.rs`), so what this future waits
        // for runs even when this worker was the only one free to run it.
        park_blocking(deadline);
    }
}
