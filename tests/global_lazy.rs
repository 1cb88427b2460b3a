//! `Pool::global` builds the default pool lazily (its own test binary: the
//! global pool is per process).
mod common;

#[test]
fn global_pool_is_built_lazily_with_available_parallelism() {
    common::within(20, || {
        let expected = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(knotwork::Pool::global().threads(), expected);
        assert_eq!(knotwork::Pool::current_or_global().threads(), expected);
        let err = knotwork::Pool::builder().build_global().unwrap_err();
        assert!(err.is_global_already_initialized(), "too late once the default pool exists");
    });
}
