//! # knotwork
//!
//! A structured-concurrency runtime: nursery scopes whose joins are
//! guaranteed, with cancellation and panic propagation, built on a
//! from-scratch work-stealing pool and a minimal single-threaded loop that
//! every thread gets lazily, on first use; context slots inherited by every
//! child; and a trace that shows and audits what a program ran.
//!
//! It re-imagines a Python library built on `asyncio.to_thread`: run sync or
//! async work on a pool thread, give every thread its own event loop, set a
//! global default pool. knotwork adds what the original lacks — exact
//! shutdown, loops that are torn down, and nursery scopes whose joins are
//! guaranteed.
//!
//! ## The pieces
//!
//! | piece | what |
//! |---|---|
//! | [`Pool`], [`PoolBuilder`], [`join`], [`current_num_threads`] | work-stealing threads: per-worker deques, a global injector, random-victim stealing, parked idle workers; [`Pool::broadcast`], thread start/stop hooks, [`Pool::metrics`] |
//! | [`Loop`], [`block_on`], [`spawn_local`] | one loop per thread, created lazily and cached: tasks, timers, cross-thread wakes |
//! | [`sleep`], [`sleep_until`], [`interval`], [`timeout`], [`yield_now`] | time and fairness on the loop |
//! | [`scope`], [`Scope`], [`Task`], [`scope_async`], [`is_cancelled`] | nursery scopes: children joined before the scope returns, cancelled together, panics re-raised |
//! | [`scope_with`], [`Policy`], [`ScopeError`], [`TaskSet`] | failures as values ([`Scope::exec_try`]), completion policies, every failure collected, completion order |
//! | [`Slot`], [`Context`], [`Inheritance`] | context slots, inherited by the children of a scope as each slot says; carried anywhere by a [`Context`] |
//! | [`Scope::start`], [`shield`], [`Limiter`] | the start handshake, shielded cleanup, a cooperating capacity limiter |
//! | [`trace`] | record what a program ran: a text tree, Perfetto JSON, an SVG timeline, and an audit of the join guarantees |
//! | [`guide`] | the project's documents: [guarantees](guide::guarantees), [architecture](guide::architecture), [loom models](guide::loom), [performance](guide::performance), [the Python original, mapped](guide::seed_mapping) |
//!
//! Every atomic, lock, thread-local and thread goes through one internal
//! facade, so that `--cfg loom` model-checks the real code
//! ([guide::loom]).
//!
//! ## A first look
//!
//! ```
//! // A nursery: both children are joined before `scope` returns, and they
//! // may borrow from the caller's stack.
//! let mut halves = [0u64; 2];
//! let (lo, hi) = halves.split_at_mut(1);
//! knotwork::scope(|s| {
//!     s.exec_blocking(|| lo[0] = (1..=50).sum());
//!     s.exec(async { hi[0] = (51..=100).sum() });
//! });
//! assert_eq!(halves[0] + halves[1], 5050);
//! ```
//!
//! The five use cases of the Python original, on a pool and its loops:
//!
//! ```
//! use std::time::Duration;
//! let pool = knotwork::Pool::builder().threads(2).build()?;
//!
//! // 1. Async code calls a blocking function: it awaits a blocking child,
//! //    so its own loop keeps running other tasks meanwhile (a plain
//! //    `pool.run` here would block the loop until the function returns).
//! let total = knotwork::block_on(pool.scope_async(async |s| {
//!     knotwork::sleep(Duration::from_millis(1)).await;
//!     s.exec_blocking(|| (1..=10).sum::<u32>()).await
//! }))?;
//! assert_eq!(total, 55);
//!
//! // 2. Sync code calls a sync function that runs async code: on a worker,
//! //    `block_on` drives that worker's own loop.
//! let v = pool.run(|| knotwork::block_on(async { knotwork::yield_now().await; 7 }))?;
//! assert_eq!(v, 7);
//!
//! // 3. Async code calls a sync function that runs async code.
//! let w = knotwork::block_on(pool.scope_async(async |s| {
//!     s.exec_blocking(|| knotwork::block_on(async { 8 })).await
//! }))?;
//! assert_eq!(w, 8);
//!
//! // 4. Async code runs an async function on another thread.
//! let x = knotwork::block_on(pool.scope_async(async |s| s.exec(async { 9 }).await))?;
//! assert_eq!(x, 9);
//!
//! // 5. Sync code calls an async function.
//! let y = pool.scope(|s| s.exec(async { 10 }).join())?;
//! assert_eq!(y, 10);
//!
//! pool.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Guarantees
//!
//! [guide::guarantees] states each guarantee — shutdown, loop lifetime,
//! scopes, failures, structure, liveness, soundness — and names the test
//! that shows it; [guide::architecture] draws the pool, the loop and the
//! scopes, layer by layer.
//!
//! Prior art: Trio's nurseries (<https://trio.readthedocs.io>), rayon (<https://docs.rs/rayon>) and
//! tokio (<https://docs.rs/tokio>); [guide::architecture] names the rest, file by file.

#![warn(missing_docs, missing_debug_implementations)]
// A plain `pub` in src/ is public API (tests/doc_examples.rs relies on it).
#![warn(unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod context;
mod error;
mod event_loop;
mod failure;
pub mod guide;
mod hooks;
mod pool;
mod scope;
mod sync;
mod task;
pub mod trace;

pub use context::{Context, Slot};
pub use failure::{BoxError, ChildFailure, Failure, PanicPayload, ScopeError};
pub use hooks::Inheritance;
pub use scope::{
    Acquire, ChildInfo, FailFast, FirstSuccess, Limiter, Permit, Policy, Ready, Scope, ScopeHandle, Shield,
    ShieldFor, StartError, Starting, Supervise, Task, TaskSet, Verdict, is_cancelled, scope, scope_async,
    scope_async_with, scope_with, shield, shield_blocking, shield_for,
};

pub use error::{BuildError, ShutdownError, TaskError};
pub use event_loop::{
    Elapsed, Interval, LocalTask, Loop, LoopId, MissedTicks, Sleep, Tick, Timeout, YieldNow, block_on,
    interval, interval_at, sleep, sleep_until, spawn_local, timeout, yield_now,
};
pub use pool::{Pool, PoolBuilder, PoolMetrics, WorkerMetrics, current_num_threads};

/// Runs `a` and `b`, potentially in parallel, on the current pool (the one
/// whose worker this is, else the global pool). See [`Pool::join`].
///
/// # Panics
///
/// If the global pool is needed and is shut down.
///
/// # Examples
///
/// ```
/// let (a, b) = knotwork::join(|| 1 + 1, || 2 + 2);
/// assert_eq!((a, b), (2, 4));
/// ```
#[track_caller]
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    // On a worker, its own pool's join, straight from the worker: no pool
    // handle is cloned (that would be two atomic read-modify-writes on a
    // line every core writes, per fork; issue 18).
    if let Some(worker) = pool::worker::WorkerThread::current_ptr() {
        // SAFETY: this thread's live worker, valid while this call runs on it.
        return unsafe { worker.as_ref() }.join(a, b);
    }
    match Pool::global().join(a, b) {
        Ok(both) => both,
        Err(e) => panic!("knotwork::join: {e}"),
    }
}

/// Which public types may cross threads, pinned by the compiler: a change
/// that loses one of these fails the build, not a user's.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<Pool>();
    // `catch_unwind(|| pool.run(..))` needs no `AssertUnwindSafe`.
    const fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<Pool>();
    unwind_safe::<&Pool>();
    send_sync::<PoolMetrics>();
    send_sync::<PoolBuilder>();
    send_sync::<Scope<'static, 'static>>();
    send_sync::<ScopeHandle>();
    send_sync::<Task<'static, ()>>();
    send_sync::<Slot<u8>>();
    send_sync::<Context>();
    send_sync::<Limiter>();
    send_sync::<Ready<u8>>();
    send::<Starting<'static, u8, ()>>();
    send_sync::<Permit<'static>>();
    // A panic payload (`Box<dyn Any + Send>`, as in `std::thread::Result`)
    // is not `Sync`, so neither is the error that carries one.
    send::<TaskError>();
    send_sync::<ShutdownError>();
    send_sync::<trace::Trace>();
};

/// The future of [`scope_async`] is `Send` when its body is: an async scope
/// may be spawned on any executor.
#[allow(dead_code)]
fn scope_async_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    is_send(&scope_async(async |s| s.exec(async { 1 }).await));
}

/// The README's Rust example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Internals that the loom models (a separate crate) need to reach.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::sync::time::advance as advance_clock;
}
