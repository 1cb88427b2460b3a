//! The per-thread loop: one per thread, reused, torn down once; block_on,
//! timers, wakes from other threads and from beyond the grave.
mod common;

use common::{panic_text, within};
use knotwork::{Loop, Pool, block_on, sleep, spawn_local, timeout, yield_now};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[test]
fn one_loop_per_thread_created_lazily_and_reused() {
    within(20, || {
        let ids: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    assert!(Loop::try_current().is_none(), "no loop before first use");
                    let first = Loop::current().id();
                    let again = Loop::current().id();
                    let in_block_on = block_on(async { Loop::current().id() });
                    assert_eq!(first, again);
                    assert_eq!(first, in_block_on);
                    first
                })
            })
            .map(|t| t.join().unwrap())
            .collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "every thread has its own loop: {ids:?}");
    });
}

#[test]
fn a_worker_has_one_loop_for_all_its_jobs() {
    within(20, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let a = pool.run(|| Loop::current().id()).unwrap();
        let b = pool.run(|| block_on(async { Loop::current().id() })).unwrap();
        assert_eq!(a, b);
    });
}

#[test]
fn teardown_at_thread_exit_drops_pending_tasks_once_and_runs_hooks() {
    within(20, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let hooks = Arc::new(AtomicUsize::new(0));
        let (d, h) = (drops.clone(), hooks.clone());
        std::thread::spawn(move || {
            struct CountDrop(Arc<AtomicUsize>);
            impl Drop for CountDrop {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let guard = CountDrop(d);
            let task = spawn_local(async move {
                let _g = guard;
                std::future::pending::<()>().await
            });
            block_on(yield_now()); // the task starts and parks
            drop(task);
            Loop::current().on_teardown(move || {
                h.fetch_add(1, Ordering::SeqCst);
            });
        })
        .join()
        .unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(hooks.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn block_on_runs_timers() {
    within(20, || {
        let start = Instant::now();
        let out = block_on(async {
            sleep(Duration::from_millis(20)).await;
            sleep(Duration::from_millis(10)).await;
            "done"
        });
        assert_eq!(out, "done");
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(Loop::current().timer_count(), 0, "fired timers are removed");
    });
}

#[test]
fn many_concurrent_sleeps_fire_in_deadline_order() {
    within(20, || {
        let order = Arc::new(Mutex::new(Vec::new()));
        block_on(async {
            let tasks: Vec<_> = [30u64, 10, 20, 0, 5]
                .into_iter()
                .map(|ms| {
                    let order = order.clone();
                    spawn_local(async move {
                        sleep(Duration::from_millis(ms)).await;
                        order.lock().unwrap().push(ms);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(*order.lock().unwrap(), vec![0, 5, 10, 20, 30]);
    });
}

#[test]
fn timeout_elapses_and_passes_through() {
    within(20, || {
        let slow = block_on(timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))));
        assert!(slow.is_err());
        assert!(slow.unwrap_err().to_string().contains("timeout elapsed"));
        let fast = block_on(timeout(Duration::from_secs(60), async { 3 }));
        assert_eq!(fast, Ok(3));
        // The cancelled inner sleep left no timer behind.
        assert_eq!(Loop::current().timer_count(), 0);
    });
}

/// A one-shot signal set from another thread.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    fn fire(&self) {
        self.set.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
}

struct WaitSignal(Arc<Signal>);

impl Future for WaitSignal {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.set.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }
    }
}

#[test]
fn a_wake_from_another_thread_resumes_the_root_and_a_task() {
    within(20, || {
        // The root future of block_on.
        let sig = Arc::new(Signal::default());
        let s = sig.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            s.fire();
        });
        block_on(WaitSignal(sig));
        t.join().unwrap();

        // A spawned task, woken through the loop's remote queue.
        let sig = Arc::new(Signal::default());
        let s = sig.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            s.fire();
        });
        block_on(async {
            spawn_local(WaitSignal(sig)).await.unwrap();
        });
        t.join().unwrap();
    });
}

#[test]
fn a_wake_after_the_loop_is_gone_does_nothing() {
    within(20, || {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let sig = Arc::new(Signal::default());
            let task = spawn_local(WaitSignal(sig.clone()));
            block_on(yield_now()); // task polled: its waker is now in `sig`
            drop(task);
            tx.send(sig).unwrap();
            // The thread exits: its loop is torn down, the task dropped.
        })
        .join()
        .unwrap();
        let sig = rx.recv().unwrap();
        let waker = sig.waker.lock().unwrap().take().expect("the task stored its waker");
        waker.wake_by_ref();
        let clone = waker.clone();
        waker.wake();
        drop(clone);
    });
}

#[test]
fn reentrant_block_on_fails_clearly() {
    within(20, || {
        let err = std::panic::catch_unwind(|| block_on(async { block_on(async { 1 }) })).unwrap_err();
        let msg = panic_text(&*err);
        assert!(msg.contains("already running"), "{msg}");
        // The loop is still usable afterwards.
        assert_eq!(block_on(async { 2 }), 2);

        // Also from inside a spawned task.
        let err = block_on(async { spawn_local(async { block_on(async {}) }).await.unwrap_err() });
        assert!(err.is_panic());
        assert!(panic_text(&*err.into_panic()).contains("already running"));
    });
}

#[test]
fn sleep_outside_a_loop_fails_clearly() {
    within(20, || {
        let err =
            std::panic::catch_unwind(|| futures_lite::future::block_on(sleep(Duration::from_millis(50))))
                .unwrap_err();
        assert!(panic_text(&*err).contains("outside a knotwork loop"));
    });
}

#[test]
fn local_tasks_are_cancellable_and_report_panics() {
    within(20, || {
        block_on(async {
            let forever = spawn_local(std::future::pending::<()>());
            assert!(!forever.is_finished());
            forever.cancel();
            assert!(forever.await.unwrap_err().is_cancelled());

            let boom = spawn_local(async { panic!("kaboom") });
            let err = boom.await.unwrap_err();
            assert!(err.is_panic());
            assert_eq!(panic_text(&*err.into_panic()), "kaboom");

            // A detached task still runs to completion.
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            drop(spawn_local(async move {
                yield_now().await;
                f.store(true, Ordering::SeqCst);
            }));
            while !flag.load(Ordering::SeqCst) {
                yield_now().await;
            }
        });
        assert_eq!(Loop::current().task_count(), 0, "finished tasks leave the table");
    });
}

#[test]
fn worker_loop_tasks_progress_between_jobs() {
    within(30, || {
        // One worker, kept busy with a stream of short jobs: the timer task
        // pinned to its loop must still fire, because the worker ticks its
        // loop between jobs.
        let pool = Pool::builder().threads(1).build().unwrap();
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        pool.run(move || {
            drop(spawn_local(async move {
                sleep(Duration::from_millis(5)).await;
                f.store(true, Ordering::SeqCst);
            }));
        })
        .unwrap();
        let mut jobs = 0u64;
        while !fired.load(Ordering::SeqCst) {
            pool.spawn(|| std::thread::sleep(Duration::from_micros(100))).unwrap();
            jobs += 1;
            std::thread::sleep(Duration::from_micros(50));
            assert!(jobs < 200_000, "the pinned task never ran");
        }
    });
}

#[test]
fn an_idle_worker_wakes_for_its_loop_timer() {
    within(30, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let (tx, rx) = mpsc::channel();
        pool.run(move || {
            drop(spawn_local(async move {
                sleep(Duration::from_millis(20)).await;
                tx.send(Instant::now()).unwrap();
            }));
        })
        .unwrap();
        // Nothing else is submitted: the worker parks until the deadline.
        rx.recv_timeout(Duration::from_secs(10)).expect("the parked worker woke for its timer");
    });
}
