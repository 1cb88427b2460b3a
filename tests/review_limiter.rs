//! Adversarial tests for the Limiter.

mod common;

use common::{eventually, pool, within};
use knotwork::Limiter;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Default)]
struct Occupancy {
    now: AtomicUsize,
    most: AtomicUsize,
    done: AtomicUsize,
}

impl Occupancy {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waiters cancelled by Task::cancel, by scope cancel and by timeout,
/// interleaved with releases.
#[test]
fn waiters_cancelled_every_way_lose_nothing() {
    within(120, || {
        let pool = pool(2);
        let limit = Limiter::new(2);
        for round in 0..60usize {
            let r = pool.scope_with(knotwork::Supervise, |s| {
                let mut tasks = Vec::new();
                for i in 0..12usize {
                    let limit = &limit;
                    let t = match (i + round) % 4 {
                        0 => s.exec(async move {
                            let _p = limit.acquire().await;
                            knotwork::yield_now().await;
                        }),
                        1 => s.exec(async move {
                            if let Ok(_p) =
                                knotwork::timeout(Duration::from_micros(50 * (i as u64 + 1)), limit.acquire())
                                    .await
                            {
                                knotwork::sleep(Duration::from_micros(30)).await;
                            }
                        }),
                        2 => s.exec_blocking(move || {
                            if let Ok(_p) = limit.acquire_blocking() {
                                std::thread::sleep(Duration::from_micros(30));
                            }
                        }),
                        _ => s.exec(async move {
                            let _p = limit.acquire().await;
                            knotwork::sleep(Duration::from_micros(100)).await;
                        }),
                    };
                    tasks.push(t);
                }
                for (k, t) in tasks.iter().enumerate() {
                    if (k + round) % 3 == 0 {
                        t.cancel();
                    }
                }
                if round % 5 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                    s.cancel();
                }
            });
            let _ = r;
            assert_eq!(limit.available(), 2, "round {round}");
            assert_eq!(limit.waiting(), 0, "round {round}");
        }
        pool.shutdown().unwrap();
    });
}

/// A blocking grandchild queues for a permit held by an async child pinned
/// to the same worker's loop. The grandchild runs on top of its parent's
/// scope close (its subtree), so only that subtree may run on the loop
/// beneath it, and the holder never runs again to release.
#[test]
fn blocking_grandchild_waits_for_an_async_holder_on_the_same_loop() {
    within(15, || {
        let pool = pool(1);
        let limit = Limiter::new(1);
        let holding = AtomicBool::new(false);
        pool.scope(|s| {
            s.exec(async {
                let _p = limit.acquire().await;
                holding.store(true, Ordering::SeqCst);
                knotwork::sleep(Duration::from_millis(20)).await;
            });
            assert!(eventually(5, || holding.load(Ordering::SeqCst)));
            s.exec_blocking(|| {
                knotwork::scope(|s2| {
                    s2.exec_blocking(|| {
                        let _p = limit.acquire_blocking().unwrap();
                    });
                });
            });
        });
        assert_eq!(limit.available(), 1);
        pool.shutdown().unwrap();
    });
}

/// Control: the same shape one level up (the waiter is the blocking child
/// itself) completes.
#[test]
fn control_blocking_child_waits_for_an_async_holder_on_the_same_loop() {
    within(15, || {
        let pool = pool(1);
        let limit = Limiter::new(1);
        let holding = AtomicBool::new(false);
        pool.scope(|s| {
            s.exec(async {
                let _p = limit.acquire().await;
                holding.store(true, Ordering::SeqCst);
                knotwork::sleep(Duration::from_millis(20)).await;
            });
            assert!(eventually(5, || holding.load(Ordering::SeqCst)));
            s.exec_blocking(|| {
                let _p = limit.acquire_blocking().unwrap();
            });
        });
        assert_eq!(limit.available(), 1);
        pool.shutdown().unwrap();
    });
}

/// A blocking waiter in a Task::join-wait (rather than a scope close) sees
/// the same constraint.
#[test]
fn blocking_waiter_under_a_join_waits_for_an_async_holder_on_the_same_loop() {
    within(15, || {
        let pool = pool(1);
        let limit = Limiter::new(1);
        let holding = AtomicBool::new(false);
        pool.scope(|s| {
            s.exec(async {
                let _p = limit.acquire().await;
                holding.store(true, Ordering::SeqCst);
                knotwork::sleep(Duration::from_millis(20)).await;
            });
            assert!(eventually(5, || holding.load(Ordering::SeqCst)));
            s.exec_blocking(|| {
                knotwork::scope(|s2| {
                    let t = s2.exec_blocking(|| limit.acquire_blocking().map(drop));
                    t.join().unwrap().unwrap();
                });
            });
        });
        assert_eq!(limit.available(), 1);
        pool.shutdown().unwrap();
    });
}

/// acquire_blocking in nested scopes, inside children that themselves run on
/// spares (blocking parks), on a pool of one.
#[test]
fn acquire_blocking_nested_three_deep() {
    within(60, || {
        let pool = pool(1);
        let limit = Limiter::new(2);
        let occ = Occupancy::default();
        pool.scope(|s| {
            for _ in 0..4 {
                s.exec_blocking(|| {
                    knotwork::scope(|s2| {
                        for _ in 0..3 {
                            s2.exec_blocking(|| {
                                knotwork::scope(|s3| {
                                    for _ in 0..3 {
                                        s3.exec_blocking(|| {
                                            let _p = limit.acquire_blocking().unwrap();
                                            occ.enter();
                                            knotwork::block_on(knotwork::sleep(Duration::from_micros(200)));
                                            occ.leave();
                                        });
                                    }
                                });
                            });
                        }
                    });
                });
            }
        });
        assert_eq!(occ.done.load(Ordering::SeqCst), 36);
        assert!(occ.most.load(Ordering::SeqCst) <= 2);
        assert_eq!(limit.available(), 2);
        pool.shutdown().unwrap();
    });
}

/// acquire_blocking from many std threads and the scope body at once.
#[test]
fn acquire_blocking_from_std_threads_and_children() {
    within(60, || {
        let pool = pool(2);
        let limit = Arc::new(Limiter::new(3));
        let occ = Arc::new(Occupancy::default());
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (limit, occ) = (limit.clone(), occ.clone());
                std::thread::spawn(move || {
                    for _ in 0..30 {
                        let _p = limit.acquire_blocking().unwrap();
                        occ.enter();
                        std::thread::sleep(Duration::from_micros(50));
                        occ.leave();
                    }
                })
            })
            .collect();
        pool.scope(|s| {
            for _ in 0..60 {
                let (limit, occ) = (&limit, &occ);
                s.exec(async move {
                    let _p = limit.acquire().await;
                    occ.enter();
                    knotwork::yield_now().await;
                    occ.leave();
                });
            }
            for _ in 0..10 {
                let _p = limit.acquire_blocking().unwrap();
                occ.enter();
                occ.leave();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(occ.done.load(Ordering::SeqCst), 180 + 60 + 10);
        assert!(occ.most.load(Ordering::SeqCst) <= 3);
        assert_eq!(limit.available(), 3);
        assert_eq!(limit.waiting(), 0);
        pool.shutdown().unwrap();
    });
}

/// A granted-but-untaken permit, passed on when the waiter is cancelled,
/// many times in a row, through acquire_blocking's cancellation path.
#[test]
fn acquire_blocking_cancelled_while_granted() {
    within(60, || {
        let pool = pool(2);
        let limit = Limiter::new(1);
        for round in 0..100u64 {
            pool.scope(|s| {
                let held = limit.try_acquire().unwrap();
                let w = s.exec_blocking(|| limit.acquire_blocking().map(drop));
                let w2 = s.exec(async { drop(limit.acquire().await) });
                std::thread::sleep(Duration::from_micros(round * 7 % 300));
                s.cancel();
                drop(held);
                let _ = (w.join(), w2.join());
            });
            assert_eq!(limit.available(), 1, "round {round}");
            assert_eq!(limit.waiting(), 0, "round {round}");
        }
        pool.shutdown().unwrap();
    });
}

/// FIFO across async and blocking waiters.
#[test]
fn fifo_order_across_kinds() {
    within(30, || {
        let pool = pool(2);
        let limit = Limiter::new(1);
        let order = std::sync::Mutex::new(Vec::new());
        pool.scope(|s| {
            let held = limit.try_acquire().unwrap();
            for i in 0..10usize {
                let (limit, order) = (&limit, &order);
                if i % 2 == 0 {
                    s.exec(async move {
                        let _p = limit.acquire().await;
                        order.lock().unwrap().push(i);
                    });
                } else {
                    s.exec_blocking(move || {
                        let _p = limit.acquire_blocking().unwrap();
                        order.lock().unwrap().push(i);
                    });
                }
                assert!(eventually(5, || limit.waiting() == i + 1));
            }
            drop(held);
        });
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
        pool.shutdown().unwrap();
    });
}

/// Many blocking waiters in `acquire_blocking` wake every millisecond for
/// their cancellation check, and while they spin between parks they count
/// as *available* threads (`avail`), though they never run a queued job.
/// Queued blocking children then stop being started: the pool stalls with
/// ~20 waiters while more children sit in the queues.
#[test]
fn blocking_waiters_stop_the_pool_starting_queued_children() {
    for threads in [1, 2] {
        within(60, move || {
            let pool = pool(threads);
            let limit = Limiter::new(1);
            const WAITERS: usize = 40;
            let most = pool.scope(|s| {
                let held = limit.try_acquire().unwrap();
                for _ in 0..WAITERS {
                    let limit = &limit;
                    s.exec_blocking(move || drop(limit.acquire_blocking().unwrap()));
                }
                let mut most = 0;
                let t0 = std::time::Instant::now();
                while t0.elapsed() < Duration::from_secs(10) && most < WAITERS {
                    most = most.max(limit.waiting());
                    std::thread::sleep(Duration::from_millis(1));
                }
                drop(held);
                most
            });
            assert_eq!(
                most, WAITERS,
                "{threads} threads: only {most} of {WAITERS} blocking children ever started"
            );
            pool.shutdown().unwrap();
        });
    }
}

/// The same starvation turned into a deadlock: the holder needs one queued
/// job (a blocking grandchild of an async holder) to finish.
#[test]
fn many_blocking_waiters_starve_the_job_a_holder_waits_for() {
    for threads in [1, 2] {
        within(30, move || {
            let pool = pool(threads);
            let limit = Limiter::new(1);
            const WAITERS: usize = 40;
            pool.scope(|s| {
                let limit = &limit;
                s.exec(async move {
                    let _p = limit.acquire().await;
                    // Let the blocking waiters queue up first.
                    let mut last = (0, 0);
                    for _ in 0..5000 {
                        let w = limit.waiting();
                        if w == WAITERS || (w == last.0 && last.1 > 200) {
                            break;
                        }
                        last = if w == last.0 { (w, last.1 + 1) } else { (w, 0) };
                        knotwork::sleep(Duration::from_millis(1)).await;
                    }
                    // The holder needs one queued job to finish.
                    knotwork::scope_async(async |s2| s2.exec_blocking(|| ()).await.unwrap()).await;
                });
                for _ in 0..WAITERS {
                    s.exec_blocking(move || drop(limit.acquire_blocking().unwrap()));
                }
            });
            assert_eq!(limit.available(), 1);
            pool.shutdown().unwrap();
        });
    }
}

/// Control: the same with a wait that does not wake (one long sleep).
#[test]
fn control_long_sleeping_block_on_children_all_start() {
    within(60, || {
        let pool = pool(1);
        const N: usize = 40;
        let started = AtomicUsize::new(0);
        let most = pool.scope(|s| {
            let (tx, rx) = async_channel::bounded::<()>(1);
            for _ in 0..N {
                let (started, rx) = (&started, rx.clone());
                s.exec_blocking(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    let _ = knotwork::block_on(rx.recv());
                });
            }
            let t0 = std::time::Instant::now();
            while t0.elapsed() < Duration::from_secs(10) && started.load(Ordering::SeqCst) < N {
                std::thread::sleep(Duration::from_millis(1));
            }
            let most = started.load(Ordering::SeqCst);
            drop(tx);
            most
        });
        assert_eq!(most, N, "only {most} of {N} blocking children started");
        pool.shutdown().unwrap();
    });
}
