//! Figures for the runtime core (the pool and the loop) and the nursery
//! scopes, printed as a table.
//!
//! ```text
//! cargo bench --bench core            # full run (about a minute on 2 cores)
//! cargo bench --bench core -- --quick # smoke run (a few seconds)
//! cargo bench --bench core -- --quick recording   # only figures whose name contains "recording"
//! ```
//!
//! A plain `harness = false` binary: each figure is the median of several
//! repetitions after a warm-up. docs/performance.md records the results with
//! the machine they came from. Peer comparisons (rayon, tokio,
//! async-executor) come with the benchmarks issue.

use knotwork::{Loop, Pool, block_on, sleep, spawn_local};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Config {
    reps: usize,
    scale: u64,
    /// Only figures whose name contains one of these (all if empty).
    only: Vec<String>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// Runs `f` (which returns nanoseconds per operation) `reps` times after one
/// warm-up and prints the median.
fn report(name: &str, cfg: &Config, unit: &str, mut f: impl FnMut() -> f64) {
    if !cfg.only.is_empty() && !cfg.only.iter().any(|o| name.contains(o.as_str())) {
        return;
    }
    f();
    let xs: Vec<f64> = (0..cfg.reps).map(|_| f()).collect();
    let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().cloned().fold(0.0, f64::max);
    println!("{name:<52} {:>12.2} {unit:<8} (min {lo:.2}, max {hi:.2})", median(xs));
}

fn per_op(start: Instant, n: u64) -> f64 {
    start.elapsed().as_nanos() as f64 / n as f64
}

fn loop_current(cfg: &Config) {
    let _ = Loop::current();
    let n = 20_000_000 * cfg.scale / 10;
    report("Loop::current() cached (+ id)", cfg, "ns/op", || {
        let start = Instant::now();
        let mut acc = 0u64;
        for _ in 0..n {
            acc = acc.wrapping_add(black_box(Loop::current()).id().as_u64());
        }
        black_box(acc);
        per_op(start, n)
    });
    report("Loop::current() first call on a new thread", cfg, "ns/op", || {
        let threads = 100;
        let total: u128 = (0..threads)
            .map(|_| {
                std::thread::spawn(|| {
                    let start = Instant::now();
                    black_box(Loop::current());
                    start.elapsed().as_nanos()
                })
                .join()
                .unwrap()
            })
            .sum();
        total as f64 / threads as f64
    });
}

fn local_spawn(cfg: &Config) {
    let n = 100_000 * cfg.scale;
    report("spawn_local + await, one loop", cfg, "ns/task", || {
        block_on(async {
            let start = Instant::now();
            for i in 0..n {
                black_box(spawn_local(async move { i }).await.unwrap());
            }
            per_op(start, n)
        })
    });
    report("spawn_local x N then await all, one loop", cfg, "ns/task", || {
        block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|i| spawn_local(async move { i })).collect();
            for t in tasks {
                black_box(t.await.unwrap());
            }
            per_op(start, n)
        })
    });
}

fn pool_spawn(cfg: &Config, threads: usize) {
    let pool = Pool::builder().threads(threads).build().unwrap();
    let n = 100_000 * cfg.scale;
    report(&format!("Pool::spawn from outside + drain, {threads} thr"), cfg, "ns/job", || {
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
    });
    report(&format!("Pool::run round trip from outside, {threads} thr"), cfg, "ns/op", || {
        let m = 2_000 * cfg.scale;
        let start = Instant::now();
        for i in 0..m {
            black_box(pool.run(move || i).unwrap());
        }
        per_op(start, m)
    });
}

fn fib(pool: &Pool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = pool.join(|| fib(pool, n - 1), || fib(pool, n - 2)).unwrap();
    a + b
}

fn fork_join(cfg: &Config, threads: usize) {
    let pool = Pool::builder().threads(threads).build().unwrap();
    let n = if cfg.scale >= 10 { 30 } else { 25 };
    // fib(n) makes fib(n + 1) - 1 joins.
    let joins = {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..n + 1 {
            (a, b) = (b, a + b);
        }
        a - 1
    };
    report(&format!("Pool::join fib({n}), no cutoff, {threads} thr"), cfg, "ns/join", || {
        let start = Instant::now();
        black_box(pool.run(|| fib(&pool, n)).unwrap());
        per_op(start, joins)
    });
}

fn timers(cfg: &Config) {
    report("one sleep(1 ms): wall time until woken", cfg, "ms", || {
        block_on(async {
            let start = Instant::now();
            sleep(Duration::from_millis(1)).await;
            start.elapsed().as_secs_f64() * 1e3
        })
    });
    let n = 10_000 * cfg.scale;
    report(&format!("{n} concurrent sleep(1 ms) on one loop: total"), cfg, "ms", || {
        block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|_| spawn_local(sleep(Duration::from_millis(1)))).collect();
            for t in tasks {
                t.await.unwrap();
            }
            start.elapsed().as_secs_f64() * 1e3
        })
    });
}

fn scope_storms(cfg: &Config, threads: usize) {
    let pool = Pool::builder().threads(threads).build().unwrap();
    let n = 100_000 * cfg.scale;
    report(&format!("scope: {n} exec_blocking children, {threads} thr"), cfg, "ns/child", || {
        let start = Instant::now();
        pool.scope(|s| {
            for i in 0..n {
                s.exec_blocking(move || black_box(i));
            }
        });
        per_op(start, n)
    });
    report(&format!("scope: {n} exec(async {{}}) children, {threads} thr"), cfg, "ns/child", || {
        let start = Instant::now();
        pool.scope(|s| {
            for i in 0..n {
                s.exec(async move { black_box(i) });
            }
        });
        per_op(start, n)
    });
}

fn scope_fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    knotwork::scope(|s| {
        let a = s.exec_blocking(|| scope_fib(n - 1));
        let b = scope_fib(n - 2);
        a.join().unwrap() + b
    })
}

fn scope_fork_join(cfg: &Config, threads: usize) {
    let pool = Pool::builder().threads(threads).build().unwrap();
    let n = if cfg.scale >= 10 { 27 } else { 22 };
    let forks = {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..n + 1 {
            (a, b) = (b, a + b);
        }
        a - 1
    };
    report(&format!("scope+exec_blocking+join fib({n}), no cutoff, {threads} thr"), cfg, "ns/fork", || {
        let start = Instant::now();
        black_box(pool.run(|| scope_fib(n)).unwrap());
        per_op(start, forks)
    });
}

/// The spawn path with and without a recording in progress (`trace`): the
/// same scope of children on one thread, run plainly and inside
/// `trace::record` (the time of the scope only, not of building the `Trace`).
fn recording(cfg: &Config) {
    let pool = Pool::builder().threads(1).build().unwrap();
    let n = 20_000 * cfg.scale;
    let storm = |s: &knotwork::Scope<'_, '_>, blocking: bool| {
        for i in 0..n {
            if blocking {
                s.exec_blocking(move || black_box(i));
            } else {
                s.exec(async move { black_box(i) });
            }
        }
    };
    for (blocking, kind) in [(true, "exec_blocking"), (false, "exec")] {
        report(&format!("{kind} child, recording off, 1 thr"), cfg, "ns/child", || {
            let start = Instant::now();
            pool.scope(|s| storm(s, blocking));
            per_op(start, n)
        });
        report(&format!("{kind} child, recording on, 1 thr"), cfg, "ns/child", || {
            let (took, trace) = knotwork::trace::record(|| {
                let start = Instant::now();
                pool.scope(|s| storm(s, blocking));
                per_op(start, n)
            });
            black_box(trace);
            took
        });
    }
}

fn offload_round_trip(cfg: &Config) {
    let pool = Pool::builder().threads(2).build().unwrap();
    let m = 2_000 * cfg.scale;
    report("offload from async: exec_blocking(|| x).await, 2 thr", cfg, "ns/op", || {
        block_on(pool.scope_async(async move |s| {
            let start = Instant::now();
            for i in 0..m {
                black_box(s.exec_blocking(move || i).await.unwrap());
            }
            per_op(start, m)
        }))
    });
}

static SLOTS: [knotwork::Slot<u64>; 16] = [const { knotwork::Slot::new() }; 16];

fn slot_get(cfg: &Config) {
    let n = 10_000_000 * cfg.scale / 10;
    for bound in [1usize, 16] {
        fn bind_all(k: usize, f: &mut dyn FnMut()) {
            if k == 0 { f() } else { SLOTS[k - 1].bind(k as u64, || bind_all(k - 1, f)) }
        }
        let mut out = 0.0;
        bind_all(bound, &mut || {
            report(&format!("Slot::get (clone), {bound} slot(s) bound"), cfg, "ns/op", || {
                let start = Instant::now();
                let mut acc = 0u64;
                for _ in 0..n {
                    acc = acc.wrapping_add(black_box(&SLOTS[0]).get().unwrap_or(0));
                }
                black_box(acc);
                out = per_op(start, n);
                out
            });
        });
    }
}

/// On-CPU nanoseconds of every thread of this process, from
/// `/proc/self/task/*/schedstat` (its first field), which has nanosecond
/// resolution where `/proc/self/stat` counts 10 ms ticks.
#[cfg(target_os = "linux")]
fn process_cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[cfg(target_os = "linux")]
fn idle_cpu(cfg: &Config) {
    let secs = if cfg.scale >= 10 { 5 } else { 1 };
    let pool = Pool::builder().threads(4).build().unwrap();
    pool.run(|| ()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = process_cpu_ns();
    std::thread::sleep(Duration::from_secs(secs));
    let used = process_cpu_ns() - before;
    println!(
        "{:<52} {:>12.4} {:<8} ({} µs of CPU in {secs} s, whole process)",
        "idle pool of 4 workers: CPU used",
        used as f64 / (secs as f64 * 1e9) * 100.0,
        "% core",
        used / 1000
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary too (a debug build, no arguments): there it only says how to
    // run it, since a benchmark measures speed and a test checks behaviour.
    if !quick && !std::env::args().any(|a| a == "--bench") {
        println!("knotwork benchmarks: run `cargo bench --bench core` (or add `-- --quick`)");
        return;
    }
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let cfg = if quick { Config { reps: 3, scale: 1, only } } else { Config { reps: 7, scale: 10, only } };
    println!(
        "knotwork core benchmarks ({} mode, {} cores available)\n",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    loop_current(&cfg);
    local_spawn(&cfg);
    for threads in [1, 2] {
        pool_spawn(&cfg, threads);
    }
    for threads in [1, 2] {
        fork_join(&cfg, threads);
    }
    timers(&cfg);
    for threads in [1, 2] {
        scope_storms(&cfg, threads);
    }
    for threads in [1, 2] {
        scope_fork_join(&cfg, threads);
    }
    recording(&cfg);
    offload_round_trip(&cfg);
    slot_get(&cfg);
    #[cfg(target_os = "linux")]
    idle_cpu(&cfg);
}
