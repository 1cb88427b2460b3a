//! Issue 15's structure, each with blocking and async children, every test
//! under a watchdog (`common::within`): the limiter, slot inheritance with
//! provenance, `Context` carried anywhere, the `start` handshake and
//! shields. docs/guarantees.md, S1–S5.

mod common;

use common::{pool, within};
use knotwork::{Context, Inheritance, Limiter, Slot};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- limiter

/// Counts holders: the most at once must stay within the limit.
#[derive(Default)]
struct Occupancy {
    now: AtomicUsize,
    most: AtomicUsize,
    done: AtomicUsize,
}

impl Occupancy {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn limiter_one_thread_hundred_blocking_children_limit_two() {
    within(60, || {
        let pool = pool(1);
        let limit = Limiter::new(2);
        let occ = Occupancy::default();
        pool.scope(|s| {
            for _ in 0..100 {
                s.exec_blocking(|| {
                    let _p = limit.acquire_blocking().unwrap();
                    occ.enter();
                    // Holding the permit across a wait: the next child
                    // queues behind it while this one's loop sleeps.
                    knotwork::block_on(knotwork::sleep(Duration::from_micros(200)));
                    occ.leave();
                });
            }
        });
        assert_eq!(occ.done.load(Ordering::SeqCst), 100);
        assert!(occ.most.load(Ordering::SeqCst) <= 2);
        assert_eq!(limit.available(), 2);
        pool.shutdown().unwrap();
    });
}

#[test]
fn limiter_async_and_blocking_children_share_one_limit() {
    for threads in [1, 2] {
        within(60, move || {
            let pool = pool(threads);
            let limit = Limiter::new(2);
            let occ = Occupancy::default();
            pool.scope(|s| {
                for i in 0..100 {
                    if i % 2 == 0 {
                        s.exec(async {
                            let _p = limit.acquire().await;
                            occ.enter();
                            knotwork::sleep(Duration::from_micros(100)).await;
                            occ.leave();
                        });
                    } else {
                        s.exec_blocking(|| {
                            let _p = limit.acquire_blocking().unwrap();
                            occ.enter();
                            std::thread::sleep(Duration::from_micros(100));
                            occ.leave();
                        });
                    }
                }
            });
            assert_eq!(occ.done.load(Ordering::SeqCst), 100);
            assert!(occ.most.load(Ordering::SeqCst) <= 2, "{threads} threads");
            assert_eq!(limit.available(), 2);
            pool.shutdown().unwrap();
        });
    }
}

#[test]
fn limiter_serves_waiters_in_order_and_a_leaver_passes_its_turn_on() {
    use std::future::Future;
    use std::task::{Context as Cx, Poll, Waker};
    let limit = Limiter::new(1);
    let mut cx = Cx::from_waker(Waker::noop());
    let held = limit.try_acquire().unwrap();
    let mut waiters: Vec<_> = (0..6).map(|_| Some(Box::pin(limit.acquire()))).collect();
    for w in &mut waiters {
        assert!(w.as_mut().unwrap().as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(limit.waiting(), 6);
    // A newcomer never barges past the queue.
    drop(held);
    assert!(limit.try_acquire().is_none());
    // Waiter 2 leaves before its turn; waiter 0 was granted and leaves
    // without taking it: the permit goes on to 1.
    waiters[2] = None;
    waiters[0] = None;
    let mut order = Vec::new();
    for _ in 0..6 {
        let mut served = None;
        for (i, w) in waiters.iter_mut().enumerate() {
            if let Some(f) = w {
                if let Poll::Ready(p) = f.as_mut().poll(&mut cx) {
                    assert!(served.is_none(), "two waiters held the only permit");
                    served = Some((i, p));
                }
            }
        }
        let Some((i, p)) = served else { break };
        order.push(i);
        waiters[i] = None;
        drop(p);
    }
    assert_eq!(order, [1, 3, 4, 5]);
    assert_eq!(limit.available(), 1);
}

#[test]
fn limiter_permit_released_by_a_panicking_holder() {
    within(30, || {
        let pool = pool(2);
        let limit = Limiter::new(1);
        // Supervised: one holder's panic does not cancel the others.
        let err = pool
            .scope_with(knotwork::Supervise, |s| {
                let t = s.exec_blocking(|| {
                    let _p = limit.acquire_blocking().unwrap();
                    panic!("holder dies");
                });
                let a = s.exec(async {
                    let _p = limit.acquire().await;
                    knotwork::yield_now().await;
                    panic!("async holder dies");
                });
                let after = s.exec_blocking(|| limit.acquire_blocking().map(drop));
                (t.join().unwrap_err(), a.join().unwrap_err(), after.join().unwrap())
            })
            .unwrap(); // every failure was observed by a join
        assert!(err.0.is_panic() && err.1.is_panic());
        assert!(err.2.is_ok());
        assert_eq!(limit.available(), 1);
        pool.shutdown().unwrap();
    });
}

#[test]
fn limiter_scope_deadline_fires_while_children_queue() {
    for threads in [1, 2] {
        within(60, move || {
            let pool = pool(threads);
            let limit = Limiter::new(1);
            let started = Instant::now();
            let cancelled = AtomicUsize::new(0);
            let finished = AtomicUsize::new(0);
            pool.scope(|s| {
                s.cancel_after(Duration::from_millis(50));
                for i in 0..40 {
                    let (limit, cancelled, finished) = (&limit, &cancelled, &finished);
                    if i % 2 == 0 {
                        s.exec_blocking(move || match limit.acquire_blocking() {
                            Ok(_p) => {
                                // Holds on until the deadline has cancelled us.
                                while !knotwork::is_cancelled() {
                                    std::thread::sleep(Duration::from_millis(1));
                                }
                                finished.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                assert!(e.is_cancelled());
                                cancelled.fetch_add(1, Ordering::SeqCst);
                            }
                        });
                    } else {
                        s.exec(async move {
                            let _p = limit.acquire().await;
                            std::future::pending::<()>().await;
                        });
                    }
                }
            });
            assert!(started.elapsed() < Duration::from_secs(20), "the deadline never fired");
            // Every permit is back; no waiter is left queued.
            assert_eq!(limit.available(), 1);
            assert_eq!(limit.waiting(), 0);
            pool.shutdown().unwrap();
        });
    }
}

#[test]
fn limiter_cancelled_async_waiters_lose_no_permit() {
    within(30, || {
        let pool = pool(2);
        let limit = Limiter::new(2);
        for round in 0..50 {
            pool.scope(|s| {
                let tasks: Vec<_> = (0..8)
                    .map(|_| {
                        s.exec(async {
                            let _p = limit.acquire().await;
                            knotwork::yield_now().await;
                        })
                    })
                    .collect();
                for t in tasks.iter().skip(round % 3).step_by(2) {
                    t.cancel();
                }
            });
            assert_eq!(limit.available(), 2, "round {round}");
            assert_eq!(limit.waiting(), 0, "round {round}");
        }
        pool.shutdown().unwrap();
    });
}

#[test]
#[should_panic(expected = "use `limiter.acquire().await` there")]
fn limiter_acquire_blocking_inside_an_async_task_is_a_clear_panic() {
    let limit = Limiter::new(1);
    let _held = limit.try_acquire().unwrap();
    knotwork::block_on(async { drop(limit.acquire_blocking()) });
}

// ------------------------------------------------------- slot inheritance

static ALWAYS: Slot<&'static str> = Slot::new();
static ASYNC_ONLY: Slot<&'static str> = Slot::with_inheritance(Inheritance::AsyncOnly);
static NEVER: Slot<&'static str> = Slot::local();

/// What the three slots read here: (always, async-only, never).
type Seen = (Option<&'static str>, Option<&'static str>, Option<&'static str>);

fn seen() -> Seen {
    (ALWAYS.get(), ASYNC_ONLY.get(), NEVER.get())
}

fn bound_all<R>(f: impl FnOnce() -> R) -> R {
    ALWAYS.bind("a", || ASYNC_ONLY.bind("b", || NEVER.bind("n", f)))
}

#[test]
fn each_policy_across_exec_exec_blocking_and_nested_scopes() {
    within(30, || {
        let pool = pool(2);
        let got = bound_all(|| {
            // The binder itself, and its scope's body, see all three.
            assert_eq!(seen(), (Some("a"), Some("b"), Some("n")));
            pool.scope(|s| {
                assert_eq!(seen(), (Some("a"), Some("b"), Some("n")), "a body is part of the task");
                let exec = s.exec(async { seen() });
                let blocking = s.exec_blocking(seen);
                // Grandchildren: async → blocking, blocking → async, async → async.
                let async_then_blocking = s.exec(async {
                    knotwork::scope_async(async |s| s.exec_blocking(seen).await.unwrap()).await
                });
                let blocking_then_async =
                    s.exec_blocking(|| knotwork::scope(|s| s.exec(async { seen() }).join().unwrap()));
                let async_then_async = s.exec(async {
                    knotwork::scope_async(async |s| s.exec(async { seen() }).await.unwrap()).await
                });
                [
                    exec.join().unwrap(),
                    blocking.join().unwrap(),
                    async_then_blocking.join().unwrap(),
                    blocking_then_async.join().unwrap(),
                    async_then_async.join().unwrap(),
                ]
            })
        });
        assert_eq!(
            got,
            [
                (Some("a"), Some("b"), None),
                (Some("a"), None, None),
                (Some("a"), None, None),
                (Some("a"), None, None),
                (Some("a"), Some("b"), None),
            ]
        );
        pool.shutdown().unwrap();
    });
}

#[test]
fn a_rebinding_in_a_child_follows_the_childs_own_policy() {
    within(30, || {
        let got = knotwork::scope(|s| {
            s.exec(async {
                // A task-local bound inside a child: its own code sees it,
                // its children do not; an Always binding next to it crosses.
                NEVER.bind("inner", || {
                    ALWAYS.bind("inner-a", || {
                        let here = seen();
                        let below = knotwork::scope(|s| s.exec_blocking(seen).join().unwrap());
                        (here, below)
                    })
                })
            })
            .join()
            .unwrap()
        });
        assert_eq!(got, ((Some("inner-a"), None, Some("inner")), (Some("inner-a"), None, None)));
    });
}

#[test]
fn spawn_local_inherits_as_async_work() {
    within(30, || {
        let got = bound_all(|| knotwork::block_on(async { knotwork::spawn_local(async { seen() }).await }));
        assert_eq!(got.unwrap(), (Some("a"), Some("b"), None));
    });
}

#[test]
fn context_run_on_a_std_thread_and_in_a_pool_spawn_job() {
    within(30, || {
        let pool = pool(1);
        let ctx = bound_all(Context::capture);
        // Nothing is bound here, and a plain job or thread sees nothing.
        assert_eq!(seen(), (None, None, None));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let tx = tx.clone();
            pool.spawn(move || tx.send(seen()).unwrap()).unwrap();
        }
        assert_eq!(rx.recv().unwrap(), (None, None, None), "a Pool::spawn job sees no bindings by itself");
        {
            let (tx, ctx) = (tx.clone(), ctx.clone());
            pool.spawn(move || tx.send(ctx.run(seen)).unwrap()).unwrap();
        }
        assert_eq!(rx.recv().unwrap(), (Some("a"), None, None), "run is blocking work");
        let on_thread = {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let outside = seen();
                let inside = ctx.run(seen);
                // And back to nothing after `run`.
                (outside, inside, seen())
            })
            .join()
            .unwrap()
        };
        assert_eq!(on_thread, ((None, None, None), (Some("a"), None, None), (None, None, None)));
        // `wrap` is async work, on any executor.
        let wrapped = futures_lite::future::block_on(ctx.wrap(async {
            futures_lite::future::yield_now().await;
            seen()
        }));
        assert_eq!(wrapped, (Some("a"), Some("b"), None));
        // Children spawned inside `run` inherit what `run` entered.
        let nested = std::thread::spawn(move || {
            ctx.run(|| {
                knotwork::scope(|s| {
                    (s.exec(async { seen() }).join().unwrap(), s.exec_blocking(seen).join().unwrap())
                })
            })
        })
        .join()
        .unwrap();
        assert_eq!(nested, ((Some("a"), None, None), (Some("a"), None, None)));
        pool.shutdown().unwrap();
    });
}

#[test]
fn context_capture_is_one_snapshot_shared_by_clones() {
    // A rebinding after the capture is not seen through it.
    let ctx = ALWAYS.bind("first", Context::capture);
    let later = ALWAYS.bind("second", || ctx.run(|| ALWAYS.get()));
    assert_eq!(later, Some("first"));
    let clones: Vec<Context> = (0..100).map(|_| ctx.clone()).collect();
    assert!(clones.iter().all(|c| c.run(|| ALWAYS.get()) == Some("first")));
    assert!(format!("{ctx:?}").starts_with("Context"));
}

#[test]
fn the_trace_records_inheritance_and_provenance_and_the_audit_passes() {
    use knotwork::trace::{EventKind, TaskId};
    within(30, || {
        let pool = pool(2);
        let (outer, t) = knotwork::trace::record(|| {
            bound_all(|| {
                pool.scope(|s| {
                    s.exec(async {
                        // Bound inside task #1: its children's provenance says so.
                        ALWAYS.bind("by-child", || {
                            knotwork::scope(|s| {
                                s.exec_blocking(|| ALWAYS.get());
                            })
                        })
                    });
                    s.exec_blocking(seen).join().unwrap()
                })
            })
        });
        assert_eq!(outer, (Some("a"), None, None));
        let report = t.audit();
        assert!(report.passed(), "{report}");
        assert!(report.to_string().contains("context-policy"), "{report}");
        let mut saw_provenance = false;
        for e in t.events() {
            if let EventKind::Started { task, bindings, .. } = &e.kind {
                for b in &bindings.slots {
                    assert!(b.bound_at.file.ends_with("structure.rs"), "{b:?}");
                    assert_ne!(b.inheritance, Inheritance::Never, "{b:?}");
                    if b.bound_by == Some(TaskId(1)) {
                        saw_provenance = true;
                        assert_ne!(*task, TaskId(1));
                    }
                }
            }
        }
        assert!(saw_provenance, "the grandchild's binding came from task #1:\n{}", t.tree());
        pool.shutdown().unwrap();
    });
}

// ------------------------------------------------------------------ start

#[test]
fn start_resolves_while_the_child_runs_on_async_and_blocking_one_thread() {
    within(30, || {
        let pool = pool(1);
        // Blocking form, the caller on the scope's own (non-worker) thread
        // and, nested, on the only worker: the child waits for the caller
        // after `started`, so the caller must resume while it runs.
        for nested in [false, true] {
            let got = pool.scope(|s| {
                let body = || {
                    knotwork::scope(|s| {
                        // The child waits through knotwork (`block_on` parks as a
                        // blocking park, so the pool knows); a std `recv` would
                        // hold a spare the pool cannot see is blocked.
                        let (tx, rx) = async_channel::bounded::<u32>(1);
                        let blocking = s.start_blocking(move |ready| {
                            ready.started("b");
                            knotwork::block_on(rx.recv()).unwrap() // until the caller speaks
                        });
                        let (atx, arx) = async_channel::bounded::<u32>(1);
                        let asynchronous = s.start(async move |ready| {
                            ready.started("a");
                            arx.recv().await.unwrap()
                        });
                        let b = blocking.wait().unwrap();
                        let a = asynchronous.wait().unwrap();
                        tx.send_blocking(1).unwrap();
                        atx.send_blocking(2).unwrap();
                        (a, b)
                    })
                };
                if nested { s.exec_blocking(body).join().unwrap() } else { body() }
            });
            assert_eq!(got, ("a", "b"), "nested: {nested}");
        }
        pool.shutdown().unwrap();
    });
}

#[test]
fn start_awaited_in_an_async_scope() {
    within(30, || {
        let pool = pool(1);
        let got = knotwork::block_on(pool.scope_async(async |s| {
            let (tx, rx) = async_channel::bounded::<&str>(1);
            let port = s.start(async move |ready| {
                knotwork::yield_now().await;
                ready.started(8080u16);
                tx.send("served").await.unwrap();
            });
            let blocking = s.start_blocking(|ready| ready.started(1u8));
            (port.await.unwrap(), blocking.await.unwrap(), rx.recv().await.unwrap())
        }));
        assert_eq!(got, (8080, 1, "served"));
        pool.shutdown().unwrap();
    });
}

#[test]
fn start_failure_before_started_is_the_callers_error() {
    within(30, || {
        let pool = pool(2);
        // Supervised, so that one failure does not cancel the next start:
        // the child belongs to the scope from its spawn, so a failure before
        // `started` is also a failure of the scope under its policy.
        pool.scope_with(knotwork::Supervise, |s| {
            let p = s.start_blocking(|_: knotwork::Ready<u8>| panic!("before started"));
            let e = p.wait().unwrap_err();
            assert!(e.is_panic(), "{e}");
            let p = s.start(async |_: knotwork::Ready<u8>| -> () { panic!("async, before started") });
            assert!(p.wait().unwrap_err().is_panic());
            let r = s.start(async |_: knotwork::Ready<u8>| "returned");
            assert!(matches!(r.wait(), Err(knotwork::StartError::Returned("returned"))));
        })
        .unwrap();
        // Observed by the caller: the scope does not re-raise them (it
        // returned above). A failure *after* started is the scope's.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.scope(|s| {
                let v = s.start_blocking(|ready| {
                    ready.started(5);
                    panic!("after started");
                });
                v.wait().unwrap()
            })
        }));
        assert_eq!(common::panic_text(&*caught.unwrap_err()), "after started");
        pool.shutdown().unwrap();
    });
}

#[test]
fn start_in_a_cancelled_scope_is_a_cancellation_error() {
    within(30, || {
        let pool = pool(1);
        pool.scope(|s| {
            s.cancel();
            assert!(s.start_blocking(|ready| ready.started(1)).wait().unwrap_err().is_cancelled());
            assert!(s.start(async |ready| ready.started(1)).wait().unwrap_err().is_cancelled());
        });
        // Cancelled while the child waits, before it called `started`.
        pool.scope(|s| {
            let p = s.start(async |ready: knotwork::Ready<()>| {
                std::future::pending::<()>().await;
                ready.started(());
            });
            s.cancel_after(Duration::from_millis(5));
            assert!(p.wait().unwrap_err().is_cancelled());
        });
        pool.shutdown().unwrap();
    });
}

#[test]
fn started_under_cancellation_is_still_delivered() {
    // Trio #2895: a child that starts during cleanup (after its scope was
    // cancelled) must not leave its caller waiting.
    within(30, || {
        let pool = pool(2);
        let got = pool.scope(|s| {
            let p = s.start_blocking(|ready| {
                while !knotwork::is_cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                ready.started("late but delivered");
            });
            s.cancel_after(Duration::from_millis(5));
            p.wait()
        });
        assert_eq!(got.unwrap(), "late but delivered");
        pool.shutdown().unwrap();
    });
}

#[test]
fn started_racing_cancellation_never_hangs() {
    within(60, || {
        let pool = pool(2);
        let (mut ok, mut cancelled) = (0, 0);
        for i in 0..300 {
            let r = pool.scope(|s| {
                let p = if i % 2 == 0 {
                    s.start_blocking(|ready| ready.started(i))
                } else {
                    s.start(async move |ready| {
                        knotwork::yield_now().await;
                        ready.started(i)
                    })
                };
                let canceller = s.exec_blocking(|| s.cancel());
                drop(canceller);
                p.wait()
            });
            match r {
                Ok(v) => {
                    assert_eq!(v, i);
                    ok += 1;
                }
                Err(e) => {
                    assert!(e.is_cancelled(), "{e}");
                    cancelled += 1;
                }
            }
        }
        assert_eq!(ok + cancelled, 300);
        pool.shutdown().unwrap();
    });
}

#[test]
fn started_twice_is_a_clear_panic() {
    let caught = std::panic::catch_unwind(|| {
        knotwork::scope(|s| {
            s.start_blocking(|ready| {
                ready.started(1);
                ready.started(2);
            })
            .wait()
            .unwrap()
        })
    });
    let text = common::panic_text(&*caught.unwrap_err());
    assert!(text.contains("`Ready::started` was called twice"), "{text}");
}

#[test]
fn dropping_the_starting_future_cancels_an_unstarted_child() {
    within(30, || {
        let pool = pool(1);
        let ended = pool.scope(|s| {
            let p = s.start(async |ready: knotwork::Ready<()>| {
                std::future::pending::<()>().await;
                ready.started(());
            });
            drop(p);
            // The scope joins it: it was cancelled, or the join would hang.
            true
        });
        assert!(ended);
        pool.shutdown().unwrap();
    });
}

#[test]
#[should_panic(expected = "use `.await` there")]
fn starting_wait_inside_an_async_task_is_a_clear_panic() {
    knotwork::block_on(knotwork::scope_async(async |s| {
        let p = s.start(async |ready| ready.started(()));
        p.wait().unwrap();
    }));
}

// ----------------------------------------------------------------- shield

/// A one-shot signal between a child and whoever cancels it: the child
/// says it is inside its shield, the canceller says it has cancelled. No
/// sleeps, so the order holds on a loaded machine.
fn signal() -> (async_channel::Sender<()>, async_channel::Receiver<()>) {
    async_channel::bounded(4)
}

#[test]
fn a_shield_defers_cancellation_of_an_async_child_on_one_and_two_threads() {
    for threads in [1, 2] {
        within(30, move || {
            let pool = pool(threads);
            let (inside, after) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let ((in_tx, in_rx), (go_tx, go_rx)) = (signal(), signal());
            let err = pool.scope(|s| {
                let t = s.exec(async {
                    knotwork::shield(async {
                        in_tx.send(()).await.unwrap();
                        // Cancelled while suspended here: not dropped.
                        go_rx.recv().await.unwrap();
                        assert!(!knotwork::is_cancelled(), "is_cancelled reads false inside a shield");
                        inside.fetch_add(1, Ordering::SeqCst);
                    })
                    .await;
                    // Not a suspension point: the task runs on to the next one.
                    after.fetch_add(1, Ordering::SeqCst);
                    assert!(knotwork::is_cancelled());
                    knotwork::yield_now().await;
                    unreachable!("dropped at the first suspension point after the shield");
                });
                s.exec_blocking(|| {
                    // A knotwork wait: on one thread, the pool brings a spare.
                    knotwork::block_on(in_rx.recv()).unwrap();
                    s.cancel();
                    go_tx.send_blocking(()).unwrap();
                });
                t.join()
            });
            assert!(err.unwrap_err().is_cancelled());
            assert_eq!((inside.load(Ordering::SeqCst), after.load(Ordering::SeqCst)), (1, 1));
            pool.shutdown().unwrap();
        });
    }
}

#[test]
fn a_shield_defers_a_deadline_and_a_task_cancel() {
    within(30, || {
        let pool = pool(1);
        let done = AtomicUsize::new(0);
        let ((in_tx, in_rx), (go_tx, go_rx)) = (signal(), signal());
        pool.scope(|s| {
            let a = s.exec(async {
                knotwork::shield(async {
                    in_tx.send(()).await.unwrap();
                    go_rx.recv().await.unwrap();
                })
                .await;
                done.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
            });
            knotwork::block_on(in_rx.recv()).unwrap();
            s.cancel_after(Duration::from_millis(1));
            // The deadline passes (and fires) while the shield runs.
            while !s.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            go_tx.send_blocking(()).unwrap();
            assert!(a.join().unwrap_err().is_cancelled());
        });
        pool.scope(|s| {
            let b = s.exec(async {
                knotwork::shield(async {
                    in_tx.send(()).await.unwrap();
                    go_rx.recv().await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                })
                .await;
                std::future::pending::<()>().await;
            });
            knotwork::block_on(in_rx.recv()).unwrap();
            b.cancel();
            go_tx.send_blocking(()).unwrap();
            assert!(b.join().unwrap_err().is_cancelled());
        });
        assert_eq!(done.load(Ordering::SeqCst), 2);
        pool.shutdown().unwrap();
    });
}

#[test]
fn a_shield_deadline_abandons_the_work_and_the_cancellation_follows() {
    within(30, || {
        let pool = pool(1);
        let abandoned = pool.scope(|s| {
            let t = s.exec(async {
                let r = knotwork::shield_for(Duration::from_millis(10), std::future::pending::<()>()).await;
                assert!(r.is_err(), "the deadline passed first");
                knotwork::yield_now().await;
                "not cancelled?"
            });
            s.cancel();
            t.join()
        });
        assert!(abandoned.unwrap_err().is_cancelled());
        // Not cancelled at all: the deadline still bounds the shield.
        let r =
            knotwork::block_on(knotwork::shield_for(Duration::from_millis(1), std::future::pending::<u8>()));
        assert!(r.is_err());
        pool.shutdown().unwrap();
    });
}

#[test]
fn scopes_opened_inside_a_shield_are_out_of_reach_of_the_cancellation_above() {
    within(30, || {
        let pool = pool(2);
        let ((in_tx, in_rx), (go_tx, go_rx)) = (signal(), signal());
        let got = pool.scope(|s| {
            let t = s.exec(async {
                knotwork::shield(knotwork::scope_async(async |inner| {
                    // Its children run to completion though the outer scope
                    // is cancelled while they wait.
                    let go = go_rx.clone();
                    let c = inner.exec(async move {
                        go.recv().await.unwrap();
                        knotwork::is_cancelled()
                    });
                    let go = go_rx.clone();
                    let b = inner.exec_blocking(move || {
                        knotwork::block_on(go.recv()).unwrap();
                        knotwork::is_cancelled()
                    });
                    in_tx.send(()).await.unwrap();
                    (c.await.unwrap(), b.await.unwrap())
                }))
                .await
            });
            knotwork::block_on(in_rx.recv()).unwrap();
            s.cancel();
            go_tx.send_blocking(()).unwrap();
            go_tx.send_blocking(()).unwrap();
            t.join()
        });
        // The shielded work finished (with its children never cancelled);
        // the task then returned before any further suspension point.
        assert_eq!(got.unwrap(), (false, false));
        pool.shutdown().unwrap();
    });
}

#[test]
fn a_scope_opened_before_the_shield_is_still_cancelled() {
    within(30, || {
        let pool = pool(2);
        let (in_tx, in_rx) = signal();
        let child_of_outer = pool.scope(|s| {
            let t = s.exec(async {
                knotwork::scope_async(async |inner| {
                    let c = inner.exec(std::future::pending::<()>());
                    in_tx.send(()).await.unwrap();
                    // The body shields its own wait, but not `c`.
                    knotwork::shield(c).await
                })
                .await
            });
            knotwork::block_on(in_rx.recv()).unwrap();
            s.cancel();
            t.join()
        });
        // `c` was cancelled (its scope was not opened inside the shield).
        assert!(child_of_outer.unwrap().unwrap_err().is_cancelled());
        pool.shutdown().unwrap();
    });
}

#[test]
fn shield_blocking_in_a_blocking_child() {
    within(30, || {
        let pool = pool(2);
        let got = pool.scope(|s| {
            s.cancel();
            let inner = knotwork::shield_blocking(|| {
                let here = knotwork::is_cancelled();
                // A scope opened inside: its children run (not cancelled).
                let child = knotwork::scope(|s2| s2.exec_blocking(knotwork::is_cancelled).join());
                (here, child.unwrap())
            });
            (knotwork::is_cancelled(), inner)
        });
        assert_eq!(got, (true, (false, false)));
        pool.shutdown().unwrap();
    });
}

#[test]
fn shields_show_in_the_trace() {
    use knotwork::trace::EventKind;
    within(30, || {
        let pool = pool(1);
        let ((in_tx, in_rx), (go_tx, go_rx)) = (signal(), signal());
        let (_, t) = knotwork::trace::record(|| {
            pool.scope(|s| {
                let t = s.exec(async {
                    knotwork::shield(async {
                        in_tx.send(()).await.unwrap();
                        go_rx.recv().await.unwrap();
                    })
                    .await;
                    knotwork::yield_now().await;
                });
                knotwork::block_on(in_rx.recv()).unwrap();
                s.cancel();
                go_tx.send_blocking(()).unwrap();
                drop(t);
            })
        });
        let began = t
            .events()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ShieldBegan { task: Some(_), .. }))
            .count();
        let deferred = t
            .events()
            .iter()
            .filter(|e| {
                matches!(e.kind, EventKind::ShieldEnded { deferred: true, deadline_passed: false, .. })
            })
            .count();
        assert_eq!((began, deferred), (1, 1), "{:?}", t.events());
        assert!(t.tree().contains("⛨ shield at"), "{}", t.tree());
        assert!(t.tree().contains("a cancellation waited for it"), "{}", t.tree());
        let report = t.audit();
        assert!(report.passed(), "{report}");
        assert!(t.chrome_json().contains("shield ended"));
        pool.shutdown().unwrap();
    });
}

#[test]
fn pool_run_and_join_see_the_callers_own_bindings_wherever_they_run() {
    // The caller waits for them as for its own call: they are its work,
    // not children, so every binding — task-locals too — is seen, whether
    // they run inline or on another thread.
    within(30, || {
        let pool = pool(2);
        let all = (Some("a"), Some("b"), Some("n"));
        assert_eq!(bound_all(|| pool.run(seen)).unwrap(), all, "run from outside the pool");
        for _ in 0..50 {
            let (a, b) = pool
                .run(|| {
                    bound_all(|| {
                        pool.join(seen, || {
                            std::thread::yield_now(); // give a thief a chance
                            seen()
                        })
                    })
                })
                .unwrap()
                .unwrap();
            assert_eq!((a, b), (all, all));
        }
        pool.shutdown().unwrap();
    });
}
