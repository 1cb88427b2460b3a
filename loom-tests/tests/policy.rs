//! Models of a failure against the body of a `scope_async` (F4 in
//! docs/guarantees.md): a child's failure cancels the scope, body
//! included, through a wake protocol of its own — the failure sets
//! `body_cancelled` and takes the body's waker (`ScopeCore::cancel_body`);
//! the body's poll stores its waker and checks the flag again
//! (`ScopeCore::watch_body`).
#![cfg(loom)]

use knotwork::{FailFast, Pool};
use knotwork_loom_tests::check;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

/// Counts how the body ended: finished (it ran to its end) or dropped
/// unfinished (the failure cancelled it).
struct BodyEnd {
    finished: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    done: bool,
}

impl Drop for BodyEnd {
    fn drop(&mut self) {
        let counter = if self.done { &self.finished } else { &self.dropped };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// **A failure races the body's completion.** On a pool of one worker, a
/// `scope_async_with(FailFast, ..)` body spawns a blocking child that
/// returns `Err`, yields once, and finishes. Whatever the interleaving,
/// the failure is delivered exactly once (the scope's result is an error
/// holding that one failure), and the body either finished or was dropped
/// at its suspension point — never both, never neither. Bound: 2
/// preemptions.
#[test]
fn failure_races_body_completion() {
    check("failure_races_body_completion", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let (finished, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let end = BodyEnd { finished: finished.clone(), dropped: dropped.clone(), done: false };
        let result = knotwork::block_on(pool.scope_async_with(FailFast, async move |s| {
            let mut end = end;
            s.exec_blocking_try(|| Err::<(), _>("planted"));
            knotwork::yield_now().await;
            end.done = true;
            "body done"
        }));
        let err = result.expect_err("the failure must make the scope fail");
        assert_eq!(err.failures().len(), 1, "the failure is delivered exactly once");
        assert_eq!(err.failures()[0].error().map(|e| e.to_string()).as_deref(), Some("planted"));
        let (f, d) = (finished.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst));
        assert_eq!(f + d, 1, "the body finished {f} time(s) and was dropped {d} time(s)");
        pool.shutdown().unwrap();
    });
}

/// **A failure wakes a suspended body.** The failing child is spawned by
/// the closure that makes the body, before the body's first poll; the body
/// awaits a future that is never ready, so only the failure's wake can end
/// it. Whatever the interleaving of the failing child (on the worker) with
/// that first poll (on the caller's loop) — the failure before the body's
/// check, between the check and the waker's store (then only the check
/// after the store sees it), or after — the body is woken, dropped, and the
/// scope returns the failure. A lost wake is a deadlock here (docs/loom.md,
/// the planted bugs). Bound: 3 preemptions.
#[test]
fn failure_wakes_a_suspended_body() {
    check("failure_wakes_a_suspended_body", 3, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let (finished, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let end = BodyEnd { finished: finished.clone(), dropped: dropped.clone(), done: false };
        let result = knotwork::block_on(pool.scope_async_with(FailFast, move |s| {
            s.exec_blocking_try(|| Err::<(), _>("planted"));
            async move {
                let _end = end;
                std::future::pending::<()>().await;
            }
        }));
        assert_eq!(result.expect_err("the failure ends the scope").failures().len(), 1);
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "the suspended body was dropped");
        assert_eq!(finished.load(Ordering::SeqCst), 0);
        pool.shutdown().unwrap();
    });
}
