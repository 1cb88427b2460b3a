//! Models of context slots: what a child sees is fixed at its spawn.
#![cfg(loom)]

use knotwork::{Pool, Slot};
use knotwork_loom_tests::check;

static REQUEST: Slot<u64> = Slot::new();

/// **A snapshot is immune to later rebinding.** The caller binds a slot to
/// 1, spawns a blocking and an async child, then rebinds the slot to 2 and
/// spawns a third child, while the first two may be running on the two
/// workers. Whatever the interleaving, the first two see 1, the third sees
/// 2, and the caller sees 1 again after its inner `bind` ends. Bound: 2.
#[test]
fn snapshot_unaffected_by_concurrent_rebinding() {
    check("snapshot_unaffected_by_concurrent_rebinding", 2, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let seen = REQUEST.bind(1, || {
            pool.scope(|s| {
                let first = s.exec_blocking(|| REQUEST.get());
                let second = s.exec(async { REQUEST.get() });
                let third = REQUEST.bind(2, || s.exec_blocking(|| REQUEST.get()));
                let after = REQUEST.get();
                (first.join().unwrap(), second.join().unwrap(), third.join().unwrap(), after)
            })
        });
        assert_eq!(seen, (Some(1), Some(1), Some(2), Some(1)));
        assert_eq!(REQUEST.get(), None, "unbound outside `bind`");
        pool.shutdown().unwrap();
    });
}
