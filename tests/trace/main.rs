//! The trace: recording, the three views and the audit (issue: "see and
//! audit the structure").
//!
//! * the stable tree of each of the five seed use cases (the examples
//!   themselves, included from `examples/`);
//! * the Chrome JSON parses and has a slice for every task;
//! * the SVG is well-formed XML with a lane per worker;
//! * the audit passes on real runs and fails, naming the task, its scope and
//!   the rule, on hand-broken traces.

#[path = "../common/mod.rs"]
mod common;
mod json;
mod xml;

#[allow(dead_code)]
#[path = "../../examples/seed_1_async_calls_sync.rs"]
mod seed_1;
#[allow(dead_code)]
#[path = "../../examples/seed_2_sync_calls_sync_that_runs_async.rs"]
mod seed_2;
#[allow(dead_code)]
#[path = "../../examples/seed_3_async_calls_sync_that_runs_async.rs"]
mod seed_3;
#[allow(dead_code)]
#[path = "../../examples/seed_4_async_runs_async_elsewhere.rs"]
mod seed_4;
#[allow(dead_code)]
#[path = "../../examples/seed_5_sync_calls_async.rs"]
mod seed_5;

mod audit;
mod views;

use common::within;
use knotwork::trace::{self, Trace};

fn stable_tree_of(run: fn()) -> (String, Trace) {
    let ((), t) = within(60, move || trace::record(run));
    (t.tree_stable(), t)
}

fn assert_tree(run: fn(), expected: &str) {
    let (tree, t) = stable_tree_of(run);
    assert_eq!(tree, expected, "the stable tree changed; the full tree was:\n{}", t.tree());
    let report = t.audit();
    assert!(report.passed(), "{report}");
}

#[test]
fn seed_1_async_code_calls_a_blocking_function() {
    assert_tree(
        seed_1::run,
        "\
trace: 1 scopes, 1 children
└── scope async at tests/trace/../../examples/seed_1_async_calls_sync.rs:34:29
    └── exec_blocking at tests/trace/../../examples/seed_1_async_calls_sync.rs:36:15: ok
",
    );
}

#[test]
fn seed_2_sync_code_calls_sync_code_that_runs_async() {
    assert_tree(
        seed_2::run,
        "\
trace: 2 scopes, 2 children
├── scope sync at tests/trace/../../examples/seed_2_sync_calls_sync_that_runs_async.rs:36:22
│   └── exec_blocking at tests/trace/../../examples/seed_2_sync_calls_sync_that_runs_async.rs:36:34: ok
└── scope sync at tests/trace/../../examples/seed_2_sync_calls_sync_that_runs_async.rs:37:23
    └── exec_blocking at tests/trace/../../examples/seed_2_sync_calls_sync_that_runs_async.rs:37:35: ok
",
    );
}

#[test]
fn seed_3_async_code_calls_sync_code_that_runs_async() {
    assert_tree(
        seed_3::run,
        "\
trace: 1 scopes, 1 children
└── scope async at tests/trace/../../examples/seed_3_async_calls_sync_that_runs_async.rs:34:19
    └── exec_blocking at tests/trace/../../examples/seed_3_async_calls_sync_that_runs_async.rs:34:53: ok
",
    );
}

#[test]
fn seed_4_async_code_runs_async_code_elsewhere() {
    assert_tree(
        seed_4::run,
        "\
trace: 1 scopes, 2 children
└── scope async at tests/trace/../../examples/seed_4_async_runs_async_elsewhere.rs:32:34
    ├── exec at tests/trace/../../examples/seed_4_async_runs_async_elsewhere.rs:33:27: ok
    └── exec at tests/trace/../../examples/seed_4_async_runs_async_elsewhere.rs:36:26: cancelled
",
    );
}

#[test]
fn seed_5_sync_code_calls_async_code() {
    assert_tree(
        seed_5::run,
        "\
trace: 1 scopes, 3 children
└── scope sync at tests/trace/../../examples/seed_5_sync_calls_async.rs:28:27
    ├── exec at tests/trace/../../examples/seed_5_sync_calls_async.rs:29:55: ok ×2
    └── exec at tests/trace/../../examples/seed_5_sync_calls_async.rs:30:24: ok
",
    );
}
