//! Models of compensation (`pool/spare.rs`): a worker that blocks in a wait
//! it cannot help with hands its place to a spare thread, so that work
//! queued behind it still runs.
//!
//! Every model uses one worker and one spare (`threads(1).spare_threads(1)`;
//! under loom a pool has no spares unless it asks). The worker blocks in
//! `knotwork::block_on` inside a `Pool::run` job, on a future that only a
//! job queued on the same pool completes: `block_on` drives the worker's
//! loop, never the pool's queues, so without a spare nobody runs that job
//! and loom reports a deadlock.
#![cfg(loom)]

use knotwork::{Loop, Pool};
use knotwork_loom_tests::{SharedSignal, check};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// A one-shot signal: a job sets it and wakes the waker it was given; a
/// future waits for it. The waiter's waker is taken before the job exists,
/// so the signal needs no lock and cannot lose a wake-up itself: any
/// deadlock a model reports is the pool's.
struct Signal {
    set: AtomicBool,
    waker: Waker,
}

impl Signal {
    /// A signal that wakes the task calling this.
    async fn new() -> Arc<Signal> {
        let waker = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        Arc::new(Signal { set: AtomicBool::new(false), waker })
    }

    /// Sets the signal and wakes the waiter.
    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.waker.wake_by_ref();
    }

    /// Ready once the signal is set.
    async fn wait(&self) {
        poll_fn(|_| if self.set.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }).await
    }
}

/// A pool of one worker that may start one spare.
fn pool_with_a_spare() -> Pool {
    Pool::builder().threads(1).spare_threads(1).build().unwrap()
}

/// The job the models run on the worker: queue a job that sets a signal on
/// this pool (from the worker, so onto its own deque), then block in
/// `block_on` until the signal is set. `block_enter` sees the queued job
/// and brings in the spare, which steals and runs it.
fn spawn_then_block(pool: &Pool) {
    knotwork::block_on(async {
        let signal = Signal::new().await;
        let s = signal.clone();
        pool.spawn(move || s.set()).unwrap();
        signal.wait().await;
    });
}

/// **A blocked worker hands off to a spare.** The pool's only worker queues
/// a job and then blocks (`block_on`) on a future that job completes. The
/// blocking park goes through the block hook: `block_enter` finds the job
/// queued and fewer than `core` threads available, and starts the spare,
/// which steals the job from the worker's deque and runs it, waking the
/// worker; `run` returns the job's result. Then `shutdown` terminates the
/// pool, wakes the spare (idle, or retired once the worker was back) and
/// joins it; a spare that never exits is a deadlock to loom. Bound: 3
/// preemptions.
#[test]
fn blocked_worker_hands_off_to_a_spare() {
    check("blocked_worker_hands_off_to_a_spare", 3, || {
        let pool = pool_with_a_spare();
        let v = pool
            .run(|| {
                spawn_then_block(&pool);
                7
            })
            .unwrap();
        assert_eq!(v, 7);
        pool.shutdown().unwrap();
    });
}

/// **A submitter racing a worker entering a blocking park** (the F1/F3
/// pair). The worker blocks in `block_on` until a job runs that another
/// thread submits, from outside the pool (to the injector), at any point.
/// Either the worker's `block_enter` sees the job queued and compensates,
/// or the submitter's `notify_work` finds no idle worker but `avail < core`
/// and compensates; if both looked too early the job would wait forever
/// (a deadlock to loom). The submitter's job may also run first, on the
/// worker itself, before it blocks. Bound: 2 preemptions.
#[test]
fn submit_races_a_worker_blocking() {
    check("submit_races_a_worker_blocking", 2, || {
        let pool = pool_with_a_spare();
        let signal = SharedSignal::new();
        let (p, s) = (pool.clone(), signal.clone());
        let submitter = thread::spawn(move || {
            p.spawn(move || s.set()).unwrap();
        });
        let v = pool
            .run(|| {
                knotwork::block_on(signal.wait());
                7
            })
            .unwrap();
        submitter.join().unwrap();
        assert_eq!(v, 7);
        pool.shutdown().unwrap();
    });
}

/// **A spare retires and is recalled.** Two blocking episodes in one job,
/// with the spare kept busy until the worker is back from the first: the
/// spare's job (the first episode's) sets the worker's signal and then
/// blocks itself until the worker, back from `block_on` (`block_exit`),
/// lets it go (the spare's own `block_on` goes through its block hook
/// too). So the spare can reach the top of its main loop with
/// `avail > core` and nothing queued, and retire, while the worker begins
/// its second episode: `block_enter` must then recall the retired spare
/// (the pool may start no second one), or find it still in play and
/// counted available. A lost hand-off is a deadlock to loom. `shutdown`
/// ends the spare, retired or not, and joins it: the spare's loop is torn
/// down (so the spare has left its main loop) before `shutdown` returns.
/// Bound: 2 preemptions.
#[test]
fn spare_retires_and_is_recalled() {
    check("spare_retires_and_is_recalled", 2, || {
        let pool = pool_with_a_spare();
        let spare_exited = Arc::new(AtomicUsize::new(0));
        let gone = spare_exited.clone();
        let v = pool
            .run(|| {
                let back = SharedSignal::new();
                let b = back.clone();
                knotwork::block_on(async {
                    let signal = Signal::new().await;
                    let s = signal.clone();
                    pool.spawn(move || {
                        s.set();
                        knotwork::block_on(b.wait());
                        // The spare's loop (`block_on` made it) is torn
                        // down when the spare exits its main loop.
                        Loop::current().on_teardown(move || {
                            gone.fetch_add(1, Ordering::SeqCst);
                        });
                    })
                    .unwrap();
                    signal.wait().await;
                });
                back.set();
                spawn_then_block(&pool);
                7
            })
            .unwrap();
        assert_eq!(v, 7);
        pool.shutdown().unwrap();
        assert_eq!(spare_exited.load(Ordering::SeqCst), 1, "shutdown returned before the spare exited");
    });
}
