//! Misuse and foreign code that must not break the runtime's soundness:
//! tearing a loop down from inside itself, and wakers that panic.
mod common;

use common::{panic_text, within};
use knotwork::{Loop, Pool};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn teardown_from_inside_a_task_is_refused_and_drops_nothing_twice() {
    within(20, || {
        std::thread::spawn(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let d = drops.clone();
            let err = knotwork::block_on(knotwork::spawn_local(async move {
                let _guard = CountDrop(d);
                knotwork::yield_now().await;
                Loop::teardown_current();
            }))
            .unwrap_err();
            assert!(panic_text(&*err.into_panic()).contains("from inside a task"));
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            // block_on's own future counts as running too.
            let r = std::panic::catch_unwind(|| knotwork::block_on(async { Loop::teardown_current() }));
            assert!(r.is_err());
            assert!(Loop::teardown_current()); // idle: allowed
        })
        .join()
        .unwrap();
    });
}

#[test]
fn teardown_on_a_pool_worker_is_refused() {
    within(20, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let r = pool.run(|| std::panic::catch_unwind(Loop::teardown_current));
        assert!(panic_text(&*r.unwrap().unwrap_err()).contains("pool worker"));
        // The worker keeps its loop.
        assert_eq!(pool.run(|| knotwork::block_on(async { 3 })).unwrap(), 3);
    });
}

struct Bomb;
impl Wake for Bomb {
    fn wake(self: Arc<Self>) {
        panic!("waker bomb");
    }
}

/// Leaves a task on this thread's loop whose awaiter is a panicking waker.
fn arm_bomb() {
    let mut task = Box::pin(knotwork::spawn_local(async {
        knotwork::yield_now().await;
        1
    }));
    let waker = Waker::from(Arc::new(Bomb));
    let _ = task.as_mut().poll(&mut Context::from_waker(&waker));
    std::mem::forget(task);
}

#[test]
fn a_panicking_waker_cannot_unwind_through_a_join_or_kill_a_worker() {
    within(20, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let sum = pool
            .run(|| {
                arm_bomb();
                let big = [7u64; 64];
                knotwork::join(
                    || std::thread::sleep(Duration::from_millis(5)),
                    move || {
                        std::thread::sleep(Duration::from_millis(50));
                        big.iter().sum::<u64>()
                    },
                )
                .1
            })
            .unwrap();
        assert_eq!(sum, 448);
        pool.run(arm_bomb).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // Both workers are still there and the pool shuts down cleanly.
        let n = pool.scope(|s| (0..8).map(|_| s.exec_blocking(|| 1)).map(|t| t.join().unwrap()).sum::<i32>());
        assert_eq!(n, 8);
        pool.shutdown().unwrap();
    });
}

#[test]
fn a_panicking_awaiter_of_a_scope_child_does_not_lose_the_join() {
    within(20, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        pool.scope(|s| {
            let mut t = Box::pin(s.exec(async {
                knotwork::sleep(Duration::from_millis(5)).await;
                2
            }));
            let waker = Waker::from(Arc::new(Bomb));
            let _ = t.as_mut().poll(&mut Context::from_waker(&waker));
            drop(t);
        });
    });
}
