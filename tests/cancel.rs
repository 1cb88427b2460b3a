//! N5 (docs/guarantees.md): cancellation.
mod common;

use common::{pool, within};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts drops, to show an async child's future is dropped.
struct DropFlag<'a>(&'a AtomicUsize);
impl Drop for DropFlag<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cancel_drops_async_children_at_their_suspension_point() {
    within(20, || {
        let pool = pool(2);
        let dropped = AtomicUsize::new(0);
        let errs = pool.scope(|s| {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let dropped = &dropped;
                    s.exec(async move {
                        let _flag = DropFlag(dropped);
                        knotwork::sleep(Duration::from_secs(3600)).await;
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(20)); // let them start and park
            s.cancel();
            assert!(s.is_cancelled());
            tasks.into_iter().map(|t| t.join().unwrap_err().is_cancelled()).filter(|&c| c).count()
        });
        assert_eq!(errs, 8);
        assert_eq!(dropped.load(Ordering::SeqCst), 8);
    });
}

#[test]
fn an_unstarted_blocking_child_never_starts() {
    within(20, || {
        let pool = pool(1);
        let ran = AtomicBool::new(false);
        let gate = AtomicBool::new(false);
        pool.scope(|s| {
            // Occupy the only worker so the second child cannot start yet.
            s.exec_blocking(|| {
                while !gate.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
            });
            let later = s.exec_blocking(|| ran.store(true, Ordering::SeqCst));
            s.cancel();
            gate.store(true, Ordering::SeqCst);
            assert!(later.join().unwrap_err().is_cancelled());
        });
        assert!(!ran.load(Ordering::SeqCst));
    });
}

#[test]
fn a_running_blocking_child_sees_is_cancelled_and_is_joined() {
    within(20, || {
        let pool = pool(2);
        let started = AtomicBool::new(false);
        let saw = pool.scope(|s| {
            let t = s.exec_blocking(|| {
                started.store(true, Ordering::SeqCst);
                let start = Instant::now();
                while !knotwork::is_cancelled() {
                    assert!(start.elapsed() < Duration::from_secs(10), "never saw the cancellation");
                    std::thread::yield_now();
                }
                "stopped early"
            });
            while !started.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            s.cancel();
            t.join()
        });
        assert_eq!(saw.unwrap(), "stopped early");
    });
}

#[test]
fn task_cancel_cancels_one_child_only() {
    within(20, || {
        let pool = pool(2);
        pool.scope(|s| {
            let a = s.exec(std::future::pending::<()>());
            let b = s.exec(async { 1 });
            a.cancel();
            assert!(a.join().unwrap_err().is_cancelled());
            assert_eq!(b.join().unwrap(), 1);
            assert!(!s.is_cancelled());
        });
    });
}

#[test]
fn task_cancel_of_a_running_blocking_child_is_seen_by_it() {
    within(20, || {
        let pool = pool(2);
        let started = AtomicBool::new(false);
        pool.scope(|s| {
            let t = s.exec_blocking(|| {
                started.store(true, Ordering::SeqCst);
                while !knotwork::is_cancelled() {
                    std::thread::yield_now();
                }
            });
            while !started.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            t.cancel();
            t.join().unwrap(); // it ran to its end: a value, not an error
        });
    });
}

#[test]
fn cancel_after_cancels_on_time_and_does_not_hold_the_join() {
    within(20, || {
        let pool = pool(2);
        let start = Instant::now();
        let err = pool.scope(|s| {
            s.cancel_after(Duration::from_millis(30));
            s.exec(async { knotwork::sleep(Duration::from_secs(3600)).await }).join().unwrap_err()
        });
        assert!(err.is_cancelled());
        assert!(start.elapsed() >= Duration::from_millis(30));
        // A long deadline on a quick scope does not make the scope wait.
        let start = Instant::now();
        pool.scope(|s| {
            s.cancel_after(Duration::from_secs(3600));
            s.exec(async {});
        });
        assert!(start.elapsed() < Duration::from_secs(60));
    });
}

#[test]
fn cancellation_reaches_scopes_nested_in_children() {
    within(20, || {
        let pool = pool(2);
        let inner_dropped = AtomicUsize::new(0);
        let inner_saw = AtomicBool::new(false);
        static OPENED: AtomicUsize = AtomicUsize::new(0);
        let opened = &OPENED;
        pool.scope(|s| {
            let (dropped, saw) = (&inner_dropped, &inner_saw);
            s.exec_blocking(move || {
                knotwork::scope(|inner| {
                    inner.exec(async move {
                        let _flag = DropFlag(dropped);
                        opened.fetch_add(1, Ordering::SeqCst);
                        std::future::pending::<()>().await;
                    });
                    inner.exec_blocking(move || {
                        opened.fetch_add(1, Ordering::SeqCst);
                        while !knotwork::is_cancelled() {
                            std::thread::yield_now();
                        }
                        saw.store(true, Ordering::SeqCst);
                    });
                });
            });
            s.exec(async move {
                knotwork::scope_async(async move |inner| {
                    inner.exec(async move {
                        opened.fetch_add(1, Ordering::SeqCst);
                        std::future::pending::<()>().await
                    });
                })
                .await
            });
            while opened.load(Ordering::SeqCst) < 3 {
                std::thread::yield_now();
            }
            s.cancel();
        });
        assert_eq!(inner_dropped.load(Ordering::SeqCst), 1);
        assert!(inner_saw.load(Ordering::SeqCst));
    });
}

#[test]
fn children_spawned_after_cancel_are_cancelled() {
    within(20, || {
        let pool = pool(2);
        pool.scope(|s| {
            s.cancel();
            assert!(s.exec(async { 1 }).join().unwrap_err().is_cancelled());
            assert!(s.exec_blocking(|| 1).join().unwrap_err().is_cancelled());
        });
    });
}

#[test]
fn is_cancelled_is_false_outside_children() {
    within(20, || {
        assert!(!knotwork::is_cancelled());
        let pool = pool(1);
        assert!(!pool.scope(|s| s.exec_blocking(knotwork::is_cancelled).join().unwrap()));
    });
}
