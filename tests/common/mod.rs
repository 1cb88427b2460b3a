//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Runs `f` on its own thread and fails the test if it has not finished
/// within `secs` seconds, so a deadlock or a lost wake-up fails CI instead of
/// hanging it. Panics inside `f` are re-raised here with their payload.
pub fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("watched-test".into())
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        })
        .expect("spawn the watched thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(value)) => {
            handle.join().expect("watched thread exits after sending");
            value
        }
        Ok(Err(payload)) => resume_unwind(payload),
        Err(_) => {
            panic!("watchdog: the test did not finish within {secs}s (deadlock or lost wake-up?)")
        }
    }
}

/// A pool of `n` worker threads.
pub fn pool(n: usize) -> knotwork::Pool {
    knotwork::Pool::builder().threads(n).build().unwrap()
}

/// The message of a caught panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Polls `cond` every millisecond for up to `secs` seconds.
pub fn eventually(secs: u64, cond: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    cond()
}
