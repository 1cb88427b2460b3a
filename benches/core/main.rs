//! knotwork against its peers — rayon, tokio, async-executor (with
//! async-channel), std and, when present, Python — in one process.
//!
//! ```text
//! cargo bench --bench core                     # full run (a few minutes on 2 cores)
//! cargo bench --bench core -- --quick          # smoke run (under a minute; CI runs it)
//! cargo bench --bench core -- storm offload    # only workloads whose name contains a word
//! cargo bench --bench core -- --threads 1,2,4,8,16   # thread counts of the fork-join workload
//! cargo bench --bench core -- --out docs/bench # where results.md and ratios.svg go
//! cargo bench --bench core -- memory           # bytes per pending child, peak RSS (Linux)
//! ```
//!
//! The memory workload re-runs this binary as `--memory-probe CASE N`, one
//! fresh process per figure (`memory.rs`).
//!
//! A plain `harness = false` binary. Every workload is a `Comparison`:
//! each contender runs once to warm up, then in `reps` interleaved rounds
//! (see `harness`); the figures are medians, and each target is the median
//! of the per-round ratio knotwork / peer. Nothing here asserts: a
//! benchmark measures, the tests in `tests/` check behaviour. The results
//! go to `<target dir>/knotwork-bench/` (or `--out`) as a Markdown table and an
//! SVG chart; docs/performance.md holds the committed ones.

mod chart;
mod context;
mod fork_join;
mod harness;
mod limiter;
mod lookups;
#[cfg(target_os = "linux")]
mod memory;
mod offload;
mod own;
mod spawn;
mod timers;
mod tree;

use harness::{Config, Outcome};
use std::path::{Path, PathBuf};

/// Runs one workload's comparison.
type Workload = fn(&Config) -> Outcome;

/// The civil date (UTC) of `secs` since the Unix epoch (Howard Hinnant's
/// days-to-civil algorithm).
fn date(secs: u64) -> String {
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name"))?.split(':').nth(1).map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Cargo's target directory, wherever it is (`CARGO_TARGET_DIR`,
/// `--target-dir`, `build.target-dir` or `./target`): found from this
/// program's own path, `<target>/<profile>/{examples,deps}/<name>`, so the
/// output lands beside the build and never in the checkout when the build
/// is elsewhere.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A probe process of the memory workload (`memory.rs`).
    #[cfg(target_os = "linux")]
    if let [flag, case, n, ..] = args.as_slice()
        && flag == "--memory-probe"
    {
        memory::probe(case, n.parse().expect("--memory-probe CASE N: N is a number"));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary too (a debug build, no arguments): there it only says how to
    // run it, since a benchmark measures speed and a test checks behaviour.
    if !quick && !args.iter().any(|a| a == "--bench") {
        println!("knotwork benchmarks: run `cargo bench --bench core` (or add `-- --quick`)");
        return;
    }
    let value_of = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let threads: Vec<usize> = value_of("--threads")
        .map(|t| t.split(',').map(|x| x.parse().expect("--threads takes a list like 1,2,4")).collect())
        .unwrap_or_else(|| vec![1, 2]);
    let out = value_of("--out").map_or_else(|| target_dir().join("knotwork-bench"), PathBuf::from);
    let only: Vec<String> = {
        let mut only = Vec::new();
        let mut skip = false;
        for a in &args {
            if skip {
                skip = false;
            } else if a == "--threads" || a == "--out" {
                skip = true;
            } else if !a.starts_with("--") {
                only.push(a.clone());
            }
        }
        only
    };
    let cfg = Config { reps: if quick { 3 } else { 7 }, quick, only, threads };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let today = date(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
    let command = format!(
        "cargo bench --bench core -- {}",
        args.iter().filter(|a| *a != "--bench").cloned().collect::<Vec<_>>().join(" ")
    );
    let machine = format!("{} cores available ({}), {}", cores, cpu_model(), std::env::consts::ARCH);
    println!("knotwork vs peers — {} mode, {machine}, {today}", if quick { "quick" } else { "full" });

    let workloads: Vec<(&str, Workload)> = vec![
        ("fork-join fib scope", fork_join::scope_fib),
        ("fork-join fib join", fork_join::join_fib),
        ("fib cutoff", fork_join::cutoff_fib),
        ("tree 2^20", tree::tree_2_20),
        ("tree 2^24", tree::tree_2_24),
        ("tree 1,023", tree::tree_small),
        ("storm blocking", spawn::blocking_storm),
        ("storm async", spawn::async_storm),
        ("local spawn", spawn::local_spawn),
        ("ping-pong", spawn::ping_pong_local),
        ("sleeps many", timers::many_sleeps),
        ("sleep one", timers::one_sleep),
        ("offload", offload::offload),
        ("slot", lookups::slot_get),
        ("loop current", lookups::loop_current),
        ("context-capture", context::capture),
        ("limiter uncontended", limiter::uncontended),
        ("limiter contended", limiter::contended),
        ("pool outside", own::pool_from_outside),
        ("recording", own::recording),
        #[cfg(target_os = "linux")]
        ("idle", own::idle_cpu),
    ];
    #[allow(unused_mut)] // extended on Linux only
    let mut outcomes: Vec<Outcome> =
        workloads.into_iter().filter(|(key, _)| cfg.wants(key)).map(|(_, run)| run(&cfg)).collect();
    #[cfg(target_os = "linux")]
    if cfg.wants("memory") {
        outcomes.extend(memory::memory(&cfg));
    }

    let header = format!(
        "Machine: {machine}. Date: {today}. Command: `{}`. Mode: {}, {} rounds per workload after a warm-up.",
        command.trim_end(),
        if quick { "quick" } else { "full" },
        cfg.reps
    );
    std::fs::create_dir_all(&out).expect("cannot create the output directory");
    std::fs::write(out.join("results.md"), chart::markdown(&outcomes, &header))
        .expect("cannot write results.md");
    std::fs::write(
        out.join("ratios.svg"),
        chart::svg(&outcomes, &format!("{machine} · {today} · {}", command.trim_end())),
    )
    .expect("cannot write ratios.svg");
    let unmet: Vec<&str> = outcomes
        .iter()
        .flat_map(|o| &o.judged)
        .filter(|j| j.met == Some(false))
        .map(|j| j.check.label.as_str())
        .collect();
    println!("\nwrote {0}/results.md and {0}/ratios.svg", out.display());
    println!("targets not met: {}", if unmet.is_empty() { "none".to_string() } else { unmet.join("; ") });
}
