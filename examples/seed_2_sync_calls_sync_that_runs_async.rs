//! Seed use case 2: **sync code calls a sync function that itself runs
//! async code.**
//!
//! Python: `exec_in_executor_threading_future(None, sync_fn).result()`,
//! where `sync_fn` calls `ensure_thread_event_loop()` and runs a coroutine
//! on it. knotwork: `exec_blocking` the function; inside it, `block_on`
//! runs on the worker's own loop, created lazily on first use and then
//! reused by every later job on that worker — and torn down at shutdown.
//!
//! ```text
//! cargo run --release --example seed_2_sync_calls_sync_that_runs_async
//! ```

use knotwork::{Loop, Pool};
use std::time::Duration;

/// A sync function that runs async code on its thread's loop.
fn fetch_both() -> (u32, knotwork::LoopId) {
    knotwork::block_on(async {
        let a = knotwork::spawn_local(async {
            knotwork::sleep(Duration::from_millis(2)).await;
            20
        });
        let b = knotwork::spawn_local(async {
            knotwork::yield_now().await;
            22
        });
        (a.await.unwrap_or(0) + b.await.unwrap_or(0), Loop::current().id())
    })
}

/// Runs the use case and prints what it shows.
pub fn run() {
    println!("seed 2: sync code calls a sync function that runs async code");
    let pool = Pool::builder().threads(1).thread_name("seed2").build().expect("a pool of one thread");
    let first = pool.scope(|s| s.exec_blocking(fetch_both).join()).expect("no panic");
    let second = pool.scope(|s| s.exec_blocking(fetch_both).join()).expect("no panic");
    println!("   first call: {} on {}; second call: {} on {}", first.0, first.1, second.0, second.1);
    println!("   the worker created its loop once and reused it (same id both times)");
    pool.shutdown().expect("shut down from outside the pool");
    println!("   after shutdown the worker's loop is torn down and its thread joined\n");
}

#[allow(dead_code)]
fn main() {
    run();
}
