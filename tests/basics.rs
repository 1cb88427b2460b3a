//! The basics rayon and tokio users reach for: `broadcast`, thread start and
//! stop hooks, `metrics`, `current_num_threads`, `Pool: UnwindSafe`,
//! `sleep_until` and `interval`. Each test runs under the watchdog.

mod common;

use common::{panic_text, pool, within};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

#[test]
fn broadcast_runs_once_on_every_worker_thread() {
    within(20, || {
        for n in [1, 2, 4] {
            let pool = pool(n);
            let seen = pool.broadcast(|i| (i, std::thread::current().id())).unwrap();
            assert_eq!(seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>());
            let threads: HashSet<_> = seen.iter().map(|(_, t)| *t).collect();
            assert_eq!(threads.len(), n, "every call ran on its own worker thread");
            // And the index is the worker's own: the thread name says so.
            let names = pool.broadcast(|i| (i, std::thread::current().name().unwrap().to_owned())).unwrap();
            for (i, name) in names {
                assert_eq!(name, format!("knotwork-{i}"));
            }
        }
    });
}

#[test]
fn broadcast_from_a_worker_and_from_two_workers_at_once() {
    within(20, || {
        let pool = pool(2);
        // From inside the pool: the caller's own call runs there too.
        let inner = pool.run(|| pool.broadcast(|i| i * 10).unwrap()).unwrap();
        assert_eq!(inner, [0, 10]);
        // Two workers broadcast at the same moment: each waits for the
        // other, and each runs the other's call from its wait.
        let barrier = Barrier::new(2);
        let (a, b) = pool
            .join(
                || {
                    barrier.wait();
                    pool.broadcast(|i| i).unwrap()
                },
                || {
                    barrier.wait();
                    pool.broadcast(|i| i + 100).unwrap()
                },
            )
            .unwrap();
        assert_eq!((a, b), (vec![0, 1], vec![100, 101]));
        // Nested: a broadcast whose calls broadcast.
        let nested = pool.broadcast(|_| pool.broadcast(|j| j).unwrap().len()).unwrap();
        assert_eq!(nested, [2, 2]);
        // From a scope's blocking child and from an async child's blocking wait.
        pool.scope(|s| {
            let t = s.exec_blocking(|| pool.broadcast(|i| i).unwrap());
            assert_eq!(t.join().unwrap(), [0, 1]);
        });
    });
}

#[test]
fn broadcast_waits_for_a_busy_worker_and_runs_after_its_job() {
    within(20, || {
        let pool = pool(2);
        let release = Arc::new(Barrier::new(2));
        let (tx, rx) = std::sync::mpsc::channel();
        let r = release.clone();
        pool.spawn(move || {
            tx.send(std::thread::current().id()).unwrap();
            r.wait(); // busy until the test lets it go
        })
        .unwrap();
        let busy = rx.recv().unwrap();
        let p = pool.clone();
        let broadcaster = std::thread::spawn(move || p.broadcast(|_| std::thread::current().id()).unwrap());
        std::thread::sleep(Duration::from_millis(20));
        assert!(!broadcaster.is_finished(), "the busy worker has not run its call yet");
        release.wait();
        let ids = broadcaster.join().unwrap();
        assert!(ids.contains(&busy));
    });
}

#[test]
fn broadcast_resumes_the_first_panic_after_every_call_and_refuses_after_shutdown() {
    within(20, || {
        let pool = pool(3);
        let ran = AtomicUsize::new(0);
        let err = std::panic::catch_unwind(|| {
            pool.broadcast(|i| {
                ran.fetch_add(1, Ordering::SeqCst);
                if i >= 1 {
                    panic!("worker {i} fails");
                }
            })
        })
        .unwrap_err();
        assert_eq!(panic_text(&*err), "worker 1 fails");
        assert_eq!(ran.load(Ordering::SeqCst), 3, "every call ran before the panic was resumed");
        // The workers survived: a second broadcast works.
        assert_eq!(pool.broadcast(|i| i).unwrap(), [0, 1, 2]);
        pool.shutdown().unwrap();
        assert!(pool.broadcast(|i| i).unwrap_err().is_shut_down());
    });
}

#[test]
fn many_concurrent_broadcasts_from_outside_and_inside() {
    within(60, || {
        let pool = pool(3);
        let total = AtomicUsize::new(0);
        std::thread::scope(|t| {
            for _ in 0..4 {
                t.spawn(|| {
                    for _ in 0..50 {
                        let r = pool.broadcast(|i| i).unwrap();
                        total.fetch_add(r.len(), Ordering::SeqCst);
                    }
                });
            }
            t.spawn(|| {
                pool.scope(|s| {
                    for _ in 0..20 {
                        s.exec_blocking(|| {
                            let r = pool.broadcast(|i| i).unwrap();
                            total.fetch_add(r.len(), Ordering::SeqCst);
                        });
                    }
                });
            });
        });
        assert_eq!(total.load(Ordering::SeqCst), (4 * 50 + 20) * 3);
    });
}

#[test]
fn thread_hooks_run_on_every_thread_spares_included() {
    within(20, || {
        let started = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(Mutex::new(Vec::new()));
        let (s, t) = (started.clone(), stopped.clone());
        let pool = knotwork::Pool::builder()
            .threads(1)
            .spare_threads(2)
            .on_thread_start(move |i| {
                // On the pool's own thread, which is a worker of it.
                assert_eq!(knotwork::Pool::current().map(|p| p.threads()), Some(1));
                s.lock().unwrap().push(i);
            })
            .on_thread_stop(move |i| t.lock().unwrap().push(i))
            .build()
            .unwrap();
        // The one worker blocks on a child queued behind it: a spare starts.
        let v = pool
            .run(|| knotwork::block_on(pool.scope_async(async |s| s.exec_blocking(|| 7).await.unwrap())))
            .unwrap();
        assert_eq!(v, 7);
        pool.shutdown().unwrap();
        let mut started = started.lock().unwrap().clone();
        let mut stopped = stopped.lock().unwrap().clone();
        started.sort();
        stopped.sort();
        assert_eq!(started[0], 0);
        assert!(started.len() >= 2, "a spare started and ran the start hook: {started:?}");
        assert_eq!(started, stopped, "every thread that started also stopped");
    });
}

#[test]
fn a_panicking_thread_hook_goes_to_the_panic_handler_and_the_pool_works() {
    within(20, || {
        let caught = Arc::new(Mutex::new(Vec::new()));
        let c = caught.clone();
        let pool = knotwork::Pool::builder()
            .threads(2)
            .on_thread_start(|i| panic!("start hook {i}"))
            .panic_handler(move |p| c.lock().unwrap().push(panic_text(&*p)))
            .build()
            .unwrap();
        assert_eq!(pool.broadcast(|i| i).unwrap(), [0, 1]);
        pool.shutdown().unwrap();
        let mut caught = caught.lock().unwrap().clone();
        caught.sort();
        assert_eq!(caught, ["start hook 0", "start hook 1"]);
    });
}

#[test]
fn metrics_count_jobs_steals_parks_and_polls() {
    within(30, || {
        let pool = pool(2);
        let before = pool.metrics();
        assert_eq!(before.jobs_run(), 0);
        pool.scope(|s| {
            for _ in 0..100 {
                s.exec_blocking(|| std::hint::black_box(0));
            }
            for _ in 0..10 {
                s.exec(async { knotwork::yield_now().await });
            }
        });
        let m = pool.metrics();
        assert!(m.jobs_run() >= 100, "{m}");
        assert!(m.loop_polls() >= 20, "each async child is polled twice: {m}");
        // Counts only grow; a fork-join on two workers steals (give it a few tries).
        let stole = (0..200).any(|_| {
            pool.join(
                || std::thread::sleep(Duration::from_micros(200)),
                || std::thread::sleep(Duration::from_micros(200)),
            )
            .unwrap();
            pool.metrics().steals() > 0
        });
        assert!(stole, "{}", pool.metrics());
        assert!(common::eventually(5, || pool.metrics().parks() > 0));
        let later = pool.metrics();
        for (a, b) in m.workers().iter().zip(later.workers()) {
            assert!(b.jobs_run() >= a.jobs_run() && b.loop_polls() >= a.loop_polls());
        }
        // The Display form has a line per worker.
        assert_eq!(later.to_string().lines().count(), 2 + later.spares().len());
    });
}

#[test]
fn current_num_threads_reads_the_current_pool() {
    within(20, || {
        let pool = pool(3);
        assert_eq!(pool.run(knotwork::current_num_threads).unwrap(), 3);
        let in_child = pool.scope(|s| s.exec(async { knotwork::current_num_threads() }).join().unwrap());
        assert_eq!(in_child, 3);
        assert_eq!(knotwork::current_num_threads(), knotwork::Pool::global().threads());
    });
}

#[test]
fn a_pool_crosses_catch_unwind_without_assert_unwind_safe() {
    within(20, || {
        let pool = pool(1);
        let r = std::panic::catch_unwind(|| pool.run(|| panic!("inside")).unwrap());
        assert_eq!(panic_text(&*r.unwrap_err()), "inside");
        // The pool is unharmed.
        assert_eq!(pool.run(|| 5).unwrap(), 5);
    });
}

#[test]
fn sleep_until_and_a_drift_free_interval() {
    within(20, || {
        let pool = pool(2);
        let out = pool.scope(|s| {
            let a = s.exec(async {
                let at = Instant::now() + Duration::from_millis(10);
                knotwork::sleep_until(at).await;
                Instant::now() >= at
            });
            let b = s.exec(async {
                let mut every = knotwork::interval(Duration::from_millis(3));
                let mut ticks = Vec::new();
                for _ in 0..5 {
                    ticks.push(every.tick().await);
                }
                ticks
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(out.0);
        // Scheduled instants are exact multiples of the period: no drift.
        for w in out.1.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(3));
        }
    });
}

#[test]
fn missed_ticks_burst_delay_and_skip() {
    within(20, || {
        knotwork::block_on(async {
            let period = Duration::from_millis(5);
            for missed in
                [knotwork::MissedTicks::Burst, knotwork::MissedTicks::Delay, knotwork::MissedTicks::Skip]
            {
                let mut every = knotwork::interval(period);
                every.set_missed_ticks(missed);
                let first = every.tick().await;
                // Late by more than three periods.
                std::thread::sleep(Duration::from_millis(18));
                let late = every.tick().await;
                assert_eq!(late, first + period, "{missed:?}: the late tick reports its own schedule");
                let next = every.tick().await;
                match missed {
                    // The missed ticks come at once, on the old schedule.
                    knotwork::MissedTicks::Burst => assert_eq!(next, first + 2 * period),
                    // Shifted: a period after the late tick was taken.
                    knotwork::MissedTicks::Delay => {
                        assert!(next >= first + Duration::from_millis(18) + period)
                    }
                    // Dropped: the next multiple of the period after the delay.
                    knotwork::MissedTicks::Skip => {
                        assert!(next >= first + 4 * period);
                        assert_eq!((next - first).as_nanos() % period.as_nanos(), 0);
                    }
                }
            }
        });
    });
}

#[test]
fn a_zero_interval_panics_at_the_callers_line() {
    let err = std::panic::catch_unwind(|| knotwork::interval(Duration::ZERO)).unwrap_err();
    assert!(panic_text(&*err).contains("period must be longer than zero"));
}

static REQUEST: knotwork::Slot<u32> = knotwork::Slot::new();

#[test]
fn broadcast_calls_run_in_the_callers_bindings() {
    within(20, || {
        let pool = pool(2);
        let seen = REQUEST.bind(7, || pool.broadcast(|_| REQUEST.get()).unwrap());
        assert_eq!(seen, [Some(7), Some(7)]);
        // And from a worker, inside a child that rebinds.
        let inner = pool.scope(|s| {
            s.exec_blocking(|| REQUEST.bind(9, || pool.broadcast(|_| REQUEST.get()).unwrap())).join().unwrap()
        });
        assert_eq!(inner, [Some(9), Some(9)]);
        // A worker's later jobs do not keep the binding.
        assert_eq!(pool.broadcast(|_| REQUEST.get()).unwrap(), [None, None]);
    });
}

#[test]
fn broadcasts_across_two_pools_and_from_every_blocking_wait_finish() {
    within(60, || {
        for _ in 0..20 {
            let a = pool(1);
            let b = pool(1);
            // Two pools broadcast into each other at once: each worker,
            // waiting for the other pool, runs the call addressed to it.
            let both = Arc::new(Barrier::new(2));
            let t = {
                let (a, b, both) = (a.clone(), b.clone(), both.clone());
                std::thread::spawn(move || {
                    a.broadcast(|_| {
                        both.wait();
                        b.broadcast(|i| i).unwrap()
                    })
                    .unwrap()
                })
            };
            let from_b = b
                .broadcast(|_| {
                    both.wait();
                    a.broadcast(|i| i).unwrap()
                })
                .unwrap();
            assert_eq!((t.join().unwrap(), from_b), (vec![vec![0]], vec![vec![0]]));
            // Nested runs across pools.
            let nested = a.run(|| b.run(|| a.broadcast(|i| i + 1).unwrap()).unwrap()).unwrap();
            assert_eq!(nested, [1]);
        }
        // A worker in `Starting::wait` and one in `Limiter::acquire_blocking`
        // run the broadcast calls addressed to them.
        let p = pool(2);
        let v = p.scope(|s| {
            s.exec_blocking(|| {
                knotwork::scope(|inner| {
                    inner
                        .start_blocking(|ready| {
                            std::thread::sleep(Duration::from_millis(10));
                            ready.started(p.broadcast(|i| i).unwrap());
                        })
                        .wait()
                        .unwrap()
                })
            })
            .join()
            .unwrap()
        });
        assert_eq!(v, [0, 1]);
        let limit = knotwork::Limiter::new(1);
        let got = p.scope(|s| {
            let holder = s.exec_blocking(|| {
                let _permit = limit.acquire_blocking().unwrap();
                std::thread::sleep(Duration::from_millis(10));
                p.broadcast(|i| i).unwrap()
            });
            let waiter = s.exec_blocking(|| limit.acquire_blocking().map(drop).is_ok());
            (holder.join().unwrap(), waiter.join().unwrap())
        });
        assert_eq!(got, (vec![0, 1], true));
        // And a worker in a plain `block_on` inside a job.
        let (tx, rx) = async_channel::bounded::<()>(1);
        let p2 = p.clone();
        let blocked = std::thread::spawn(move || {
            p2.run(|| {
                knotwork::block_on(async { rx.recv().await.unwrap() });
            })
            .unwrap()
        });
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(p.broadcast(|i| i).unwrap(), [0, 1]);
        tx.send_blocking(()).unwrap();
        blocked.join().unwrap();
    });
}

static STASHED: Mutex<Option<knotwork::Pool>> = Mutex::new(None);

#[test]
fn a_stop_hook_runs_after_the_drain_and_its_submissions_are_refused() {
    within(60, || {
        let accepted = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let a = accepted.clone();
            let p = knotwork::Pool::builder()
                .threads(2)
                .on_thread_stop(move |_| {
                    assert!(knotwork::Pool::current().is_none(), "no longer a worker");
                    let stashed = STASHED.lock().unwrap().clone();
                    if let Some(p) = stashed {
                        if p.spawn(|| ()).is_ok() {
                            a.fetch_add(1, Ordering::SeqCst);
                        }
                        assert!(p.broadcast(|i| i).unwrap_err().is_shut_down());
                    }
                })
                .build()
                .unwrap();
            *STASHED.lock().unwrap() = Some(p.clone());
            // Another thread keeps submitting (and being refused) across the
            // shutdown: its refused accepts lift the count for an instant.
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let hammer = {
                let (p, stop) = (p.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let _ = p.spawn(|| ());
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(1));
            p.shutdown().unwrap();
            stop.store(true, Ordering::SeqCst);
            hammer.join().unwrap();
            STASHED.lock().unwrap().take();
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "work accepted after the pool terminated");
    });
}

#[test]
fn a_start_hook_may_submit_work_and_it_runs_even_if_shutdown_comes_first() {
    within(30, || {
        for _ in 0..50 {
            let ran = Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            let p = knotwork::Pool::builder()
                .threads(2)
                .on_thread_start(move |_| {
                    let r = r.clone();
                    // A worker of the pool here: the spawn is nested in the
                    // unit the hook runs under, so it is accepted and runs.
                    knotwork::Pool::current()
                        .unwrap()
                        .spawn(move || {
                            r.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                })
                .build()
                .unwrap();
            p.shutdown().unwrap(); // at once: the hooks may not have run yet
            assert_eq!(ran.load(Ordering::SeqCst), 2);
        }
    });
}

#[test]
fn an_interval_of_duration_max_does_not_overflow() {
    within(20, || {
        knotwork::block_on(async {
            let mut forever = knotwork::interval(Duration::MAX);
            forever.tick().await; // the first tick is at once
            let second = knotwork::timeout(Duration::from_millis(5), forever.tick()).await;
            assert!(second.is_err(), "the second tick is far away");
            forever.reset();
            for missed in [knotwork::MissedTicks::Delay, knotwork::MissedTicks::Skip] {
                let mut every = knotwork::interval(Duration::MAX);
                every.set_missed_ticks(missed);
                every.tick().await;
                std::thread::sleep(Duration::from_millis(6));
                assert!(knotwork::timeout(Duration::from_millis(1), every.tick()).await.is_err());
            }
        });
    });
}

#[test]
fn delay_counts_a_tick_late_by_less_than_a_period_as_missed() {
    within(20, || {
        knotwork::block_on(async {
            let period = Duration::from_millis(20);
            let mut every = knotwork::interval(period);
            every.set_missed_ticks(knotwork::MissedTicks::Delay);
            every.tick().await;
            // The second tick is due at 20 ms; take it at ~30 ms.
            std::thread::sleep(Duration::from_millis(30));
            every.tick().await;
            let taken = Instant::now();
            let third = every.tick().await;
            assert!(
                third >= taken + period - Duration::from_millis(1),
                "a period after the late tick was taken"
            );
        });
    });
}

#[test]
fn resetting_a_registered_sleep_wakes_its_task_at_the_new_deadline() {
    within(20, || {
        let pool = pool(1);
        let start = Instant::now();
        let woke = pool.scope(|s| {
            s.exec(async {
                let mut nap = std::pin::pin!(knotwork::sleep(Duration::from_secs(3600)));
                let mut first = true;
                std::future::poll_fn(move |cx| {
                    if first {
                        first = false;
                        // Registered, then moved to 10 ms from now, and left
                        // without a poll: the timer itself must wake us.
                        let _ = nap.as_mut().poll(cx);
                        nap.as_mut().reset(Instant::now() + Duration::from_millis(10));
                        return std::task::Poll::Pending;
                    }
                    nap.as_mut().poll(cx)
                })
                .await;
                Instant::now()
            })
            .join()
            .unwrap()
        });
        let waited = woke - start;
        assert!(waited >= Duration::from_millis(10) && waited < Duration::from_secs(10), "{waited:?}");
    });
}

#[test]
fn timers_run_in_a_block_on_after_the_threads_loop_is_torn_down() {
    within(20, || {
        std::thread::spawn(|| {
            knotwork::Loop::current();
            assert!(knotwork::Loop::teardown_current());
            // `block_on` runs on a loop of its own (L7), and its timers too.
            knotwork::block_on(knotwork::sleep(Duration::from_millis(2)));
            let limit = knotwork::Limiter::new(1);
            let held = limit.try_acquire().unwrap();
            let waiter = std::thread::scope(|t| {
                t.spawn(|| {
                    std::thread::sleep(Duration::from_millis(5));
                    drop(held);
                });
                limit.acquire_blocking().map(drop)
            });
            assert!(waiter.is_ok());
        })
        .join()
        .unwrap();
    });
}

#[test]
fn shutdown_from_a_stop_hook_is_an_error_not_a_deadlock() {
    within(20, || {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let e = errors.clone();
        let p = knotwork::Pool::builder()
            .threads(2)
            .on_thread_stop(move |_| {
                let stashed = STASHED_FOR_SHUTDOWN.lock().unwrap().clone();
                if let Some(p) = stashed {
                    e.lock().unwrap().push(p.shutdown().unwrap_err().is_called_from_worker());
                }
            })
            .build()
            .unwrap();
        *STASHED_FOR_SHUTDOWN.lock().unwrap() = Some(p.clone());
        p.shutdown().unwrap();
        STASHED_FOR_SHUTDOWN.lock().unwrap().take();
        assert_eq!(*errors.lock().unwrap(), [true, true]);
    });
}

static STASHED_FOR_SHUTDOWN: Mutex<Option<knotwork::Pool>> = Mutex::new(None);

/// The shape the fuzzer found (tests/shapes.rs, seed 499 on 3 threads): an
/// async task's broadcast wait ran a blocking child whose own broadcast
/// wait polled, on top of itself, the async task that joins that child.
/// A broadcast's wait is now constrained to the task it runs in.
#[test]
fn a_broadcast_wait_never_polls_a_task_that_waits_for_it() {
    within(120, || {
        let pool = pool(3);
        for _ in 0..300 {
            let leaves = Arc::new(AtomicUsize::new(0));
            pool.scope(|s| {
                let (p, l) = (pool.clone(), leaves.clone());
                let a = s.exec(async move {
                    p.run(|| {
                        p.broadcast(|i| {
                            if i == 0 {
                                l.fetch_add(1, Ordering::SeqCst);
                            }
                        })
                        .unwrap()
                    })
                    .unwrap();
                });
                let (p, l) = (pool.clone(), leaves.clone());
                let b = s.exec(async move {
                    p.clone()
                        .scope_async(async move |s2| {
                            // Both children spawned first, then the handles
                            // consumed in order, as the fuzzer's bodies do: the
                            // blocking child may start while the body waits for
                            // the first.
                            let l2 = l.clone();
                            let first = s2.exec(async move {
                                l2.fetch_add(1, Ordering::SeqCst);
                            });
                            let second = s2.exec_blocking(move || {
                                p.broadcast(|i| {
                                    if i == 0 {
                                        l.fetch_add(1, Ordering::SeqCst);
                                    }
                                })
                                .unwrap()
                            });
                            first.await.unwrap();
                            second.join().unwrap();
                        })
                        .await
                });
                knotwork::block_on(a).unwrap();
                b.join().unwrap();
            });
            assert_eq!(leaves.load(Ordering::SeqCst), 3);
        }
    });
}
