//! Models of the pool's shutdown and idle protocol.
#![cfg(loom)]

use knotwork::Pool;
use knotwork_loom_tests::check;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// **Submit racing shutdown.** One thread submits a job while the main
/// thread shuts the pool (one worker) down. Every outcome is exact: the job
/// was either accepted and ran exactly once before `shutdown` returned, or
/// it was refused with `ShutdownError` and never ran. Bound: 2 preemptions.
#[test]
fn submit_races_shutdown() {
    check("submit_races_shutdown", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let (p, r) = (pool.clone(), ran.clone());
        let submitter = thread::spawn(move || {
            p.spawn(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .is_ok()
        });
        pool.shutdown().unwrap();
        let ran_at_shutdown = ran.load(Ordering::SeqCst);
        let accepted = submitter.join().unwrap();
        if accepted {
            assert_eq!(ran_at_shutdown, 1, "an accepted job must run before shutdown returns");
        } else {
            assert_eq!(ran.load(Ordering::SeqCst), 0, "a refused job must never run");
        }
    });
}

/// **Accepted work spawns more while draining.** A job accepted before
/// shutdown spawns a child from the worker during the drain; the child is
/// accepted and runs before `shutdown` returns. Bound: 2 preemptions.
#[test]
fn children_spawned_while_draining_run() {
    check("children_spawned_while_draining_run", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let (p, r) = (pool.clone(), ran.clone());
        pool.spawn(move || {
            let r2 = r.clone();
            p.spawn(move || {
                r2.fetch_add(1, Ordering::SeqCst);
            })
            .expect("a child of accepted work is accepted while draining");
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        pool.shutdown().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    });
}

/// **No lost wake-up.** A worker runs out of work and parks while the main
/// thread submits a job and waits for its result (`Pool::run`). If the
/// worker could miss the job, loom reports a deadlock. Bound: 3 preemptions.
#[test]
fn no_lost_wakeup_when_worker_parks() {
    check("no_lost_wakeup_when_worker_parks", 3, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let v = pool.run(|| 7).unwrap();
        assert_eq!(v, 7);
        drop(pool);
    });
}
