//! Shields: cleanup that must finish, whatever is cancelled around it
//! ([`shield`], [`shield_for`], [`shield_blocking`]).
//!
//! While a shield runs, the cancellation of the task it runs in (and of
//! every scope that task is in) is *deferred*:
//!
//! * the task is not dropped at a suspension point — the count of shields
//!   active in it (in its header) makes the runner poll a `CLOSED` task on
//!   instead of dropping it (`task/shielding.rs`, `task/state.rs`), and
//!   the last shield to end re-arms it, so the next suspension point (or,
//!   if the task is idle, its next run) drops it. A shield counts in the
//!   task of its *first* poll: moved to another task, it still ends the
//!   first one's deferral, and does not defer the second's;
//! * [`is_cancelled`](crate::is_cancelled) reads `false` inside (a
//!   thread-local that names the task the shield runs in, so a task polled
//!   on top of the shield is not shielded);
//! * a scope opened inside a shield is cut off from the cancellation above
//!   it for its whole life: its lookups stop at its own flag and deadline,
//!   and a cancellation from above does not cascade into it (its own
//!   `cancel`, `cancel_after` and its children's failures still work).
//!
//! A deadline bounds a shield ([`shield_for`]): when it passes, the shielded
//! work is abandoned (its future dropped) and the shield ends, so a
//! deferred cancellation then takes effect. Shields show in a trace
//! (`ShieldBegan` / `ShieldEnded`, with whether a cancellation waited).
//!
//! What a shield does not cover: the body of a `scope_async` that a
//! child's failure cancels (F4) is dropped at its suspension point even
//! inside a shield — a body is not a task, and has no count. Cleanup that
//! must outlive a failing sibling goes in a child (or shields the whole
//! scope future).
//!
//! Who waits for whom: nothing new. A shield defers; it never blocks, and
//! the scope still joins the shielded task (which ends when its work does).
//!
//! Prior art: Trio's `CancelScope(shield=True)` and `move_on_after(.., shield=True)`
//! (<https://trio.readthedocs.io/en/stable/reference-core.html#trio.CancelScope.shield>); anyio's
//! `CancelScope(shield=True)`.

use crate::event_loop::{Elapsed, Sleep, sleep};
use crate::hooks::{ShieldTrace, shield_began};
use crate::task::{InShield, ShieldMark};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs `fut` shielded from cancellation: while it runs, the cancellation
/// of the task it runs in is deferred (the task is not dropped at a
/// suspension point, [`is_cancelled`](crate::is_cancelled) reads `false`
/// inside), and takes effect at the task's first suspension point after
/// the shield ends. See [`shield_for`] for a shield with a deadline.
///
/// Outside a knotwork task (a future of another executor), only
/// `is_cancelled` and the scopes opened inside are affected.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// let flushed = AtomicBool::new(false);
/// knotwork::scope(|s| {
///     let flushing = s.start(async |ready| {
///         knotwork::shield(async {
///             ready.started(());
///             // Cancelled meanwhile: not dropped at these suspension points.
///             knotwork::sleep(std::time::Duration::from_millis(5)).await;
///             assert!(!knotwork::is_cancelled());
///             flushed.store(true, Ordering::SeqCst);
///         })
///         .await;
///         std::future::pending::<()>().await; // dropped here, after the shield
///     });
///     flushing.wait().unwrap(); // inside the shield now
///     s.cancel();
/// });
/// assert!(flushed.load(Ordering::SeqCst));
/// ```
#[track_caller]
pub fn shield<F: Future>(fut: F) -> Shield<F> {
    Shield { core: Core::new(fut, None, Location::caller()) }
}

/// Like [`shield`], bounded by `deadline` (measured from the first poll):
/// if it passes first, the shielded work is abandoned (its future is
/// dropped), the shield ends and the result is `Err(Elapsed)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let r = knotwork::block_on(knotwork::shield_for(Duration::from_millis(5), std::future::pending::<()>()));
/// assert!(r.is_err()); // a cleanup that hangs is given up on
/// ```
#[track_caller]
pub fn shield_for<F: Future>(deadline: Duration, fut: F) -> ShieldFor<F> {
    ShieldFor { core: Core::new(fut, Some(deadline), Location::caller()) }
}

/// Runs `f` shielded from cancellation, for sync code (a blocking child's
/// cleanup): [`is_cancelled`](crate::is_cancelled) reads `false` inside,
/// and the scopes opened inside are cut off from the cancellation above
/// them.
///
/// # Examples
///
/// ```
/// let seen = knotwork::scope(|s| {
///     s.cancel();
///     (knotwork::is_cancelled(), knotwork::shield_blocking(knotwork::is_cancelled))
/// });
/// assert_eq!(seen, (true, false));
/// ```
#[track_caller]
pub fn shield_blocking<R>(f: impl FnOnce() -> R) -> R {
    let trace = shield_began(Location::caller());
    let result = {
        let _inside = InShield::enter();
        f()
    };
    if let Some(t) = trace {
        t.ended(super::is_cancelled(), false);
    }
    result
}

pin_project_lite::pin_project! {
    /// What both shield futures share.
    struct Core<F> {
        // `None` once abandoned at the deadline.
        #[pin]
        fut: Option<F>,
        deadline: Option<Duration>,
        sleep: Option<Sleep>,
        // The task's mark, from the first poll to the end.
        mark: Option<ShieldMark>,
        trace: Option<ShieldTrace>,
        location: &'static Location<'static>,
        ended: bool,
    }

    impl<F> PinnedDrop for Core<F> {
        // Dropped unfinished (the task is dropped, or the shield itself):
        // the inner future's drop is shielded too, then the shield ends.
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if *this.ended || this.mark.is_none() {
                return;
            }
            {
                let _inside = InShield::enter();
                this.fut.set(None);
            }
            let deferred = this.mark.as_mut().is_some_and(ShieldMark::end);
            if let Some(t) = this.trace.take() {
                t.ended(deferred, false);
            }
        }
    }
}

impl<F: Future> Core<F> {
    fn new(fut: F, deadline: Option<Duration>, location: &'static Location<'static>) -> Self {
        Core { fut: Some(fut), deadline, sleep: None, mark: None, trace: None, location, ended: false }
    }

    /// `Some(output)`, or `None` when the deadline passed first.
    fn poll_core(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let mut this = self.project();
        assert!(!*this.ended, "a knotwork shield polled after it finished");
        if this.mark.is_none() {
            *this.mark = Some(ShieldMark::mark_current());
            *this.trace = shield_began(this.location);
            *this.sleep = this.deadline.map(sleep);
        }
        let out = {
            let _inside = InShield::enter();
            match this.fut.as_mut().as_pin_mut() {
                Some(fut) => fut.poll(cx),
                None => unreachable!("the future is kept until the shield ends"),
            }
        };
        let result = match out {
            Poll::Ready(v) => Some(v),
            Poll::Pending => match this.sleep.as_mut().map(|s| Pin::new(s).poll(cx)) {
                Some(Poll::Ready(())) => {
                    // Abandoned: its drop (cleanup) still runs shielded.
                    let _inside = InShield::enter();
                    this.fut.set(None);
                    None
                }
                _ => return Poll::Pending,
            },
        };
        *this.ended = true;
        let deferred = this.mark.as_mut().is_some_and(ShieldMark::end);
        if let Some(t) = this.trace.take() {
            t.ended(deferred, result.is_none());
        }
        Poll::Ready(result)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`shield`].
    ///
    /// # Examples
    ///
    /// ```
    /// let v: knotwork::Shield<_> = knotwork::shield(async { 7 });
    /// assert_eq!(knotwork::block_on(v), 7);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Shield<F> {
        #[pin]
        core: Core<F>,
    }
}

impl<F: Future> Future for Shield<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project()
            .core
            .poll_core(cx)
            .map(|out| out.expect("a shield without a deadline always finishes its work"))
    }
}

impl<F> fmt::Debug for Shield<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield").field("at", &self.core.location).finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`shield_for`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let v = knotwork::block_on(knotwork::shield_for(Duration::from_secs(1), async { 7 }));
    /// assert_eq!(v.unwrap(), 7);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ShieldFor<F> {
        #[pin]
        core: Core<F>,
    }
}

impl<F: Future> Future for ShieldFor<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().core.poll_core(cx).map(|out| out.ok_or_else(Elapsed::new))
    }
}

impl<F> fmt::Debug for ShieldFor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShieldFor")
            .field("at", &self.core.location)
            .field("deadline", &self.core.deadline)
            .finish_non_exhaustive()
    }
}
