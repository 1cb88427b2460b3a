//! A permit-based parker with an optional deadline: the one place where a
//! knotwork thread (a pool worker or a thread inside `block_on`) sleeps.
//!
//! # Protocol
//!
//! `state` is one of [`EMPTY`], [`PARKED`] or [`NOTIFIED`]. An unpark that
//! arrives while nobody is parked leaves a permit ([`NOTIFIED`]) that the next
//! park consumes at once, so a wake-up can never be lost between "I checked
//! for work and found none" and "I went to sleep" — the property the pool's
//! idle protocol and the loop's cross-thread wakes both rely on.
//!
//! * `park`: consume a permit if there is one; otherwise, under the lock, move
//!   `EMPTY → PARKED` and wait on the condition variable until the state is
//!   `NOTIFIED` (or the deadline passes), then reset it to `EMPTY`.
//! * `unpark`: `swap(NOTIFIED)`. If the old state was `PARKED`, take and drop
//!   the lock (so the parker is either not yet waiting, and will see
//!   `NOTIFIED` under the lock, or is waiting and gets the notification),
//!   then notify.
//!
//! The waking side uses `swap` rather than a plain `store` because loom
//! reports a false deadlock for the store-then-unpark shape (loom#254); the
//! `swap` is also what the argument above needs, since it tells the waker
//! whether a sleeper exists.
//!
//! Prior art: crossbeam-utils' `Parker`
//! (<https://docs.rs/crossbeam-utils/latest/crossbeam_utils/sync/struct.Parker.html>) and std's
//! `thread::park` token.

use super::time::Instant;
use super::{Arc, AtomicUsize, Mutex, Ordering};

/// No permit, nobody parked.
const EMPTY: usize = 0;
/// The owner is (about to be) blocked on the condition variable.
const PARKED: usize = 1;
/// A permit is available; the next `park` returns immediately.
const NOTIFIED: usize = 2;

#[cfg(loom)]
use loom::sync::Condvar;
#[cfg(not(loom))]
use parking_lot::Condvar;

struct Inner {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
}

/// The sleeping half: owned by exactly one thread.
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

/// The waking half: any thread may hold and use it.
#[derive(Clone)]
pub(crate) struct Unparker {
    inner: Arc<Inner>,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
                lock: Mutex::new(()),
                cvar: Condvar::new(),
            }),
        }
    }

    /// A handle that wakes this parker.
    pub(crate) fn unparker(&self) -> Unparker {
        Unparker { inner: self.inner.clone() }
    }

    /// Blocks until unparked or, if given, until `deadline`.
    ///
    /// May return spuriously; callers re-check their condition in a loop.
    pub(crate) fn park(&self, deadline: Option<Instant>) {
        let inner = &*self.inner;
        // ORDERING: Acquire pairs with the Release `swap` in `unpark`, so what
        // the waker wrote before waking us is visible once the permit is taken.
        if inner.state.compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return;
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return;
        }
        let mut guard = inner.lock.lock();
        // ORDERING: Relaxed is enough: the lock orders this against the
        // waker's lock/unlock, and a failed exchange is followed by the
        // Acquire swap below.
        if let Err(actual) = inner.state.compare_exchange(EMPTY, PARKED, Ordering::Relaxed, Ordering::Relaxed)
        {
            debug_assert_eq!(actual, NOTIFIED, "only the owner parks");
            // ORDERING: Acquire, as in the fast path above.
            inner.state.swap(EMPTY, Ordering::Acquire);
            return;
        }
        loop {
            let timed_out;
            (guard, timed_out) = wait(&inner.cvar, guard, deadline);
            // ORDERING: Acquire, as in the fast path above.
            if inner.state.compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return;
            }
            if timed_out {
                // ORDERING: Acquire in case a permit raced with the timeout;
                // either way the state goes back to EMPTY for the next park.
                inner.state.swap(EMPTY, Ordering::Acquire);
                return;
            }
            // Spurious condvar wake-up: wait again.
        }
    }
}

impl Unparker {
    /// Wakes the parker, or leaves a permit if it is not parked.
    pub(crate) fn unpark(&self) {
        let inner = &*self.inner;
        // ORDERING: Release publishes the caller's writes (a pushed job, a
        // queued wake) to the parker's Acquire.
        match inner.state.swap(NOTIFIED, Ordering::Release) {
            EMPTY | NOTIFIED => {}
            PARKED => {
                // The parker set PARKED under the lock and waits on the
                // condvar; taking the lock here means it has started waiting,
                // so the notification cannot slip in before its wait.
                drop(inner.lock.lock());
                inner.cvar.notify_one();
            }
            other => unreachable!("invalid parker state {other}"),
        }
    }
}

#[cfg(not(loom))]
fn wait<'a>(
    cvar: &Condvar,
    mut guard: super::MutexGuard<'a, ()>,
    deadline: Option<Instant>,
) -> (super::MutexGuard<'a, ()>, bool) {
    let timed_out = match deadline {
        Some(deadline) => cvar.wait_until(&mut guard, deadline).timed_out(),
        None => {
            cvar.wait(&mut guard);
            false
        }
    };
    (guard, timed_out)
}

/// Under loom a condvar never times out, so a deadline in the future is
/// waited for like no deadline at all: the model must advance the virtual
/// clock (`sync::time::advance`) and unpark the thread. A deadline already
/// passed returns at once as a timeout.
#[cfg(loom)]
fn wait<'a>(
    cvar: &Condvar,
    guard: super::MutexGuard<'a, ()>,
    deadline: Option<Instant>,
) -> (super::MutexGuard<'a, ()>, bool) {
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return (guard, true);
    }
    let guard = cvar.wait(guard).expect("a loom thread panicked while holding a knotwork lock");
    (guard, deadline.is_some_and(|d| d <= Instant::now()))
}

crate::sync::thread_local_key! {
    /// This thread's parker, created on first use. Pool workers and the
    /// thread's loop share it, so one `unpark` wakes the thread whatever it
    /// is waiting for (a job, a timer, a task woken from elsewhere).
    static THREAD_PARKER: std::cell::OnceCell<Parker> = std::cell::OnceCell::new();
}

crate::sync::thread_local_key! {
    /// The parker of a thread whose `THREAD_PARKER` is already destroyed
    /// (knotwork called from another thread-local's destructor): leaked, one
    /// per such thread, and held by a destructor-free cell so that it stays
    /// reachable until the thread is gone.
    static EXIT_PARKER: std::cell::Cell<*const Parker> = std::cell::Cell::new(std::ptr::null());
}

/// Runs `f` with this thread's parker.
///
/// Also works while the thread exits: from a thread-local destructor that
/// runs after the parker's own, `f` gets a parker made for the rest of the
/// thread's life (L7 in docs/guarantees.md), instead of a panic that would
/// abort the process there.
pub(crate) fn with_thread_parker<R>(f: impl FnOnce(&Parker) -> R) -> R {
    let mut f = Some(f);
    let done = THREAD_PARKER.try_with(|cell| (f.take().expect("called once"))(cell.get_or_init(Parker::new)));
    match done {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called yet"))(exit_parker()),
    }
}

#[cold]
fn exit_parker() -> &'static Parker {
    let existing = EXIT_PARKER.try_with(std::cell::Cell::get).unwrap_or(std::ptr::null());
    if !existing.is_null() {
        // SAFETY: a leaked `Box<Parker>`, never freed (see `EXIT_PARKER`).
        return unsafe { &*existing };
    }
    let leaked: &'static Parker = Box::leak(Box::new(Parker::new()));
    let _ = EXIT_PARKER.try_with(|cell| cell.set(leaked));
    leaked
}

/// Makes `parker` this thread's parker. Pool workers call this first thing,
/// so that the pool (which made the parker and kept its unparker) can wake
/// them and their loop uses the same one.
///
/// # Panics
/// If the thread already has a parker (a bug in the pool).
pub(crate) fn install_thread_parker(parker: Parker) {
    THREAD_PARKER.with(|cell| {
        if cell.set(parker).is_err() {
            panic!("knotwork: a worker thread already had a parker");
        }
    });
}

/// What a pool worker does around a blocking wait (`pool/spare.rs`): before
/// it, hand the worker's place to a spare thread if work would otherwise
/// wait; after it, take the place back. And, before it parks, run what only
/// this thread may run (`pool/broadcast.rs`: a broadcast's call for it).
#[derive(Copy, Clone)]
pub(crate) struct BlockHook {
    /// The worker (opaque here), valid while the hook is installed.
    pub(crate) data: *const (),
    /// Called with `true` before blocking and `false` after.
    pub(crate) call: unsafe fn(*const (), bool),
    /// Runs work addressed to this very thread, if any; returns whether
    /// some ran (then the wait looks at its condition again instead of
    /// parking).
    pub(crate) serve: unsafe fn(*const ()) -> bool,
}

crate::sync::thread_local_key! {
    /// Set by a pool worker for as long as its thread runs as one.
    static BLOCK_HOOK: std::cell::Cell<Option<BlockHook>> = std::cell::Cell::new(None);
}

/// Installs (or, with `None`, removes) this thread's block hook.
pub(crate) fn set_block_hook(hook: Option<BlockHook>) {
    let _ = BLOCK_HOOK.try_with(|h| h.set(hook));
}

/// Runs `f`, a wait that blocks this thread, between the two calls of this
/// thread's block hook (if it is a pool worker): the pool keeps as many
/// threads running its work as it has workers, whatever this one waits for
/// (L3 in docs/guarantees.md). The hook is not re-entered from inside `f`.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let hook = BLOCK_HOOK.try_with(|h| h.take()).ok().flatten();
    let Some(hook) = hook else { return f() };
    /// Calls the hook's "after" half and reinstalls it, also on unwind.
    struct Exit(BlockHook);
    impl Drop for Exit {
        fn drop(&mut self) {
            // SAFETY: installed by a live worker on this thread, which
            // outlives every wait its thread makes.
            unsafe { (self.0.call)(self.0.data, false) };
            set_block_hook(Some(self.0));
        }
    }
    // SAFETY: as in `Exit::drop`.
    unsafe { (hook.call)(hook.data, true) };
    let _exit = Exit(hook);
    f()
}

/// Parks this thread as a blocking wait: [`blocking`] around
/// [`Parker::park`]. On a pool worker, work addressed to this thread alone
/// (a broadcast's call) runs first, and then this returns without parking:
/// every caller parks in a loop that looks at its condition again, and a
/// delivery of such work unparks this thread, so none waits for ever behind
/// a park (L9 in docs/guarantees.md).
pub(crate) fn park_blocking(deadline: Option<Instant>) {
    // Not inside another blocking section: its hook is taken (`blocking`).
    if let Some(hook) = BLOCK_HOOK.try_with(std::cell::Cell::get).ok().flatten() {
        // SAFETY: installed by a live worker on this thread, which outlives
        // every wait its thread makes.
        if unsafe { (hook.serve)(hook.data) } {
            return;
        }
    }
    blocking(|| with_thread_parker(|p| p.park(deadline)));
}
