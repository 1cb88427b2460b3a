//! Adversarial tests for shields (shield, shield_for, shield_blocking).

mod common;

use common::{eventually, pool, within};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

// --- A scope opened inside a shield: "its own cancel, deadline and failures
// still apply" (T2). Its *body* must see its own cancellation.

/// Control: without a shield, a body sees its own scope's cancel.
#[test]
fn control_body_sees_its_own_cancel() {
    within(20, || {
        let pool = pool(2);
        let got = pool.scope(|_| {
            knotwork::scope(|inner| {
                inner.cancel();
                knotwork::is_cancelled()
            })
        });
        assert!(got);
        pool.shutdown().unwrap();
    });
}

#[test]
fn shield_blocking_inner_scope_body_sees_its_own_cancel() {
    within(20, || {
        let pool = pool(2);
        let got = pool.scope(|_| {
            knotwork::shield_blocking(|| {
                knotwork::scope(|inner| {
                    inner.cancel();
                    (inner.is_cancelled(), knotwork::is_cancelled())
                })
            })
        });
        assert_eq!(got, (true, true), "(scope.is_cancelled(), knotwork::is_cancelled()) in the inner body");
        pool.shutdown().unwrap();
    });
}

#[test]
fn shield_async_inner_scope_body_sees_its_own_cancel() {
    within(20, || {
        let pool = pool(2);
        let got = pool.scope(|s| {
            s.exec(async {
                knotwork::shield(knotwork::scope_async(async |inner| {
                    inner.cancel();
                    (inner.is_cancelled(), knotwork::is_cancelled())
                }))
                .await
            })
            .join()
            .unwrap()
        });
        assert_eq!(got, (true, true), "(scope.is_cancelled(), knotwork::is_cancelled()) in the inner body");
        pool.shutdown().unwrap();
    });
}

/// The consequence: a blocking wait in the body of a scope opened inside a
/// shield never notices that scope's own deadline.
#[test]
fn acquire_blocking_in_a_shielded_inner_body_honours_the_inner_deadline() {
    within(10, || {
        let pool = pool(2);
        let limit = knotwork::Limiter::new(1);
        let _held = limit.try_acquire().unwrap();
        let r = pool.scope(|_| {
            knotwork::shield_blocking(|| {
                knotwork::scope(|inner| {
                    inner.cancel_after(Duration::from_millis(10));
                    limit.acquire_blocking().map(drop)
                })
            })
        });
        assert!(r.unwrap_err().is_cancelled());
        drop(_held);
        pool.shutdown().unwrap();
    });
}

// --- Two shields running concurrently in one task (a join combinator):
// the first one to end ended the task's deferral (before shields were counted) while the other is
// still running, so the task is dropped in the middle of the second.

#[test]
fn two_concurrent_shields_in_one_task_both_finish() {
    within(20, || {
        let pool = pool(2);
        let first = AtomicBool::new(false);
        let second = AtomicBool::new(false);
        let started = AtomicBool::new(false);
        let r = pool.scope(|s| {
            let t = s.exec(async {
                started.store(true, Ordering::SeqCst);
                futures_lite::future::zip(
                    knotwork::shield(async {
                        knotwork::sleep(Duration::from_millis(30)).await;
                        first.store(true, Ordering::SeqCst);
                    }),
                    knotwork::shield(async {
                        knotwork::sleep(Duration::from_millis(150)).await;
                        second.store(true, Ordering::SeqCst);
                    }),
                )
                .await;
            });
            assert!(eventually(5, || started.load(Ordering::SeqCst)));
            std::thread::sleep(Duration::from_millis(5));
            t.cancel();
            t.join()
        });
        // The task finished (or was cancelled at its next suspension point
        // after both shields ended); either way both shielded bodies ran.
        let _ = r;
        assert!(first.load(Ordering::SeqCst), "first shield finished");
        assert!(
            second.load(Ordering::SeqCst),
            "second shield was dropped while it ran: cancellation not deferred"
        );
        pool.shutdown().unwrap();
    });
}

// --- A shield first polled in task A, then moved to task B (a boxed
// future sent through a channel). A is cancelled meanwhile. When the
// shield ends (in B), A's deferral ended off A's poll (before the re-arm): nobody
// requeues A, and its wakes are absorbed (closed, not shielded).

#[test]
fn a_shield_moved_to_another_task_does_not_leave_its_first_task_uncancellable() {
    within(10, || {
        let pool = pool(2);
        let sent = Arc::new(AtomicBool::new(false));
        let r = pool.scope(|s| {
            let (tx, rx) = async_channel::bounded(1);
            let sent2 = sent.clone();
            let a = s.exec(async move {
                let mut sh = Box::pin(knotwork::shield(std::future::pending::<()>()));
                assert!(futures_lite::future::poll_once(sh.as_mut()).await.is_none());
                tx.send(sh).await.unwrap();
                sent2.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
            });
            let b = s.exec(async move {
                let sh = rx.recv().await.unwrap();
                knotwork::sleep(Duration::from_millis(30)).await;
                drop(sh); // ends A's shield, from B
                knotwork::sleep(Duration::from_millis(10)).await;
            });
            assert!(eventually(5, || sent.load(Ordering::SeqCst)));
            a.cancel();
            (a.join(), b.join())
        });
        assert!(r.0.unwrap_err().is_cancelled());
        assert!(r.1.is_ok());
        pool.shutdown().unwrap();
    });
}

/// Variant: the moved shield completes in B (rather than being dropped).
#[test]
fn a_shield_moved_to_another_task_and_completed_there() {
    within(10, || {
        let pool = pool(2);
        let sent = Arc::new(AtomicBool::new(false));
        let r = pool.scope(|s| {
            let (tx, rx) = async_channel::bounded(1);
            let (gtx, grx) = async_channel::bounded::<()>(1);
            let sent2 = sent.clone();
            let a = s.exec(async move {
                let mut sh = Box::pin(knotwork::shield(async move { grx.recv().await.ok() }));
                assert!(futures_lite::future::poll_once(sh.as_mut()).await.is_none());
                tx.send(sh).await.unwrap();
                sent2.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
            });
            let b = s.exec(async move {
                let sh = rx.recv().await.unwrap();
                sh.await
            });
            assert!(eventually(5, || sent.load(Ordering::SeqCst)));
            a.cancel();
            std::thread::sleep(Duration::from_millis(10));
            gtx.send_blocking(()).unwrap();
            (a.join(), b.join())
        });
        assert!(r.0.unwrap_err().is_cancelled());
        assert_eq!(r.1.unwrap(), Some(()));
        pool.shutdown().unwrap();
    });
}

#[test]
fn nested_shields_defer_until_the_outermost_ends() {
    for threads in [1, 2] {
        within(20, move || {
            let pool = pool(threads);
            let log = AtomicUsize::new(0);
            let started = AtomicBool::new(false);
            let r = pool.scope(|s| {
                let t = s.exec(async {
                    knotwork::shield(async {
                        started.store(true, Ordering::SeqCst);
                        knotwork::shield(knotwork::sleep(Duration::from_millis(10))).await;
                        log.fetch_add(1, Ordering::SeqCst);
                        // Inner shield ended: still inside the outer one.
                        assert!(!knotwork::is_cancelled());
                        knotwork::sleep(Duration::from_millis(10)).await;
                        log.fetch_add(1, Ordering::SeqCst);
                    })
                    .await;
                    assert!(knotwork::is_cancelled());
                    knotwork::yield_now().await;
                    log.fetch_add(100, Ordering::SeqCst);
                });
                assert!(eventually(5, || started.load(Ordering::SeqCst)));
                t.cancel();
                t.join()
            });
            assert!(r.unwrap_err().is_cancelled());
            assert_eq!(log.load(Ordering::SeqCst), 2);
            pool.shutdown().unwrap();
        });
    }
}

#[test]
fn shield_in_a_spawn_local_task() {
    within(20, || {
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let r = knotwork::block_on(async move {
            let d2 = d.clone();
            let t = knotwork::spawn_local(async move {
                knotwork::shield(async {
                    knotwork::sleep(Duration::from_millis(20)).await;
                    assert!(!knotwork::is_cancelled());
                    d2.fetch_add(1, Ordering::SeqCst);
                })
                .await;
                knotwork::yield_now().await;
                d2.fetch_add(100, Ordering::SeqCst);
            });
            knotwork::sleep(Duration::from_millis(2)).await;
            t.cancel();
            t.await
        });
        assert!(r.unwrap_err().is_cancelled());
        assert_eq!(done.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn shield_inside_a_cancelled_task_then_opens_a_scope() {
    for threads in [1, 2] {
        within(20, move || {
            let pool = pool(threads);
            let r = pool.scope(|s| {
                s.cancel();
                // Spawned after the cancel: never starts.
                let t = s.exec(async {
                    knotwork::shield(async {
                        knotwork::scope_async(async |inner| {
                            inner.exec(async { knotwork::is_cancelled() }).await
                        })
                        .await
                    })
                    .await
                });
                t.join()
            });
            assert!(r.unwrap_err().is_cancelled());
            // Cancelled while running, before the shield: the shield still
            // runs its scope (its children are not cancelled).
            let started = AtomicBool::new(false);
            let go = AtomicBool::new(false);
            let r = pool.scope(|s| {
                let t = s.exec(async {
                    started.store(true, Ordering::SeqCst);
                    while !go.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    // Cancelled by now, but no suspension point yet.
                    assert!(knotwork::is_cancelled());
                    knotwork::shield(async {
                        knotwork::scope_async(async |inner| {
                            let a = inner.exec(async {
                                knotwork::sleep(Duration::from_millis(5)).await;
                                knotwork::is_cancelled()
                            });
                            let b = inner.exec_blocking(knotwork::is_cancelled);
                            (a.await.unwrap(), b.await.unwrap())
                        })
                        .await
                    })
                    .await
                });
                assert!(eventually(5, || started.load(Ordering::SeqCst)));
                t.cancel();
                go.store(true, Ordering::SeqCst);
                t.join()
            });
            assert_eq!(r.unwrap(), (false, false));
            pool.shutdown().unwrap();
        });
    }
}

#[test]
fn shield_for_racing_cancellation_never_hangs() {
    within(60, || {
        let pool = pool(2);
        for i in 0..200u64 {
            let d = Duration::from_micros(100 + (i * 37) % 900);
            let work = Duration::from_micros(100 + (i * 53) % 900);
            let r = pool.scope(|s| {
                let t = s.exec(async move {
                    let r = knotwork::shield_for(d, knotwork::sleep(work)).await;
                    knotwork::yield_now().await;
                    r.is_ok()
                });
                if i % 3 != 0 {
                    std::thread::sleep(Duration::from_micros((i * 71) % 700));
                    t.cancel();
                }
                t.join()
            });
            match r {
                Ok(_) => {}
                Err(e) => assert!(e.is_cancelled(), "{e}"),
            }
        }
        pool.shutdown().unwrap();
    });
}

#[test]
fn shielded_task_whose_scope_has_a_deadline() {
    within(20, || {
        let pool = pool(1);
        let inside = AtomicUsize::new(0);
        let r = pool.scope(|s| {
            s.cancel_after(Duration::from_millis(5));
            let t = s.exec(async {
                knotwork::shield(async {
                    knotwork::sleep(Duration::from_millis(30)).await;
                    assert!(!knotwork::is_cancelled());
                    inside.fetch_add(1, Ordering::SeqCst);
                    // A scope opened inside with a deadline of its own: it applies.
                    knotwork::scope_async(async |inner| {
                        inner.cancel_after(Duration::from_millis(5));
                        inner.exec(std::future::pending::<()>()).await
                    })
                    .await
                })
                .await
            });
            t.join()
        });
        // The task returned the inner result without another suspension point.
        let inner = r.unwrap();
        assert!(inner.unwrap_err().is_cancelled());
        assert_eq!(inside.load(Ordering::SeqCst), 1);
        pool.shutdown().unwrap();
    });
}

#[test]
fn shield_in_a_blocking_childs_block_on() {
    within(20, || {
        let pool = pool(2);
        let r = pool.scope(|s| {
            let t = s.exec_blocking(|| {
                let inside = knotwork::block_on(knotwork::shield(async {
                    knotwork::sleep(Duration::from_millis(20)).await;
                    knotwork::is_cancelled()
                }));
                (inside, knotwork::is_cancelled())
            });
            std::thread::sleep(Duration::from_millis(3));
            s.cancel();
            t.join()
        });
        assert_eq!(r.unwrap(), (false, true));
        pool.shutdown().unwrap();
    });
}

#[test]
fn shield_boxed_and_awaited_in_the_same_task_after_a_move() {
    within(20, || {
        let pool = pool(2);
        let started = AtomicBool::new(false);
        let r = pool.scope(|s| {
            let t = s.exec(async {
                let sh = Box::pin(knotwork::shield(async {
                    knotwork::sleep(Duration::from_millis(20)).await;
                    7
                }));
                started.store(true, Ordering::SeqCst);
                let moved = vec![sh];
                let mut it = moved.into_iter();
                let v = it.next().unwrap().await;
                knotwork::yield_now().await;
                v + 1
            });
            assert!(eventually(5, || started.load(Ordering::SeqCst)));
            t.cancel();
            t.join()
        });
        // Cancelled either before the shield's first poll, or after it.
        assert!(r.unwrap_err().is_cancelled());
        pool.shutdown().unwrap();
    });
}

#[test]
fn a_panicking_shielded_future_still_clears_the_shield() {
    within(20, || {
        let pool = pool(2);
        let r = pool.scope_with(knotwork::Supervise, |s| {
            let t = s.exec(async {
                let r = futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
                    knotwork::shield(async {
                        knotwork::sleep(Duration::from_millis(10)).await;
                        panic!("inside shield");
                    }),
                ))
                .await;
                assert!(r.is_err());
                // Not shielded any more: a cancel now takes effect.
                std::future::pending::<()>().await;
            });
            std::thread::sleep(Duration::from_millis(30));
            t.cancel();
            t.join()
        });
        assert!(r.unwrap().unwrap_err().is_cancelled());
        pool.shutdown().unwrap();
    });
}

// --- A scope nested inside a scope that was opened inside a shield: every
// scope opened while the shield is on the stack is marked shielded, so the
// inner one is cut off from the *outer shielded scope's own* cancellation,
// which is inside the shield.

#[test]
fn a_scope_nested_in_a_shielded_scope_sees_that_scopes_cancel() {
    within(20, || {
        let pool = pool(2);
        let got = pool.scope(|_| {
            knotwork::shield_blocking(|| {
                knotwork::scope(|s1| {
                    s1.cancel();
                    knotwork::scope(|s2| {
                        let t = s2.exec_blocking(|| ());
                        (s2.is_cancelled(), t.join().map_err(|e| e.is_cancelled()))
                    })
                })
            })
        });
        assert_eq!(got, (true, Err(true)), "(s2.is_cancelled(), child of s2)");
        pool.shutdown().unwrap();
    });
}

#[test]
fn a_deadline_of_a_shielded_scope_reaches_the_scopes_nested_in_its_body() {
    within(10, || {
        let pool = pool(2);
        let r = pool.scope(|s| {
            s.exec(async {
                knotwork::shield(knotwork::scope_async(async |s1| {
                    s1.cancel_after(Duration::from_millis(5));
                    knotwork::scope_async(async |s2| s2.exec(std::future::pending::<()>()).await).await
                }))
                .await
            })
            .join()
            .unwrap()
        });
        assert!(r.unwrap_err().is_cancelled());
        pool.shutdown().unwrap();
    });
}

/// Control: the same without the shield completes.
#[test]
fn control_a_deadline_reaches_the_scopes_nested_in_its_body() {
    within(10, || {
        let pool = pool(2);
        let r = pool.scope(|s| {
            s.exec(async {
                knotwork::scope_async(async |s1| {
                    s1.cancel_after(Duration::from_millis(5));
                    knotwork::scope_async(async |s2| s2.exec(std::future::pending::<()>()).await).await
                })
                .await
            })
            .join()
            .unwrap()
        });
        assert!(r.unwrap_err().is_cancelled());
        pool.shutdown().unwrap();
    });
}
