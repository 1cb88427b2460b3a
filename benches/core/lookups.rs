//! Thread-local lookups on every hot path: reading a context slot, and
//! finding this thread's loop.

use crate::harness::{Check, Comparison, Config, Outcome, per_op};
use knotwork::{Loop, Slot};
use std::cell::RefCell;
use std::hint::black_box;
use std::time::Instant;

static SLOTS: [Slot<u64>; 16] = [const { Slot::new() }; 16];

thread_local! {
    static STD_LOCAL: RefCell<Option<u64>> = const { RefCell::new(None) };
}

/// Calls `read` `n` times, summing its results (so the calls are not
/// optimised away), and returns nanoseconds per call.
fn time_reads(n: u64, read: impl Fn() -> u64) -> f64 {
    let start = Instant::now();
    let mut acc = 0u64;
    for _ in 0..n {
        acc = acc.wrapping_add(read());
    }
    black_box(acc);
    per_op(start, n)
}

/// Binds the first `k` slots (slot 0 innermost), runs `f`, unbinds.
fn bind_all<R>(k: usize, f: &mut dyn FnMut() -> R) -> R {
    if k == 0 { f() } else { SLOTS[k - 1].bind(k as u64, || bind_all(k - 1, f)) }
}

/// `Slot::get` (a clone of the bound value) with 1 and with 16 slots bound,
/// against a std `thread_local!` `RefCell<Option<u64>>` read.
pub fn slot_get(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(20_000_000, 2_000_000);
    let read = move || time_reads(n, || black_box(&SLOTS[0]).get().unwrap_or(0));
    Comparison::new("context slot read", "ns/op")
        .contender("knotwork Slot::get, 1 slot bound", move || bind_all(1, &mut { read }))
        .contender("knotwork Slot::get, 16 slots bound", move || bind_all(16, &mut { read }))
        .contender("std thread_local! RefCell<Option<u64>> read", move || {
            STD_LOCAL.with(|c| *c.borrow_mut() = Some(1));
            time_reads(n, || black_box(&STD_LOCAL).with(|c| c.borrow().unwrap_or(0)))
        })
        .check(Check::absolute("Slot::get ≤ 5 ns (1 slot bound)", "knotwork Slot::get, 1 slot bound", 5.0))
        .check(Check::absolute(
            "Slot::get ≤ 5 ns (16 slots bound)",
            "knotwork Slot::get, 16 slots bound",
            5.0,
        ))
        .check(Check::ratio(
            "Slot::get: 16 slots / 1 slot ≤ 1.25 (independent of slot count)",
            "knotwork Slot::get, 16 slots bound",
            &["knotwork Slot::get, 1 slot bound"],
            1.25,
        ))
        .check(Check::info(
            "Slot::get / std thread_local read",
            "knotwork Slot::get, 1 slot bound",
            &["std thread_local! RefCell<Option<u64>> read"],
        ))
        .run(cfg)
}

/// The cached `Loop::current()` against tokio's `Handle::try_current()`
/// inside an entered runtime, and the first call on a fresh thread (which
/// creates the loop).
pub fn loop_current(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(20_000_000, 2_000_000);
    let tk = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let tk = &tk;
    let threads = cfg.size(200, 50);
    Comparison::new("this thread's loop", "ns/op")
        .contender("knotwork Loop::current() (cached) + id", move || {
            let _ = Loop::current();
            time_reads(n, || black_box(Loop::current()).id().as_u64())
        })
        .contender("tokio Handle::try_current() (entered)", move || {
            let _guard = tk.enter();
            time_reads(n, || black_box(tokio::runtime::Handle::try_current()).is_ok() as u64)
        })
        .contender("knotwork Loop::current() first call (creates the loop)", move || {
            let total: u128 = (0..threads)
                .map(|_| {
                    std::thread::spawn(|| {
                        let start = Instant::now();
                        black_box(Loop::current());
                        start.elapsed().as_nanos()
                    })
                    .join()
                    .unwrap()
                })
                .sum();
            total as f64 / threads as f64
        })
        .check(Check::absolute(
            "cached Loop::current() ≤ 2 ns",
            "knotwork Loop::current() (cached) + id",
            2.0,
        ))
        .check(Check::info(
            "Loop::current / tokio Handle::try_current",
            "knotwork Loop::current() (cached) + id",
            &["tokio Handle::try_current() (entered)"],
        ))
        .run(cfg)
}
