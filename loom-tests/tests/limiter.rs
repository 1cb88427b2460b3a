//! Models of the limiter's hand-off (`src/scope/limiter.rs`): a release
//! hands the permit to the head waiter under the limiter's lock and wakes
//! it after; a waiter that leaves (its `Acquire` dropped: cancellation)
//! unlinks itself, or passes on a permit it was handed but never took.
#![cfg(loom)]

use knotwork::Limiter;
use knotwork_loom_tests::check;
use loom::sync::Arc;
use std::future::Future;
use std::task::{Context, Waker};

/// **A release races a waiter's cancellation.** One permit, held by the
/// main thread; a second thread queues for it (one poll of `acquire`) and
/// then drops the future — a cancelled task — while the main thread
/// releases. Whichever comes first (the hand-off to the queued waiter, who
/// then passes it on as it leaves, or the unlink, after which the release
/// just counts it back), the permit is free again at the end and nobody is
/// queued: no lost permit, no duplicated one. Bound: 3 preemptions.
#[test]
fn limiter_release_races_cancellation() {
    check("limiter_release_races_cancellation", 3, || {
        let limit = Arc::new(Limiter::new(1));
        let held = limit.try_acquire().expect("a fresh limiter has a permit");
        let waiter = {
            let limit = limit.clone();
            loom::thread::spawn(move || {
                let mut acquire = Box::pin(limit.acquire());
                let mut cx = Context::from_waker(Waker::noop());
                // Queued (or, if the release came first, served at once).
                let got = acquire.as_mut().poll(&mut cx).is_ready();
                drop(acquire);
                got
            })
        };
        drop(held);
        let _ = waiter.join().unwrap();
        assert_eq!(limit.available(), 1, "a permit was lost (or made up)");
        assert_eq!(limit.waiting(), 0, "a waiter stayed queued");
    });
}

/// **A release wakes a blocked waiter.** A second thread blocks in
/// `block_on(acquire())` on its own loop while the main thread holds, then
/// releases, the only permit. If the hand-off's wake were lost, the waiter
/// would park forever and loom would report the deadlock. Bound: 3
/// preemptions.
#[test]
fn limiter_release_wakes_a_blocked_waiter() {
    check("limiter_release_wakes_a_blocked_waiter", 3, || {
        let limit = Arc::new(Limiter::new(1));
        let held = limit.try_acquire().expect("a fresh limiter has a permit");
        let waiter = {
            let limit = limit.clone();
            loom::thread::spawn(move || {
                let permit = knotwork::block_on(limit.acquire());
                drop(permit);
            })
        };
        drop(held);
        waiter.join().unwrap();
        assert_eq!(limit.available(), 1);
    });
}
