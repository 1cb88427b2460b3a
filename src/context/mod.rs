//! Context slots: values bound for the extent of a call and inherited by
//! every child of a scope.
//!
//! * `bindings`: the persistent table, snapshots taken in O(1), and the
//!   thread-local saying which table is current;
//! * `slot`: [`Slot`], the public face, with its [`Inheritance`](crate::Inheritance);
//! * `captured`: [`Context`], the bindings captured to be reinstated on any
//!   thread or executor;
//! * `with_bindings`: the future that runs a child inside its snapshot;
//! * `detached`: [`Detached`], which clears every per-task thread-local at
//!   once (the task's identity, its bindings, its trace context) for work
//!   that is not part of the task running beneath it.
//!
//! Nursery children capture a [`Snapshot`](bindings::Snapshot) — the view
//! of the current bindings their kind inherits — when they are spawned and enter it around every poll (async) or around their
//! closure (blocking), so a child sees its spawn-time bindings whichever
//! worker runs it and however its polls interleave with other tasks'.
//!
//! Prior art: Java's `ScopedValue` (JEP 481, <https://openjdk.org/jeps/481>) and Python's
//! `contextvars` (<https://docs.python.org/3/library/contextvars.html>): values bound for the
//! extent of a call, inherited by the work it forks.

pub(crate) mod bindings;
mod captured;
mod detached;
mod slot;
pub(crate) mod with_bindings;

pub use captured::Context;
pub(crate) use detached::Detached;
pub use slot::Slot;
