//! Blocking waits for scope code: a pool worker helps run other work while
//! it waits; any other thread parks.
//!
//! Both kinds of wait are woken through one per-thread [`Waker`] that
//! unparks the thread's parker — the same parker a worker sleeps on in its
//! idle protocol and a loop parks on in `block_on`, so a wake reaches the
//! thread whatever it is waiting in.
//!
//! Prior art: rayon-core's `in_worker_cold` (<https://docs.rs/rayon-core>): a thread outside the
//! pool blocks on a latch, a worker helps.

use super::latch::CountLatch;
use crate::pool::worker::WorkerThread;
use crate::sync::{Unparker, park_blocking, with_thread_parker};
use std::cell::OnceCell;
use std::sync::Arc;
use std::task::{Wake, Waker};

/// Unparks one thread.
struct ThreadWake(Unparker);

impl Wake for ThreadWake {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

crate::sync::thread_local_key! {
    /// This thread's unparking waker, made on first use.
    static THREAD_WAKER: OnceCell<Waker> = OnceCell::new();
}

/// A waker that unparks the current thread.
pub(crate) fn thread_waker() -> Waker {
    let make = || Waker::from(Arc::new(ThreadWake(with_thread_parker(|p| p.unparker()))));
    // During thread exit (a thread-local destructor), the cached one may be
    // gone: a new one, for the parker the thread still has.
    THREAD_WAKER.try_with(|cell| cell.get_or_init(make).clone()).unwrap_or_else(|_| make())
}

/// Blocks until `hint()` holds: helping with the pool's work on a worker,
/// parked elsewhere. The caller has arranged for a wake (through
/// [`thread_waker`]) when the condition becomes true.
///
/// `target` is what the caller waits for (a task's or a scope's address):
/// on a worker, only its subtree runs on top of this wait (`wait_until`).
pub(crate) fn block_until(hint: impl Fn() -> bool, target: *const ()) {
    WorkerThread::with_current(|worker| match worker {
        Some(worker) => worker.wait_until(&hint, Some(target)),
        None => {
            while !hint() {
                park_blocking(None);
            }
        }
    })
}

/// Blocks until `latch` is set (see `latch.rs` for why only `poll_done`
/// may say so). The caller has already given up its own unit, or does not
/// hold one.
/// `target` is the scope the latch belongs to (see [`block_until`]).
pub(crate) fn wait_latch(latch: &CountLatch, target: *const ()) {
    let waker = thread_waker();
    if latch.poll_done(&waker) {
        return;
    }
    block_until(|| latch.is_zero_hint(), target);
    while !latch.poll_done(&waker) {
        park_blocking(None);
    }
}
