//! `PoolBuilder::build_global` installs the global pool once (its own test
//! binary: the global pool is per process).
mod common;

#[test]
fn build_global_installs_once_then_errors() {
    common::within(20, || {
        knotwork::Pool::builder().threads(3).thread_name("g").build_global().unwrap();
        let global = knotwork::Pool::global();
        assert_eq!(global.threads(), 3);
        let err = knotwork::Pool::builder().threads(1).build_global().unwrap_err();
        assert!(err.is_global_already_initialized());
        assert!(err.to_string().contains("already exists"));
        // Free functions off-pool use the global pool.
        let (a, _) = knotwork::join(|| std::thread::current().name().unwrap().to_owned(), || ());
        assert!(a.starts_with("g-"), "{a}");
        assert!(std::ptr::eq(global, knotwork::Pool::global()), "the same pool every time");
    });
}
