//! Waiting a little before parking: spin, then yield.
//!
//! Work often arrives within microseconds of a thread running out of it,
//! and a park/unpark round trip costs more than that, so an idle pool
//! thread (and a `block_on` with nothing runnable) first spins in growing
//! rounds, then yields, for [`SPIN_ROUNDS`] rounds. Prior art:
//! crossbeam-utils' `Backoff` (<https://docs.rs/crossbeam-utils/latest/crossbeam_utils/struct.Backoff.html>),
//! whose shape (2^round spins up to a limit, then `yield_now`) this keeps.

/// The spin-wait hint of [`backoff`] (a schedule point under loom).
#[inline(always)]
fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// How many rounds an out-of-work pool thread spins (then yields) before it
/// parks. Zero under loom, where every spin is a schedule point that would
/// only blow up the state space without changing what the protocol allows.
#[cfg(not(loom))]
pub(crate) const SPIN_ROUNDS: u32 = 32;
#[cfg(loom)]
pub(crate) const SPIN_ROUNDS: u32 = 0;

/// Spin (then yield) a little before parking: work often arrives within
/// microseconds of running out, and a park/unpark round trip costs more.
pub(crate) fn backoff(round: u32) {
    if round < 6 {
        for _ in 0..(1u32 << round) {
            spin_loop();
        }
    } else {
        super::thread::yield_now();
    }
}
