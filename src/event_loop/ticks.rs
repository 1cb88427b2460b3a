//! [`interval`]: a timer that ticks every period, on an absolute schedule.
//!
//! An `Interval` is a [`Sleep`] it moves forward after each tick: the next
//! deadline is `scheduled + period` (no drift: a loop of `sleep(period)`
//! would add its own lateness every round), or, for a tick taken more than
//! 5 ms late, what [`MissedTicks`] says. All deadline arithmetic saturates
//! at "forever" (about 30 years), so `Duration::MAX` is a period like any
//! other.
//!
//! Prior art: tokio's `time::interval` and `MissedTickBehavior`
//! (<https://docs.rs/tokio/latest/tokio/time/struct.Interval.html>), whose
//! semantics this follows: the first tick at once, `Burst` by default.

use super::time::{Sleep, after, sleep_until};
use crate::sync::time::Instant;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A timer that ticks every `period`, the first tick at once: tokio's
/// `interval`. Deadlines are absolute (`start + k × period`), so a loop that
/// awaits [`Interval::tick`] does not drift; what happens to ticks missed
/// while the loop was busy is [`MissedTicks`] (by default `Burst`, as in
/// tokio: they fire at once, one per `tick`, until the schedule is caught up).
///
/// Must be used inside a knotwork loop, like [`sleep`](crate::sleep).
///
/// # Panics
///
/// If `period` is zero (at the caller's line).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// knotwork::block_on(async {
///     let mut every = knotwork::interval(Duration::from_millis(2));
///     for _ in 0..3 {
///         every.tick().await; // at 0, 2 and 4 ms
///     }
/// });
/// assert!(start.elapsed() >= Duration::from_millis(4));
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(std::time::Instant::now(), period)
}

/// An [`interval`] whose first tick is at `start`.
///
/// # Panics
///
/// If `period` is zero (at the caller's line).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now() + Duration::from_millis(3);
/// let first = knotwork::block_on(async {
///     knotwork::interval_at(start, Duration::from_secs(1)).tick().await
/// });
/// assert_eq!(first, start);
/// ```
#[track_caller]
pub fn interval_at(start: std::time::Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "knotwork::interval: the period must be longer than zero (a zero period would tick without end); \
         use yield_now() to give other tasks a turn instead"
    );
    Interval { sleep: Box::pin(sleep_until(start)), period, missed: MissedTicks::Burst }
}

/// What an [`Interval`] does with ticks it missed because its owner was
/// late to call [`tick`](Interval::tick) (tokio's `MissedTickBehavior`). A
/// tick counts as missed when it is taken more than 5 ms after its
/// scheduled instant, as in tokio; a tick taken sooner keeps the schedule
/// whatever the behaviour.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let mut every = knotwork::interval(Duration::from_millis(10));
/// every.set_missed_ticks(knotwork::MissedTicks::Skip);
/// assert_eq!(every.missed_ticks(), knotwork::MissedTicks::Skip);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MissedTicks {
    /// Fire every missed tick at once, one per `tick`, then go on with the
    /// original schedule (the default).
    #[default]
    Burst,
    /// Fire one tick now, and the next one `period` after the tick was
    /// taken: the schedule shifts by the delay.
    Delay,
    /// Fire one tick now, and the next at the first multiple of `period` on
    /// the original schedule after the tick was taken: missed ticks are
    /// dropped.
    Skip,
}

/// How late a tick must be taken to count as missed ([`MissedTicks`]).
const MISSED_AFTER: Duration = Duration::from_millis(5);

/// The timer returned by [`interval`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let mut every = knotwork::interval(Duration::from_millis(1));
/// assert_eq!(every.period(), Duration::from_millis(1));
/// knotwork::block_on(async { every.tick().await });
/// ```
#[derive(Debug)]
pub struct Interval {
    sleep: Pin<Box<Sleep>>,
    period: Duration,
    missed: MissedTicks,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled
    /// for (which may be earlier than now, if the tick was late).
    ///
    /// Cancel-safe: dropping the future before it completes loses no tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut every = knotwork::interval(Duration::from_millis(2));
    /// let (a, b) = knotwork::block_on(async { (every.tick().await, every.tick().await) });
    /// assert_eq!(b - a, Duration::from_millis(2));
    /// ```
    pub fn tick(&mut self) -> Tick<'_> {
        Tick { interval: self }
    }

    /// [`tick`](Self::tick) as a poll function, for a `Stream` adapter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut every = knotwork::interval(Duration::from_millis(1));
    /// knotwork::block_on(std::future::poll_fn(|cx| every.poll_tick(cx)));
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<std::time::Instant> {
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline;
        let now = Instant::now();
        let late = now.saturating_duration_since(scheduled) > MISSED_AFTER;
        let next = match self.missed {
            MissedTicks::Delay if late => after(now, self.period),
            MissedTicks::Skip if late => {
                // The first multiple of `period` after `now` on the schedule:
                // `period - (behind mod period)` past now, in u128 nanoseconds
                // (no step count to overflow).
                let period = self.period.as_nanos();
                let into = (now - scheduled).as_nanos() % period;
                let ahead = Duration::from_nanos(u64::try_from(period - into).unwrap_or(u64::MAX));
                after(now, ahead)
            }
            _ => after(scheduled, self.period),
        };
        self.sleep.as_mut().reset(crate::sync::time::to_std(next));
        Poll::Ready(crate::sync::time::to_std(scheduled))
    }

    /// Restarts the schedule: the next tick is one `period` from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut every = knotwork::interval(Duration::from_millis(2));
    /// every.reset();
    /// let at = knotwork::block_on(every.tick());
    /// assert!(at > Instant::now() - Duration::from_secs(1));
    /// ```
    pub fn reset(&mut self) {
        let next = after(Instant::now(), self.period);
        self.sleep.as_mut().reset(crate::sync::time::to_std(next));
    }

    /// The time between ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(knotwork::interval(Duration::from_secs(2)).period(), Duration::from_secs(2));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What missed ticks do (see [`MissedTicks`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let every = knotwork::interval(Duration::from_secs(1));
    /// assert_eq!(every.missed_ticks(), knotwork::MissedTicks::Burst);
    /// ```
    pub fn missed_ticks(&self) -> MissedTicks {
        self.missed
    }

    /// Sets what missed ticks do.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut every = knotwork::interval(Duration::from_secs(1));
    /// every.set_missed_ticks(knotwork::MissedTicks::Delay);
    /// assert_eq!(every.missed_ticks(), knotwork::MissedTicks::Delay);
    /// ```
    pub fn set_missed_ticks(&mut self, missed: MissedTicks) {
        self.missed = missed;
    }
}

/// The future returned by [`Interval::tick`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let mut every = knotwork::interval(Duration::from_millis(1));
/// let tick: knotwork::Tick<'_> = every.tick();
/// knotwork::block_on(tick);
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Tick<'a> {
    interval: &'a mut Interval,
}

impl Future for Tick<'_> {
    type Output = std::time::Instant;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::time::Instant> {
        self.interval.poll_tick(cx)
    }
}
