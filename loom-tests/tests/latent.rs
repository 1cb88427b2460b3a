//! Models of latent forks (`pool/latent.rs`): a `join` whose second half is
//! kept on the worker's private latent stack must still be reachable by
//! another worker whenever the owner cannot run it itself.
//!
//! Both models use a two-worker pool. The outer `join` of the job exposes
//! its `b` (the worker has nothing exposed yet); the nested one keeps its
//! `b` latent, and that `b` is what the nested `a` waits for. Only a
//! promotion lets the other worker reach it: on a thief's request in the
//! first model, before a blocking park in the second.
#![cfg(loom)]

use knotwork::Pool;
use knotwork_loom_tests::{SharedSignal, check};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// **A thief's request is answered at the next fork.** The nested `a`
/// spins, forking an empty `join` on each round, until the latent `b`
/// above it has run. The other worker takes the exposed outer `b`, finds
/// nothing more and sets the victim's `wanted` flag; the victim's next fork
/// promotes its oldest latent fork (the `b` that releases the spin) to its
/// deque, where the thief takes it. Without the promotion the spin never
/// ends (loom: a livelock, "exceeded maximum number of branches").
/// Bound: 2 preemptions.
#[test]
fn a_thiefs_request_promotes_the_oldest_latent_fork() {
    check("a_thiefs_request_promotes_the_oldest_latent_fork", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let r = released.clone();
        pool.run(move || {
            knotwork::join(
                || {
                    knotwork::join(
                        || {
                            while !released.load(Ordering::SeqCst) {
                                // A fork: where the owner answers thieves.
                                knotwork::join(|| (), || ());
                                thread::yield_now();
                            }
                        },
                        || r.store(true, Ordering::SeqCst),
                    )
                },
                || (),
            )
        })
        .unwrap();
        drop(pool);
    });
}

/// **A blocking park exposes every latent fork first.** The nested `a`
/// blocks in `knotwork::block_on` until the latent `b` above it has run.
/// The park goes through the worker's block hook, which promotes the latent
/// stack before it parks; the other worker steals that `b`, sets the
/// signal and wakes the parked worker. Without the promotion both workers
/// park for ever (loom: deadlock). Bound: 2 preemptions.
#[test]
fn a_blocking_park_promotes_every_latent_fork() {
    check("a_blocking_park_promotes_every_latent_fork", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let signal = SharedSignal::new();
        let s = signal.clone();
        pool.run(move || {
            knotwork::join(|| knotwork::join(|| knotwork::block_on(signal.wait()), || s.set()), || ())
        })
        .unwrap();
        drop(pool);
    });
}
