//! Seed use case 4: **async code runs an async function on another thread.**
//!
//! Python: `await exec_in_executor(None, async_fn)`: the coroutine runs on a
//! pool thread's loop. knotwork: `exec` it from an async scope. Once
//! started, the child is pinned to that worker's loop (its timers and
//! wakers live there); if the scope is cancelled it is dropped at its next
//! `.await`.
//!
//! ```text
//! cargo run --release --example seed_4_async_runs_async_elsewhere
//! ```

use knotwork::Loop;
use std::time::Duration;

/// An async function that reports where each of its steps ran.
async fn crawl(steps: u32) -> Vec<(String, knotwork::LoopId)> {
    let mut seen = Vec::new();
    for _ in 0..steps {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        seen.push((name, Loop::current().id()));
        knotwork::sleep(Duration::from_millis(1)).await;
    }
    seen
}

/// Runs the use case and prints what it shows.
pub fn run() {
    println!("seed 4: async code runs an async function on another thread");
    let (caller, steps, cancelled) = knotwork::block_on(async {
        let caller = std::thread::current().name().unwrap_or("?").to_owned();
        let (steps, cancelled) = knotwork::scope_async(async |s| {
            let steps = s.exec(crawl(4)).await.expect("no panic");
            // A second child, cancelled by a deadline: dropped at its await.
            s.cancel_after(Duration::from_millis(5));
            let slow = s.exec(async { knotwork::sleep(Duration::from_secs(3600)).await }).await;
            (steps, slow.is_err_and(|e| e.is_cancelled()))
        })
        .await;
        (caller, steps, cancelled)
    });
    let (first_thread, first_loop) = &steps[0];
    let pinned = steps.iter().all(|(t, l)| t == first_thread && l == first_loop);
    println!(
        "   caller {caller:?}; the async child ran every step on {first_thread:?} / {first_loop} (pinned: {pinned})"
    );
    println!("   a second child past its deadline was cancelled at its .await: {cancelled}\n");
}

#[allow(dead_code)]
fn main() {
    run();
}
