//! Shared helpers for the loom models in `tests/`.
//!
//! Every model runs the real knotwork code, compiled with `--cfg loom`, so
//! that its atomics, locks, thread-locals and threads are loom's. See
//! docs/loom.md for what each model proves and how to run one alone.

#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Checks `f` under loom with a preemption bound of `default_bound`, unless
/// `LOOM_MAX_PREEMPTIONS` overrides it, and prints the bound, the number of
/// iterations loom explored and the wall time (shown with `--nocapture`).
pub fn check<F>(name: &str, default_bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(default_bound);
    }
    let bound = builder.preemption_bound;
    // Printed before the model runs, so a long model does not look stuck.
    println!("loom model {name}: starting (bound {bound:?})");
    let iterations = Arc::new(AtomicUsize::new(0));
    let counter = iterations.clone();
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    println!(
        "loom model {name}: bound {bound:?}, {} iterations, {:.2?}",
        iterations.load(Ordering::Relaxed),
        start.elapsed()
    );
}

/// A plain (non-atomic) cell that loom's race detector watches: a write in
/// one thread and a read in another that are not ordered by happens-before
/// make loom fail the model ("causality violation"). The join-guarantee
/// models write one from a child and read it after the scope.
pub struct RaceCell(loom::cell::UnsafeCell<u64>);

// SAFETY: sharing is the point: every access goes through loom's
// `UnsafeCell`, which reports any pair of accesses not ordered by
// happens-before instead of letting them race.
unsafe impl Sync for RaceCell {}

impl RaceCell {
    /// A cell holding 0.
    pub fn new() -> Self {
        RaceCell(loom::cell::UnsafeCell::new(0))
    }

    /// Writes `v`; loom checks that no unordered access exists.
    pub fn set(&self, v: u64) {
        // SAFETY: loom tracks the access and fails the model on a race
        // rather than letting one happen.
        self.0.with_mut(|p| unsafe { *p = v })
    }

    /// Reads the value; loom checks that the last write happens-before.
    pub fn get(&self) -> u64 {
        // SAFETY: as in `set`.
        self.0.with(|p| unsafe { *p })
    }
}

impl Default for RaceCell {
    fn default() -> Self {
        Self::new()
    }
}

/// Silences the default panic message for panics whose text contains
/// "planted" (the models inject such panics on purpose, in every
/// iteration); every other panic still prints.
pub fn quiet_planted_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !text.contains("planted") {
                default(info);
            }
        }));
    });
}

/// Counts drops of the values it hands out, to check "exactly once".
pub struct DropCounter(pub loom::sync::Arc<loom::sync::atomic::AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
    }
}

/// A one-shot signal that cannot lose a wake-up: the waiter registers its
/// waker under a loom lock and the setter takes it under the same lock, so
/// whichever comes first, the waiter is woken or sees the signal set; any
/// deadlock a model reports is knotwork's. For a signal set from another
/// thread, possibly before the waiter exists.
pub struct SharedSignal(loom::sync::Mutex<(bool, Option<std::task::Waker>)>);

impl SharedSignal {
    /// An unset signal.
    pub fn new() -> loom::sync::Arc<SharedSignal> {
        loom::sync::Arc::new(SharedSignal(loom::sync::Mutex::new((false, None))))
    }

    /// Sets the signal and wakes the waiter, if one is registered.
    pub fn set(&self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ready once the signal is set.
    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.0.lock().unwrap();
            if state.0 {
                std::task::Poll::Ready(())
            } else {
                state.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await
    }
}
