//! Work-stealing deques: crossbeam's, or a loom-checkable stand-in.
//!
//! Vocabulary (crossbeam's): a **worker** deque is owned by one pool thread,
//! which pushes and pops at the back (LIFO, for locality); **stealers** are
//! handles through which other threads take from the front (FIFO, the oldest
//! and typically largest piece of work); the **injector** is the shared FIFO
//! queue for work submitted from outside the pool.
//!
//! crossbeam-deque (a Chase–Lev deque with epoch-based reclamation) is not
//! loom-aware, so under `--cfg loom` the same API is backed by a
//! `Mutex<VecDeque>`. That stand-in is *stronger* than the real deque (every
//! operation is linearisable under one lock), so a model checks the pool's
//! protocol around the deques — who pushes, who wakes whom, when a worker may
//! exit — not the deque's own lock-free algorithm, which crossbeam tests
//! itself. What the pool relies on is exactly what both provide: each pushed
//! item is popped or stolen exactly once, and an item pushed before a
//! `SeqCst` fence is seen by a `steal`/`pop` after a `SeqCst` fence on the
//! other side (the idle protocol's Dekker argument; see `pool::sleep`).
//!
//! Prior art: crossbeam-deque (<https://docs.rs/crossbeam-deque>), after Chase and Lev, "Dynamic
//! circular work-stealing deque" (SPAA 2005).

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
pub(crate) use loom_deque::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
mod loom_deque {
    use crate::sync::{Arc, Mutex};
    use std::collections::VecDeque;

    /// The outcome of a steal, shaped like `crossbeam_deque::Steal`.
    #[must_use]
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        // Never produced by the stand-in (it takes a lock instead of
        // retrying), but matched by the pool like crossbeam's.
        #[allow(dead_code)]
        Retry,
    }

    pub(crate) struct Worker<T>(Arc<Mutex<VecDeque<T>>>);
    pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);
    pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

    impl<T> Worker<T> {
        pub(crate) fn new_lifo() -> Self {
            Worker(Arc::new(Mutex::new(VecDeque::new())))
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.clone())
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_back()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal(&self) -> Steal<T> {
            self.0.lock().pop_front().map_or(Steal::Empty, Steal::Success)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t);
        }
        pub(crate) fn steal_batch_and_pop(&self, _dest: &Worker<T>) -> Steal<T> {
            // The stand-in moves one item at a time: batching is a
            // performance device and changes no protocol the model checks.
            self.0.lock().pop_front().map_or(Steal::Empty, Steal::Success)
        }
        pub(crate) fn steal(&self) -> Steal<T> {
            self.0.lock().pop_front().map_or(Steal::Empty, Steal::Success)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }
}
