//! N1–N3 (docs/guarantees.md): the join guarantee, where work runs, and waiting.
mod common;

use common::{pool, within};
use knotwork::{Loop, Pool};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn scope_returns_only_after_every_child_finished() {
    within(20, || {
        let pool = pool(2);
        let done = AtomicUsize::new(0);
        pool.scope(|s| {
            for i in 0..50 {
                let done = &done;
                if i % 2 == 0 {
                    s.exec_blocking(move || {
                        std::thread::sleep(Duration::from_micros(200));
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                } else {
                    s.exec(async move {
                        knotwork::sleep(Duration::from_millis(1)).await;
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                }
            }
            // Handles dropped without a join: still joined by the scope.
        });
        assert_eq!(done.load(Ordering::SeqCst), 50);
    });
}

#[test]
fn dropped_task_is_still_joined_and_its_borrow_ends_in_time() {
    within(20, || {
        let pool = pool(2);
        let mut v = vec![0u64; 1000];
        pool.scope(|s| {
            for chunk in v.chunks_mut(100) {
                drop(s.exec_blocking(move || chunk.iter_mut().for_each(|x| *x += 1)));
            }
        });
        assert!(v.iter().all(|&x| x == 1));
    });
}

#[test]
fn join_after_a_panicking_body_still_waits_for_children() {
    within(20, || {
        let pool = pool(2);
        let finished = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.exec_blocking(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    finished.fetch_add(1, Ordering::SeqCst);
                });
                panic!("body");
            })
        }));
        assert!(r.is_err());
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the running child was joined before the re-raise");
    });
}

#[test]
fn nested_scopes_nest_the_guarantee() {
    within(20, || {
        let pool = pool(2);
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..4 {
                let count = &count;
                s.exec_blocking(move || {
                    knotwork::scope(|inner| {
                        for _ in 0..4 {
                            inner.exec_blocking(move || count.fetch_add(1, Ordering::SeqCst));
                            inner.exec(async move { count.fetch_add(1, Ordering::SeqCst) });
                        }
                    });
                    // The inner scope has joined its children here.
                    assert!(count.load(Ordering::SeqCst) >= 8);
                });
            }
        });
        assert_eq!(count.load(Ordering::SeqCst), 32);
    });
}

#[test]
fn async_child_stays_on_the_worker_that_started_it() {
    within(20, || {
        let pool = pool(4);
        let moved = pool.scope(|s| {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    s.exec(async {
                        let first = (std::thread::current().id(), Loop::current().id());
                        for _ in 0..20 {
                            knotwork::yield_now().await;
                            knotwork::sleep(Duration::from_micros(50)).await;
                            if (std::thread::current().id(), Loop::current().id()) != first {
                                return true;
                            }
                        }
                        false
                    })
                })
                .collect();
            tasks.into_iter().map(|t| t.join().unwrap()).filter(|&m| m).count()
        });
        assert_eq!(moved, 0);
    });
}

#[test]
fn children_run_on_pool_workers_and_blocking_ones_can_block_on() {
    within(20, || {
        let pool = Pool::builder().threads(2).thread_name("jw").build().unwrap();
        let (name_a, name_b, v) = pool.scope(|s| {
            let a = s.exec(async { std::thread::current().name().unwrap().to_string() });
            let b = s.exec_blocking(|| {
                // Use cases 2 and 3: sync code inside a child runs async code
                // on the worker's own loop.
                let v = knotwork::block_on(async {
                    knotwork::sleep(Duration::from_millis(1)).await;
                    9
                });
                (std::thread::current().name().unwrap().to_string(), v)
            });
            let (name_b, v) = b.join().unwrap();
            (a.join().unwrap(), name_b, v)
        });
        assert!(name_a.starts_with("jw-") && name_b.starts_with("jw-"));
        assert_eq!(v, 9);
    });
}

#[test]
fn deep_nesting_on_one_thread_does_not_deadlock() {
    fn nest(depth: usize) -> usize {
        if depth == 0 {
            return 0;
        }
        knotwork::scope(|s| s.exec_blocking(move || nest(depth - 1)).join().unwrap() + 1)
    }
    fn nest_async(depth: usize) -> usize {
        if depth == 0 {
            return 0;
        }
        knotwork::scope(|s| s.exec(async move { nest_async(depth - 1) }).join().unwrap() + 1)
    }
    within(60, || {
        // 300 levels here; tests/reliability.rs goes to 1000 (default 8 MiB
        // worker stacks, about 4 KiB per level in a debug build).
        let pool = Pool::builder().threads(1).build().unwrap();
        assert_eq!(pool.run(|| nest(300)).unwrap(), 300);
        assert_eq!(pool.run(|| nest_async(300)).unwrap(), 300);
    });
}

#[test]
fn blocking_join_inside_an_async_child_on_one_thread() {
    within(20, || {
        let pool = pool(1);
        let v = pool.scope(|s| {
            s.exec(async {
                // Blocking from async (N9): the nested async child is
                // pinned to this same (only) worker, and still runs.
                knotwork::scope(|inner| inner.exec(async { 5 }).join().unwrap())
            })
            .join()
            .unwrap()
        });
        assert_eq!(v, 5);
    });
}

#[test]
fn await_suspends_only_the_awaiting_task() {
    within(20, || {
        let pool = pool(1);
        let ticks = Arc::new(AtomicUsize::new(0));
        let t2 = ticks.clone();
        let v = pool.scope(|s| {
            // A ticker on the only worker keeps running while the awaiting
            // child waits for a slow sibling.
            let ticker = s.exec(async move {
                for _ in 0..5 {
                    t2.fetch_add(1, Ordering::SeqCst);
                    knotwork::sleep(Duration::from_millis(1)).await;
                }
            });
            let slow = s.exec(async {
                knotwork::sleep(Duration::from_millis(20)).await;
                3
            });
            let waiter = s.exec(async move { slow.await.unwrap() * 2 });
            ticker.join().unwrap();
            waiter.join().unwrap()
        });
        assert_eq!(v, 6);
        assert_eq!(ticks.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn free_scope_uses_the_current_pool_else_the_global_one() {
    within(20, || {
        let pool = Pool::builder().threads(2).thread_name("mine").build().unwrap();
        let inside = pool.run(|| {
            knotwork::scope(|s| s.exec_blocking(|| std::thread::current().name().unwrap().to_string()).join())
        });
        assert!(inside.unwrap().unwrap().starts_with("mine-"));
        let outside =
            knotwork::scope(|s| s.exec_blocking(|| Pool::current().unwrap().threads()).join().unwrap());
        assert_eq!(outside, Pool::global().threads());
    });
}

#[test]
fn many_children_each_run_exactly_once() {
    within(60, || {
        let pool = pool(2);
        let hits: Vec<AtomicUsize> = (0..20_000).map(|_| AtomicUsize::new(0)).collect();
        pool.scope(|s| {
            for (i, h) in hits.iter().enumerate() {
                if i % 3 == 0 {
                    s.exec(async move { h.fetch_add(1, Ordering::Relaxed) });
                } else {
                    s.exec_blocking(move || h.fetch_add(1, Ordering::Relaxed));
                }
            }
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    });
}
