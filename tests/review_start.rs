//! Adversarial tests for the start handshake.

mod common;

use common::{eventually, panic_text, pool, within};
use knotwork::{Ready, StartError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn started_then_panics_async_under_fail_fast() {
    within(20, || {
        let pool = pool(2);
        let r = pool.scope_with(knotwork::FailFast, |s| {
            let sibling = s.exec(std::future::pending::<()>());
            let v = s
                .start(async |ready| {
                    ready.started(11);
                    knotwork::yield_now().await;
                    panic!("after started");
                })
                .wait()
                .unwrap();
            drop(sibling);
            v
        });
        let err = r.unwrap_err();
        let f = err.only().expect("one failure");
        assert!(f.is_panic());
        assert!(format!("{:?}", f.failure()).contains("after started"), "{:?}", f.failure());
        pool.shutdown().unwrap();
    });
}

#[test]
fn ready_moved_into_a_grandchild() {
    within(20, || {
        let pool = pool(2);
        let got = knotwork::block_on(pool.scope_async(async |s| {
            let st = s.start(async |ready: Ready<u32>| {
                knotwork::scope_async(async move |s2| {
                    s2.exec(async move {
                        knotwork::sleep(Duration::from_millis(3)).await;
                        ready.started(5);
                        knotwork::sleep(Duration::from_millis(3)).await;
                    })
                    .await
                    .unwrap()
                })
                .await;
                "child done"
            });
            st.await.unwrap()
        }));
        assert_eq!(got, 5);
        pool.shutdown().unwrap();
    });
}

#[test]
fn ready_moved_into_a_blocking_grandchild_of_a_blocking_child() {
    within(20, || {
        let pool = pool(1);
        let got = pool.scope(|s| {
            let st = s.start_blocking(|ready: Ready<u32>| {
                knotwork::scope(|s2| {
                    s2.exec_blocking(move || {
                        std::thread::sleep(Duration::from_millis(3));
                        ready.started(6);
                    });
                });
            });
            st.wait().unwrap()
        });
        assert_eq!(got, 6);
        pool.shutdown().unwrap();
    });
}

#[test]
fn ready_moved_into_a_std_thread() {
    within(20, || {
        let pool = pool(2);
        let got = pool.scope(|s| {
            let st = s.start_blocking(|ready: Ready<u32>| {
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    ready.started(9);
                })
                .join()
                .unwrap();
                "served"
            });
            st.wait().unwrap()
        });
        assert_eq!(got, 9);
        // The Ready outlives the child: the child returns first.
        let late = Arc::new(AtomicBool::new(false));
        let late2 = late.clone();
        let (r, h) = pool.scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            let st = s.start_blocking(move |ready: Ready<u32>| {
                let h = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    ready.started(1); // nobody to tell
                    late2.store(true, Ordering::SeqCst);
                });
                tx.send(h).unwrap();
                7u8
            });
            (st.wait(), rx.recv().unwrap())
        });
        assert!(matches!(r, Err(StartError::Returned(7))), "{r:?}");
        h.join().unwrap();
        assert!(late.load(Ordering::SeqCst));
        pool.shutdown().unwrap();
    });
}

#[test]
fn ready_forgotten_is_returned() {
    within(20, || {
        let pool = pool(2);
        pool.scope(|s| {
            let r = s.start_blocking(|ready: Ready<u8>| std::mem::forget(ready)).wait();
            assert!(matches!(r, Err(StartError::Returned(()))), "{r:?}");
            let r = s.start(async |ready: Ready<u8>| std::mem::forget(ready)).wait();
            assert!(matches!(r, Err(StartError::Returned(()))), "{r:?}");
        });
        pool.shutdown().unwrap();
    });
}

#[test]
fn starting_dropped_after_started_does_not_cancel() {
    within(20, || {
        let pool = pool(2);
        let done = AtomicUsize::new(0);
        pool.scope(|s| {
            let st = s.start(async |ready| {
                ready.started(());
                knotwork::sleep(Duration::from_millis(10)).await;
                done.fetch_add(1, Ordering::SeqCst);
            });
            let st2 = s.start_blocking(|ready| {
                ready.started(());
                std::thread::sleep(Duration::from_millis(10));
                done.fetch_add(1, Ordering::SeqCst);
            });
            // Wait until both have started, without polling the Startings.
            std::thread::sleep(Duration::from_millis(5));
            assert!(format!("{st:?}").contains("started"), "{st:?}");
            drop(st);
            drop(st2);
        });
        assert_eq!(done.load(Ordering::SeqCst), 2);
        pool.shutdown().unwrap();
    });
}

#[test]
fn starting_polled_after_completion_is_a_clear_panic() {
    use std::future::Future;
    use std::task::{Context, Waker};
    within(20, || {
        let pool = pool(1);
        let text = pool.scope(|s| {
            let mut st = Box::pin(s.start_blocking(|ready| ready.started(1)));
            assert_eq!(knotwork::block_on(st.as_mut()).unwrap(), 1);
            let caught = catch_unwind(AssertUnwindSafe(|| {
                let _ = st.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            }));
            panic_text(&*caught.unwrap_err())
        });
        assert!(text.contains("polled after it returned"), "{text}");
        // And after an error result.
        let text = pool.scope_with(knotwork::Supervise, |s| {
            let mut st = Box::pin(s.start_blocking(|_: Ready<u8>| 3));
            assert!(knotwork::block_on(st.as_mut()).is_err());
            let caught = catch_unwind(AssertUnwindSafe(|| {
                let _ = st.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            }));
            panic_text(&*caught.unwrap_err())
        });
        assert!(text.unwrap().contains("polled after it returned"));
        pool.shutdown().unwrap();
    });
}

#[test]
fn starting_under_timeout_cancels_the_child() {
    within(20, || {
        let pool = pool(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        struct OnDrop(Arc<AtomicUsize>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let d = dropped.clone();
        let r = knotwork::block_on(pool.scope_async(async move |s| {
            let d1 = d.clone();
            let never = knotwork::timeout(
                Duration::from_millis(5),
                s.start(async move |ready: Ready<()>| {
                    let _g = OnDrop(d1);
                    std::future::pending::<()>().await;
                    ready.started(());
                }),
            )
            .await;
            // Starts after the caller gave up: the value is dropped, the
            // child was cancelled.
            let d2 = d.clone();
            let late = knotwork::timeout(
                Duration::from_millis(5),
                s.start(async move |ready: Ready<OnDrop>| {
                    knotwork::sleep(Duration::from_millis(20)).await;
                    ready.started(OnDrop(d2));
                    std::future::pending::<()>().await;
                }),
            )
            .await;
            (never.is_err(), late.is_err())
        }));
        assert_eq!(r, (true, true));
        // The first child's guard dropped by its cancellation; the second
        // child cancelled before it started (its value never made).
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        pool.shutdown().unwrap();
    });
}

#[test]
fn starting_raced_with_another_future() {
    within(20, || {
        let pool = pool(2);
        let r = knotwork::block_on(pool.scope_async(async |s| {
            let a = async {
                s.start(async |ready: Ready<u32>| {
                    knotwork::sleep(Duration::from_millis(2)).await;
                    ready.started(1);
                    std::future::pending::<()>().await;
                })
                .await
                .map_err(|_| ())
            };
            let b = async {
                knotwork::sleep(Duration::from_millis(200)).await;
                Ok(2)
            };
            let v = futures_lite::future::or(a, b).await;
            s.cancel();
            v
        }));
        assert_eq!(r, Ok(1));
        pool.shutdown().unwrap();
    });
}

#[test]
fn start_in_scope_async_with_fail_fast_and_supervise() {
    within(30, || {
        let pool = pool(2);
        // FailFast: a panic before `started` is the caller's (observed, not
        // re-raised) and cancels the scope.
        let r = knotwork::block_on(pool.scope_async_with(knotwork::FailFast, async |s| {
            let sibling = s.exec(std::future::pending::<()>());
            let e = s.start(async |_: Ready<u8>| -> () { panic!("early") }).await.unwrap_err();
            (e.is_panic(), sibling.await.unwrap_err().is_cancelled())
        }));
        assert_eq!(r.unwrap(), (true, true));
        // Supervise: nothing is cancelled.
        let r = knotwork::block_on(pool.scope_async_with(knotwork::Supervise, async |s| {
            let sibling = s.exec(async {
                knotwork::sleep(Duration::from_millis(5)).await;
                3
            });
            let e = s.start_blocking(|_: Ready<u8>| -> () { panic!("early") }).await.unwrap_err();
            (e.is_panic(), sibling.await.unwrap())
        }));
        assert_eq!(r.unwrap(), (true, 3));
        // Started, then failing: the scope's failure.
        let r = knotwork::block_on(pool.scope_async_with(knotwork::Supervise, async |s| {
            s.start(async |ready| {
                ready.started(1);
                panic!("late");
            })
            .await
            .unwrap()
        }));
        let err = r.unwrap_err();
        assert_eq!(err.failures().len(), 1);
        pool.shutdown().unwrap();
    });
}

#[test]
fn many_sequential_starts_on_one_thread_from_a_blocking_child() {
    within(60, || {
        let pool = pool(1);
        let served = AtomicUsize::new(0);
        pool.scope(|s| {
            s.exec_blocking(|| {
                knotwork::scope(|s2| {
                    for i in 0..20u32 {
                        let served = &served;
                        let v = if i % 2 == 0 {
                            s2.start(async move |ready| {
                                ready.started(i);
                                loop {
                                    knotwork::sleep(Duration::from_millis(1)).await;
                                    served.fetch_add(1, Ordering::SeqCst);
                                }
                            })
                            .wait()
                            .unwrap()
                        } else {
                            s2.start_blocking(move |ready| {
                                ready.started(i);
                                while !knotwork::is_cancelled() {
                                    knotwork::block_on(knotwork::sleep(Duration::from_millis(1)));
                                    served.fetch_add(1, Ordering::SeqCst);
                                }
                            })
                            .wait()
                            .unwrap()
                        };
                        assert_eq!(v, i);
                    }
                    assert!(eventually(10, || served.load(Ordering::SeqCst) > 100));
                    s2.cancel();
                });
            });
        });
        pool.shutdown().unwrap();
    });
}

#[test]
fn started_synchronously_by_the_factory_and_borrowing_values() {
    within(20, || {
        let pool = pool(2);
        let name = String::from("borrowed");
        let r = pool.scope(|s| {
            let a = s.start(|ready| {
                ready.started(3);
                async {}
            });
            let b = s.start(async |ready| ready.started(&name[..]));
            (a.wait().unwrap(), b.wait().unwrap())
        });
        assert_eq!(r, (3, "borrowed"));
        pool.shutdown().unwrap();
    });
}

#[test]
fn starting_waited_on_a_std_thread() {
    within(20, || {
        let pool = pool(1);
        let r = pool.scope(|s| {
            let st = s.start_blocking(|ready| {
                std::thread::sleep(Duration::from_millis(5));
                ready.started(4);
            });
            std::thread::scope(|ts| ts.spawn(move || st.wait()).join().unwrap())
        });
        assert_eq!(r.unwrap(), 4);
        pool.shutdown().unwrap();
    });
}

#[test]
fn drop_racing_started_never_hangs_or_leaks() {
    within(60, || {
        let pool = pool(2);
        let made = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        struct V(Arc<AtomicUsize>);
        impl Drop for V {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        for i in 0..300u64 {
            let (made, dropped) = (made.clone(), dropped.clone());
            pool.scope(|s| {
                let st = if i % 2 == 0 {
                    s.start_blocking(move |ready| {
                        made.fetch_add(1, Ordering::SeqCst);
                        ready.started(V(dropped));
                    })
                } else {
                    s.start_blocking(move |ready| {
                        std::thread::yield_now();
                        made.fetch_add(1, Ordering::SeqCst);
                        ready.started(V(dropped));
                    })
                };
                std::thread::sleep(Duration::from_micros(i % 50));
                drop(st);
            });
        }
        assert_eq!(made.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst));
        pool.shutdown().unwrap();
    });
}

/// An async start child already bound to the only worker's loop; its
/// `Starting` is waited for by a blocking grandchild that runs on top of
/// its parent's scope close. That wait serves the loop only under the
/// close's constraint (its subtree), which the start child is outside of.
#[test]
fn starting_waited_in_a_nested_child_for_a_child_pinned_to_the_same_loop() {
    within(15, || {
        let pool = pool(1);
        let polled = AtomicBool::new(false);
        let v = pool.scope(|s| {
            let st = s.start(async |ready| {
                polled.store(true, Ordering::SeqCst);
                knotwork::sleep(Duration::from_millis(20)).await;
                ready.started(8);
            });
            // Bound to the worker's loop, sleeping.
            assert!(eventually(5, || polled.load(Ordering::SeqCst)));
            s.exec_blocking(move || {
                let out = std::sync::Mutex::new(None);
                knotwork::scope(|s2| {
                    // Joined by the close (not by `Task::join`).
                    s2.exec_blocking(|| *out.lock().unwrap() = Some(st.wait().unwrap()));
                });
                out.into_inner().unwrap()
            })
            .join()
            .unwrap()
        });
        assert_eq!(v, Some(8));
        pool.shutdown().unwrap();
    });
}

/// Control: the same wait one level up completes.
#[test]
fn control_starting_waited_in_a_blocking_child_for_a_child_pinned_to_the_same_loop() {
    within(15, || {
        let pool = pool(1);
        let polled = AtomicBool::new(false);
        let v = pool.scope(|s| {
            let st = s.start(async |ready| {
                polled.store(true, Ordering::SeqCst);
                knotwork::sleep(Duration::from_millis(20)).await;
                ready.started(8);
            });
            assert!(eventually(5, || polled.load(Ordering::SeqCst)));
            s.exec_blocking(move || st.wait()).join().unwrap()
        });
        assert_eq!(v.unwrap(), 8);
        pool.shutdown().unwrap();
    });
}
