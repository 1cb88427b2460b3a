//! Seed use case 3: **async code calls a sync function that runs async
//! code.**
//!
//! Python: `await exec_in_executor(None, sync_fn)` where `sync_fn` runs a
//! coroutine on its pool thread's own loop. knotwork: `exec_blocking` from an
//! async scope; inside, `block_on` runs on the worker's loop — a different
//! loop from the awaiting caller's, so neither blocks the other.
//!
//! ```text
//! cargo run --release --example seed_3_async_calls_sync_that_runs_async
//! ```

use knotwork::Loop;
use std::time::Duration;

/// Legacy sync code that happens to need an async client inside.
fn legacy_report(n: u64) -> (u64, knotwork::LoopId) {
    let total = knotwork::block_on(async move {
        let mut total = 0;
        for i in 1..=n {
            knotwork::sleep(Duration::from_micros(200)).await;
            total += i;
        }
        total
    });
    (total, Loop::current().id())
}

/// Runs the use case and prints what it shows.
pub fn run() {
    println!("seed 3: async code calls a sync function that runs async code");
    let (caller_loop, (total, worker_loop)) = knotwork::block_on(async {
        let here = Loop::current().id();
        let out = knotwork::scope_async(async |s| s.exec_blocking(|| legacy_report(10)).await).await;
        (here, out.expect("no panic"))
    });
    println!("   the caller awaited on {caller_loop}; the sync function ran its async code on {worker_loop}");
    println!("   and returned {total}; two loops, one per thread, neither blocked the other\n");
}

#[allow(dead_code)]
fn main() {
    run();
}
