//! The process-wide default pool (the Python original's `initConf(executor=...)`).
//!
//! Precedence for free functions: the pool whose worker thread the caller
//! runs on, else this global pool. The global pool is built lazily with the
//! default configuration on first use, unless [`PoolBuilder::build_global`]
//! installed a configured one first; installing after it exists is an error.
//!
//! Prior art: rayon's global pool and `build_global`
//! (<https://docs.rs/rayon/latest/rayon/struct.ThreadPoolBuilder.html#method.build_global>).

use super::{Pool, PoolBuilder};
use crate::BuildError;
use crate::sync::OnceLock;

static GLOBAL: OnceLock<Pool> = OnceLock::new();

/// Serialises `install` against itself so that the "already initialised"
/// check and the build happen as one step. A std mutex on purpose: like the
/// `OnceLock`, it lives outside every loom model (see `sync::OnceLock`).
static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(super) fn get() -> &'static Pool {
    GLOBAL.get_or_init(|| {
        PoolBuilder::default()
            .thread_name("knotwork-global")
            .build()
            .unwrap_or_else(|e| panic!("could not start the global knotwork pool: {e}"))
    })
}

pub(super) fn install(builder: PoolBuilder) -> Result<(), BuildError> {
    let _serial = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if GLOBAL.get().is_some() {
        return Err(BuildError::global_already_initialized());
    }
    let pool = builder.build()?;
    GLOBAL.set(pool).map_err(|pool| {
        // `get` raced us and built a default pool first; ours is not needed.
        drop(pool);
        BuildError::global_already_initialized()
    })
}
