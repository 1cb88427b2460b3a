//! The task state word: flag bits in the low bits, a reference count above.
//!
//! One `AtomicUsize` per task holds everything another thread may need to
//! know, so that every transition is a single atomic read-modify-write and
//! the order of those RMWs decides every race (the total modification order
//! of one atomic is what the arguments in `raw.rs` lean on).

/// The task sits in a ready queue (local or remote), or was woken while
/// [`RUNNING`] and must be queued again when the poll returns. A task is in
/// at most one queue at a time: only the transition that sets this bit may
/// push it.
pub(crate) const SCHEDULED: usize = 1 << 0;

/// The loop's thread is polling the future right now. Set and cleared only
/// by that thread.
pub(crate) const RUNNING: usize = 1 << 1;

/// The loop is done with the task: the future has been dropped and the stage
/// holds the final result (or nothing, if no handle wanted it). From here on
/// only the handle touches the stage. Never cleared.
pub(crate) const COMPLETED: usize = 1 << 2;

/// Cancellation was requested. The loop drops the future the next time it
/// looks at the task (which the requester guarantees by scheduling it) and
/// completes it with a "cancelled" error.
pub(crate) const CLOSED: usize = 1 << 3;

/// A handle exists and owns the right to the output. Whoever of
/// {completion, handle drop} observes the other one's bit already gone
/// drops the output.
pub(crate) const HANDLE: usize = 1 << 4;

/// The handle stored a waker in the header's `awaiter` slot; completion must
/// take and wake it.
pub(crate) const AWAITER: usize = 1 << 5;

/// Set together with [`COMPLETED`] when the task's result is a panic. A
/// task with a parent link (a nursery child) keeps a panic nobody has
/// observed for its scope, which re-raises it; see [`TAKEN`].
pub(crate) const PANICKED: usize = 1 << 6;

/// The result of a [`PANICKED`] nursery child was claimed: by its handle
/// (`join`/`.await` observed the panic) or by its scope (which re-raises
/// it). Whoever sets this bit first owns the stage; used only for panicked
/// children whose handle was alive at completion, the one case where two
/// parties may both want the result.
pub(crate) const TAKEN: usize = 1 << 7;

/// A canceller is telling the task's parent about the cancellation (the
/// scopes opened inside the task must hear of it: L4 in docs/guarantees.md).
/// Set in the same RMW that sets [`CLOSED`], only while the task is not
/// [`COMPLETED`]; cleared by that canceller when it is done. A completing
/// task waits for it to clear before it calls its parent's `on_complete`
/// (after which the parent may be freed), so the canceller may use the
/// parent throughout. The canceller waits for nothing the completer holds.
pub(crate) const CANCELLING: usize = 1 << 8;

/// One reference. Holders: the loop's task table, the queue entry that
/// [`SCHEDULED`] stands for (for a nursery child not yet started: its pool
/// job), every `Waker`, the handle, and a scope's registration.
pub(crate) const REFERENCE: usize = 1 << 9;

/// The mask of the reference count.
pub(crate) const REFERENCE_MASK: usize = !(REFERENCE - 1);
