//! The thread-local that holds a thread's loop, created lazily and cached.
//!
//! # Lifetime of a thread's loop
//!
//! ```text
//!   Empty ──first Loop::current()/block_on/spawn_local──▶ Live(core) ──thread exit──▶ Dead
//!                                                          (or a worker's explicit teardown)
//! ```
//!
//! * **Lazy, exactly one.** The slot starts `Empty`; the first call that
//!   needs a loop creates it and caches it; every later call returns the same
//!   `Rc`. A thread's slot is only ever touched by that thread, so there is no
//!   race to create two.
//! * **Torn down exactly once.** Pool workers tear their loop down explicitly
//!   before their thread returns (loom's `join` may return before thread-local
//!   destructors have run, so the pool cannot rely on them); every other
//!   thread's loop is torn down by the thread-local's destructor. Both paths
//!   first move the slot to `Dead`, so teardown runs once and no loop is ever
//!   created again on that thread (a late `Loop::current()` panics with a
//!   message instead).
//! * **Cached.** Beside the slot, a raw-pointer thread-local (`CURRENT_FAST`,
//!   no destructor) caches the live core, so the hot lookup is one
//!   thread-local load (docs/performance.md: `Loop::current`).
//!
//! Prior art: std's `thread_local!` (<https://doc.rust-lang.org/std/macro.thread_local.html>): lazy
//! initialisation, and the destructor as the teardown fallback.

use super::loop_core::{LoopCore, LoopOwner, new_core};
use crate::sync::Arc;
use crate::task::{Inbox, TaskRef};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

enum Slot {
    Empty,
    Live(Rc<LoopCore>),
    Dead,
}

/// The thread-local cell; its destructor is the teardown fallback.
struct ThreadLoop(RefCell<Slot>);

impl Drop for ThreadLoop {
    fn drop(&mut self) {
        clear_fast();
        if let Slot::Live(core) = std::mem::replace(self.0.get_mut(), Slot::Dead) {
            core.teardown();
        }
    }
}

crate::sync::thread_local_key! {
    static CURRENT: ThreadLoop = ThreadLoop(RefCell::new(Slot::Empty));
}

crate::sync::thread_local_key! {
    /// A cache of `Rc::as_ptr` of the `Live` core in `CURRENT`, or null.
    ///
    /// `CURRENT` has a destructor, so every access to it checks whether the
    /// thread-local is still alive; this one holds a raw pointer (no
    /// destructor), which makes the cached lookup in [`current`] a single
    /// thread-local load. Invariant: non-null only while `CURRENT` is
    /// `Live` with exactly this core, so the pointer is always valid.
    static CURRENT_FAST: Cell<*const LoopCore> = Cell::new(std::ptr::null());
}

fn clear_fast() {
    let _ = CURRENT_FAST.try_with(|fast| fast.set(std::ptr::null()));
}

crate::sync::thread_local_key! {
    /// While `block_on` drives a loop of its own on an exiting thread
    /// (`exit_loop`): that loop, so that the timers polled inside it find
    /// it ([`polling_loop`]). Null otherwise. A raw pointer with no
    /// destructor, like `CURRENT_FAST`, so it is readable during thread
    /// exit; the `Rc` it points to is held by that `block_on` for as long as
    /// the pointer is set.
    static EXIT_CORE: Cell<*const LoopCore> = Cell::new(std::ptr::null());
}

crate::sync::thread_local_key! {
    /// The owner a pool worker hands to the loop it will create.
    static OWNER: RefCell<Option<Box<dyn LoopOwner>>> = RefCell::new(None);
}

/// Called by a pool worker before anything creates its loop: the loop will
/// serve `owner` (its local tasks count as the pool's outstanding work, and
/// only the pool tears it down).
pub(crate) fn install_owner(owner: Box<dyn LoopOwner>) {
    OWNER.with(|o| *o.borrow_mut() = Some(owner));
}

/// Drops the owner if no loop took it. Workers call this before they exit,
/// rather than leave a pool reference to a thread-local destructor (which
/// loom's `join` does not wait for).
pub(crate) fn uninstall_owner() {
    let _ = OWNER.try_with(|o| o.borrow_mut().take());
}

/// Whether this thread's loop serves a pool (or will, once created): a pool
/// worker's loop, which only the pool tears down.
pub(crate) fn serves_a_pool() -> bool {
    OWNER.try_with(|o| o.borrow().is_some()).unwrap_or(false)
        || try_current().is_some_and(|core| core.owner.is_some())
}

const DEAD_MSG: &str = "this thread's knotwork loop has already been torn down (the thread is exiting); \
                        no new loop is created for it";

/// This thread's loop, created on first use.
///
/// # Panics
/// If the thread's loop was already torn down (at the caller's line: the
/// public entries that reach this are `#[track_caller]` too).
#[inline]
#[track_caller]
pub(crate) fn current() -> Rc<LoopCore> {
    let fast = CURRENT_FAST.try_with(Cell::get).unwrap_or(std::ptr::null());
    if !fast.is_null() {
        // SAFETY: by the invariant of `CURRENT_FAST`, `fast` is the pointer
        // of the `Rc` held by this thread's `Live` slot, so the allocation is
        // alive; we add a count for the `Rc` we return.
        return unsafe {
            Rc::increment_strong_count(fast);
            Rc::from_raw(fast)
        };
    }
    // At thread exit the slot itself may be gone (`try_with` fails): the
    // same "torn down" answer, at the caller's line, not std's.
    match CURRENT.try_with(create) {
        Ok(Some(core)) => core,
        _ => panic!("{DEAD_MSG}"),
    }
}

/// The slot's loop, created if there is none yet; `None` if it is dead.
#[cold]
fn create(slot: &ThreadLoop) -> Option<Rc<LoopCore>> {
    let mut slot = slot.0.borrow_mut();
    Some(match &*slot {
        Slot::Live(core) => core.clone(),
        Slot::Dead => return None,
        Slot::Empty => {
            let core = new_core(OWNER.with(|o| o.borrow_mut().take()));
            *slot = Slot::Live(core.clone());
            CURRENT_FAST.with(|fast| fast.set(Rc::as_ptr(&core)));
            core
        }
    })
}

/// A loop for `block_on` on a thread whose own loop is already gone (the
/// thread is exiting: `block_on` called from a thread-local destructor).
/// It is nobody's cached loop: `block_on` tears it down before returning,
/// and code inside that asks for the thread's loop (`sleep`, `spawn_local`)
/// gets the clear "torn down" panic. `None` if the thread's loop is fine.
pub(crate) fn exit_loop() -> Option<Rc<LoopCore>> {
    if !CURRENT_FAST.try_with(Cell::get).unwrap_or(std::ptr::null()).is_null() {
        return None;
    }
    let usable = CURRENT.try_with(|slot| !matches!(&*slot.0.borrow(), Slot::Dead)).unwrap_or(false);
    if usable { None } else { Some(new_core(None)) }
}

/// Marks `core` (an [`exit_loop`]) as the loop this thread drives until the
/// guard is dropped. The caller keeps `core` alive meanwhile.
pub(crate) fn driving_exit_loop(core: &Rc<LoopCore>) -> impl Drop {
    struct Unset(*const LoopCore);
    impl Drop for Unset {
        fn drop(&mut self) {
            let _ = EXIT_CORE.try_with(|c| c.set(self.0));
        }
    }
    Unset(EXIT_CORE.try_with(|c| c.replace(Rc::as_ptr(core))).unwrap_or(std::ptr::null()))
}

/// The loop a future polled on this thread runs on: this thread's loop,
/// else the loop of its own that a `block_on` on an exiting thread drives.
pub(crate) fn polling_loop() -> Option<Rc<LoopCore>> {
    try_current().or_else(|| {
        let exit = EXIT_CORE.try_with(Cell::get).unwrap_or(std::ptr::null());
        if exit.is_null() {
            return None;
        }
        // SAFETY: non-null only while the `block_on` that set it holds the
        // `Rc` (`driving_exit_loop`); we add a count for the one returned.
        unsafe {
            Rc::increment_strong_count(exit);
            Some(Rc::from_raw(exit))
        }
    })
}

/// Whether this thread's loop is gone for good (torn down, or its
/// thread-local destroyed at thread exit).
pub(crate) fn is_dead() -> bool {
    CURRENT.try_with(|slot| matches!(&*slot.0.borrow(), Slot::Dead)).unwrap_or(true)
}

/// How many live tasks this thread's loop has (0 if it has none): a
/// cheap look, through the pointer cache.
pub(crate) fn live_task_count() -> usize {
    with_live(LoopCore::live_tasks).unwrap_or(0)
}

/// Runs `f` on this thread's live loop, found through the pointer cache;
/// `None` if the thread has no live loop. `f` is a plain `fn` of the loop
/// layer (one that cannot tear the loop down while it holds the borrow).
pub(super) fn with_live<R>(f: fn(&LoopCore) -> R) -> Option<R> {
    let fast = CURRENT_FAST.try_with(Cell::get).unwrap_or(std::ptr::null());
    if fast.is_null() {
        return None;
    }
    // SAFETY: by the invariant of `CURRENT_FAST`, this thread's live loop,
    // alive for the call: only a teardown of this thread's slot frees it,
    // and the callers (`LoopCore::requeue_held`, `LoopCore::live_tasks`)
    // only move queue entries or read a length.
    Some(f(unsafe { &*fast }))
}

/// This thread's loop if it exists; never creates one.
pub(crate) fn try_current() -> Option<Rc<LoopCore>> {
    CURRENT
        .try_with(|slot| match &*slot.0.try_borrow().ok()? {
            Slot::Live(core) => Some(core.clone()),
            _ => None,
        })
        .ok()
        .flatten()
}

/// Whether a task of this thread's loop (or a `block_on` root) is being
/// polled somewhere up the stack: tearing the loop down now would drop a
/// future in the middle of its own poll.
pub(crate) fn is_running_a_task() -> bool {
    try_current().is_some_and(|core| core.running.get() > 0)
}

/// Tears down this thread's loop now, if it has one, and marks the thread
/// as having no loop for the rest of its life. Used by pool workers (after
/// their last job, so nothing of the loop is running).
pub(crate) fn teardown_current() -> bool {
    clear_fast();
    let slot = CURRENT.try_with(|slot| std::mem::replace(&mut *slot.0.borrow_mut(), Slot::Dead));
    match slot {
        Ok(Slot::Live(core)) => {
            core.teardown();
            true
        }
        _ => false,
    }
}

/// The local fast path of a wake: if `inbox` is this thread's loop, queue
/// the task directly and return `None`; otherwise hand the task back.
pub(crate) fn schedule_local(inbox: &Inbox, task: TaskRef) -> Option<TaskRef> {
    let mut task = Some(task);
    let _ = CURRENT.try_with(|slot| {
        if let Ok(slot) = slot.0.try_borrow() {
            if let Slot::Live(core) = &*slot {
                if std::ptr::eq(Arc::as_ptr(&core.inbox), inbox) {
                    if let Ok(mut ready) = core.ready.try_borrow_mut() {
                        ready.push_back(task.take().expect("taken once"));
                    }
                }
            }
        }
    });
    task
}
