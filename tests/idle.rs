//! An idle pool parks: no busy spin (its own test binary, so that no other
//! test's threads add to the process's CPU time).
#![cfg(target_os = "linux")]
mod common;

use std::time::Duration;

/// user + system CPU time of this process, from /proc/self/stat (in clock
/// ticks, which are 1/100 s on Linux).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_pool_of_four_uses_under_one_percent_of_a_core() {
    common::within(30, || {
        let pool = knotwork::Pool::builder().threads(4).build().unwrap();
        // Let the workers run out of work and park.
        pool.run(|| ()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let before = cpu_ticks();
        std::thread::sleep(Duration::from_secs(1));
        let used = cpu_ticks() - before;
        // 1% of one core over 1 s is 1 tick; allow the tick we may straddle.
        assert!(used <= 1, "an idle pool used {used} ticks (1/100 s each) of CPU in 1 s");
        pool.shutdown().unwrap();
    });
}
