#![cfg(loom)]
use knotwork::Pool;
use knotwork_loom_tests::{check, quiet_planted_panics};
use std::panic::{AssertUnwindSafe, catch_unwind};

#[test]
fn v_cancel_pending_async_2() {
    check("v_cancel_pending_async_2", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        pool.scope(|s| {
            drop(s.exec(std::future::pending::<()>()));
            s.cancel();
        });
        pool.shutdown().unwrap();
    });
}
#[test]
fn v_cancel_pending_async_1() {
    check("v_cancel_pending_async_1", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        pool.scope(|s| {
            drop(s.exec(std::future::pending::<()>()));
            s.cancel();
        });
        pool.shutdown().unwrap();
    });
}
#[test]
fn v_panic_only_2() {
    quiet_planted_panics();
    check("v_panic_only_2", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| pool.scope(|s| { drop(s.exec_blocking(|| panic!("planted"))); })));
        assert!(r.is_err());
        pool.shutdown().unwrap();
    });
}
#[test]
fn v_panic_blocking_cancels_async_1() {
    quiet_planted_panics();
    check("v_panic_blocking_cancels_async_1", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| pool.scope(|s| {
            drop(s.exec(std::future::pending::<()>()));
            drop(s.exec_blocking(|| panic!("planted")));
        })));
        assert!(r.is_err());
        pool.shutdown().unwrap();
    });
}
#[test]
fn v_blocking_cancels_async_2() {
    check("v_blocking_cancels_async_2", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        pool.scope(|s| {
            drop(s.exec(std::future::pending::<()>()));
            drop(s.exec_blocking(|| s.cancel()));
        });
        pool.shutdown().unwrap();
    });
}
