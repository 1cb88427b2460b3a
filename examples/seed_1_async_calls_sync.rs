//! Seed use case 1: **async code calls a blocking function.**
//!
//! Python: `await exec_in_executor(None, blocking_fn, arg)`. knotwork: open
//! an async scope and `exec_blocking` the function; `.await` on its `Task`
//! suspends only the awaiting task, so the caller's loop keeps running its
//! other tasks meanwhile — and the scope guarantees the join.
//!
//! ```text
//! cargo run --release --example seed_1_async_calls_sync
//! ```

use std::time::Duration;

/// A blocking function: it sleeps the thread, as real I/O or a C call would.
fn checksum(data: &[u8]) -> u64 {
    std::thread::sleep(Duration::from_millis(20));
    data.iter().map(|&b| u64::from(b)).sum()
}

/// Runs the use case and prints what it shows.
pub fn run() {
    println!("seed 1: async code calls a blocking function");
    let caller = std::thread::current().name().unwrap_or("?").to_owned();
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
    let (sum, worker, ticks) = knotwork::block_on(async {
        // A ticker on the caller's own loop: it keeps running while we await.
        let counter = ticks.clone();
        let ticker = knotwork::spawn_local(async move {
            for _ in 0..100 {
                knotwork::sleep(Duration::from_millis(1)).await;
                counter.set(counter.get() + 1);
            }
        });
        let (sum, worker) = knotwork::scope_async(async |s| {
            let data: Vec<u8> = (0..=255).collect();
            s.exec_blocking(move || (checksum(&data), std::thread::current().name().map(str::to_owned)))
                .await
                .expect("the blocking child does not panic")
        })
        .await;
        // Read while the blocking call has just returned, then stop the ticker.
        let ticks_meanwhile = ticks.get();
        ticker.cancel();
        let _ = ticker.await;
        (sum, worker.unwrap_or_default(), ticks_meanwhile)
    });
    println!("   caller {caller:?} awaited; worker {worker:?} returned checksum {sum}");
    println!(
        "   while it blocked for 20 ms the caller's loop ticked {ticks} times: only the awaiting task was suspended\n"
    );
}

#[allow(dead_code)]
fn main() {
    run();
}
