//! Models of a child's handle (`Task`): completion racing `join`, `.await`
//! and `cancel`.
#![cfg(loom)]

use knotwork::Pool;
use knotwork_loom_tests::{DropCounter, check};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

/// **`join` racing completion.** A blocking child returns a value that
/// counts its drops while the caller joins it. Whatever the interleaving,
/// `join` returns the value (loom reports a deadlock if the completion's
/// wake-up is lost), and the value is dropped exactly once: it was
/// delivered once, not dropped by the runtime as well. Bound: 2.
#[test]
fn join_races_completion() {
    check("join_races_completion", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let value = pool.scope(|s| s.exec_blocking(move || DropCounter(d)).join());
        let value = value.expect("the child ran to the end");
        assert_eq!(drops.load(Ordering::SeqCst), 0, "delivered, not dropped");
        drop(value);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        pool.shutdown().unwrap();
    });
}

/// **`.await` racing completion.** The caller awaits an async child (which
/// yields once, to complete from a second poll) in `block_on` on its own
/// loop, while the child completes on the worker's loop. The awaiter's
/// waker, registered from one thread and woken from the other, is never
/// lost (a loss is a deadlock to loom), and the value arrives exactly once.
/// Bound: 2.
#[test]
fn await_races_completion() {
    check("await_races_completion", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let value = pool.scope(|s| {
            let task = s.exec(async move {
                knotwork::yield_now().await;
                DropCounter(d)
            });
            knotwork::block_on(task)
        });
        let value = value.expect("the child ran to the end");
        assert_eq!(drops.load(Ordering::SeqCst), 0, "delivered, not dropped");
        drop(value);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        pool.shutdown().unwrap();
    });
}

/// **`cancel` racing completion (blocking child).** The caller cancels a
/// blocking child that may not have started, may be running, or may have
/// finished, then joins it. The outcome is exactly one of: the value
/// (the child finished first, or ran on regardless), or `Err` with
/// `is_cancelled()` (it never started, so its closure was dropped unrun).
/// The value is never both delivered and dropped, and the closure's
/// captured guard is dropped exactly once either way. Bound: 2.
#[test]
fn cancel_races_blocking_completion() {
    check("cancel_races_blocking_completion", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let captured = Arc::new(AtomicUsize::new(0));
        let produced = Arc::new(AtomicUsize::new(0));
        let (c, p) = (captured.clone(), produced.clone());
        let result = pool.scope(|s| {
            let guard = DropCounter(c);
            let task = s.exec_blocking(move || {
                let _guard = guard;
                DropCounter(p)
            });
            task.cancel();
            task.join()
        });
        assert_eq!(captured.load(Ordering::SeqCst), 1, "the closure is dropped exactly once");
        match result {
            Ok(value) => {
                assert_eq!(produced.load(Ordering::SeqCst), 0, "delivered, not dropped");
                drop(value);
                assert_eq!(produced.load(Ordering::SeqCst), 1);
            }
            Err(e) => {
                assert!(e.is_cancelled(), "the only error here is a cancellation");
                assert_eq!(produced.load(Ordering::SeqCst), 0, "a cancelled child never ran");
            }
        }
        pool.shutdown().unwrap();
    });
}

/// **`cancel` racing completion (async child, awaited).** The caller
/// cancels an async child that completes from its second poll, then
/// awaits it. Either the value arrives (the child completed first) or
/// `Err(cancelled)`; the future is dropped exactly once; the awaiter is
/// woken in every case (no deadlock). Bound: 2.
#[test]
fn cancel_races_async_completion() {
    check("cancel_races_async_completion", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let captured = Arc::new(AtomicUsize::new(0));
        let c = captured.clone();
        let result = pool.scope(|s| {
            let guard = DropCounter(c);
            let task = s.exec(async move {
                let _guard = guard;
                knotwork::yield_now().await;
                5
            });
            task.cancel();
            knotwork::block_on(task)
        });
        assert_eq!(captured.load(Ordering::SeqCst), 1, "the future is dropped exactly once");
        match result {
            Ok(v) => assert_eq!(v, 5),
            Err(e) => assert!(e.is_cancelled(), "the only error here is a cancellation"),
        }
        pool.shutdown().unwrap();
    });
}

/// A future that parks forever, handing its waker to the slot on each poll.
struct Suspended;

impl std::future::Future for Suspended {
    type Output = u32;
    fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<u32> {
        std::task::Poll::Pending
    }
}

/// **`cancel` wakes a suspended child.** An async child is suspended with
/// nobody to wake it; the caller cancels it (from another thread than the
/// one whose loop holds it, at any point: before it starts, while it is
/// polled, or once it is parked) and joins. The cancellation alone must get
/// it off the loop: the join returns `Err(cancelled)` (a lost cancellation
/// is a deadlock to loom) and the future is dropped exactly once. Bound: 2.
#[test]
fn cancel_wakes_a_suspended_child() {
    check("cancel_wakes_a_suspended_child", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let captured = Arc::new(AtomicUsize::new(0));
        let c = captured.clone();
        let result = pool.scope(|s| {
            let guard = DropCounter(c);
            let task = s.exec(async move {
                let _guard = guard;
                Suspended.await
            });
            task.cancel();
            task.join()
        });
        assert!(result.unwrap_err().is_cancelled());
        assert_eq!(captured.load(Ordering::SeqCst), 1, "the future is dropped exactly once");
        pool.shutdown().unwrap();
    });
}
