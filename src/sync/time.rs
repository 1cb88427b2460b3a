//! The clock seam.
//!
//! Normally [`Instant`] is `std::time::Instant`. loom has no notion of time,
//! so under `--cfg loom` it is a virtual instant: nanoseconds on a per-model
//! counter that only [`advance`] moves. Timers therefore fire in a model
//! exactly when the model says time has passed, which makes the loop's
//! park-until-deadline path checkable.
//!
//! Prior art: tokio's paused clock (<https://docs.rs/tokio/latest/tokio/time/fn.pause.html>): time
//! that tests advance.

#[cfg(not(loom))]
pub(crate) use std::time::Instant;

/// A `std` instant (what the public API takes) on this build's clock: the
/// same instant normally; under loom, as far from the virtual now as it is
/// from the real one.
#[cfg(not(loom))]
#[inline]
pub(crate) fn from_std(at: std::time::Instant) -> Instant {
    at
}

/// This build's instant as a `std` one (what the public API returns); the
/// inverse of [`from_std`].
#[cfg(not(loom))]
#[inline]
pub(crate) fn to_std(at: Instant) -> std::time::Instant {
    at
}

#[cfg(loom)]
pub(crate) fn from_std(at: std::time::Instant) -> Instant {
    let real = std::time::Instant::now();
    let now = Instant::now();
    if at >= real {
        now + (at - real)
    } else {
        Instant::from_nanos(now.nanos().saturating_sub((real - at).as_nanos() as u64))
    }
}

#[cfg(loom)]
pub(crate) fn to_std(at: Instant) -> std::time::Instant {
    let (real, now) = (std::time::Instant::now(), Instant::now());
    if at >= now { real + (at - now) } else { real.checked_sub(now - at).unwrap_or(real) }
}

/// `at` as nanoseconds on a process-wide scale (for deadlines kept in an
/// atomic); instants before the scale's start read as 0.
#[cfg(not(loom))]
pub(crate) fn nanos(at: Instant) -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(at.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX - 1)
}

/// `at` as nanoseconds on the model's virtual clock.
#[cfg(loom)]
pub(crate) fn nanos(at: Instant) -> u64 {
    at.nanos()
}

#[cfg(loom)]
pub(crate) use virtual_clock::Instant;
#[cfg(loom)]
pub use virtual_clock::advance;

#[cfg(loom)]
mod virtual_clock {
    use std::ops::{Add, Sub};
    use std::time::Duration;

    loom::lazy_static! {
        /// Virtual nanoseconds since the start of the model iteration.
        static ref NOW: loom::sync::atomic::AtomicU64 = loom::sync::atomic::AtomicU64::new(0);
    }

    /// A point on the model's virtual clock.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub(crate) struct Instant(u64);

    impl Instant {
        pub(crate) fn now() -> Instant {
            Instant(NOW.load(loom::sync::atomic::Ordering::SeqCst))
        }

        pub(crate) fn saturating_duration_since(&self, earlier: Instant) -> Duration {
            Duration::from_nanos(self.0.saturating_sub(earlier.0))
        }

        pub(crate) fn nanos(&self) -> u64 {
            self.0
        }

        pub(crate) fn from_nanos(nanos: u64) -> Instant {
            Instant(nanos)
        }

        pub(crate) fn checked_add(&self, d: Duration) -> Option<Instant> {
            self.0.checked_add(d.as_nanos() as u64).map(Instant)
        }
    }

    impl Add<Duration> for Instant {
        type Output = Instant;
        fn add(self, d: Duration) -> Instant {
            Instant(self.0 + d.as_nanos() as u64)
        }
    }

    impl Sub<Instant> for Instant {
        type Output = Duration;
        fn sub(self, other: Instant) -> Duration {
            self.saturating_duration_since(other)
        }
    }

    /// Moves the virtual clock forward (loom models only).
    pub fn advance(d: Duration) {
        NOW.fetch_add(d.as_nanos() as u64, loom::sync::atomic::Ordering::SeqCst);
    }
}
