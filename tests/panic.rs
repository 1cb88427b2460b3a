//! N4 (docs/guarantees.md): panics.
mod common;

use common::{panic_text, pool, within};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn an_unobserved_child_panic_is_re_raised_with_its_payload_after_the_join() {
    within(20, || {
        let pool = pool(2);
        let sibling_done = AtomicBool::new(false);
        let err = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.exec_blocking(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    sibling_done.store(true, Ordering::SeqCst);
                });
                s.exec_blocking(|| panic!("child 42"));
            })
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*err), "child 42");
        assert!(sibling_done.load(Ordering::SeqCst), "re-raised only after every child finished");
    });
}

#[test]
fn a_non_string_payload_survives() {
    within(20, || {
        let pool = pool(2);
        let err = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.exec(async { std::panic::panic_any(17u32) });
            })
        }))
        .unwrap_err();
        assert_eq!(*err.downcast::<u32>().unwrap(), 17);
    });
}

#[test]
fn a_child_panic_cancels_its_siblings() {
    within(20, || {
        let pool = pool(2);
        let err = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                let forever = s.exec(async { knotwork::sleep(Duration::from_secs(3600)).await });
                s.exec_blocking(|| panic!("fail fast"));
                let sibling = forever.join();
                assert!(sibling.unwrap_err().is_cancelled());
                assert!(s.is_cancelled());
            })
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*err), "fail fast");
    });
}

#[test]
fn an_observed_panic_is_not_re_raised() {
    within(20, || {
        let pool = pool(2);
        let caught = pool.scope(|s| {
            let t = s.exec(async { panic!("seen") });
            let err = t.join().unwrap_err();
            assert!(err.is_panic());
            panic_text(&*err.into_panic())
        });
        assert_eq!(caught, "seen");
    });
}

#[test]
fn an_awaited_panic_is_observed_too() {
    within(20, || {
        let pool = pool(2);
        let seen = knotwork::block_on(pool.scope_async(async |s| {
            let err = s.exec_blocking(|| panic!("awaited")).await.unwrap_err();
            panic_text(&*err.into_panic())
        }));
        assert_eq!(seen, "awaited");
    });
}

#[test]
fn a_body_panic_cancels_children_and_wins_over_child_panics() {
    within(20, || {
        let pool = pool(2);
        let child_cancelled = AtomicBool::new(false);
        let err = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.exec_blocking(|| {
                    while !knotwork::is_cancelled() {
                        std::thread::yield_now();
                    }
                    child_cancelled.store(true, Ordering::SeqCst);
                    panic!("child, later");
                });
                panic!("body first");
            })
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*err), "body first");
        assert!(child_cancelled.load(Ordering::SeqCst));
    });
}

#[test]
fn panics_in_async_scope_bodies_and_children() {
    within(20, || {
        let pool = pool(2);
        let err = catch_unwind(AssertUnwindSafe(|| {
            knotwork::block_on(pool.scope_async(async |s| {
                s.exec(async { panic!("async child") });
            }))
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*err), "async child");
        let err = catch_unwind(AssertUnwindSafe(|| {
            knotwork::block_on(pool.scope_async(async |s| {
                s.exec(async { knotwork::sleep(Duration::from_secs(3600)).await });
                knotwork::yield_now().await;
                panic!("async body");
            }))
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*err), "async body");
    });
}

#[test]
fn the_pool_survives_panics() {
    within(20, || {
        let pool = pool(2);
        for _ in 0..20 {
            let _ = catch_unwind(AssertUnwindSafe(|| pool.scope(|s| s.exec_blocking(|| panic!("x")).join())));
        }
        assert_eq!(pool.scope(|s| s.exec(async { 1 }).join().unwrap()), 1);
    });
}

#[test]
fn a_payload_whose_drop_panics_does_not_break_the_join() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("payload drop");
            }
        }
    }
    within(20, || {
        let pool = pool(1);
        let err = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.exec_blocking(|| panic!("first"));
                // Orphaned, later panics with a payload whose drop panics:
                // dropped by the scope (only the first is re-raised).
                for _ in 0..3 {
                    s.exec_blocking(|| std::panic::panic_any(Bomb));
                }
            })
        }))
        .unwrap_err();
        let text = panic_text(&*err);
        assert!(text == "first" || err.is::<Bomb>(), "the first panic is re-raised");
        if err.is::<Bomb>() {
            std::mem::forget(err);
        }
        assert_eq!(pool.scope(|s| s.exec(async { 1 }).join().unwrap()), 1);
    });
}
