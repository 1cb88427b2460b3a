//! How a task's end becomes a failure: [`Judge`] says which outputs of a
//! task are failures (none for a plain task, an `Err` for a try child, F1
//! in docs/guarantees.md), and [`RawFailure`] is what the task layer hands
//! a parent for one (the scope layer makes a public `Failure` of it).
//!
//! Prior art: none needed a type for it: tokio and async-task know only
//! panics and cancellations; here an error value fails a scope too.

use crate::failure::{BoxError, Failure, PanicPayload};
use std::any::Any;

/// What a failed task left, as the task layer hands it up (a tag and two
/// words; the scope layer makes a [`Failure`](crate::Failure) of it).
pub(crate) enum RawFailure {
    /// The panic payload.
    Panic(Box<dyn Any + Send>),
    /// The error a try child returned.
    Error(BoxError),
}

impl RawFailure {
    /// The public form (the panic's message read now, once).
    pub(crate) fn into_failure(self) -> Failure {
        match self {
            RawFailure::Panic(payload) => Failure::Panic(PanicPayload::new(payload)),
            RawFailure::Error(error) => Failure::Error(error),
        }
    }
}

/// Which outputs of a task are failures: none for a plain task
/// ([`Plain`]); an `Err` for a try child ([`ErrFails`]). A type, not a
/// value, so that the cell's vtable knows it and a plain task pays nothing.
pub(crate) trait Judge<T>: 'static {
    /// Whether `output` is a failure.
    fn failed(output: &T) -> bool;
    /// The failure's error, out of a failed output (`None` for any other).
    fn into_error(output: T) -> Option<BoxError>;
}

/// No output is a failure (only a panic is).
pub(crate) struct Plain;

impl<T> Judge<T> for Plain {
    #[inline]
    fn failed(_: &T) -> bool {
        false
    }
    fn into_error(_: T) -> Option<BoxError> {
        None
    }
}

/// An `Err` output is a failure, its error boxed when the scope takes it.
pub(crate) struct ErrFails;

impl<T, E: Into<BoxError>> Judge<Result<T, E>> for ErrFails {
    #[inline]
    fn failed(output: &Result<T, E>) -> bool {
        output.is_err()
    }
    fn into_error(output: Result<T, E>) -> Option<BoxError> {
        output.err().map(Into::into)
    }
}
