//! Finding work: where an out-of-work worker looks, in what order, and how
//! it goes to sleep.
//!
//! ```text
//!  find_work:  own deque (LIFO pop) ─or─ a batch from the injector
//!              ─or─ one job from another worker, victims in turn from a
//!              random start (xorshift; a thief that finds a victim empty
//!              asks it for a latent fork: `latent.rs`)
//!  sleep:      announce (`idle.rs`, prepare_to_sleep), look once more at
//!              every queue, the loop, the inbox; park until woken or the
//!              loop's next deadline
//! ```
//!
//! The look after the announcement is what makes a push and a park race
//! safely: either the pusher sees the sleeper announced and wakes it, or
//! the sleeper sees the job (the fence pair F1/F2 in `idle.rs`).
//!
//! Prior art: rayon-core's `WorkerThread::find_work` and its sleep module
//! (<https://docs.rs/rayon-core>); the xorshift victim order is Marsaglia's
//! (<https://www.jstatsoft.org/article/view/v008i14>).

use super::job::JobRef;
use super::worker::WorkerThread;
use crate::sync::deque::Steal;
use crate::sync::{Ordering, with_thread_parker};

impl WorkerThread {
    pub(super) fn find_work(&self) -> Option<JobRef> {
        let injector = self.deferring().is_none();
        self.deque.pop().or_else(|| self.steal(true, injector))
    }

    /// Steals a job: from the injector (when `injector`; a batch into our
    /// deque when `batch`), else from another worker, starting at a random
    /// one.
    pub(super) fn steal(&self, batch: bool, injector: bool) -> Option<JobRef> {
        let stealers = self.registry.live_stealers();
        loop {
            let mut retry = false;
            let from_injector = if !injector {
                Steal::Empty
            } else if batch {
                self.registry.injector.steal_batch_and_pop(&self.deque)
            } else {
                self.registry.injector.steal()
            };
            match from_injector {
                Steal::Success(job) => return Some(job),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let n = stealers.len();
            let start = self.next_random() as usize % n;
            for k in 0..n {
                let victim = (start + k) % n;
                if victim == self.index {
                    continue;
                }
                match stealers[victim].steal() {
                    Steal::Success(job) => {
                        self.counters().steals.bump();
                        return Some(job);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {
                        // Nothing exposed there: ask for a latent fork
                        // (`latent.rs`). Written only when not yet set, so
                        // that the victim's line is not bounced by every
                        // round of a searching thief.
                        // ORDERING: Relaxed: a hint (see `answer_thieves`).
                        let wanted = &self.registry.wanted[victim].0;
                        if !wanted.load(Ordering::Relaxed) {
                            wanted.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Whether any queue holds work: this worker's own (above the innermost
    /// wait's floor), or (when `stealable`) the other workers' and (when
    /// `injector`) the injector.
    pub(super) fn has_visible_work(&self, stealable: bool, injector: bool) -> bool {
        self.deque.len() > self.floor.get()
            || stealable
                && (injector && !self.registry.injector.is_empty()
                    || self.registry.live_stealers().iter().any(|s| !s.is_empty()))
    }

    /// The idle protocol (see `idle.rs`): announce, re-check, park.
    pub(super) fn sleep(&self) {
        let idle = &self.registry.idle;
        idle.prepare_to_sleep(self.index);
        let (loop_ready, mut deadline) = self.loop_state();
        // While a deferred job waits for the worker it woke, the injector
        // is not ours to look at: park until the grace period ends instead
        // of spinning on it.
        let deferring = self.deferring();
        if let Some(until) = deferring {
            deadline = Some(deadline.map_or(until, |d| d.min(until)));
        }
        if loop_ready
            || self.inbox_pending()
            || self.has_visible_work(true, deferring.is_none())
            || self.registry.is_terminated()
        {
            idle.leave_idle(self.index);
            return;
        }
        self.counters().parks.bump();
        with_thread_parker(|parker| parker.park(deadline));
        idle.leave_idle(self.index);
        // Whoever woke us may have had a job for us; if more work is queued
        // than we will take, pass the wake on so it is not absorbed.
        if self.has_visible_work(true, true) {
            idle.notify_one();
        }
    }

    pub(super) fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }
}
