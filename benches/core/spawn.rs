//! Spawning many small children: blocking storms on a pool, async storms on
//! a pool of two, spawn+join on one thread's loop, and ping-pong between two
//! tasks of one loop.

use crate::harness::{Check, Comparison, Config, Outcome, per_op};
use knotwork::{Pool, block_on, spawn_local};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// An `async_executor::Executor` run by `threads` dedicated threads until
/// dropped.
pub struct AsyncExecutorPool {
    pub ex: Arc<async_executor::Executor<'static>>,
    stop: async_channel::Sender<()>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl AsyncExecutorPool {
    pub fn new(threads: usize) -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..threads)
            .map(|_| {
                let (ex, stopped) = (ex.clone(), stopped.clone());
                std::thread::spawn(move || {
                    let _ = futures_lite::future::block_on(ex.run(stopped.recv()));
                })
            })
            .collect();
        AsyncExecutorPool { ex, stop, threads }
    }
}

impl Drop for AsyncExecutorPool {
    fn drop(&mut self) {
        self.stop.close();
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

fn tokio_multi(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads).build().unwrap()
}

/// 1,000,000 tiny blocking children in one scope opened on a pool thread.
pub fn blocking_storm(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(1_000_000, 100_000);
    let kw = Pool::builder().threads(2).build().unwrap();
    let ry = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let (kw, ry) = (&kw, &ry);
    Comparison::new(format!("storm: {n} tiny blocking children in one scope, 2 threads"), "ns/child")
        .contender("knotwork scope + exec_blocking, 2 thr", move || {
            let start = Instant::now();
            kw.run(|| {
                knotwork::scope(|s| {
                    for i in 0..n {
                        s.exec_blocking(move || black_box(i));
                    }
                })
            })
            .unwrap();
            per_op(start, n)
        })
        .contender("rayon scope + spawn, 2 thr", move || {
            let start = Instant::now();
            ry.scope(|s| {
                for i in 0..n {
                    s.spawn(move |_| {
                        black_box(i);
                    });
                }
            });
            per_op(start, n)
        })
        .check(Check::ratio(
            "blocking storm: knotwork / rayon ≤ 1.0",
            "knotwork scope + exec_blocking, 2 thr",
            &["rayon scope + spawn, 2 thr"],
            1.0,
        ))
        .run(cfg)
}

/// 1,000,000 trivial async children, spawned by a task on the pool and all
/// joined, on a pool of two threads.
pub fn async_storm(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(1_000_000, 100_000);
    let kw = Pool::builder().threads(2).build().unwrap();
    let tk = tokio_multi(2);
    let ae = AsyncExecutorPool::new(2);
    let (kw, tk, ae) = (&kw, &tk, &ae);
    Comparison::new(format!("{n} trivial async children spawned and joined, pool of 2"), "ns/task")
        .contender("knotwork scope + exec(async {})", move || {
            let start = Instant::now();
            kw.run(|| {
                knotwork::scope(|s| {
                    for i in 0..n {
                        s.exec(async move { black_box(i) });
                    }
                })
            })
            .unwrap();
            per_op(start, n)
        })
        .contender("tokio multi-thread spawn + await", move || {
            let start = Instant::now();
            let all = tk.spawn(async move {
                let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { black_box(i) })).collect();
                for h in hs {
                    h.await.unwrap();
                }
            });
            tk.block_on(all).unwrap();
            per_op(start, n)
        })
        .contender("async-executor spawn + await", move || {
            let start = Instant::now();
            let ex = ae.ex.clone();
            let all = ae.ex.spawn(async move {
                let ts: Vec<_> = (0..n).map(|i| ex.spawn(async move { black_box(i) })).collect();
                for t in ts {
                    t.await;
                }
            });
            futures_lite::future::block_on(all);
            per_op(start, n)
        })
        .check(Check::ratio(
            "async storm: knotwork / faster of tokio, async-executor ≤ 1.0",
            "knotwork scope + exec(async {})",
            &["tokio multi-thread spawn + await", "async-executor spawn + await"],
            1.0,
        ))
        .run(cfg)
}

/// Spawn a task on this thread's loop and await it, one at a time.
pub fn local_spawn(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(1_000_000, 100_000);
    let tk = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let tk = &tk;
    Comparison::new("local spawn + join, one thread's loop", "ns/task")
        .contender("knotwork spawn_local + await", move || {
            block_on(async {
                let start = Instant::now();
                for i in 0..n {
                    black_box(spawn_local(async move { i }).await.unwrap());
                }
                per_op(start, n)
            })
        })
        .contender("tokio current_thread spawn + await", move || {
            tk.block_on(async {
                let start = Instant::now();
                for i in 0..n {
                    black_box(tokio::spawn(async move { i }).await.unwrap());
                }
                per_op(start, n)
            })
        })
        .contender("async-executor LocalExecutor spawn + await", move || {
            let ex = async_executor::LocalExecutor::new();
            futures_lite::future::block_on(ex.run(async {
                let start = Instant::now();
                for i in 0..n {
                    black_box(ex.spawn(async move { i }).await);
                }
                per_op(start, n)
            }))
        })
        .check(Check::ratio(
            "local spawn+join: knotwork / tokio current_thread ≤ 1.0",
            "knotwork spawn_local + await",
            &["tokio current_thread spawn + await"],
            1.0,
        ))
        .check(Check::ratio(
            "local spawn+join (stretch): knotwork / LocalExecutor ≤ 1.0",
            "knotwork spawn_local + await",
            &["async-executor LocalExecutor spawn + await"],
            1.0,
        ))
        .run(cfg)
}

/// Two tasks of one loop bounce a number over two `async_channel::bounded(1)`
/// channels; the spawner is the ping, a spawned task the pong.
async fn ping_pong<H>(n: u64, spawn: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()>>>) -> H) -> f64
where
    H: Future<Output = ()>,
{
    let (to_pong, pong_in) = async_channel::bounded::<u64>(1);
    let (to_ping, ping_in) = async_channel::bounded::<u64>(1);
    let pong = spawn(Box::pin(async move {
        while let Ok(x) = pong_in.recv().await {
            if to_ping.send(x + 1).await.is_err() {
                break;
            }
        }
    }));
    let start = Instant::now();
    for i in 0..n {
        to_pong.send(i).await.unwrap();
        black_box(ping_in.recv().await.unwrap());
    }
    let took = per_op(start, n);
    drop(to_pong);
    pong.await;
    took
}

/// Ping-pong between two tasks on one thread's loop.
pub fn ping_pong_local(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(1_000_000, 100_000);
    let tk = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let tk = &tk;
    Comparison::new(format!("ping-pong: {n} round trips over bounded(1) channels, one loop"), "ns/round trip")
        .contender("knotwork spawn_local", move || {
            block_on(ping_pong(n, |f| {
                let pong = spawn_local(f);
                async move { pong.await.unwrap() }
            }))
        })
        .contender("tokio current_thread (LocalSet)", move || {
            let local = tokio::task::LocalSet::new();
            local.block_on(
                tk,
                ping_pong(n, |f| {
                    let pong = tokio::task::spawn_local(f);
                    async move { pong.await.unwrap() }
                }),
            )
        })
        .contender("async-executor LocalExecutor", move || {
            let ex = async_executor::LocalExecutor::new();
            futures_lite::future::block_on(ex.run(ping_pong(n, |f| ex.spawn(f))))
        })
        .check(Check::ratio(
            "ping-pong: knotwork / tokio current_thread ≤ 1.0",
            "knotwork spawn_local",
            &["tokio current_thread (LocalSet)"],
            1.0,
        ))
        .check(Check::info(
            "ping-pong: knotwork / LocalExecutor",
            "knotwork spawn_local",
            &["async-executor LocalExecutor"],
        ))
        .run(cfg)
}
