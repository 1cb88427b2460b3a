//! Time on the loop: [`sleep`], [`sleep_until`], [`timeout`] and
//! [`yield_now`] (and, in `ticks.rs`, [`interval`](super::interval)).
//!
//! A [`Sleep`] registers a timer with the loop that polls it (the loop of
//! the current thread) and is woken by that loop when the deadline passes;
//! the loop parks no longer than its earliest deadline. Timers therefore
//! need a driver: a `Sleep` polled outside any knotwork loop (say by another
//! executor) panics with a message rather than hanging forever.
//!
//! Prior art: tokio's `time::sleep` and `timeout` (<https://docs.rs/tokio/latest/tokio/time/>).

use super::loop_core::LoopCore;
use super::thread_slot;
use super::timer::TimerKey;
use crate::sync::time::Instant;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

const NO_LOOP_MSG: &str = "a knotwork timer (sleep/timeout) was polled outside a knotwork loop; \
                           run it under knotwork::block_on, in a task spawned with knotwork::spawn_local, \
                           or in a pool task";

/// Waits until `duration` has passed.
///
/// Must be awaited inside a knotwork loop: under [`block_on`](crate::block_on),
/// in a [`spawn_local`](crate::spawn_local) task or in a pool task.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// knotwork::block_on(knotwork::sleep(Duration::from_millis(5)));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep { deadline: after(Instant::now(), duration), registration: None, made_at: Location::caller() }
}

/// `at + d`, or — for a `d` too large to represent — about 30 years from
/// `at`: "forever".
pub(super) fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d).unwrap_or_else(|| at + Duration::from_secs(60 * 60 * 24 * 365 * 30))
}

/// Waits until `deadline` (at once if it has passed). [`sleep`] with an
/// absolute deadline: a loop of `sleep_until(start + k * period)` does not
/// drift the way a loop of `sleep(period)` does.
///
/// Must be awaited inside a knotwork loop, like [`sleep`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let deadline = Instant::now() + Duration::from_millis(5);
/// knotwork::block_on(knotwork::sleep_until(deadline));
/// assert!(Instant::now() >= deadline);
/// ```
#[track_caller]
pub fn sleep_until(deadline: std::time::Instant) -> Sleep {
    Sleep { deadline: crate::sync::time::from_std(deadline), registration: None, made_at: Location::caller() }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let nap: knotwork::Sleep = knotwork::sleep(Duration::from_millis(1));
/// knotwork::block_on(nap);
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    pub(super) deadline: Instant,
    /// The loop id and timer this sleep is registered with, if any.
    registration: Option<(u64, TimerKey)>,
    /// Where the sleep was made: named by the panic of a sleep polled
    /// outside any knotwork loop (the poll itself is the executor's line).
    made_at: &'static Location<'static>,
}

impl Sleep {
    /// When this sleep ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(60);
    /// assert_eq!(knotwork::sleep_until(at).deadline(), at);
    /// ```
    pub fn deadline(&self) -> std::time::Instant {
        crate::sync::time::to_std(self.deadline)
    }

    /// Moves the deadline (to a later or an earlier one), as if this sleep
    /// had been made with [`sleep_until`]`(deadline)`. A sleep already
    /// registered with this thread's loop keeps its waker and is woken at
    /// the new deadline without being polled first (tokio's `reset`); one
    /// registered with another thread's loop (it was moved) registers
    /// again on its next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut nap = Box::pin(knotwork::sleep(Duration::from_secs(3600)));
    /// nap.as_mut().reset(Instant::now());
    /// knotwork::block_on(nap); // ends at once
    /// ```
    pub fn reset(mut self: Pin<&mut Self>, deadline: std::time::Instant) {
        let deadline = crate::sync::time::from_std(deadline);
        self.deadline = deadline;
        if let Some((loop_id, timer)) = self.registration {
            if let Some(core) = thread_slot::polling_loop().filter(|c| c.id() == loop_id) {
                let moved = core.timers.borrow_mut().reschedule(timer, deadline);
                self.registration = moved.map(|timer| (loop_id, timer));
                return;
            }
        }
        self.deregister();
    }

    fn deregister(&mut self) {
        if let Some((loop_id, timer)) = self.registration.take() {
            // A sleep moved to another thread cannot reach its old loop's
            // timers; that stale entry fires once, spuriously, and is gone.
            if let Some(core) = thread_slot::polling_loop().filter(|c| c.id() == loop_id) {
                core.timers.borrow_mut().cancel(timer);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.deregister();
            return Poll::Ready(());
        }
        let core = polling_core(self.made_at);
        let mut timers = core.timers.borrow_mut();
        match self.registration {
            Some((loop_id, timer)) if loop_id == core.id() && timers.update(timer, cx.waker()) => {}
            _ => {
                let timer = timers.register(self.deadline, cx.waker().clone());
                self.registration = Some((core.id(), timer));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("remaining", &self.deadline.saturating_duration_since(Instant::now()))
            .finish()
    }
}

/// The loop of this thread, which must be polling a task right now.
fn polling_core(made_at: &Location<'_>) -> std::rc::Rc<LoopCore> {
    match thread_slot::polling_loop() {
        Some(core) if core.is_polling() => core,
        _ if thread_slot::is_dead() => panic!(
            "a knotwork timer (made at {made_at}) was polled on a thread whose knotwork loop has been torn \
             down (Loop::teardown_current, or the thread is exiting); there is no loop left to fire it"
        ),
        _ => panic!("{NO_LOOP_MSG} (the timer was made at {made_at})"),
    }
}

/// Runs `fut` but gives up after `duration`, dropping it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let slow = knotwork::block_on(knotwork::timeout(Duration::from_millis(1), std::future::pending::<()>()));
/// assert!(slow.is_err());
/// let fast = knotwork::block_on(knotwork::timeout(Duration::from_secs(5), async { 7 }));
/// assert_eq!(fast, Ok(7));
/// ```
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, fut: F) -> Timeout<F> {
    Timeout { fut, sleep: sleep(duration) }
}

pin_project_lite::pin_project! {
    /// The future returned by [`timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t: knotwork::Timeout<_> = knotwork::timeout(Duration::from_secs(1), async { 1 });
    /// assert_eq!(knotwork::block_on(t), Ok(1));
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        fut: F,
        sleep: Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("sleep", &self.sleep).finish()
    }
}

/// The error of a [`timeout`] whose duration passed first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let err: knotwork::Elapsed =
///     knotwork::block_on(knotwork::timeout(Duration::ZERO, std::future::pending::<()>())).unwrap_err();
/// assert!(err.to_string().contains("timeout elapsed"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    pub(crate) fn new() -> Elapsed {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the knotwork timeout elapsed before the future completed")
    }
}

impl std::error::Error for Elapsed {}

/// Gives the loop's other ready tasks a turn, then resumes.
///
/// # Examples
///
/// ```
/// knotwork::block_on(async {
///     let other = knotwork::spawn_local(async { 1 });
///     knotwork::yield_now().await; // `other` runs here
///     assert!(other.is_finished());
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
///
/// # Examples
///
/// ```
/// let y: knotwork::YieldNow = knotwork::yield_now();
/// knotwork::block_on(y);
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
