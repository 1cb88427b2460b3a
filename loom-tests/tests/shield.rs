//! A model of a shield (`src/scope/shield.rs`, `src/task/shielding.rs`):
//! a cancelled task with a shield active (counted in its header) is polled
//! on, and the wakes of its shielded work count (a closed task's wakes are
//! otherwise absorbed: its canceller queued it already); the last shield to
//! end re-arms the task.
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

/// **The last shield ends outside its task.** An async child polls a boxed
/// shield once (its work never finishes) and hands the box to the scope's
/// body through `start`; the body cancels the scope and then drops the
/// box, ending the shield on the body's thread while the child is idle.
/// The end must re-arm the child (a cancelled task's wakes are absorbed:
/// nothing else would queue it again), so it is dropped and the scope
/// closes; loom reports a deadlock otherwise. Bound: 2 preemptions.
#[test]
fn a_shield_ended_elsewhere_rearms_its_task() {
    check("a_shield_ended_elsewhere_rearms_its_task", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        pool.scope(|s| {
            let starting = s.start(async |ready| {
                let mut work = Box::pin(knotwork::shield(std::future::pending::<()>()));
                // One poll: the shield begins, counted in this task.
                let _ = futures_poll_once(work.as_mut()).await;
                ready.started(work);
                std::future::pending::<()>().await;
            });
            let work = starting.wait().expect("the child hands its shield over");
            s.cancel();
            drop(work); // the shield ends here, off the child's poll
        });
        pool.shutdown().unwrap();
    });
}

/// Polls `fut` once, then returns (whatever it said).
async fn futures_poll_once<F: std::future::Future + Unpin>(mut fut: F) -> bool {
    std::future::poll_fn(move |cx| std::task::Poll::Ready(std::pin::Pin::new(&mut fut).poll(cx).is_ready()))
        .await
}
