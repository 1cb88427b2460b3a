//! Models of `Pool::broadcast`'s inboxes (`src/pool/broadcast.rs`): a job
//! addressed to one worker reaches it whether it is parked, about to park,
//! or waiting in the pool itself.
#![cfg(loom)]

use knotwork::Pool;
use knotwork_loom_tests::check;

/// **A broadcast reaches parked workers.** The main thread broadcasts to a
/// pool of two workers, which may be running, about to park or parked when
/// their job lands in their inbox. Each runs its call once, on its own
/// thread. A delivery that did not unpark its worker is a loom deadlock.
/// Bound: 2 preemptions.
#[test]
fn broadcast_reaches_parked_workers() {
    check("broadcast_reaches_parked_workers", 1, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let got = pool.broadcast(|i| i).unwrap();
        assert_eq!(got, [0, 1]);
        drop(pool);
    });
}

/// **A broadcast from a worker.** A job on one worker of a two-worker pool
/// broadcasts: its own call lands in its own inbox, which its wait must run
/// (nobody else may), while the other worker's lands in a parked or
/// running thread's inbox. A wait that does not look at its inbox is a loom
/// deadlock. Bound: 2 preemptions.
#[test]
fn broadcast_from_a_worker_runs_its_own_call_in_its_wait() {
    check("broadcast_from_a_worker_runs_its_own_call_in_its_wait", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let got = pool.run(|| pool.broadcast(|i| i * 10).unwrap()).unwrap();
        assert_eq!(got, [0, 10]);
        drop(pool);
    });
}

/// **A broadcast reaches a worker blocked on another pool.** Pool A's only
/// worker waits in pool B's `run`, whose job broadcasts to pool A: the call
/// for A's worker lands in its inbox while it is in a *blocking* park,
/// which serves the inbox before parking (`sync::park_blocking` asks the
/// worker's block hook) and is unparked by the delivery. A blocking park
/// that did not serve its inbox is a loom deadlock. Bound: 2 preemptions.
#[test]
fn broadcast_reaches_a_worker_blocked_on_another_pool() {
    check("broadcast_reaches_a_worker_blocked_on_another_pool", 2, || {
        let a = Pool::builder().threads(1).build().unwrap();
        let b = Pool::builder().threads(1).build().unwrap();
        let got = a.run(|| b.run(|| a.broadcast(|i| i + 1).unwrap()).unwrap()).unwrap();
        assert_eq!(got, [1]);
        drop(b);
        drop(a);
    });
}
