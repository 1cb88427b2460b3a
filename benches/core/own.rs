//! knotwork's own figures, with no peer: submitting to a pool from outside,
//! the spawn path with a trace recording on and off, and the CPU an idle
//! pool burns.

use crate::harness::{Check, Comparison, Config, Outcome, per_op};
use knotwork::Pool;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `Pool::spawn` of many jobs from a non-pool thread, and a `Pool::run`
/// round trip, on 1 and 2 threads.
pub fn pool_from_outside(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(1_000_000, 100_000);
    let m: u64 = cfg.size(20_000, 2_000);
    let pools: Vec<(usize, Pool)> = [1, 2].map(|t| (t, Pool::builder().threads(t).build().unwrap())).into();
    let mut cmp = Comparison::new("pool jobs submitted from outside the pool", "ns/op");
    for (t, pool) in &pools {
        cmp = cmp
            .contender(&format!("Pool::spawn x {n} + drain, {t} thr"), move || {
                let done = Arc::new(AtomicUsize::new(0));
                let start = Instant::now();
                for _ in 0..n {
                    let done = done.clone();
                    pool.spawn(move || {
                        done.fetch_add(1, Ordering::Relaxed);
                    })
                    .unwrap();
                }
                while done.load(Ordering::Relaxed) < n as usize {
                    std::thread::yield_now();
                }
                per_op(start, n)
            })
            .contender(&format!("Pool::run round trip, {t} thr"), move || {
                let start = Instant::now();
                for i in 0..m {
                    black_box(pool.run(move || i).unwrap());
                }
                per_op(start, m)
            });
    }
    cmp.run(cfg)
}

/// The same scope of children on one thread, plainly and inside
/// `trace::record` (the time of the scope only, not of building the trace).
pub fn recording(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(200_000, 20_000);
    let pool = Pool::builder().threads(1).build().unwrap();
    let pool = &pool;
    let storm = move |blocking: bool| {
        let start = Instant::now();
        pool.scope(|s| {
            for i in 0..n {
                if blocking {
                    s.exec_blocking(move || black_box(i));
                } else {
                    s.exec(async move { black_box(i) });
                }
            }
        });
        per_op(start, n)
    };
    let recorded = move |blocking: bool| {
        let (took, trace) = knotwork::trace::record(|| storm(blocking));
        black_box(trace);
        took
    };
    Comparison::new("trace recording off and on, one scope on 1 thread", "ns/child")
        .contender("exec_blocking child, recording off", move || storm(true))
        .contender("exec_blocking child, recording on", move || recorded(true))
        .contender("exec child, recording off", move || storm(false))
        .contender("exec child, recording on", move || recorded(false))
        .check(Check::info(
            "recording cost: exec_blocking on / off",
            "exec_blocking child, recording on",
            &["exec_blocking child, recording off"],
        ))
        .check(Check::info(
            "recording cost: exec on / off",
            "exec child, recording on",
            &["exec child, recording off"],
        ))
        .run(cfg)
}

/// On-CPU nanoseconds of every thread of this process, from
/// `/proc/self/task/*/schedstat` (its first field).
#[cfg(target_os = "linux")]
fn process_cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU used by an idle pool of 4 workers over a second, as % of one core
/// (the whole process: every other runtime here is idle too).
#[cfg(target_os = "linux")]
pub fn idle_cpu(cfg: &Config) -> Outcome {
    let pool = Pool::builder().threads(4).build().unwrap();
    pool.run(|| ()).unwrap();
    let secs = cfg.size(2, 1);
    Comparison::new("idle pool of 4 workers: CPU used", "% core")
        .contender("knotwork idle pool of 4", move || {
            std::thread::sleep(Duration::from_millis(50));
            let before = process_cpu_ns();
            std::thread::sleep(Duration::from_secs(secs));
            (process_cpu_ns() - before) as f64 / (secs as f64 * 1e9) * 100.0
        })
        .check(Check::absolute("idle pool of 4 < 1% of a core", "knotwork idle pool of 4", 1.0))
        .run(&Config { reps: 1, quick: cfg.quick, only: Vec::new(), threads: Vec::new() })
}
