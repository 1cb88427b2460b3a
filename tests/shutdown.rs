//! Graceful, exact shutdown: accepted work finishes, new work is refused,
//! loops are torn down once, threads are joined.
mod common;

use common::{eventually, within};
use knotwork::{Loop, Pool};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Counts, per pool, worker threads that have fully exited: a thread-local
/// whose destructor runs when the thread ends (before `join` returns).
struct ExitProbe(Cell<Option<Arc<AtomicUsize>>>);
impl Drop for ExitProbe {
    fn drop(&mut self) {
        if let Some(counter) = self.0.take() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }
}
thread_local! {
    static EXIT_PROBE: ExitProbe = const { ExitProbe(Cell::new(None)) };
}

/// Arms the exit probe and a loop-teardown counter on every worker of
/// `pool` by running one blocking job per worker at the same time.
fn arm_workers(pool: &Pool, exited: &Arc<AtomicUsize>, torn_down: &Arc<AtomicUsize>) {
    let n = pool.threads();
    let arrived = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        let (exited, torn_down, arrived) = (exited.clone(), torn_down.clone(), arrived.clone());
        pool.spawn(move || {
            EXIT_PROBE.with(|p| p.0.set(Some(exited)));
            Loop::current().on_teardown(move || {
                torn_down.fetch_add(1, Ordering::SeqCst);
            });
            arrived.fetch_add(1, Ordering::SeqCst);
            // Hold this worker until every worker has one of these jobs.
            while arrived.load(Ordering::SeqCst) < n {
                std::thread::yield_now();
            }
        })
        .unwrap();
    }
}

#[test]
fn shutdown_runs_accepted_work_then_refuses_new_work() {
    within(30, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let done = done.clone();
            pool.spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                done.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        pool.shutdown().unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 50, "every accepted job ran before shutdown returned");
        assert!(pool.is_shut_down());
        assert!(pool.spawn(|| ()).unwrap_err().is_shut_down());
        assert!(pool.run(|| ()).unwrap_err().is_shut_down());
        assert!(pool.join(|| (), || ()).unwrap_err().is_shut_down());
        // Idempotent.
        pool.shutdown().unwrap();
    });
}

#[test]
fn work_spawned_by_accepted_work_runs_during_the_drain() {
    within(30, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let (p, c) = (pool.clone(), count.clone());
        pool.spawn(move || {
            // Give shutdown time to begin, then spawn a chain of children.
            std::thread::sleep(Duration::from_millis(50));
            fn chain(p: Pool, c: Arc<AtomicUsize>, left: u32) {
                c.fetch_add(1, Ordering::SeqCst);
                if left > 0 {
                    let p2 = p.clone();
                    p.spawn(move || chain(p2, c, left - 1)).expect("children are accepted while draining");
                }
            }
            chain(p, c, 100);
        })
        .unwrap();
        pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 101);
    });
}

#[test]
fn shutdown_tears_down_each_loop_once_and_joins_every_thread() {
    within(30, || {
        let pool = Pool::builder().threads(3).build().unwrap();
        let exited = Arc::new(AtomicUsize::new(0));
        let torn_down = Arc::new(AtomicUsize::new(0));
        arm_workers(&pool, &exited, &torn_down);
        pool.shutdown().unwrap();
        assert_eq!(torn_down.load(Ordering::SeqCst), 3, "each worker's loop torn down exactly once");
        assert_eq!(exited.load(Ordering::SeqCst), 3, "every worker thread exited before shutdown returned");
    });
}

#[test]
fn shutdown_lets_tasks_left_on_worker_loops_run_to_their_end_once() {
    within(30, || {
        struct CountDrop(Arc<AtomicUsize>);
        impl Drop for CountDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let pool = Pool::builder().threads(1).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let (d, f, r) = (drops.clone(), finished.clone(), release.clone());
        pool.run(move || {
            let guard = CountDrop(d);
            // A task the job leaves on the worker's loop: work that accepted
            // work spawned. It waits for a signal that comes only after
            // shutdown has begun.
            drop(knotwork::spawn_local(async move {
                let _guard = guard;
                while !r.load(Ordering::SeqCst) {
                    knotwork::sleep(Duration::from_millis(1)).await;
                }
                f.fetch_add(1, Ordering::SeqCst);
            }));
        })
        .unwrap();
        let releaser = {
            let release = release.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                release.store(true, Ordering::SeqCst);
            })
        };
        pool.shutdown().unwrap(); // waits for the task, which then finishes
        assert_eq!(finished.load(Ordering::SeqCst), 1);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "its future was dropped exactly once");
        releaser.join().unwrap();
    });
}

#[test]
fn shutdown_from_a_worker_is_an_error_not_a_deadlock() {
    within(30, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let p = pool.clone();
        let err = pool.run(move || p.shutdown().unwrap_err()).unwrap();
        assert!(err.is_called_from_worker());
        assert!(err.to_string().contains("from one of that pool's own worker threads"));
        assert!(!pool.is_shut_down());
        pool.shutdown().unwrap();
    });
}

#[test]
fn dropping_the_last_handle_shuts_down_the_same_way() {
    within(30, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let exited = Arc::new(AtomicUsize::new(0));
        let torn_down = Arc::new(AtomicUsize::new(0));
        arm_workers(&pool, &exited, &torn_down);
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..20 {
            let done = done.clone();
            pool.spawn(move || {
                std::thread::sleep(Duration::from_millis(1));
                done.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        let clone = pool.clone();
        drop(pool);
        assert!(!clone.is_shut_down(), "a clone keeps the pool open");
        drop(clone);
        assert_eq!(done.load(Ordering::SeqCst), 20);
        assert_eq!(torn_down.load(Ordering::SeqCst), 2);
        assert_eq!(exited.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn dropping_the_last_handle_on_a_worker_does_not_deadlock() {
    within(30, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let exited = Arc::new(AtomicUsize::new(0));
        let torn_down = Arc::new(AtomicUsize::new(0));
        arm_workers(&pool, &exited, &torn_down);
        let p = pool.clone();
        drop(pool);
        // The job owns the last handle and drops it on the worker.
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let go = Arc::new(AtomicBool::new(false));
        let g = go.clone();
        let submitter = p.clone();
        submitter
            .spawn(move || {
                // Wait until every off-pool handle is gone, so that this
                // drop really is the last one, made on the worker.
                while !g.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                r.fetch_add(1, Ordering::SeqCst);
                drop(p);
            })
            .unwrap();
        drop(submitter);
        go.store(true, Ordering::SeqCst);
        assert!(eventually(10, || exited.load(Ordering::SeqCst) == 1), "the worker exits on its own");
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(torn_down.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn concurrent_shutdowns_from_clones_all_wait_for_the_end() {
    within(30, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let done = done.clone();
            pool.spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                done.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (p, d) = (pool.clone(), done.clone());
                std::thread::spawn(move || {
                    p.shutdown().unwrap();
                    d.load(Ordering::SeqCst)
                })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.join().unwrap(), 10, "every shutdown call returns only after the drain");
        }
    });
}

#[test]
fn submissions_racing_shutdown_run_exactly_once_or_are_refused() {
    within(60, || {
        for _ in 0..50 {
            let pool = Pool::builder().threads(2).build().unwrap();
            let ran = Arc::new(AtomicUsize::new(0));
            let submitters: Vec<_> = (0..2)
                .map(|_| {
                    let (p, r) = (pool.clone(), ran.clone());
                    std::thread::spawn(move || {
                        let mut accepted = 0;
                        for _ in 0..200 {
                            let r = r.clone();
                            if p.spawn(move || {
                                r.fetch_add(1, Ordering::SeqCst);
                            })
                            .is_ok()
                            {
                                accepted += 1;
                            }
                        }
                        accepted
                    })
                })
                .collect();
            pool.shutdown().unwrap();
            let ran_at_shutdown = ran.load(Ordering::SeqCst);
            let accepted: usize = submitters.into_iter().map(|s| s.join().unwrap()).sum();
            // Jobs accepted after shutdown began are impossible (they are refused);
            // every accepted job ran before shutdown returned.
            assert_eq!(ran_at_shutdown, accepted);
            assert_eq!(ran.load(Ordering::SeqCst), accepted);
        }
    });
}
