//! The loop's timers: a binary min-heap of deadlines over a slab of entries.
//!
//! A sleeping future registers an entry (`register`) and keeps its
//! [`TimerKey`]; the heap holds `(deadline, key, seq)`. Cancelling (and
//! moving a timer: `reschedule`, a new item under a new `seq`) removes the
//! slab entry only, leaving a stale heap item that is skipped when it
//! reaches the top (its `seq` no longer matches). Stale items are bounded: when they
//! outnumber live ones by 2:1 the heap is rebuilt from the slab, so a loop
//! that starts and cancels many timeouts does not grow without bound.
//!
//! Registration, cancellation and firing are O(log n); the loop asks only for
//! the next deadline (to park until it) and for the wakers that are due.
//!
//! Prior art: async-io keeps its timers in a map ordered by deadline (<https://docs.rs/async-io>);
//! a heap with stale-entry compaction answers the same two questions (next deadline, what is due).

use crate::sync::time::Instant;
use slab::Slab;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;

/// Identifies a registered timer on one loop.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    key: usize,
    seq: u64,
}

struct Entry {
    seq: u64,
    waker: Waker,
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    entries: Slab<Entry>,
    next_seq: u64,
}

impl Timers {
    pub(crate) fn register(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.entries.insert(Entry { seq, waker });
        self.heap.push(Reverse((deadline, key, seq)));
        TimerKey { key, seq }
    }

    /// Moves a live timer to `deadline`, keeping its waker; `None` if it
    /// already fired or was cancelled. (The old heap item goes stale.)
    pub(crate) fn reschedule(&mut self, timer: TimerKey, deadline: Instant) -> Option<TimerKey> {
        match self.entries.get(timer.key) {
            Some(entry) if entry.seq == timer.seq => {
                let waker = self.entries.remove(timer.key).waker;
                let moved = self.register(deadline, waker);
                self.compact_if_stale();
                Some(moved)
            }
            _ => None,
        }
    }

    /// Replaces the waker of a live timer; returns false if it already fired
    /// or was cancelled.
    pub(crate) fn update(&mut self, timer: TimerKey, waker: &Waker) -> bool {
        match self.entries.get_mut(timer.key) {
            Some(entry) if entry.seq == timer.seq => {
                if !entry.waker.will_wake(waker) {
                    let old = std::mem::replace(&mut entry.waker, waker.clone());
                    crate::sync::drop_contained(old, "a timer's Waker");
                }
                true
            }
            _ => false,
        }
    }

    pub(crate) fn cancel(&mut self, timer: TimerKey) {
        if self.entries.get(timer.key).is_some_and(|e| e.seq == timer.seq) {
            crate::sync::drop_contained(self.entries.remove(timer.key).waker, "a timer's Waker");
            self.compact_if_stale();
        }
    }

    #[cold]
    /// Rebuilds the heap once stale items (of cancelled or moved timers)
    /// outnumber live ones 2:1.
    fn compact_if_stale(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 2 * self.entries.len() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let entries = &self.entries;
        self.heap.retain(|Reverse((_, key, seq))| entries.get(*key).is_some_and(|e| e.seq == *seq));
    }

    /// The waker of one timer whose deadline is at or before `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Waker> {
        while let Some(Reverse((deadline, key, seq))) = self.heap.peek().copied() {
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if self.entries.get(key).is_some_and(|e| e.seq == seq) {
                return Some(self.entries.remove(key).waker);
            }
        }
        None
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, key, seq))) = self.heap.peek().copied() {
            if self.entries.get(key).is_some_and(|e| e.seq == seq) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Drops every timer's waker, each on its own (teardown): a `Drop` that
    /// panics is contained and the others are still dropped.
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        for entry in self.entries.drain() {
            crate::sync::drop_contained(entry.waker, "a timer's Waker");
        }
    }

    /// Live timers (tests and debugging).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Timers;
    use std::time::{Duration, Instant};

    #[test]
    fn moving_a_timer_again_and_again_keeps_the_heap_bounded() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let mut key = timers.register(now + Duration::from_secs(60), std::task::Waker::noop().clone());
        for i in 0..10_000 {
            key = timers.reschedule(key, now + Duration::from_millis(i)).expect("still live");
            assert!(timers.heap.len() <= 3 * timers.entries.len().max(22), "{} items", timers.heap.len());
        }
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next_deadline(), Some(now + Duration::from_millis(9_999)));
    }
}
