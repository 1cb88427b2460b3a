//! Which pools wait for the work this thread runs, across pools.
//!
//! A worker of pool A that calls `b.run(f)` (or `b.join`, or opens a scope
//! on B) waits for `f`, which runs on B. If `f` then waits for A to finish
//! — `a.shutdown()`, or dropping A's last handle — it waits for the very
//! worker that waits for it: a cycle through two pools (issue 12). So the
//! work handed across carries the ids of the pools whose workers wait for
//! it, in a context slot: everything it spawns inherits them, as children
//! inherit any binding. `shutdown` of one of those pools is then refused
//! with [`ShutdownError::is_called_from_worker`](crate::ShutdownError),
//! like one called on the pool's own worker, and dropping the last handle
//! there begins the shutdown without joining (docs/guarantees.md, S5, S6).
//!
//! Prior art: parking_lot's deadlock detector (<https://docs.rs/parking_lot>) also records who
//! waits for whom, to report cycles instead of hanging.

use super::registry::Registry;
use super::worker::WorkerThread;
use crate::context::Slot;
use std::sync::Arc;

/// The pools whose workers wait for the work running here.
static AWAITED_BY: Slot<Arc<[u64]>> = Slot::new();

/// Whether this thread runs work that a worker of `registry`'s pool waits
/// for: it is one of that pool's workers, or runs work handed across from one.
pub(crate) fn awaited_by(registry: &Registry) -> bool {
    WorkerThread::with_current(|w| w.is_some_and(|w| w.belongs_to(registry)))
        || AWAITED_BY.get().is_some_and(|ids| ids.contains(&registry.id))
}

/// For a scope opened on `target`'s pool: runs its body `f` with this
/// thread's pool recorded if it is *another* pool's worker (which waits for
/// the scope). Bindings already current here (work handed across earlier)
/// reach the scope's children anyway, by their snapshot.
pub(crate) fn carry_into_scope<R>(target: &Registry, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let foreign = WorkerThread::with_current(|w| w.is_some_and(|w| !w.belongs_to(target)));
    let ids = if foreign { Some(carry_ids(target)) } else { None };
    move || match ids.flatten() {
        Some(ids) => AWAITED_BY.bind(ids, f),
        None => f(),
    }
}

/// Runs `f` (work handed to `target`'s pool that this thread will wait
/// for, with `Pool::run`) with the pools waiting for it recorded: those
/// already waiting for this thread's work, and this thread's own pool if it
/// is another pool's worker. Plain `f()` when there are none (the common,
/// off-pool case).
pub(crate) fn carry<R>(target: &Registry, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let ids = carry_ids(target);
    move || match ids {
        Some(ids) => AWAITED_BY.bind(ids, f),
        None => f(),
    }
}

/// The pools that wait for work this thread hands to `target`'s pool.
fn carry_ids(target: &Registry) -> Option<Arc<[u64]>> {
    let own = WorkerThread::with_current(|w| w.filter(|w| !w.belongs_to(target)).map(|w| w.registry.id));
    let inherited = AWAITED_BY.get();
    let ids: Option<Arc<[u64]>> = match (own, inherited) {
        (None, None) => None,
        (None, Some(ids)) => Some(ids),
        (Some(id), None) => Some(Arc::from([id])),
        (Some(id), Some(ids)) => Some(ids.iter().copied().chain([id]).collect()),
    };
    ids
}
