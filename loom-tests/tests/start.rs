//! Models of the start handshake (`src/scope/start.rs`): the child's
//! `started` (or its end) settles a shared cell once and wakes the caller;
//! a cancellation of the scope races both.
#![cfg(loom)]

use knotwork::{Pool, StartError};
use knotwork_loom_tests::check;

/// **`started` races the scope's cancellation.** On a pool of one worker,
/// a blocking child calls `started(5)` while the scope body cancels the
/// scope and then waits for the start. Whatever the interleaving, the
/// caller gets `Ok(5)` (the child ran and signalled) or a cancellation
/// error (it never started) — never a hang, never another answer — and
/// the scope closes. Bound: 2 preemptions.
#[test]
fn started_races_cancellation() {
    check("started_races_cancellation", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let got = pool.scope(|s| {
            let p = s.start_blocking(|ready| ready.started(5));
            s.cancel();
            p.wait()
        });
        match got {
            Ok(v) => assert_eq!(v, 5),
            Err(e) => assert!(e.is_cancelled(), "{e}"),
        }
        pool.shutdown().unwrap();
    });
}

/// **A child's failure races its caller's wait.** The blocking child
/// returns without calling `started`; the caller, waiting from off the
/// pool, must be woken by the child's end and get the returned value as
/// `StartError::Returned`: the end-guard's wake may come before or after
/// the caller registers its waker. Bound: 2 preemptions.
#[test]
fn child_end_races_the_callers_wait() {
    check("child_end_races_the_callers_wait", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let got = pool.scope(|s| s.start_blocking(|_ready: knotwork::Ready<u8>| 9).wait());
        assert!(matches!(got, Err(StartError::Returned(9))), "{got:?}");
        pool.shutdown().unwrap();
    });
}
