//! Memory: bytes per pending child and the peak resident set of a million
//! of them, against rayon and tokio.
//!
//! Each figure comes from a fresh process: the bench re-runs its own binary
//! with `--memory-probe CASE N`, which builds one runtime, warms it up,
//! reads `VmRSS` from `/proc/self/status`, makes `N` children that stay
//! pending, reads `VmRSS` and `VmHWM` (the peak) again, and prints them.
//! A fresh process per figure keeps one runtime's freed memory (kept by the
//! allocator) out of the next one's figure, and makes the peak its own.
//! Resident memory counts everything a child costs: its cell, its queue
//! entry, the queue's growth, the allocator's slack.
//!
//! The cases, all on one worker thread so that nothing runs the children
//! while they are counted:
//!
//! * **pending blocking child**: knotwork `exec_blocking` in a scope whose
//!   body is on the only worker; rayon `spawn` in a `scope` on its only
//!   thread; tokio `spawn_blocking` queued behind the only blocking thread,
//!   which is held by a first closure until the count is taken.
//! * **suspended async child**: knotwork `exec` and tokio `spawn` of a
//!   future that is polled once and then waits for ever; counted once every
//!   one of them has been polled (then knotwork cancels its scope, tokio
//!   drops its runtime). rayon has no async children.

use crate::harness::{Check, Comparison, Config, Outcome};
use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The cases a probe process can run: (name, what it makes).
const CASES: [(&str, &str); 5] = [
    ("kw-blocking", "knotwork exec_blocking"),
    ("rayon-blocking", "rayon scope spawn"),
    ("tokio-blocking", "tokio spawn_blocking (queued)"),
    ("kw-async", "knotwork exec (suspended)"),
    ("tokio-async", "tokio spawn (suspended)"),
];

/// `(VmRSS, VmHWM)` of this process, in bytes.
fn rss_and_peak() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("cannot read /proc/self/status");
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}"));
        let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number of kB");
        kb * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The probe side: runs `case` with `n` children in this process and prints
/// `probe <rss before> <rss with the children> <peak>` (bytes).
pub fn probe(case: &str, n: u64) {
    let report = |before: u64| {
        let (now, peak) = rss_and_peak();
        println!("probe {before} {now} {peak}");
    };
    match case {
        "kw-blocking" => {
            let pool = knotwork::Pool::builder().threads(1).build().unwrap();
            pool.run(|| knotwork::scope(|s| s.exec_blocking(|| black_box(1)).join().unwrap())).unwrap();
            let before = rss_and_peak().0;
            pool.run(|| {
                knotwork::scope(|s| {
                    for i in 0..n {
                        s.exec_blocking(move || {
                            black_box(i);
                        });
                    }
                    // The body is on the only worker: every child is pending.
                    report(before);
                })
            })
            .unwrap();
        }
        "rayon-blocking" => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            pool.install(|| rayon::scope(|s| s.spawn(|_| black_box(()))));
            let before = rss_and_peak().0;
            pool.install(|| {
                rayon::scope(|s| {
                    for i in 0..n {
                        s.spawn(move |_| {
                            black_box(i);
                        });
                    }
                    report(before);
                })
            });
        }
        "tokio-blocking" => {
            let rt = tokio::runtime::Builder::new_current_thread().max_blocking_threads(1).build().unwrap();
            rt.block_on(async {
                tokio::task::spawn_blocking(|| black_box(1)).await.unwrap();
                let before = rss_and_peak().0;
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
                // Holds the only blocking thread until the count is taken.
                let gate = tokio::task::spawn_blocking(move || {
                    started_tx.send(()).unwrap();
                    rx.recv().unwrap();
                });
                started_rx.recv().unwrap();
                for i in 0..n {
                    drop(tokio::task::spawn_blocking(move || {
                        black_box(i);
                    }));
                }
                report(before);
                tx.send(()).unwrap();
                gate.await.unwrap();
            });
        }
        "kw-async" => {
            let pool = knotwork::Pool::builder().threads(1).build().unwrap();
            pool.run(|| knotwork::scope(|s| s.exec(async { black_box(1) }).join().unwrap())).unwrap();
            let before = rss_and_peak().0;
            let polled = Arc::new(AtomicUsize::new(0));
            knotwork::block_on(pool.scope_async(|s| async move {
                for _ in 0..n {
                    let polled = polled.clone();
                    s.exec(async move {
                        polled.fetch_add(1, Ordering::Relaxed);
                        std::future::pending::<()>().await;
                    });
                }
                while polled.load(Ordering::Relaxed) < n as usize {
                    knotwork::sleep(std::time::Duration::from_millis(1)).await;
                }
                report(before);
                // Drops every child at its suspension point.
                s.cancel();
            }));
        }
        "tokio-async" => {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async { tokio::spawn(async { black_box(1) }).await.unwrap() });
            let before = rss_and_peak().0;
            let polled = Arc::new(AtomicUsize::new(0));
            rt.block_on(async {
                for _ in 0..n {
                    let polled = polled.clone();
                    drop(tokio::spawn(async move {
                        polled.fetch_add(1, Ordering::Relaxed);
                        std::future::pending::<()>().await;
                    }));
                }
                while polled.load(Ordering::Relaxed) < n as usize {
                    tokio::task::yield_now().await;
                }
                report(before);
            });
            // Dropping the runtime drops the suspended tasks.
            drop(rt);
        }
        other => panic!("--memory-probe: no case {other:?}; the cases are {:?}", CASES.map(|c| c.0)),
    }
}

/// Runs one probe process; returns (bytes per child, peak RSS in bytes).
fn run_probe(case: &str, n: u64) -> (f64, f64) {
    let exe = std::env::current_exe().expect("cannot find this bench's binary");
    let out = Command::new(exe)
        .args(["--memory-probe", case, &n.to_string()])
        .output()
        .expect("cannot start a probe process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("probe ")).unwrap_or_else(|| {
        panic!("probe {case} printed no figures: {stdout}{}", String::from_utf8_lossy(&out.stderr))
    });
    let v: Vec<f64> = line.split_whitespace().skip(1).map(|x| x.parse().expect("a number")).collect();
    ((v[1] - v[0]) / n as f64, v[2])
}

fn name(case: &str) -> &'static str {
    CASES.iter().find(|c| c.0 == case).expect("a known case").1
}

/// One comparison over every case, each contender's figure picked by
/// `pick` from its probe (bytes per child, peak bytes), with `checks`
/// named after the cases' contenders (`name`).
fn comparison(
    title: String,
    unit: &'static str,
    n: u64,
    pick: fn((f64, f64)) -> f64,
    checks: Vec<Check>,
    cfg: &Config,
) -> Outcome {
    let mut c = Comparison::new(title, unit);
    for (case, _) in CASES {
        c = c.contender(name(case), move || pick(run_probe(case, n)));
    }
    checks.into_iter().fold(c, Comparison::check).run(cfg)
}

/// Bytes per pending child, and the peak RSS of `n` of them (one process
/// per figure; module docs).
pub fn memory(cfg: &Config) -> Vec<Outcome> {
    let n: u64 = cfg.size(1_000_000, 100_000);
    let reps = Config { reps: cfg.reps.min(3), quick: cfg.quick, only: Vec::new(), threads: Vec::new() };
    let (blocking, rayon, tokio_blocking) =
        (name("kw-blocking"), name("rayon-blocking"), name("tokio-blocking"));
    let (kw_async, tokio_async) = (name("kw-async"), name("tokio-async"));
    let per_child = comparison(
        format!("memory: resident bytes per pending child ({n} children)"),
        "bytes",
        n,
        |(bytes, _)| bytes,
        vec![
            Check::ratio(
                "pending blocking child: knotwork / tokio spawn_blocking ≤ 1.0",
                blocking,
                &[tokio_blocking],
                1.0,
            ),
            Check::info("pending blocking child: knotwork / rayon", blocking, &[rayon]),
            Check::ratio("suspended async child: knotwork / tokio ≤ 1.0", kw_async, &[tokio_async], 1.0),
        ],
        &reps,
    );
    let peak = comparison(
        format!("memory: peak resident set with {n} pending children"),
        "MiB",
        n,
        |(_, peak)| peak / (1024.0 * 1024.0),
        vec![
            Check::ratio("peak RSS, blocking: knotwork / tokio ≤ 1.0", blocking, &[tokio_blocking], 1.0),
            Check::info("peak RSS, blocking: knotwork / rayon", blocking, &[rayon]),
            Check::ratio("peak RSS, async: knotwork / tokio ≤ 1.0", kw_async, &[tokio_async], 1.0),
        ],
        &reps,
    );
    vec![per_child, peak]
}
