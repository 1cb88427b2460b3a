//! Adversarial tests for slot inheritance policies and Context.

mod common;

use common::{pool, within};
use knotwork::{Context, Inheritance, Slot, TaskSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static ALWAYS: Slot<&'static str> = Slot::new();
static ASYNC_ONLY: Slot<&'static str> = Slot::with_inheritance(Inheritance::AsyncOnly);
static NEVER: Slot<&'static str> = Slot::local();
static NUM: Slot<u64> = Slot::new();

type Seen = (Option<&'static str>, Option<&'static str>, Option<&'static str>);

fn seen() -> Seen {
    (ALWAYS.get(), ASYNC_ONLY.get(), NEVER.get())
}

fn bound_all<R>(f: impl FnOnce() -> R) -> R {
    ALWAYS.bind("a", || ASYNC_ONLY.bind("b", || NEVER.bind("n", f)))
}

const ALL: Seen = (Some("a"), Some("b"), Some("n"));
const ASYNC: Seen = (Some("a"), Some("b"), None);
const BLOCKING: Seen = (Some("a"), None, None);
const NONE: Seen = (None, None, None);

#[test]
fn context_captured_in_a_child_run_on_many_threads_concurrently() {
    within(60, || {
        let pool = pool(2);
        let ctx = pool.scope(|s| {
            s.exec(async {
                // Bound inside the child: all three policies.
                ALWAYS.bind("ca", || ASYNC_ONLY.bind("cb", || NEVER.bind("cn", Context::capture)))
            })
            .join()
            .unwrap()
        });
        let other = NUM.bind(5, Context::capture);
        let ok = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let (ctx, other, ok) = (ctx.clone(), other.clone(), ok.clone());
                std::thread::spawn(move || {
                    for i in 0..500u64 {
                        assert_eq!(seen(), NONE);
                        let r = ctx.run(|| {
                            let here = seen();
                            let nested = other.run(|| (seen(), NUM.get()));
                            let back = seen();
                            let bound = NUM.bind(i + t, || ctx.run(|| NUM.get()));
                            (here, nested, back, bound)
                        });
                        assert_eq!(r.0, (Some("ca"), None, None));
                        assert_eq!(r.1, (NONE, Some(5)));
                        assert_eq!(r.2, (Some("ca"), None, None));
                        assert_eq!(r.3, None, "run replaces the bindings, it does not layer");
                        let w = futures_lite::future::block_on(ctx.wrap(async {
                            futures_lite::future::yield_now().await;
                            seen()
                        }));
                        assert_eq!(w, (Some("ca"), Some("cb"), None));
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    assert_eq!(seen(), NONE);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(ok.load(Ordering::SeqCst), 16 * 500);
        pool.shutdown().unwrap();
    });
}

#[test]
fn context_run_restores_after_a_panic_and_wrap_drop_sees_bindings() {
    within(20, || {
        let ctx = bound_all(Context::capture);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctx.run(|| panic!("x"))));
        assert!(r.is_err());
        assert_eq!(seen(), NONE);
        // The drop of a wrapped future, never polled, on another thread.
        struct D(Arc<std::sync::Mutex<Option<Seen>>>);
        impl Drop for D {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = Some(seen());
            }
        }
        let cell = Arc::new(std::sync::Mutex::new(None));
        let d = D(cell.clone());
        let fut = ctx.wrap(async move {
            let _d = d;
        });
        std::thread::spawn(move || drop(fut)).join().unwrap();
        // Never polled: the async block's captures are dropped inside the
        // bindings (T5: "around every poll and the drop of fut").
        assert_eq!(*cell.lock().unwrap(), Some(ASYNC));
    });
}

#[test]
fn policies_through_scope_async_and_task_set() {
    within(30, || {
        let pool = pool(2);
        let got = bound_all(|| {
            knotwork::block_on(pool.scope_async(async |s| {
                let body = seen();
                let a = s.exec(async { seen() });
                let b = s.exec_blocking(seen);
                let c = s.exec(async {
                    knotwork::scope_async(async |s2| s2.exec_blocking(seen).await.unwrap()).await
                });
                (body, a.await.unwrap(), b.await.unwrap(), c.await.unwrap())
            }))
        });
        assert_eq!(got, (ALL, ASYNC, BLOCKING, BLOCKING));
        let got = bound_all(|| {
            pool.scope(|s| {
                let mut set = TaskSet::new();
                for i in 0..20 {
                    if i % 2 == 0 {
                        set.push(s.exec(async move {
                            knotwork::sleep(Duration::from_micros(100 * (20 - i))).await;
                            (true, seen())
                        }));
                    } else {
                        set.push(s.exec_blocking(move || (false, seen())));
                    }
                }
                let mut out = Vec::new();
                while let Some(r) = set.join_next() {
                    out.push(r.unwrap());
                }
                out
            })
        });
        assert_eq!(got.len(), 20);
        for (is_async, s) in got {
            assert_eq!(s, if is_async { ASYNC } else { BLOCKING });
        }
        pool.shutdown().unwrap();
    });
}

#[test]
fn bind_async_policies_and_spawn_local() {
    within(30, || {
        let pool = pool(2);
        let got = {
            knotwork::block_on(NEVER.bind_async(
                "n2",
                ASYNC_ONLY.bind_async("b2", async {
                    let here = seen();
                    let local = knotwork::spawn_local(async { seen() }).await.unwrap();
                    let kids = pool
                        .scope_async(async |s2| {
                            (s2.exec(async { seen() }).await.unwrap(), s2.exec_blocking(seen).await.unwrap())
                        })
                        .await;
                    (here, local, kids)
                }),
            ))
        };
        assert_eq!(got.0, (None, Some("b2"), Some("n2")));
        assert_eq!(got.1, (None, Some("b2"), None));
        assert_eq!(got.2, ((None, Some("b2"), None), (None, None, None)));
        pool.shutdown().unwrap();
    });
}

/// `Pool::join`'s second half sees the caller's bindings when it runs
/// inline, and none when another worker steals it. Which it sees depends on
/// scheduling.
#[test]
fn pool_join_second_half_sees_the_same_bindings_whether_stolen_or_not() {
    within(30, || {
        let one = pool(1);
        let two = pool(2);
        let inline = bound_all(|| one.join(seen, seen).unwrap());
        let stolen = bound_all(|| {
            two.join(
                || {
                    // Keep the first half busy so the other worker steals `b`.
                    std::thread::sleep(Duration::from_millis(50));
                    seen()
                },
                seen,
            )
            .unwrap()
        });
        assert_eq!(inline.0, stolen.0, "first half");
        assert_eq!(inline.1, stolen.1, "second half: inline {:?}, stolen {:?}", inline.1, stolen.1);
        one.shutdown().unwrap();
        two.shutdown().unwrap();
    });
}

/// `Pool::run` from outside the pool runs `f` on a worker with no bindings;
/// from one of the pool's workers it runs `f` inline, with them.
#[test]
fn pool_run_sees_the_same_bindings_from_inside_and_outside() {
    within(30, || {
        let pool = pool(2);
        let outside = bound_all(|| pool.run(seen).unwrap());
        let inside =
            pool.scope(|s| s.exec_blocking(|| bound_all(|| pool.run(seen).unwrap())).join().unwrap());
        assert_eq!(outside, inside, "outside {outside:?}, inside {inside:?}");
        pool.shutdown().unwrap();
    });
}

#[test]
fn rebinding_between_spawns_and_deep_chains() {
    within(30, || {
        let pool = pool(2);
        let got = pool.scope(|s| {
            let mut tasks = Vec::new();
            for i in 0..50u64 {
                tasks.push(NUM.bind(i, || {
                    s.exec_blocking(move || {
                        // A chain of nested scopes, alternating kinds.
                        fn down(d: u32) -> Option<u64> {
                            if d == 0 {
                                return NUM.get();
                            }
                            knotwork::scope(|s| {
                                if d % 2 == 0 {
                                    s.exec(async move { down(d - 1) }).join().unwrap()
                                } else {
                                    s.exec_blocking(move || down(d - 1)).join().unwrap()
                                }
                            })
                        }
                        down(6)
                    })
                }));
            }
            tasks.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
        });
        assert_eq!(got, (0..50).map(Some).collect::<Vec<_>>());
        pool.shutdown().unwrap();
    });
}

#[test]
fn slot_with_nested_bind_keeps_the_outer_reference_valid() {
    static BIG: Slot<Vec<u64>> = Slot::new();
    within(20, || {
        let total = BIG.bind((0..1000).collect(), || {
            BIG.with(|outer| {
                let outer = outer.unwrap();
                let inner = BIG.bind(vec![1], || BIG.with(|v| v.unwrap().len()));
                // Spawn children and rebinding meanwhile.
                let kid =
                    knotwork::scope(|s| s.exec_blocking(|| BIG.with(|v| v.unwrap().len())).join().unwrap());
                outer.iter().sum::<u64>() + inner as u64 + kid as u64
            })
        });
        assert_eq!(total, 499500 + 1 + 1000);
    });
}

#[test]
fn context_capture_inside_run_composes_policies() {
    within(20, || {
        let ctx = bound_all(Context::capture);
        // Captured inside `run` (blocking work): AsyncOnly is already gone.
        let inner = ctx.run(Context::capture);
        let w = futures_lite::future::block_on(inner.wrap(async { seen() }));
        assert_eq!(w, BLOCKING);
        // Captured inside `wrap` (async work): AsyncOnly kept, Never gone.
        let inner = futures_lite::future::block_on(ctx.wrap(async { Context::capture() }));
        assert_eq!(futures_lite::future::block_on(inner.wrap(async { seen() })), ASYNC);
        assert_eq!(inner.run(seen), BLOCKING);
    });
}

/// As above, with `join` called on a worker (inside a blocking child), where
/// it really forks: `a` runs inline, `b` inline or stolen.
#[test]
fn pool_join_on_a_worker_second_half_same_bindings_whether_stolen_or_not() {
    within(30, || {
        let one = pool(1);
        let two = pool(2);
        let inline =
            one.scope(|s| s.exec_blocking(|| bound_all(|| one.join(seen, seen).unwrap())).join().unwrap());
        let stolen = two.scope(|s| {
            s.exec_blocking(|| {
                bound_all(|| {
                    two.join(
                        || {
                            std::thread::sleep(Duration::from_millis(50));
                            seen()
                        },
                        seen,
                    )
                    .unwrap()
                })
            })
            .join()
            .unwrap()
        });
        assert_eq!(inline.0, stolen.0, "first half");
        assert_eq!(inline.1, stolen.1, "second half: inline {:?}, stolen {:?}", inline.1, stolen.1);
        one.shutdown().unwrap();
        two.shutdown().unwrap();
    });
}
