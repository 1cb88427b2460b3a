//! The synchronisation facade: every primitive the pool and the loop use.
//!
//! knotwork's concurrency claims are checked with [loom], which can only see
//! the operations that go through its own types. So no other module names
//! `parking_lot`, `crossbeam` or `std::thread`, nor a `std` lock or atomic
//! that a model must see: they import from here, and this module decides
//! what they get. The few `std::sync` names elsewhere are deliberate, and
//! outside what the models check: `Arc`s of immutable data (a binding
//! table, a trace context, a cross-pool wait record) and the `std::task::Wake`
//! wakers that need `std`'s `Arc`; process-wide counters and gates that
//! must outlive a loom iteration (`hooks::ACTIVE`, the slot index counter,
//! like [`IdCounter`]); the global pool's install lock; and the trace's
//! storage.
//!
//! | item | normal build | `--cfg loom` |
//! |---|---|---|
//! | [`Arc`], atomics, [`fence`] | `std` | `loom` |
//! | [`Mutex`] | `parking_lot::Mutex` | `loom::sync::Mutex` (poisoning unwrapped) |
//! | [`UnsafeCell`] | `std::cell::UnsafeCell` with loom's `with`/`with_mut` shape | `loom::cell::UnsafeCell` |
//! | `thread_local_key!` | `std::thread_local!` | `loom::thread_local!` |
//! | [`thread`] (spawn, join) | `std::thread` | `loom::thread` |
//! | [`Parker`] | `parking_lot` mutex + condvar, with a deadline | loom mutex + condvar; deadlines ignored |
//! | [`time::Instant`] | `std::time::Instant` | a virtual clock the model advances by hand |
//! | [`deque`] | `crossbeam-deque` | a mutex-protected `VecDeque` with the same API |
//! | [`IdCounter`] | `std` atomic | `std` atomic (not modelled, see its docs) |
//!
//! Call sites never carry `#[cfg(loom)]`: the normal types are given loom's
//! method shapes (`UnsafeCell::with_mut`, `Mutex::lock` without poisoning) so
//! that the same code compiles both ways. docs/architecture.md explains why
//! each loom stand-in is a faithful model of the real type.
//!
//! [loom]: https://docs.rs/loom

mod backoff;
pub(crate) mod deque;
mod parker;
pub(crate) mod time;
mod unwind;

pub(crate) use backoff::{SPIN_ROUNDS, backoff};
pub(crate) use unwind::{AbortOnUnwind, drop_contained};

pub(crate) use parker::{
    BlockHook, Parker, Unparker, blocking, install_thread_parker, park_blocking, set_block_hook,
    with_thread_parker,
};

#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

/// Thread spawning and joining.
pub(crate) mod thread {
    #[cfg(not(loom))]
    pub(crate) use std::thread::{Builder, JoinHandle, yield_now};

    #[cfg(loom)]
    pub(crate) use loom::thread::{Builder, JoinHandle, yield_now};
}

/// A mutual-exclusion lock whose `lock` returns the guard directly.
///
/// parking_lot's locks do not poison; loom's do, and a poisoned loom lock can
/// only come from a panic that already failed the model, so the loom variant
/// unwraps.
#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom_mutex::{Mutex, MutexGuard};

#[cfg(loom)]
mod loom_mutex {
    pub(crate) use loom::sync::MutexGuard;

    /// loom's mutex without poisoning, shaped like `parking_lot::Mutex`.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().expect("a loom thread panicked while holding a knotwork lock")
        }
    }
}

/// An `UnsafeCell` with loom's closure-based access shape.
///
/// Under loom every access is checked for races against the accesses of other
/// threads; normally the closures compile away.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }
}

#[cfg(not(loom))]
impl<T: ?Sized> UnsafeCell<T> {
    /// Writes through a unique pointer; the caller proves exclusive access.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// Reads through a shared pointer; the caller proves no write races it.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Declares a thread-local through the facade.
///
/// Normally this is `std::thread_local!` with a `const` initialiser (the
/// cheapest form: no lazy-init check on access). Under loom it is
/// `loom::thread_local!`, whose values are per loom thread and reset between
/// iterations. Only `with` and `try_with` may be used on the key, since that
/// is all loom offers.
macro_rules! thread_local_key {
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(loom))]
        ::std::thread_local!($(#[$attr])* $vis static $name: $t = const { $init };);
        #[cfg(loom)]
        ::loom::thread_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}
pub(crate) use thread_local_key;

/// An id handed out from an [`IdCounter`] when first asked for, not when
/// its owner is made: for objects made on hot paths (a scope per fork)
/// whose id only `Debug` reads, so that making one takes no
/// read-modify-write on the counter's line, which every core writes
/// (issue 18). A plain `std` atomic, like `IdCounter`.
pub(crate) struct LazyId(std::sync::atomic::AtomicU64);

impl LazyId {
    pub(crate) const fn new() -> Self {
        LazyId(std::sync::atomic::AtomicU64::new(0))
    }

    /// The id, taken from `counter` on the first call (ids start at 1, so
    /// 0 means "none yet"); every call returns the same one.
    pub(crate) fn get(&self, counter: &IdCounter) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        // ORDERING: Relaxed: the id publishes nothing; the compare-exchange
        // alone makes every caller agree on the one id installed.
        match self.0.load(Relaxed) {
            0 => match self.0.compare_exchange(0, counter.next(), Relaxed, Relaxed) {
                Ok(_) => self.0.load(Relaxed),
                Err(installed) => installed,
            },
            id => id,
        }
    }
}

/// A process-wide source of unique, never-reused ids (loop ids, pool ids).
///
/// This is a plain `std` atomic in both builds on purpose: a `fetch_add`
/// counter has no interleaving worth exploring, and keeping it outside loom
/// means ids stay unique across loom iterations too (a loom static would be
/// reset and hand out the same ids again, hiding exactly the bug a test of
/// "ids are unique" looks for).
pub(crate) struct IdCounter(std::sync::atomic::AtomicU64);

impl IdCounter {
    pub(crate) const fn new() -> Self {
        IdCounter(std::sync::atomic::AtomicU64::new(1))
    }

    /// Returns the next id, starting at 1.
    pub(crate) fn next(&self) -> u64 {
        // ORDERING: uniqueness needs only the atomicity of the RMW; no other
        // memory is published through the counter.
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// A statistics counter with one writer: a pool slot's thread bumps it, any
/// thread may read it (`Pool::metrics`).
///
/// A plain `std` atomic in both builds, like [`IdCounter`]: nothing in
/// knotwork decides anything from it, so there is no interleaving of it
/// worth exploring, and under loom each access would otherwise be one more
/// scheduling point in every model. `bump` is a load and a store, not an
/// RMW: the counter has one writer (the slot's thread: a slot has at most
/// one thread in its life — a spare slot's thread is started once, recalled
/// rather than replaced, and exits only at termination; a loop's poll
/// counter is bumped by the loop's own thread), so no increment is lost,
/// and the hot path pays no locked instruction.
#[derive(Default)]
pub(crate) struct StatCounter(std::sync::atomic::AtomicU64);

impl StatCounter {
    /// Adds `n`. Only the counter's one writer calls this.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        // ORDERING: statistics only; a reader may see a value a few events
        // old, never a torn one.
        let v = self.0.load(std::sync::atomic::Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), std::sync::atomic::Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub(crate) fn bump(&self) {
        self.add(1);
    }

    /// The count so far.
    pub(crate) fn get(&self) -> u64 {
        // ORDERING: as in `add`.
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The lazy-initialisation cell for the process-wide default pool.
///
/// This is `std::sync::OnceLock` in both builds: the global pool is a
/// `'static` that outlives any loom iteration, so loom models never use it;
/// they build their own pools with `Pool::builder()`.
pub(crate) use std::sync::OnceLock;

/// The default stack size of a pool worker: 8 MiB, the size of a Linux main
/// thread, rather than the 2 MiB `std` gives spawned threads. A worker that
/// waits in a `join` runs other jobs *on its own stack* (that is how nested
/// scopes never deadlock), so nesting depth costs stack: about 1 KiB per
/// level of `scope` + child + `join` in release builds, about 4 KiB in debug
/// builds — 2 MiB would overflow a debug build near depth 500, 8 MiB holds
/// 1000 levels with room to spare (`tests/reliability.rs`). Only touched
/// pages cost memory. Under loom, threads are loom's generators and keep
/// loom's own default.
#[cfg(not(loom))]
pub(crate) const WORKER_STACK_SIZE: Option<usize> = Some(8 << 20);
#[cfg(loom)]
pub(crate) const WORKER_STACK_SIZE: Option<usize> = None;
