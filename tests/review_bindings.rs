//! Review 2: Pool::run's bindings (inherit_bindings + awaited::carry) under
//! a recording: the audit's context-policy rule.

mod common;

use common::{pool, within};
use knotwork::Slot;

static X: Slot<&'static str> = Slot::new();

#[test]
fn a_cross_pool_run_from_a_child_passes_the_audit() {
    within(30, || {
        let a = pool(1);
        let b = pool(1);
        let (got, t) = knotwork::trace::record(|| {
            a.scope(|s| {
                s.exec_blocking(|| {
                    X.bind("in-child", || {
                        b.run(|| b.scope(|s| s.exec_blocking(|| X.get()).join().unwrap())).unwrap()
                    })
                })
                .join()
                .unwrap()
            })
        });
        assert_eq!(got, Some("in-child"));
        let report = t.audit();
        assert!(report.passed(), "{report}");
        a.shutdown().unwrap();
        b.shutdown().unwrap();
    });
}
