//! N8 and N9 (docs/guarantees.md): scopes and shutdown; blocking from async.
mod common;

use common::{panic_text, within};
use knotwork::Pool;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn children_of_an_accepted_scope_are_accepted_while_the_pool_drains() {
    within(20, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let in_scope = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let (flag, c) = (in_scope.clone(), count.clone());
        let p2 = pool.clone();
        let scope_thread = std::thread::spawn(move || {
            p2.scope(|s| {
                flag.store(true, Ordering::SeqCst);
                // Shutdown begins meanwhile; children spawned after it are
                // still accepted, and so are their own nested scopes.
                std::thread::sleep(Duration::from_millis(50));
                for _ in 0..10 {
                    let c = &c;
                    s.exec_blocking(move || {
                        knotwork::scope(|inner| {
                            inner.exec(async move { c.fetch_add(1, Ordering::SeqCst) });
                        })
                    });
                }
            });
        });
        while !in_scope.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        pool.shutdown().unwrap(); // waits for the scope and all its children
        assert_eq!(count.load(Ordering::SeqCst), 10);
        scope_thread.join().unwrap();
    });
}

#[test]
fn a_new_top_level_scope_is_refused_after_shutdown() {
    within(20, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        pool.shutdown().unwrap();
        assert!(pool.try_scope(|_| ()).unwrap_err().is_shut_down());
        let err = catch_unwind(AssertUnwindSafe(|| pool.scope(|_| ()))).unwrap_err();
        assert!(panic_text(&*err).contains("shut down"));
        let err = catch_unwind(AssertUnwindSafe(|| knotwork::block_on(pool.scope_async(async |_| ()))))
            .unwrap_err();
        assert!(panic_text(&*err).contains("shut down"));
    });
}

#[test]
fn blocking_scope_and_join_inside_async_code_are_allowed() {
    within(20, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        // From a block_on root future, off-pool: blocks this thread's loop.
        let v = knotwork::block_on(async { pool.scope(|s| s.exec(async { 3 }).join().unwrap()) });
        assert_eq!(v, 3);
        // From an async child on a worker: blocks that worker's loop, but
        // its pinned siblings (the children it waits for) still run.
        let v = pool.scope(|s| {
            s.exec(async {
                let t = knotwork::scope(|inner| inner.exec(async { 4 }).join().unwrap());
                knotwork::yield_now().await;
                t
            })
            .join()
            .unwrap()
        });
        assert_eq!(v, 4);
    });
}

#[test]
fn re_entrant_block_on_inside_a_child_is_still_a_clear_error() {
    within(20, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let err = pool.scope(|s| s.exec(async { knotwork::block_on(async { 1 }) }).join().unwrap_err());
        assert!(err.is_panic());
        assert!(panic_text(&*err.into_panic()).contains("already running"));
    });
}
