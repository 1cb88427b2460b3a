//! Timers: many concurrent 1 ms sleeps on one loop, and how late a single
//! 1 ms sleep wakes.

use crate::harness::{Check, Comparison, Config, Outcome};
use knotwork::{block_on, sleep, spawn_local};
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);

fn tokio_timer_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

/// `n` tasks each sleeping 1 ms, spawned on one loop and all awaited: the
/// total time.
pub fn many_sleeps(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(100_000, 20_000);
    let tk = tokio_timer_rt();
    let tk = &tk;
    Comparison::new(format!("{n} concurrent sleep(1 ms) on one loop, total"), "ms")
        .contender("knotwork spawn_local(sleep)", move || {
            block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..n).map(|_| spawn_local(sleep(MS))).collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed().as_secs_f64() * 1e3
            })
        })
        .contender("tokio current_thread spawn(sleep)", move || {
            tk.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(tokio::time::sleep(MS))).collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed().as_secs_f64() * 1e3
            })
        })
        .check(Check::ratio(
            "100k sleeps: knotwork / tokio total ≤ 1.0",
            "knotwork spawn_local(sleep)",
            &["tokio current_thread spawn(sleep)"],
            1.0,
        ))
        .run(cfg)
}

/// One `sleep(1 ms)` on an otherwise idle loop: wall time until it wakes.
pub fn one_sleep(cfg: &Config) -> Outcome {
    let k = cfg.size(20, 5);
    let tk = tokio_timer_rt();
    let tk = &tk;
    let avg = move |start: Instant| start.elapsed().as_secs_f64() * 1e3 / k as f64;
    Comparison::new("one sleep(1 ms): wall time until woken", "ms")
        .contender("knotwork sleep", move || {
            block_on(async {
                let start = Instant::now();
                for _ in 0..k {
                    sleep(MS).await;
                }
                avg(start)
            })
        })
        .contender("tokio sleep", move || {
            tk.block_on(async {
                let start = Instant::now();
                for _ in 0..k {
                    tokio::time::sleep(MS).await;
                }
                avg(start)
            })
        })
        .check(Check::absolute("one sleep(1 ms) wakes within 2.1 ms", "knotwork sleep", 2.1))
        .check(Check::info("one sleep(1 ms): knotwork / tokio", "knotwork sleep", &["tokio sleep"]))
        .run(cfg)
}
