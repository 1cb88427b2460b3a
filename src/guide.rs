//! The project's documents, rendered with the API docs so that they are
//! there wherever the API docs are (docs.rs, `cargo doc --open`): each
//! module below is one file of `docs/`, included as it is. Nothing here is
//! code.
//!
//! | module | what it says |
//! |---|---|
//! | [`guarantees`] | every guarantee knotwork makes (pool, shutdown, loops, scopes, failures, structure, liveness, robustness, soundness) and the test that shows each |
//! | [`architecture`] | the pool, the loop, the scopes and the trace, drawn; the layers; the dependencies and why |
//! | [`loom`] | the loom models, what each proves, the bugs planted to check that they catch what they are for |
//! | [`performance`] | the benchmarks against rayon, tokio and async-executor, with the machine, the command and the date |
//! | [`seed_mapping`] | how each idea of the Python original maps to knotwork |
//!
//! # Examples
//!
//! The guarantees are checked by the crate's tests; one of them, in short
//! (N1: a scope joins every child before it returns):
//!
//! ```
//! let mut done = [false; 3];
//! knotwork::scope(|s| {
//!     for d in done.iter_mut() {
//!         s.exec_blocking(move || *d = true);
//!     }
//! });
//! assert_eq!(done, [true; 3]);
//! ```

#[doc = include_str!("../docs/guarantees.md")]
pub mod guarantees {}

#[doc = include_str!("../docs/architecture.md")]
pub mod architecture {}

#[doc = include_str!("../docs/loom.md")]
pub mod loom {}

#[doc = include_str!("../docs/performance.md")]
pub mod performance {}

#[doc = include_str!("../docs/seed-mapping.md")]
pub mod seed_mapping {}
