//! `scope_async`: joins, dropping it unfinished, leaking it, and using it
//! inside `exec` children (its future is `Send`).
mod common;

use common::{pool, within};

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn joins_every_child_before_completing() {
    within(20, || {
        let pool = pool(2);
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        knotwork::block_on(pool.scope_async(async move |s| {
            for _ in 0..20 {
                let d = d.clone();
                s.exec(async move {
                    knotwork::sleep(Duration::from_millis(2)).await;
                    d.fetch_add(1, Ordering::SeqCst);
                });
            }
        }));
        assert_eq!(done.load(Ordering::SeqCst), 20);
    });
}

#[test]
fn its_future_is_send_and_it_nests_inside_exec() {
    within(20, || {
        let pool = pool(2);
        let v = pool.scope(|s| {
            s.exec(assert_send(async {
                knotwork::scope_async(|inner| async move {
                    let a = inner.exec(async { 20 });
                    let b = inner.exec_blocking(|| 22);
                    a.await.unwrap() + b.await.unwrap()
                })
                .await
            }))
            .join()
            .unwrap()
        });
        assert_eq!(v, 42);
    });
}

#[test]
fn dropping_it_unfinished_cancels_the_children_and_waits_for_them() {
    within(20, || {
        let pool = pool(2);
        let stopped = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (st, sp) = (started.clone(), stopped.clone());
        let mut fut = Box::pin(pool.scope_async(async move |s| {
            s.exec_blocking(move || {
                st.store(true, Ordering::SeqCst);
                while !knotwork::is_cancelled() {
                    std::thread::yield_now();
                }
                std::thread::sleep(Duration::from_millis(10));
                sp.store(true, Ordering::SeqCst);
            });
            std::future::pending::<()>().await;
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        drop(fut); // cancels, and returns only once the child has stopped
        assert!(stopped.load(Ordering::SeqCst));
    });
}

#[test]
fn leaking_it_is_sound_and_its_children_still_finish() {
    within(20, || {
        let pool = pool(2);
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let mut fut = Box::pin(pool.scope_async(async move |s| {
            s.exec(async move {
                knotwork::sleep(Duration::from_millis(10)).await;
                f.store(true, Ordering::SeqCst);
            });
            std::future::pending::<()>().await;
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        std::mem::forget(fut); // the scope's state is leaked, never freed
        assert!(common::eventually(10, || finished.load(Ordering::SeqCst)));
        // The leaked scope still holds its lease on the pool (it is accepted
        // work that never finishes), so shutting the pool down would wait
        // forever: leak the pool too (docs/guarantees.md says so).
        std::mem::forget(pool);
    });
}

#[test]
fn a_task_handle_can_outlive_its_async_scope() {
    within(20, || {
        let pool = pool(2);
        let task = knotwork::block_on(pool.scope_async(async |s| s.exec(async { 7 })));
        assert!(task.is_finished());
        assert_eq!(task.join().unwrap(), 7);
    });
}

#[test]
fn an_escaped_handle_is_safe_and_spawns_nothing_after_the_scope() {
    within(20, || {
        let pool = pool(2);
        let handle = knotwork::block_on(pool.scope_async(async |s| s));
        assert!(!handle.is_cancelled());
        let late = handle.exec(async { 1 });
        assert!(late.join().unwrap_err().is_cancelled(), "a spawn after the scope never runs");
        let late = handle.exec_blocking(|| 2);
        assert!(late.join().unwrap_err().is_cancelled());
        handle.cancel(); // harmless
        handle.cancel_after(Duration::from_millis(1)); // refused too
        // A handle sent to another thread during the scope, used after it.
        let (tx, rx) = std::sync::mpsc::channel();
        knotwork::block_on(pool.scope_async(async move |s| tx.send(s.clone()).unwrap()));
        let escaped = rx.recv().unwrap();
        assert!(std::thread::spawn(move || escaped.exec(async {}).join().is_err()).join().unwrap());
        pool.shutdown().unwrap();
    });
}

#[test]
fn polling_a_finished_scope_again_panics_without_touching_the_pool() {
    within(20, || {
        let pool = pool(1);
        let mut fut = Box::pin(pool.scope_async(async |_| 5));
        let mut cx = Context::from_waker(Waker::noop());
        let mut first = fut.as_mut().poll(&mut cx);
        while first.is_pending() {
            std::thread::yield_now();
            first = fut.as_mut().poll(&mut cx);
        }
        assert_eq!(first, std::task::Poll::Ready(5));
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        assert!(again.is_err());
        drop(fut);
        // The lease was released exactly once: a scope still works, and a
        // shutdown waits for an open scope instead of racing past it.
        let open = Arc::new(AtomicBool::new(false));
        let o = open.clone();
        let p = pool.clone();
        let holder = std::thread::spawn(move || {
            p.scope(|s| {
                o.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                s.exec_blocking(|| 3).join().unwrap()
            })
        });
        while !open.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        pool.shutdown().unwrap();
        assert_eq!(holder.join().unwrap(), 3);
    });
}

#[test]
fn cancelling_a_scope_reaches_an_async_scope_driven_by_block_on_in_a_blocking_child() {
    within(20, || {
        let pool = pool(2);
        let started = Arc::new(AtomicBool::new(false));
        let st = started.clone();
        pool.scope(|s| {
            let t = s.exec_blocking(move || {
                knotwork::block_on(knotwork::scope_async(async move |inner| {
                    let forever = inner.exec(std::future::pending::<()>());
                    st.store(true, Ordering::SeqCst);
                    forever.await
                }))
            });
            while !started.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            s.cancel();
            assert!(t.join().unwrap().unwrap_err().is_cancelled());
        });
    });
}

/// Fills a stretch of this thread's stack with a pattern, where the frames
/// of calls that have returned were.
#[inline(never)]
fn scribble_stack() -> u64 {
    let mut buf = [0xA5u8; 16384];
    std::hint::black_box(&mut buf);
    buf.iter().map(|&b| u64::from(b)).sum()
}

/// A `ScopeHandle` that escapes its async scope, which was nested in a sync
/// scope's body, is asked `is_cancelled()` after both are gone: the answer
/// comes from the async scope's own state, never from its parent link,
/// which points into the sync scope's freed frame. (Found by review: the
/// lookup walked the freed frame; with the stack overwritten it read the
/// pattern as "cancelled". A cancellation elsewhere first makes the cached
/// answer stale, so the walk would be taken.)
#[test]
fn an_escaped_handle_asks_nothing_of_scopes_that_are_gone() {
    let handle = knotwork::scope(|_s| knotwork::block_on(knotwork::scope_async(async |h| h)));
    std::hint::black_box(scribble_stack());
    knotwork::scope(|s| s.cancel());
    std::hint::black_box(scribble_stack());
    assert!(!handle.is_cancelled(), "an uncancelled, finished scope reads as not cancelled");
    assert!(format!("{handle:?}").contains("cancelled: false"));
    // Its own cancellation still shows.
    handle.cancel();
    assert!(handle.is_cancelled());
}
