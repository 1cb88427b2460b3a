//! Offloading a blocking call from async code and awaiting its result —
//! the original library's core move — against tokio's `spawn_blocking` and,
//! when a `python3` is on the PATH, Python's `asyncio.to_thread`.

use crate::harness::{Check, Comparison, Config, Outcome, per_op};
use knotwork::{Pool, block_on};
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

/// Times `await asyncio.to_thread(f, i)` in a `python3` child process and
/// prints nanoseconds per call; `None` if there is no usable `python3`.
fn python_to_thread(m: u64) -> Option<f64> {
    let script = format!(
        "import asyncio, time\n\
         def f(x): return x\n\
         async def main():\n\
         \x20   for i in range(50): await asyncio.to_thread(f, i)\n\
         \x20   t = time.perf_counter_ns()\n\
         \x20   for i in range({m}): await asyncio.to_thread(f, i)\n\
         \x20   print((time.perf_counter_ns() - t) / {m})\n\
         asyncio.run(main())\n"
    );
    let out = Command::new("python3").arg("-c").arg(script).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// `exec_blocking(|| x).await` from a task of an async scope on a pool of 2.
pub fn offload(cfg: &Config) -> Outcome {
    let m: u64 = cfg.size(20_000, 2_000);
    let kw = Pool::builder().threads(2).build().unwrap();
    let tk = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let (kw, tk) = (&kw, &tk);
    let mut cmp = Comparison::new("offload round trip from async code", "ns/op")
        .contender("knotwork exec_blocking(|| x).await", move || {
            block_on(kw.scope_async(async move |s| {
                let start = Instant::now();
                for i in 0..m {
                    black_box(s.exec_blocking(move || i).await.unwrap());
                }
                per_op(start, m)
            }))
        })
        .contender("tokio spawn_blocking(|| x).await", move || {
            tk.block_on(async {
                let start = Instant::now();
                for i in 0..m {
                    black_box(tokio::task::spawn_blocking(move || i).await.unwrap());
                }
                per_op(start, m)
            })
        })
        .check(Check::ratio(
            "offload: knotwork / tokio spawn_blocking ≤ 0.5",
            "knotwork exec_blocking(|| x).await",
            &["tokio spawn_blocking(|| x).await"],
            0.5,
        ));
    let py_m = cfg.size(5_000, 1_000);
    if python_to_thread(10).is_some() {
        cmp = cmp
            .contender("Python 3 await asyncio.to_thread(f) (subprocess)", move || {
                python_to_thread(py_m).expect("python3 stopped working mid-run")
            })
            .check(Check::ratio(
                "offload: knotwork / Python to_thread ≤ 0.1 (≥ 10× faster)",
                "knotwork exec_blocking(|| x).await",
                &["Python 3 await asyncio.to_thread(f) (subprocess)"],
                0.1,
            ));
    } else {
        println!("\n(no python3 on the PATH: the to_thread comparison is skipped)");
    }
    cmp.run(cfg)
}
