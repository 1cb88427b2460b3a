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
