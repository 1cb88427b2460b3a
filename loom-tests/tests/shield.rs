//! A model of a shield (`src/scope/shield.rs`, `src/task/shielding.rs`):
//! a cancelled task whose `SHIELDED` bit is set is polled on, and the
//! wakes of its shielded work count (a closed task's wakes are otherwise
//! absorbed: its canceller queued it already).
#![cfg(loom)]

use knotwork::{Limiter, Pool};
use knotwork_loom_tests::check;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

/// **A wake of shielded work races the cancellation.** On a pool of one
/// worker, an async child enters a shield, says so (`start`), and waits
/// there for the only permit of a limiter the main thread holds. The main
/// thread cancels the scope and releases the permit. Whatever the
/// interleaving, the shielded work gets the permit and finishes (its wake
/// is not absorbed by the cancellation), then the task is dropped at its
/// next suspension point, the permit is back, and the scope closes.
/// Bound: 2 preemptions.
#[test]
fn shielded_wake_races_cancellation() {
    check("shielded_wake_races_cancellation", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let limit = Arc::new(Limiter::new(1));
        let finished = Arc::new(AtomicUsize::new(0));
        let held = limit.try_acquire().unwrap();
        pool.scope(|s| {
            let (limit, finished) = (limit.clone(), finished.clone());
            let starting = s.start(async move |ready| {
                knotwork::shield(async {
                    ready.started(());
                    let _permit = limit.acquire().await;
                    finished.fetch_add(1, Ordering::SeqCst);
                })
                .await;
                std::future::pending::<()>().await;
            });
            starting.wait().expect("the child starts inside its shield");
            s.cancel();
            drop(held);
        });
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the shielded work finished");
        assert_eq!(limit.available(), 1);
        pool.shutdown().unwrap();
    });
}
