//! N7 (docs/guarantees.md): context slots.
mod common;

use common::{pool, within};
use knotwork::Slot;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static USER: Slot<String> = Slot::new();
static DEPTH: Slot<u32> = Slot::new();
static ARC: Slot<Arc<Vec<u8>>> = Slot::new();

#[test]
fn children_inherit_the_spawn_time_bindings_on_any_worker_and_pass_them_on() {
    within(20, || {
        let pool = pool(3);
        let seen = USER.bind("ada".into(), || {
            DEPTH.bind(1, || {
                pool.scope(|s| {
                    let a = s.exec_blocking(|| (USER.get(), DEPTH.get()));
                    let b = s.exec(async {
                        knotwork::sleep(Duration::from_millis(1)).await;
                        (USER.get(), DEPTH.get())
                    });
                    let grandchild = s.exec_blocking(|| {
                        knotwork::scope(|inner| inner.exec(async { USER.get() }).join().unwrap())
                    });
                    (a.join().unwrap(), b.join().unwrap(), grandchild.join().unwrap())
                })
            })
        });
        let expect = (Some("ada".to_string()), Some(1));
        assert_eq!(seen.0, expect);
        assert_eq!(seen.1, expect);
        assert_eq!(seen.2.as_deref(), Some("ada"));
    });
}

#[test]
fn a_rebinding_in_a_child_never_leaks_to_parent_or_siblings() {
    within(20, || {
        let pool = pool(2);
        DEPTH.bind(1, || {
            pool.scope(|s| {
                let a = s.exec_blocking(|| DEPTH.bind(99, || DEPTH.get()));
                let b = s.exec(DEPTH.bind_async(50, async {
                    knotwork::yield_now().await;
                    DEPTH.get()
                }));
                assert_eq!(a.join().unwrap(), Some(99));
                assert_eq!(b.join().unwrap(), Some(50));
                assert_eq!(s.exec_blocking(|| DEPTH.get()).join().unwrap(), Some(1));
                assert_eq!(DEPTH.get(), Some(1));
            })
        });
        assert_eq!(DEPTH.get(), None);
    });
}

#[test]
fn a_rebinding_in_the_parent_after_the_spawn_is_not_seen() {
    within(20, || {
        let pool = pool(2);
        let go = AtomicBool::new(false);
        let seen = DEPTH.bind(1, || {
            pool.scope(|s| {
                let t = s.exec_blocking(|| {
                    while !go.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    DEPTH.get()
                });
                DEPTH.bind(2, || {
                    go.store(true, Ordering::SeqCst);
                    t.join().unwrap()
                })
            })
        });
        assert_eq!(seen, Some(1));
    });
}

#[test]
fn interleaved_async_tasks_on_one_loop_keep_their_own_bindings() {
    within(20, || {
        let pool = pool(1); // one worker: all children share its loop
        let results = pool.scope(|s| {
            let tasks: Vec<_> = (0..8u32)
                .map(|i| {
                    DEPTH.bind(i, || {
                        s.exec(async move {
                            let mut seen = Vec::new();
                            for _ in 0..5 {
                                seen.push(DEPTH.get());
                                knotwork::yield_now().await;
                            }
                            seen.iter().all(|&d| d == Some(i))
                        })
                    })
                })
                .collect();
            tasks.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
        });
        assert!(results.into_iter().all(|ok| ok));
    });
}

#[test]
fn snapshot_shares_values_instead_of_copying_them() {
    within(20, || {
        let pool = pool(2);
        let big = Arc::new(vec![0u8; 1 << 20]);
        let same = ARC.bind(big.clone(), || {
            pool.scope(|s| s.exec_blocking(|| ARC.with(|v| Arc::ptr_eq(v.unwrap(), &big))).join().unwrap())
        });
        assert!(same);
    });
}

#[test]
fn bindings_are_restored_after_a_panic() {
    let r = std::panic::catch_unwind(|| DEPTH.bind(5, || panic!("inside")));
    assert!(r.is_err());
    assert_eq!(DEPTH.get(), None);
}

#[test]
fn work_run_while_a_child_waits_does_not_inherit_its_task_or_bindings() {
    within(20, || {
        let pool = pool(1); // the child's worker runs the unrelated job itself
        let seen = Arc::new(std::sync::Mutex::new(None));
        let (started, go) = (AtomicBool::new(false), AtomicBool::new(false));
        let p = pool.clone();
        let depth_in_child = DEPTH.bind(7, || {
            pool.scope(|s| {
                let child = s.exec_blocking(|| {
                    started.store(true, Ordering::SeqCst);
                    while !go.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    assert!(knotwork::is_cancelled(), "the child itself was cancelled");
                    knotwork::scope(|inner| {
                        let flag = Arc::new(AtomicBool::new(false));
                        let f2 = flag.clone();
                        let waited = inner.exec(async move {
                            while !f2.load(Ordering::SeqCst) {
                                knotwork::sleep(Duration::from_millis(1)).await;
                            }
                        });
                        // Pushed last, so this worker runs it first (LIFO)
                        // while it waits in `join` below.
                        let seen = seen.clone();
                        p.spawn(move || {
                            *seen.lock().unwrap() = Some((knotwork::is_cancelled(), DEPTH.get()));
                            flag.store(true, Ordering::SeqCst);
                        })
                        .unwrap();
                        // Cancelled with the child (a scope nested in a
                        // cancelled child is cancelled, L4): the join still
                        // waits here, and runs the unrelated job meanwhile.
                        let _ = waited.join();
                    });
                    DEPTH.get()
                });
                while !started.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                child.cancel(); // seen by the running child through is_cancelled
                go.store(true, Ordering::SeqCst);
                child.join().unwrap()
            })
        });
        assert_eq!(depth_in_child, Some(7));
        assert_eq!(
            *seen.lock().unwrap(),
            Some((false, None)),
            "the job saw neither the child's task nor its bindings"
        );
    });
}

#[test]
fn spawn_local_tasks_keep_their_spawn_time_bindings() {
    let v = knotwork::block_on(async {
        let t = DEPTH.bind(3, || {
            knotwork::spawn_local(async {
                knotwork::yield_now().await;
                DEPTH.get()
            })
        });
        DEPTH.bind(4, || ());
        t.await.unwrap()
    });
    assert_eq!(v, Some(3));
}
