//! Capacity limiting: `knotwork::Limiter` against `tokio::sync::Semaphore`.
//! Uncontended: a permit taken and released at once, by `try_acquire`, by
//! `acquire()` driven by a `block_on` per permit (knotwork's, and
//! futures-lite's for the semaphore), and by `acquire().await` in a loop
//! inside one `block_on` (knotwork's, and a current-thread tokio runtime's).
//! Contended: 64 async children share 2 permits on 2 threads, each taking
//! one, yielding once while it holds it and releasing it, over and over.
//! The ratios are reported, not judged.

use crate::harness::{Check, Comparison, Config, Outcome, per_op};
use knotwork::{Limiter, Pool, block_on, yield_now};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Children (tasks) sharing the permits in the contended case.
const CHILDREN: u64 = 64;

/// Permits in the contended case.
const PERMITS: usize = 2;

/// A permit taken and dropped at once, with nobody else asking.
pub fn uncontended(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(5_000_000, 500_000);
    let m: u64 = cfg.size(1_000_000, 100_000);
    let kw = Limiter::new(1);
    let sem = Semaphore::new(1);
    let tk = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (kw, sem, tk) = (&kw, &sem, &tk);
    Comparison::new("limiter permit taken and released, uncontended", "ns/op")
        .contender("knotwork Limiter::try_acquire() + drop", move || {
            let start = Instant::now();
            for _ in 0..n {
                drop(black_box(black_box(kw).try_acquire().unwrap()));
            }
            per_op(start, n)
        })
        .contender("tokio Semaphore::try_acquire() + drop", move || {
            let start = Instant::now();
            for _ in 0..n {
                drop(black_box(black_box(sem).try_acquire().unwrap()));
            }
            per_op(start, n)
        })
        .contender("knotwork block_on(Limiter::acquire()) + drop", move || {
            let start = Instant::now();
            for _ in 0..m {
                drop(black_box(block_on(black_box(kw).acquire())));
            }
            per_op(start, m)
        })
        .contender("futures-lite block_on(Semaphore::acquire()) + drop", move || {
            let start = Instant::now();
            for _ in 0..m {
                drop(black_box(futures_lite::future::block_on(black_box(sem).acquire()).unwrap()));
            }
            per_op(start, m)
        })
        .contender("knotwork acquire().await + drop, in one block_on", move || {
            block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    drop(black_box(black_box(kw).acquire().await));
                }
                per_op(start, n)
            })
        })
        .contender("tokio current_thread acquire().await + drop", move || {
            tk.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    drop(black_box(black_box(sem).acquire().await.unwrap()));
                }
                per_op(start, n)
            })
        })
        .check(Check::info(
            "try_acquire: knotwork / tokio Semaphore",
            "knotwork Limiter::try_acquire() + drop",
            &["tokio Semaphore::try_acquire() + drop"],
        ))
        .check(Check::info(
            "block_on(acquire()): knotwork / futures-lite + Semaphore",
            "knotwork block_on(Limiter::acquire()) + drop",
            &["futures-lite block_on(Semaphore::acquire()) + drop"],
        ))
        .check(Check::info(
            "acquire().await in a task: knotwork / tokio current_thread",
            "knotwork acquire().await + drop, in one block_on",
            &["tokio current_thread acquire().await + drop"],
        ))
        .run(cfg)
}

/// 64 async children, 2 permits, 2 threads: each child takes a permit,
/// yields once holding it and releases it, `k` times; the time per permit
/// taken (all children's together).
pub fn contended(cfg: &Config) -> Outcome {
    let k: u64 = cfg.size(2_000, 200);
    let total = CHILDREN * k;
    let pool = Pool::builder().threads(2).build().unwrap();
    let limiter = Limiter::new(PERMITS);
    let tk = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let sem = Arc::new(Semaphore::new(PERMITS));
    let (pool, limiter, tk, sem) = (&pool, &limiter, &tk, &sem);
    Comparison::new(
        format!("limiter contended: {PERMITS} permits, {CHILDREN} async children taking one {k} times each, 2 threads"),
        "ns/permit",
    )
    .contender("knotwork scope + exec, Limiter(2), pool of 2", move || {
        let start = Instant::now();
        pool.run(|| {
            knotwork::scope(|s| {
                for _ in 0..CHILDREN {
                    s.exec(async move {
                        for _ in 0..k {
                            let permit = limiter.acquire().await;
                            yield_now().await;
                            drop(permit);
                        }
                    });
                }
            })
        })
        .unwrap();
        per_op(start, total)
    })
    .contender("tokio multi-thread spawn, Semaphore(2), 2 workers", move || {
        let start = Instant::now();
        let sem = sem.clone();
        let all = tk.spawn(async move {
            let hs: Vec<_> = (0..CHILDREN)
                .map(|_| {
                    let sem = sem.clone();
                    tokio::spawn(async move {
                        for _ in 0..k {
                            let permit = sem.acquire().await.unwrap();
                            tokio::task::yield_now().await;
                            drop(permit);
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        });
        tk.block_on(all).unwrap();
        per_op(start, total)
    })
    .check(Check::info(
        "contended limiter: knotwork / tokio Semaphore",
        "knotwork scope + exec, Limiter(2), pool of 2",
        &["tokio multi-thread spawn, Semaphore(2), 2 workers"],
    ))
    .run(cfg)
}
