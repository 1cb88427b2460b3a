//! The task `Waker`: a type-erased pointer to a task header that owns one
//! reference.
//!
//! Waking sets `SCHEDULED` with one RMW on the state word; only the wake
//! that sets it pushes the task, so a task is in at most one queue. A wake
//! that lands while the task is `RUNNING` only sets the bit, and the runner
//! re-queues the task when its poll returns. Wakes of a completed or
//! cancelled task are absorbed. The push goes to the owning loop: to its
//! local ready queue when the waker runs on the loop's thread, else to its
//! remote queue (which is closed, and drops the push, once the loop is gone).
//!
//! Prior art: async-task's waker vtable (<https://docs.rs/async-task>).

use super::raw::{Header, TaskRef};
use super::state::Wake;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable};

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

/// A raw waker for the task at `ptr`. The caller decides whether it owns a
/// reference (a cloned `Waker`) or borrows one (the runner's own waker).
pub(crate) fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER_VTABLE)
}

/// # Safety
/// `ptr` is a waker's data pointer (a live header), and the caller hands
/// over one reference that the new `TaskRef` will own.
unsafe fn task_from_waker(ptr: *const ()) -> TaskRef {
    // SAFETY: waker data pointers are made from `NonNull<Header>` in
    // `raw_waker`, so `ptr` is non-null; the reference is handed over.
    unsafe { TaskRef::from_raw(NonNull::new_unchecked(ptr.cast_mut().cast::<Header>())) }
}

// The waker functions. Each receives a pointer to a live header: a `Waker`
// owns one reference (or, for the borrowed waker in `run`, is backed by the
// runner's reference).

unsafe fn clone_waker(ptr: *const ()) -> RawWaker {
    // SAFETY: the waker's reference keeps the header alive.
    let header = unsafe { &*ptr.cast::<Header>() };
    header.state.ref_inc();
    RawWaker::new(ptr, &WAKER_VTABLE)
}

unsafe fn wake(ptr: *const ()) {
    // SAFETY: forwarded; then the waker's own reference is released.
    unsafe {
        wake_by_ref(ptr);
        drop_waker(ptr);
    }
}

unsafe fn wake_by_ref(ptr: *const ()) {
    // SAFETY: the waker's reference keeps the header alive.
    let header = unsafe { &*ptr.cast::<Header>() };
    // Done, being cancelled (queued by the canceller), already queued, or
    // running (the runner re-queues it): nothing more to do.
    if header.state.wake(&header.shields) == Wake::Queue {
        // SAFETY: the transition added the reference this TaskRef owns.
        let task = unsafe { task_from_waker(ptr) };
        let owner = std::ptr::from_ref::<super::inbox::Inbox>(task.owner());
        // SAFETY: the waker's own reference (still held) keeps the header,
        // and so its `owner` Arc, alive for the call.
        unsafe { (*owner).schedule(task) };
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    // SAFETY: the waker owned exactly this reference, which we now release.
    drop(unsafe { task_from_waker(ptr) });
}

/// Wakes `waker`, containing a panic of its `wake`: a waker is foreign
/// code, and an unwind out of the loop's tick would escape the waits that
/// run it (a worker's `wait_until` inside `join` or a scope) while their
/// stack still holds jobs other threads point to.
pub(crate) fn wake_caught(waker: std::task::Waker) {
    if catch_unwind(AssertUnwindSafe(|| waker.wake())).is_err() {
        eprintln!("knotwork: a Waker panicked in wake(); the panic was discarded");
    }
}
