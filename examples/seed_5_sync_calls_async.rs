//! Seed use case 5: **sync code calls an async function.**
//!
//! Python: `exec_in_executor_threading_future(None, async_fn).result()`.
//! knotwork offers two ways: `block_on` runs it right here on this thread's
//! own loop (created lazily); `scope` + `exec` + `join` runs it on a pool
//! worker's loop while this thread waits, with the join guaranteed.
//!
//! ```text
//! cargo run --release --example seed_5_sync_calls_async
//! ```

use knotwork::Loop;
use std::time::Duration;

/// An async function: a few awaits, then a value.
async fn price(item: &str) -> u32 {
    knotwork::sleep(Duration::from_millis(1)).await;
    knotwork::yield_now().await;
    item.len() as u32 * 10
}

/// Runs the use case and prints what it shows.
pub fn run() {
    println!("seed 5: sync code calls an async function");
    let here = knotwork::block_on(price("tea"));
    println!("   block_on ran it on this thread's own loop ({}): {here}", Loop::current().id());
    let items = ["coffee", "cake"];
    let (total, worker) = knotwork::scope(|s| {
        let tasks: Vec<_> = items.iter().map(|item| s.exec(price(item))).collect();
        let worker = s.exec(async { std::thread::current().name().unwrap_or("?").to_owned() });
        let total: u32 = tasks.into_iter().map(|t| t.join().expect("no panic")).sum();
        (total, worker.join().expect("no panic"))
    });
    println!("   scope + exec + join ran it on pool worker {worker:?}, borrowing `items`: total {total}\n");
}

#[allow(dead_code)]
fn main() {
    run();
}
