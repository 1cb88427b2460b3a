//! Models of the per-thread loop: lazy creation, caching and teardown.
#![cfg(loom)]

use knotwork::Loop;
use knotwork_loom_tests::check;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::panic::catch_unwind;
use std::task::{Context, Poll, Waker};

/// **Lazy creation, one loop per thread.** Three threads (two spawned and the
/// main one) race to their first `Loop::current()`. Each gets a loop, gets
/// the same one on its next call, and no two threads share one (ids differ).
/// Bound: 2 preemptions.
#[test]
fn lazy_creation_one_loop_per_thread() {
    check("lazy_creation_one_loop_per_thread", 2, || {
        let spawn = || {
            thread::spawn(|| {
                let first = Loop::current().id();
                let again = Loop::current().id();
                assert_eq!(first, again, "a thread's loop must be cached");
                first
            })
        };
        let a = spawn();
        let b = spawn();
        let main_first = Loop::current().id();
        assert_eq!(main_first, Loop::current().id());
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_ne!(a, b, "two threads shared a loop");
        assert_ne!(a, main_first);
        assert_ne!(b, main_first);
    });
}

/// A future that stays pending, hands its waker out once, and counts drops.
struct Parked {
    waker_out: Arc<loom::sync::Mutex<Option<Waker>>>,
    drops: Arc<AtomicUsize>,
}

impl std::future::Future for Parked {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.waker_out.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// **Teardown vs. a remote wake.** A thread spawns a task that parks and
/// hands its waker to the main thread, then the thread tears its loop down
/// while the main thread wakes the
/// task. Whatever the interleaving: nothing panics, the pending future is
/// dropped exactly once, the teardown hook runs exactly once, and the wake
/// after teardown touches no freed memory (loom tracks the task's `Arc`s and
/// cells). Bound: 2 preemptions.
#[test]
fn teardown_races_remote_wake() {
    check("teardown_races_remote_wake", 2, || {
        let waker_out = Arc::new(loom::sync::Mutex::new(None));
        let drops = Arc::new(AtomicUsize::new(0));
        let hooks = Arc::new(AtomicUsize::new(0));
        let (w, d, h) = (waker_out.clone(), drops.clone(), hooks.clone());
        let t = thread::spawn(move || {
            let lp = Loop::current();
            lp.on_teardown(move || {
                h.fetch_add(1, Ordering::SeqCst);
            });
            let task = lp.spawn_local(Parked { waker_out: w, drops: d });
            // Poll it once so it hands out its waker, then leave it pending.
            knotwork::block_on(knotwork::yield_now());
            drop(task);
            // Explicit teardown: loom does not model thread-local destructors
            // (the fallback path; tests/loop.rs covers it in normal builds).
            assert!(Loop::teardown_current());
        });
        let waker = loop {
            if let Some(w) = waker_out.lock().unwrap().take() {
                break w;
            }
            thread::yield_now();
        };
        waker.wake();
        t.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "pending future dropped exactly once");
        assert_eq!(hooks.load(Ordering::SeqCst), 1, "teardown ran exactly once");
    });
}

/// **Worker loops: lazy, one per worker, torn down once by shutdown.** On a
/// pool of two workers, the first job finds no loop on its worker (nothing
/// created one eagerly). Then two blocking children each take their
/// worker's loop; the one that creates a loop (finds none before) registers
/// a teardown hook. When `shutdown` returns, every created loop has been
/// torn down exactly once, each on the thread that created it, and a worker
/// never had two loops. Bound: 2.
#[test]
fn worker_loops_lazy_and_torn_down_once_at_shutdown() {
    use loom::sync::Mutex;
    check("worker_loops_lazy_and_torn_down_once_at_shutdown", 2, || {
        let pool = knotwork::Pool::builder().threads(2).build().unwrap();
        assert!(pool.run(|| Loop::try_current().is_none()).unwrap(), "a worker's loop is created lazily");
        // (loop id, thread) for every loop created, and for every teardown.
        let created = Arc::new(Mutex::new(Vec::new()));
        let torn_down = Arc::new(Mutex::new(Vec::new()));
        pool.scope(|s| {
            for _ in 0..2 {
                let (created, torn_down) = (created.clone(), torn_down.clone());
                drop(s.exec_blocking(move || {
                    let fresh = Loop::try_current().is_none();
                    let lp = Loop::current();
                    let me = (lp.id(), Some(thread::current().id()));
                    assert_eq!(Loop::current().id(), me.0, "a worker's loop is cached");
                    if fresh {
                        created.lock().unwrap().push(me);
                        lp.on_teardown(move || {
                            // `None` if the hook ran in a thread-local
                            // destructor (where loom's `current()` panics)
                            // instead of the worker's explicit teardown.
                            let thread = catch_unwind(|| thread::current().id()).ok();
                            torn_down.lock().unwrap().push((me.0, thread));
                        });
                    }
                }));
            }
        });
        pool.shutdown().unwrap();
        let mut created = created.lock().unwrap().clone();
        let mut torn_down = torn_down.lock().unwrap().clone();
        created.sort_by_key(|(id, _)| id.as_u64());
        torn_down.sort_by_key(|(id, _)| id.as_u64());
        assert!(!created.is_empty());
        assert_eq!(
            created, torn_down,
            "each loop torn down once, on its own thread, before shutdown returned"
        );
        if let [(a, ta), (b, tb)] = created[..] {
            assert_ne!(a, b, "ids are unique");
            assert_ne!(ta, tb, "a thread never gets a second loop");
        }
    });
}
