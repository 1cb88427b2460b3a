//! Capturing the current context-slot bindings as a `knotwork::Context`
//! and reinstating them with `ctx.run`, with 1 and with 8 slots bound.
//!
//! tokio has no such thing. The peer is what a program would write by
//! hand: its context as an `Arc<HashMap<usize, u64>>` with as many entries,
//! captured by cloning the `Arc` and reinstated by swapping it into a std
//! `thread_local!` and back. The ratios are reported, not judged.

use crate::harness::{Check, Comparison, Config, Outcome, per_op};
use knotwork::{Context, Slot};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

static SLOTS: [Slot<u64>; 8] = [const { Slot::new() }; 8];

/// The hand-written context of the peer.
type Map = Arc<HashMap<usize, u64>>;

thread_local! {
    static STD_CONTEXT: RefCell<Option<Map>> = const { RefCell::new(None) };
}

/// Runs `op` `n` times (with the iteration number) and returns nanoseconds
/// per call.
fn time_ops(n: u64, mut op: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        op(i);
    }
    per_op(start, n)
}

/// Binds the first `k` slots (slot 0 innermost), runs `f`, unbinds.
fn bind_all<R>(k: usize, f: &mut dyn FnMut() -> R) -> R {
    if k == 0 { f() } else { SLOTS[k - 1].bind(k as u64, || bind_all(k - 1, f)) }
}

/// A `Context` captured with the first `k` slots bound.
fn captured(k: usize) -> Context {
    bind_all(k, &mut Context::capture)
}

/// The peer's context with `k` entries.
fn map(k: usize) -> Map {
    Arc::new((0..k).map(|i| (i, i as u64 + 1)).collect())
}

/// `f` with `ctx` swapped into the peer's thread-local, the previous one
/// back afterwards.
fn std_run<R>(ctx: &Map, f: impl FnOnce() -> R) -> R {
    let prev = STD_CONTEXT.with(|c| c.replace(Some(ctx.clone())));
    let r = f();
    STD_CONTEXT.with(|c| *c.borrow_mut() = prev);
    r
}

/// `Context::capture()` + drop and `ctx.run(|| x)` with 1 and with 8 slots
/// bound, against an `Arc<HashMap>` clone + drop and a thread-local swap of
/// it.
pub fn capture(cfg: &Config) -> Outcome {
    let n: u64 = cfg.size(5_000_000, 500_000);
    let (ctx1, ctx8) = (captured(1), captured(8));
    let (map1, map8) = (map(1), map(8));
    let (ctx1, ctx8, map1, map8) = (&ctx1, &ctx8, &map1, &map8);
    let capture = move || time_ops(n, |_| drop(black_box(Context::capture())));
    let clone = move |m: &Map| time_ops(n, |_| drop(black_box(black_box(m).clone())));
    Comparison::new("context capture and reinstatement", "ns/op")
        .contender("knotwork Context::capture() + drop, 1 slot bound", move || bind_all(1, &mut { capture }))
        .contender("knotwork Context::capture() + drop, 8 slots bound", move || bind_all(8, &mut { capture }))
        .contender("std Arc<HashMap> clone + drop, 1 entry", move || clone(map1))
        .contender("std Arc<HashMap> clone + drop, 8 entries", move || clone(map8))
        .contender("knotwork ctx.run(|| x), 1 slot captured", move || {
            time_ops(n, |i| {
                black_box(black_box(ctx1).run(|| black_box(i)));
            })
        })
        .contender("knotwork ctx.run(|| x), 8 slots captured", move || {
            time_ops(n, |i| {
                black_box(black_box(ctx8).run(|| black_box(i)));
            })
        })
        .contender("std thread_local! Arc<HashMap> swap in + back, 1 entry", move || {
            time_ops(n, |i| {
                black_box(std_run(black_box(map1), || black_box(i)));
            })
        })
        .contender("std thread_local! Arc<HashMap> swap in + back, 8 entries", move || {
            time_ops(n, |i| {
                black_box(std_run(black_box(map8), || black_box(i)));
            })
        })
        .check(Check::info(
            "Context::capture: 8 slots / 1 slot",
            "knotwork Context::capture() + drop, 8 slots bound",
            &["knotwork Context::capture() + drop, 1 slot bound"],
        ))
        .check(Check::info(
            "Context::capture / `Arc<HashMap>` clone, 1 slot",
            "knotwork Context::capture() + drop, 1 slot bound",
            &["std Arc<HashMap> clone + drop, 1 entry"],
        ))
        .check(Check::info(
            "Context::capture / `Arc<HashMap>` clone, 8 slots",
            "knotwork Context::capture() + drop, 8 slots bound",
            &["std Arc<HashMap> clone + drop, 8 entries"],
        ))
        .check(Check::info(
            "ctx.run: 8 slots / 1 slot",
            "knotwork ctx.run(|| x), 8 slots captured",
            &["knotwork ctx.run(|| x), 1 slot captured"],
        ))
        .check(Check::info(
            "ctx.run / thread_local swap, 1 slot",
            "knotwork ctx.run(|| x), 1 slot captured",
            &["std thread_local! Arc<HashMap> swap in + back, 1 entry"],
        ))
        .check(Check::info(
            "ctx.run / thread_local swap, 8 slots",
            "knotwork ctx.run(|| x), 8 slots captured",
            &["std thread_local! Arc<HashMap> swap in + back, 8 entries"],
        ))
        .run(cfg)
}
