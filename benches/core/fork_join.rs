//! Recursive fork-join: fib with a fork at every level (the cost of one
//! fork), and fib with a sequential cutoff (the speed-up a real divide and
//! conquer gets).

use crate::harness::{Check, Comparison, Config, Outcome, per_op};
use knotwork::Pool;
use std::hint::black_box;
use std::time::Instant;

fn seq_fib(n: u64) -> u64 {
    if n < 2 { n } else { seq_fib(n - 1) + seq_fib(n - 2) }
}

/// Forks made by fib(n) with a fork at every n >= `cutoff.max(2)`.
fn forks(n: u64, cutoff: u64) -> u64 {
    if n < cutoff.max(2) { 0 } else { 1 + forks(n - 1, cutoff) + forks(n - 2, cutoff) }
}

/// knotwork: a scope per level, one `exec_blocking` child, `join`.
fn kw_scope_fib(n: u64, cutoff: u64) -> u64 {
    if n < cutoff.max(2) {
        return seq_fib(n);
    }
    knotwork::scope(|s| {
        let a = s.exec_blocking(|| kw_scope_fib(n - 1, cutoff));
        let b = kw_scope_fib(n - 2, cutoff);
        a.join().unwrap() + b
    })
}

/// rayon: a scope per level, one `spawn` writing into the parent's frame.
fn rayon_scope_fib(n: u64, cutoff: u64) -> u64 {
    if n < cutoff.max(2) {
        return seq_fib(n);
    }
    let mut a = 0;
    let b = rayon::scope(|s| {
        s.spawn(|_| a = rayon_scope_fib(n - 1, cutoff));
        rayon_scope_fib(n - 2, cutoff)
    });
    a + b
}

fn kw_join_fib(pool: &Pool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = pool.join(|| kw_join_fib(pool, n - 1), || kw_join_fib(pool, n - 2)).unwrap();
    a + b
}

/// The free `knotwork::join`, as rayon users write `rayon::join`.
fn kw_free_join_fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = knotwork::join(|| kw_free_join_fib(n - 1), || kw_free_join_fib(n - 2));
    a + b
}

/// chili (heartbeat scheduling): `Scope::join` at every level.
fn chili_join_fib(s: &mut chili::Scope<'_>, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = s.join(|s| chili_join_fib(s, n - 1), |s| chili_join_fib(s, n - 2));
    a + b
}

/// A chili pool of `threads` threads.
pub fn chili_pool(threads: usize) -> chili::ThreadPool {
    chili::ThreadPool::with_config(chili::Config {
        thread_count: std::num::NonZero::new(threads),
        ..Default::default()
    })
}

fn rayon_join_fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| rayon_join_fib(n - 1), || rayon_join_fib(n - 2));
    a + b
}

fn pools(threads: usize) -> (Pool, rayon::ThreadPool) {
    let kw = Pool::builder().threads(threads).build().unwrap();
    let ry = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    (kw, ry)
}

/// A knotwork and a rayon pool for every thread count asked for.
fn pools_per_thread_count(cfg: &Config) -> Vec<(usize, Pool, rayon::ThreadPool)> {
    cfg.threads
        .iter()
        .map(|&t| {
            let (kw, ry) = pools(t);
            (t, kw, ry)
        })
        .collect()
}

/// fib(n) with a scope + child + join at every level, every thread count:
/// per fork, against rayon's scope + spawn.
pub fn scope_fib(cfg: &Config) -> Outcome {
    let n = cfg.size(30, 24);
    let f = forks(n, 0);
    let pools = pools_per_thread_count(cfg);
    let mut cmp =
        Comparison::new(format!("fork-join fib({n}): scope + child + join at every level"), "ns/fork");
    for (t, kw, ry) in &pools {
        cmp = cmp
            .contender(&format!("knotwork scope+exec_blocking+join, {t} thr"), move || {
                let start = Instant::now();
                black_box(kw.run(|| kw_scope_fib(black_box(n), 0)).unwrap());
                per_op(start, f)
            })
            .contender(&format!("rayon scope+spawn, {t} thr"), move || {
                let start = Instant::now();
                black_box(ry.install(|| rayon_scope_fib(black_box(n), 0)));
                per_op(start, f)
            });
    }
    for (t, _, _) in &pools {
        cmp = cmp.check(Check::ratio(
            &format!("fib scope fork, {t} thr: knotwork / rayon ≤ 1.0"),
            &format!("knotwork scope+exec_blocking+join, {t} thr"),
            &[&format!("rayon scope+spawn, {t} thr")],
            1.0,
        ));
    }
    for w in pools.windows(2) {
        let (a, b) = (w[0].0, w[1].0);
        cmp = cmp.check(Check::ratio(
            &format!("fib scope fork: knotwork {b} thr / {a} thr ≤ 1.0"),
            &format!("knotwork scope+exec_blocking+join, {b} thr"),
            &[&format!("knotwork scope+exec_blocking+join, {a} thr")],
            1.0,
        ));
    }
    cmp.run(cfg)
}

/// fib(n) with a join at every level: the free `knotwork::join` (what
/// users call) and `Pool::join`, against `rayon::join` and chili's
/// heartbeat-scheduled `Scope::join`.
pub fn join_fib(cfg: &Config) -> Outcome {
    let n = cfg.size(30, 24);
    let f = forks(n, 0);
    let pools = pools_per_thread_count(cfg);
    let chili: Vec<chili::ThreadPool> = pools.iter().map(|(t, _, _)| chili_pool(*t)).collect();
    let mut cmp = Comparison::new(format!("fork-join fib({n}): join at every level"), "ns/fork");
    for ((t, kw, ry), ch) in pools.iter().zip(&chili) {
        cmp = cmp
            .contender(&format!("knotwork::join, {t} thr"), move || {
                let start = Instant::now();
                black_box(kw.run(|| kw_free_join_fib(black_box(n))).unwrap());
                per_op(start, f)
            })
            .contender(&format!("knotwork Pool::join, {t} thr"), move || {
                let start = Instant::now();
                black_box(kw.run(|| kw_join_fib(kw, black_box(n))).unwrap());
                per_op(start, f)
            })
            .contender(&format!("rayon::join, {t} thr"), move || {
                let start = Instant::now();
                black_box(ry.install(|| rayon_join_fib(black_box(n))));
                per_op(start, f)
            })
            .contender(&format!("chili join, {t} thr"), move || {
                let start = Instant::now();
                black_box(chili_join_fib(&mut ch.scope(), black_box(n)));
                per_op(start, f)
            });
    }
    for (t, _, _) in &pools {
        cmp = cmp
            .check(Check::ratio(
                &format!("fib join, {t} thr: knotwork::join / rayon::join ≤ 1.0"),
                &format!("knotwork::join, {t} thr"),
                &[&format!("rayon::join, {t} thr")],
                1.0,
            ))
            .check(Check::info(
                &format!("fib join, {t} thr: Pool::join / rayon::join"),
                &format!("knotwork Pool::join, {t} thr"),
                &[&format!("rayon::join, {t} thr")],
            ))
            .check(Check::info(
                &format!("fib join, {t} thr: knotwork::join / chili"),
                &format!("knotwork::join, {t} thr"),
                &[&format!("chili join, {t} thr")],
            ));
    }
    cmp.run(cfg)
}

/// fib(30) forking only while n >= 20, on 2 threads: the speed-up over the
/// sequential function (time per whole fib(30), repeated to a useful size).
pub fn cutoff_fib(cfg: &Config) -> Outcome {
    let (n, cutoff, repeat) = (30, 20, cfg.size(40, 10));
    let (kw, ry) = pools(2);
    let (kw, ry) = (&kw, &ry);
    let ms = |start: Instant| start.elapsed().as_secs_f64() * 1e3 / repeat as f64;
    Comparison::new(format!("fib({n}) with a sequential cutoff at n < {cutoff}, 2 threads"), "ms/fib")
        .contender("sequential fib", move || {
            let start = Instant::now();
            for _ in 0..repeat {
                black_box(seq_fib(black_box(n)));
            }
            ms(start)
        })
        .contender("knotwork scope+exec_blocking, 2 thr", move || {
            let start = Instant::now();
            for _ in 0..repeat {
                black_box(kw.run(|| kw_scope_fib(black_box(n), cutoff)).unwrap());
            }
            ms(start)
        })
        .contender("rayon scope+spawn, 2 thr", move || {
            let start = Instant::now();
            for _ in 0..repeat {
                black_box(ry.install(|| rayon_scope_fib(black_box(n), cutoff)));
            }
            ms(start)
        })
        .check(Check::ratio(
            "fib cutoff, 2 thr: knotwork / sequential ≤ 0.556 (≥ 1.8× speed-up)",
            "knotwork scope+exec_blocking, 2 thr",
            &["sequential fib"],
            1.0 / 1.8,
        ))
        .check(Check::info(
            "fib cutoff, 2 thr: knotwork / rayon",
            "knotwork scope+exec_blocking, 2 thr",
            &["rayon scope+spawn, 2 thr"],
        ))
        .run(cfg)
}
