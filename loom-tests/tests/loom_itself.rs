//! A check of loom itself, kept because knotwork's code works around it.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};

/// **loom 0.7.3 mis-orders a plain store against a racing RMW** (loom#282).
/// One thread stores `true` and at once reads its own store back while
/// another thread `swap`s `false` in twice, earlier in loom's schedule. Per
/// the C++ memory model (read-after-own-write coherence, and RMW atomicity)
/// the load must see `true`; loom lets it see `false`. It hit knotwork for
/// real: a model of cancelling a pending async child reported a false
/// deadlock, because the loop's `swap` of its remote-queue flag missed the
/// waker's `store`. So every flag that a waker sets while the owner `swap`s
/// it is set with `swap` too (`Inbox::schedule_remote`,
/// `RootWaker::wake_by_ref`, `Unparker::unpark`). `should_panic`: the day
/// loom is fixed this test fails, and those `swap`s may go back to stores.
#[test]
#[should_panic(expected = "read-after-own-write coherence")]
fn loom_breaks_coherence_of_a_store_racing_a_swap() {
    loom::model(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let t = loom::thread::spawn(move || {
            f.swap(false, Ordering::Acquire);
            f.swap(false, Ordering::Acquire);
        });
        flag.store(true, Ordering::Relaxed);
        assert!(flag.load(Ordering::Relaxed), "read-after-own-write coherence");
        t.join().unwrap();
    });
}
