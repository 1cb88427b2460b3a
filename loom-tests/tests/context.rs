//! Models of context slots: what a child sees is fixed at its spawn.
#![cfg(loom)]

use knotwork::{Pool, Slot};
use knotwork_loom_tests::check;

static REQUEST: Slot<u64> = Slot::new();

/// **A snapshot is immune to later rebinding.** On a pool of one worker,
/// the caller binds a slot to 1 and spawns a blocking child, then — while
/// that child may already be running — rebinds the slot to 2 and spawns an
/// async child. Whatever the interleaving, the first child sees 1, the
/// second sees 2, and the caller sees 1 again once its inner `bind` ends.
/// Bound: 2. (A variant with two workers and a third child explored the
/// same kinds of interleaving in 827 s instead of 1.5 s.)
#[test]
fn snapshot_unaffected_by_concurrent_rebinding() {
    check("snapshot_unaffected_by_concurrent_rebinding", 2, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let seen = REQUEST.bind(1, || {
            pool.scope(|s| {
                let first = s.exec_blocking(|| REQUEST.get());
                let second = REQUEST.bind(2, || s.exec(async { REQUEST.get() }));
                let after = REQUEST.get();
                (first.join().unwrap(), second.join().unwrap(), after)
            })
        });
        assert_eq!(seen, (Some(1), Some(2), Some(1)));
        assert_eq!(REQUEST.get(), None, "unbound outside `bind`");
        pool.shutdown().unwrap();
    });
}
