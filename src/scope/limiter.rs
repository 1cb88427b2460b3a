//! [`Limiter`]: at most `n` holders at once, waiters served first come,
//! first served, and no waiter that stalls the pool.
//!
//! # The protocol
//!
//! One lock guards the count of free permits and a FIFO queue of waiters
//! (an intrusive list in a slab: O(1) to join, leave and serve).
//!
//! * **Acquire**: if a permit is free *and nobody queues*, take it; else
//!   join the queue's tail with a waker. Never barge past a waiter: a free
//!   permit with a non-empty queue cannot exist (a release hands it on).
//! * **Release** (a [`Permit`]'s drop, also while unwinding): if a waiter
//!   queues, the permit goes to the head — marked `granted`, unlinked, its
//!   waker taken — and the waker is woken *after* the lock is dropped; else
//!   the count goes up. So the permit is never free between two holders,
//!   and FIFO order is exact.
//! * **A waiter that leaves** (its [`Acquire`] future dropped: a cancelled
//!   task, a `timeout`): under the lock, a queued waiter unlinks itself; a
//!   waiter that was granted the permit but had not taken it releases it —
//!   to the next waiter. No permit is lost, none is duplicated. The loom
//!   model `limiter_release_races_cancellation` checks this race.
//!
//! # Blocking waiters
//!
//! [`Limiter::acquire_blocking`] runs the same future on this thread's
//! loop, as [`block_on`](crate::block_on) does, with one difference: every
//! task pinned to the loop keeps running on top of the wait (a plain
//! `block_on` in a child lets only that child's subtree run), because a
//! holder among them must be able to release — on a pool of one thread,
//! the async holders of the permit are pinned to the very worker whose
//! blocking child waits. Its park is a blocking park, so the pool hands
//! this worker's place to a spare while it waits (L3 in
//! docs/guarantees.md). It never helps by running other *jobs* on top of
//! its frame: a job that queued on the same limiter would then wait above
//! a frame that holds the turn it waits for. It looks at
//! [`is_cancelled`](crate::is_cancelled) every millisecond, so a scope's
//! cancellation or deadline ends the wait.
//!
//! The one shape this cannot save: an async task of the same loop that
//! *blocks its thread* (a blocking `join` inside async code, N9) waiting
//! for the blocked waiter's frame. Async code awaits; it does not block.
//!
//! Who waits for whom: a waiter waits for a holder's release; a holder
//! never waits for a waiter (it holds its permit, it does not queue again
//! unless it asks for a second permit, which with `n = 1` is a
//! self-deadlock of the program's own making, as with any semaphore).
//!
//! Prior art: Trio's `CapacityLimiter` (<https://trio.readthedocs.io/en/stable/reference-core.html#trio.CapacityLimiter>)
//! and tokio's `Semaphore` (<https://docs.rs/tokio/latest/tokio/sync/struct.Semaphore.html>), a FIFO
//! queue with direct hand-off.

use crate::TaskError;
use crate::event_loop;
use crate::sync::Mutex;
use slab::Slab;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How often a blocking waiter looks at its cancellation.
const CANCEL_CHECK: Duration = Duration::from_millis(1);

/// A capacity limiter: at most [`capacity`](Self::capacity) holders of a
/// [`Permit`] at once.
///
/// Waiters are served in the order they asked (FIFO). An async waiter
/// ([`acquire`](Self::acquire)) suspends; a blocking one
/// ([`acquire_blocking`](Self::acquire_blocking)) keeps the pool going
/// while it waits, and gives up if its task or scope is cancelled. A permit
/// is released when dropped — at the end of its holder's work, or when the
/// holder panics or is cancelled.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let limit = knotwork::Limiter::new(2);
/// let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
/// knotwork::scope(|s| {
///     for _ in 0..20 {
///         s.exec(async {
///             let _permit = limit.acquire().await;
///             most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
///             knotwork::yield_now().await;
///             now.fetch_sub(1, Ordering::SeqCst);
///         });
///     }
/// });
/// assert!(most.load(Ordering::SeqCst) <= 2);
/// ```
pub struct Limiter {
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    free: usize,
    waiters: Slab<Waiter>,
    head: Option<usize>,
    tail: Option<usize>,
}

struct Waiter {
    waker: Option<Waker>,
    /// The permit was handed to this waiter (it is unlinked then).
    granted: bool,
    prev: Option<usize>,
    next: Option<usize>,
}

impl State {
    fn push_back(&mut self, waker: Waker) -> usize {
        let key =
            self.waiters.insert(Waiter { waker: Some(waker), granted: false, prev: self.tail, next: None });
        match self.tail {
            Some(t) => self.waiters[t].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        key
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = (self.waiters[key].prev, self.waiters[key].next);
        match prev {
            Some(p) => self.waiters[p].next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.waiters[n].prev = prev,
            None => self.tail = prev,
        }
    }

    /// A permit comes back: to the head waiter (whose waker is returned,
    /// to be woken once the lock is dropped), or to the count.
    #[must_use]
    fn release(&mut self) -> Option<Waker> {
        match self.head {
            Some(h) => {
                self.unlink(h);
                let w = &mut self.waiters[h];
                w.granted = true;
                w.waker.take()
            }
            None => {
                self.free += 1;
                None
            }
        }
    }
}

impl Limiter {
    /// A limiter with `capacity` permits.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0: nobody could ever hold a permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = knotwork::Limiter::new(3);
    /// assert_eq!((limit.capacity(), limit.available()), (3, 3));
    /// ```
    #[track_caller]
    pub fn new(capacity: usize) -> Limiter {
        assert!(
            capacity > 0,
            "knotwork::Limiter::new(0): a limiter needs at least one permit, or every acquire waits forever"
        );
        Limiter {
            capacity,
            state: Mutex::new(State { free: capacity, waiters: Slab::new(), head: None, tail: None }),
        }
    }

    /// The number of permits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(knotwork::Limiter::new(4).capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The permits free right now (a snapshot: it may change at once).
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = knotwork::Limiter::new(2);
    /// let p = limit.try_acquire().unwrap();
    /// assert_eq!(limit.available(), 1);
    /// drop(p);
    /// assert_eq!(limit.available(), 2);
    /// ```
    pub fn available(&self) -> usize {
        self.state.lock().free
    }

    /// The number of waiters queued right now (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(knotwork::Limiter::new(1).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        let state = self.state.lock();
        state.waiters.iter().filter(|(_, w)| !w.granted).count()
    }

    /// A permit if one is free and nobody is queued for one (a waiter is
    /// never overtaken), else `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = knotwork::Limiter::new(1);
    /// let held = limit.try_acquire().unwrap();
    /// assert!(limit.try_acquire().is_none());
    /// drop(held);
    /// assert!(limit.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut state = self.state.lock();
        if state.free > 0 && state.head.is_none() {
            state.free -= 1;
            return Some(Permit { limiter: self });
        }
        None
    }

    /// Waits for a permit, suspending the task (not the thread) meanwhile.
    /// Dropping the future gives up its place in the queue (or passes on a
    /// permit it was just handed), so a cancelled waiter loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = knotwork::Limiter::new(1);
    /// let n = knotwork::block_on(async {
    ///     let _p = limit.acquire().await;
    ///     limit.available()
    /// });
    /// assert_eq!(n, 0);
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire { limiter: self, key: None, done: false }
    }

    /// Waits for a permit, blocking this thread; for sync code (a blocking
    /// child, a scope's body). On a pool worker the worker's loop keeps
    /// running its async tasks and the pool brings in a spare thread while
    /// this waits, so queueing children never stall the pool.
    ///
    /// # Errors
    ///
    /// A [`TaskError`] that [`is_cancelled`](TaskError::is_cancelled) if the
    /// current task, or a scope it is in, is cancelled (or its deadline
    /// passes) while this waits: the caller should return. Noticed within
    /// about a millisecond.
    ///
    /// # Panics
    ///
    /// If called inside an async task (a future polled by a loop): blocking
    /// there would stall the loop. Use `.acquire().await`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = knotwork::Limiter::new(2);
    /// knotwork::scope(|s| {
    ///     for i in 0..8 {
    ///         let limit = &limit;
    ///         s.exec_blocking(move || {
    ///             let Ok(_permit) = limit.acquire_blocking() else { return None }; // cancelled
    ///             Some(i * 2)
    ///         });
    ///     }
    /// });
    /// assert_eq!(limit.available(), 2);
    /// ```
    #[track_caller]
    pub fn acquire_blocking(&self) -> Result<Permit<'_>, TaskError> {
        if let Some(permit) = self.try_acquire() {
            return Ok(permit);
        }
        if event_loop::try_current().is_some_and(|l| l.is_polling()) {
            panic!(
                "knotwork::Limiter::acquire_blocking was called inside an async task: it would block the \
                 loop polling it; use `limiter.acquire().await` there"
            );
        }
        event_loop::block_on_serving_loop(AcquireOrCancel { acquire: self.acquire(), check: None })
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("capacity", &self.capacity)
            .field("available", &self.available())
            .finish_non_exhaustive()
    }
}

/// One of a [`Limiter`]'s permits; released when dropped.
///
/// # Examples
///
/// ```
/// let limit = knotwork::Limiter::new(1);
/// let permit = limit.try_acquire().unwrap();
/// assert_eq!(limit.available(), 0);
/// drop(permit); // released
/// assert_eq!(limit.available(), 1);
/// ```
#[must_use = "a permit is released as soon as it is dropped"]
pub struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let waker = self.limiter.state.lock().release();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("capacity", &self.limiter.capacity).finish()
    }
}

/// The future of [`Limiter::acquire`].
///
/// # Examples
///
/// ```
/// let limit = knotwork::Limiter::new(1);
/// let held = limit.try_acquire().unwrap();
/// // Not ready while the permit is held: a timeout gives up the place.
/// let r = knotwork::block_on(knotwork::timeout(std::time::Duration::from_millis(1), limit.acquire()));
/// assert!(r.is_err());
/// drop(held);
/// assert_eq!(limit.available(), 1); // nothing lost
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    limiter: &'a Limiter,
    /// The waiter's key in the queue, while it has one.
    key: Option<usize>,
    done: bool,
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        assert!(!self.done, "knotwork::Acquire polled after it returned its permit");
        let limiter = self.limiter;
        let mut state = limiter.state.lock();
        match self.key {
            None => {
                if state.free > 0 && state.head.is_none() {
                    state.free -= 1;
                } else {
                    let key = state.push_back(cx.waker().clone());
                    drop(state);
                    self.key = Some(key);
                    return Poll::Pending;
                }
            }
            Some(key) => {
                let w = &mut state.waiters[key];
                if !w.granted {
                    if !w.waker.as_ref().is_some_and(|old| old.will_wake(cx.waker())) {
                        w.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                // Granted: already unlinked; the permit is ours.
                state.waiters.remove(key);
                drop(state);
                self.key = None;
            }
        }
        self.done = true;
        Poll::Ready(Permit { limiter })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let waker = {
            let mut state = self.limiter.state.lock();
            let granted = state.waiters[key].granted;
            if !granted {
                state.unlink(key);
            }
            state.waiters.remove(key);
            // Handed a permit it never took: it goes on to the next waiter.
            granted.then(|| state.release()).flatten()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("queued", &self.key.is_some()).finish_non_exhaustive()
    }
}

/// `acquire_blocking`'s future: the permit, or the cancellation of the
/// task (or scope) that waits, looked at every [`CANCEL_CHECK`].
struct AcquireOrCancel<'a> {
    acquire: Acquire<'a>,
    check: Option<event_loop::Sleep>,
}

impl<'a> Future for AcquireOrCancel<'a> {
    type Output = Result<Permit<'a>, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(permit) = Pin::new(&mut self.acquire).poll(cx) {
            return Poll::Ready(Ok(permit));
        }
        loop {
            if super::is_cancelled() {
                // Dropping `acquire` (with us) gives up the place, or passes
                // on a permit granted since the poll above.
                return Poll::Ready(Err(TaskError::cancelled()));
            }
            let check = self.check.get_or_insert_with(|| event_loop::sleep(CANCEL_CHECK));
            match Pin::new(check).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => self.check = None,
            }
        }
    }
}
