//! The task `Waker`: a type-erased pointer to a task header that owns one
//! reference.
//!
//! Waking sets [`SCHEDULED`] with one RMW on the state word; only the wake
//! that sets it pushes the task, so a task is in at most one queue. A wake
//! that lands while the task is [`RUNNING`] only sets the bit, and the runner
//! re-queues the task when its poll returns. Wakes of a completed or
//! cancelled task are absorbed. The push goes to the owning loop: to its
//! local ready queue when the waker runs on the loop's thread, else to its
//! remote queue (which is closed, and drops the push, once the loop is gone).

use super::raw::{Header, TaskRef};
use super::state::*;
use crate::sync::Ordering;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable};

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

/// A raw waker for the task at `ptr`. The caller decides whether it owns a
/// reference (a cloned `Waker`) or borrows one (the runner's own waker).
pub(crate) fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER_VTABLE)
}

/// Adds a reference, made from an existing one.
pub(super) fn increment(header: &Header) {
    // ORDERING: a new reference is made from an existing one, which already
    // keeps the task alive; nothing is published (as `Arc::clone`).
    let prev = header.state.fetch_add(REFERENCE, Ordering::Relaxed);
    if prev > isize::MAX as usize {
        // Like `Arc`: billions of leaked wakers; continuing could overflow.
        std::process::abort();
    }
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
    increment(header);
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
    // ORDERING: Relaxed load; the CAS decides.
    let mut state = header.state.load(Ordering::Relaxed);
    loop {
        if state & (COMPLETED | CLOSED | SCHEDULED) != 0 {
            // Done, being cancelled (already queued by the canceller), or
            // already queued: this wake is absorbed.
            return;
        }
        let (next, must_queue) = if state & RUNNING != 0 {
            // The runner re-queues it when the poll returns.
            (state | SCHEDULED, false)
        } else {
            ((state + REFERENCE) | SCHEDULED, true)
        };
        // ORDERING: Release: what the waker did before waking happens-before
        // the poll that the queue entry leads to (the queue's own lock or the
        // RUNNING-clear Acquire carries it on). Acquire: a task that was
        // polled (so a waker exists) was bound to its loop before that poll.
        match header.state.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => {
                if must_queue {
                    // SAFETY: the CAS added the reference this TaskRef owns.
                    let task = unsafe { task_from_waker(ptr) };
                    let owner = std::ptr::from_ref::<super::inbox::Inbox>(task.owner());
                    // SAFETY: the waker's own reference (still held) keeps
                    // the header, and so its `owner` Arc, alive for the call.
                    unsafe { (*owner).schedule(task) };
                }
                return;
            }
            Err(actual) => state = actual,
        }
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
