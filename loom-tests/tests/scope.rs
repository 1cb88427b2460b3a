//! Models of the join guarantee: a scope returns only after every child has
//! finished, and the scope's return happens-after everything its children
//! did.
#![cfg(loom)]

use knotwork::Pool;
use knotwork_loom_tests::{DropCounter, RaceCell, check, quiet_planted_panics};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// **The join guarantee.** On a pool of two workers, a sync scope spawns a
/// blocking child and an async child; each writes a plain (non-atomic) cell
/// borrowed from the caller's stack and returns nothing. The caller reads
/// both cells right after the scope. loom's race detector fails the model
/// if either write is not ordered before the read (the scope returned
/// before a child finished, or its wake-up did not carry the child's
/// writes), and the values prove both children ran. The handles are
/// dropped unjoined, so only the scope's own join orders the writes.
/// Bound: 2 preemptions.
#[test]
fn scope_return_happens_after_every_child() {
    check("scope_return_happens_after_every_child", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let (a, b) = (RaceCell::new(), RaceCell::new());
        pool.scope(|s| {
            drop(s.exec_blocking(|| a.set(1)));
            drop(s.exec(async { b.set(2) }));
        });
        assert_eq!((a.get(), b.get()), (1, 2), "a child had not finished when the scope returned");
        pool.shutdown().unwrap();
    });
}

/// **The join guarantee under failure.** A blocking child panics while its
/// async sibling is suspended forever; the panic cancels the scope
/// (fail-fast), which drops the sibling at its suspension point. The
/// sibling's drop guard writes a plain cell. Whatever the interleaving:
/// the scope re-raises the original payload, the sibling was dropped
/// exactly once and never finished, and its write is visible to the caller
/// without a race report — cancellation is joined like completion.
/// Bound: 2 preemptions.
#[test]
fn scope_joins_a_cancelled_sibling_of_a_panicking_child() {
    quiet_planted_panics();
    check("scope_joins_a_cancelled_sibling_of_a_panicking_child", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let cell = RaceCell::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let result = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                let guard = Guard { cell: &cell, _count: DropCounter(drops.clone()) };
                drop(s.exec(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                    unreachable!("the sibling never finishes");
                }));
                drop(s.exec_blocking(|| panic!("planted panic")));
            })
        }));
        let payload = result.expect_err("the child's panic must surface from the scope");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"planted panic"), "the original payload");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the cancelled sibling is dropped exactly once");
        assert_eq!(cell.get(), 7, "the sibling's drop ran before the scope returned");
        pool.shutdown().unwrap();
    });
}

/// Writes its cell when dropped (the cancelled sibling's last act).
struct Guard<'a> {
    cell: &'a RaceCell,
    _count: DropCounter,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.cell.set(7);
    }
}
