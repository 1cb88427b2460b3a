//! `PoolBuilder`: configure and start a pool (or install the global one).
//!
//! Prior art: rayon's `ThreadPoolBuilder`
//! (<https://docs.rs/rayon/latest/rayon/struct.ThreadPoolBuilder.html>).

use super::Pool;
use super::global;
use super::idle::IdleWorkers;
use super::registry::{PanicHandler, Registry, ThreadHooks};
use super::spare::Spares;
use super::worker;
use crate::BuildError;
use crate::sync::deque::Worker;
use crate::sync::{Arc, IdCounter, Parker, thread};
use std::any::Any;
use std::fmt;

static POOL_IDS: IdCounter = IdCounter::new();

/// Configures a [`Pool`]. Made by [`Pool::builder`].
///
/// # Examples
///
/// ```
/// let pool = knotwork::Pool::builder()
///     .threads(2)
///     .thread_name("render")
///     .stack_size(4 << 20)
///     .build()?;
/// assert_eq!(pool.threads(), 2);
/// # Ok::<(), knotwork::BuildError>(())
/// ```
#[must_use = "a builder does nothing until .build() or .build_global()"]
pub struct PoolBuilder {
    threads: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    spare_threads: usize,
    panic_handler: Option<PanicHandler>,
    thread_hooks: ThreadHooks,
}

/// Spare threads a pool may start by default (`spare.rs`). None under loom,
/// where every thread is part of the model: a model asks for its spares.
#[cfg(not(loom))]
const DEFAULT_SPARE_THREADS: usize = 64;
#[cfg(loom)]
const DEFAULT_SPARE_THREADS: usize = 0;

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            threads: None,
            thread_name: "knotwork".to_owned(),
            stack_size: None,
            spare_threads: DEFAULT_SPARE_THREADS,
            panic_handler: None,
            thread_hooks: ThreadHooks::default(),
        }
    }
}

impl PoolBuilder {
    /// The number of worker threads. Defaults to
    /// `std::thread::available_parallelism()`. Zero is a [`BuildError`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(knotwork::Pool::builder().threads(3).build()?.threads(), 3);
    /// assert!(knotwork::Pool::builder().threads(0).build().unwrap_err().is_zero_threads());
    /// # Ok::<(), knotwork::BuildError>(())
    /// ```
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// Worker threads are named `"{prefix}-{index}"` (default prefix
    /// `knotwork`), spares `"{prefix}-spare-{index}"`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).thread_name("io").build()?;
    /// let name = pool.run(|| std::thread::current().name().map(str::to_owned))?;
    /// assert_eq!(name.as_deref(), Some("io-0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// The stack size of each worker thread, in bytes (default: 8 MiB).
    ///
    /// A worker waiting in a `join` runs other work on its own stack, so
    /// deeply nested scopes need stack: about 1 KiB per nesting level in
    /// release builds and 4 KiB in debug builds. The default holds 1000
    /// levels in a debug build; raise it for deeper recursion.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).stack_size(16 << 20).build()?;
    /// assert_eq!(pool.run(|| 1 + 1)?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// How many spare threads the pool may start to stand in for workers
    /// that block (default 64).
    ///
    /// A worker that blocks in a wait it cannot help with — `block_on`
    /// inside a job, a `run`/`join`/`scope`/`shutdown` on another pool, a
    /// `Task::join` whose helping is exhausted — hands its place to a spare
    /// while work is queued, so that the pool always has
    /// [`threads`](Self::threads) threads running its jobs and no nesting of
    /// waits deadlocks (docs/guarantees.md, L3). A spare retires once the
    /// blocked worker is back and is reused later; at most
    /// `threads + spare_threads` threads ever exist. With `0` a blocked
    /// worker simply blocks, as in a fixed pool.
    ///
    /// # Examples
    ///
    /// ```
    /// // One worker; its job blocks on work queued behind it, yet finishes:
    /// // a spare runs the inner job meanwhile.
    /// let pool = knotwork::Pool::builder().threads(1).spare_threads(4).build()?;
    /// let v = pool.run(|| {
    ///     knotwork::block_on(pool.scope_async(async |s| s.exec_blocking(|| 7).await.unwrap()))
    /// })?;
    /// assert_eq!(v, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spare_threads(mut self, n: usize) -> Self {
        self.spare_threads = n;
        self
    }

    /// What to do with the panic of a job started with [`Pool::spawn`]
    /// (nobody joins those), and with a scope's failures that could not be
    /// raised (another panic was already on its way: F3 and F5 in
    /// docs/guarantees.md) — those arrive as one payload that downcasts to
    /// [`ScopeError`](crate::ScopeError). By default the message is printed
    /// to stderr and the worker carries on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let panics = Arc::new(AtomicUsize::new(0));
    /// let seen = panics.clone();
    /// let pool = knotwork::Pool::builder()
    ///     .threads(1)
    ///     .panic_handler(move |_payload| { seen.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// pool.spawn(|| panic!("oops"))?;
    /// pool.shutdown()?;
    /// assert_eq!(panics.load(Ordering::SeqCst), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn panic_handler(mut self, handler: impl Fn(Box<dyn Any + Send>) + Send + Sync + 'static) -> Self {
        self.panic_handler = Some(Box::new(handler));
        self
    }

    /// Runs `hook(index)` on every thread the pool starts — each worker, and
    /// each spare when it first starts (`index` is the slot: `0..threads`
    /// for workers, higher for spares) — before the thread enters its main
    /// loop (work the hook itself waits for, with `block_on` or a join, may
    /// run on it meanwhile).
    /// [`Pool::current`] is this pool there, and this thread's loop may be
    /// used. The hook runs holding a unit of the pool's outstanding work, so
    /// what it submits is accepted and runs even if shutdown has begun (the
    /// pool cannot drain under it). A panic in the hook goes to the
    /// [panic handler](Self::panic_handler) and the thread starts anyway.
    ///
    /// A pool installed with [`build_global`](Self::build_global) is not
    /// the global pool yet while its start hooks run: use
    /// [`Pool::current`] there, not [`Pool::global`] (which would build a
    /// default pool and make the install fail).
    ///
    /// rayon's `start_handler`; tokio's `on_thread_start`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let (started, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// let (s, t) = (started.clone(), stopped.clone());
    /// let pool = knotwork::Pool::builder()
    ///     .threads(3)
    ///     .on_thread_start(move |_index| { s.fetch_add(1, Ordering::SeqCst); })
    ///     .on_thread_stop(move |_index| { t.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// pool.shutdown()?; // every thread has run both hooks when this returns
    /// assert_eq!((started.load(Ordering::SeqCst), stopped.load(Ordering::SeqCst)), (3, 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_thread_start(mut self, hook: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.thread_hooks.start = Some(Box::new(hook));
        self
    }

    /// Runs `hook(index)` on every thread of the pool just before it exits:
    /// once shutdown has drained the pool (every accepted job has run),
    /// before the thread's loop is torn down (the hook may still use it).
    /// The thread is no longer one of the pool's workers there
    /// ([`Pool::current`] is `None`), and the pool refuses new work. A panic
    /// in the hook goes to the [panic handler](Self::panic_handler). See
    /// [`on_thread_start`](Self::on_thread_start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let exited = Arc::new(Mutex::new(Vec::new()));
    /// let seen = exited.clone();
    /// let pool = knotwork::Pool::builder()
    ///     .threads(2)
    ///     .on_thread_stop(move |index| seen.lock().unwrap().push(index))
    ///     .build()?;
    /// pool.shutdown()?;
    /// let mut exited = exited.lock().unwrap().clone();
    /// exited.sort();
    /// assert_eq!(exited, [0, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_thread_stop(mut self, hook: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.thread_hooks.stop = Some(Box::new(hook));
        self
    }

    /// Starts the pool's worker threads.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if `threads(0)` was asked for, the thread name holds a
    /// NUL byte, or the operating system refused to start a thread (then the
    /// threads already started are shut down and joined first).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(2).build()?;
    /// assert_eq!(pool.run(|| 40 + 2)?, 42);
    /// let err = knotwork::Pool::builder().thread_name("bad\0name").build().unwrap_err();
    /// assert!(err.is_invalid_thread_name());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Pool, BuildError> {
        let threads = match self.threads {
            Some(0) => return Err(BuildError::zero_threads()),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.thread_name.contains('\0') {
            return Err(BuildError::invalid_thread_name(self.thread_name));
        }
        // Every slot, spares' included, has its deque and parker from the
        // start: thieves and wakers index them without synchronisation.
        let capacity = threads + self.spare_threads;
        let mut parkers: Vec<Parker> = (0..capacity).map(|_| Parker::new()).collect();
        let mut deques: Vec<Worker<_>> = (0..capacity).map(|_| Worker::new_lifo()).collect();
        let stealers = deques.iter().map(Worker::stealer).collect();
        let unparkers = parkers.iter().map(Parker::unparker).collect();
        let spare_slots = (threads..capacity).zip(deques.split_off(threads)).zip(parkers.split_off(threads));
        let spares = Spares::new(
            threads,
            spare_slots.map(|((i, d), p)| (i, d, p)).collect(),
            self.thread_name.clone(),
            self.stack_size,
        );
        let registry = Arc::new(Registry::new(
            POOL_IDS.next(),
            stealers,
            spares,
            IdleWorkers::new(unparkers),
            self.panic_handler,
            self.thread_hooks,
        ));
        let pool = Pool::from_registry(registry.clone());
        let mut handles = Vec::with_capacity(threads);
        for (index, (deque, parker)) in deques.into_iter().zip(parkers).enumerate() {
            let mut builder = thread::Builder::new().name(format!("{}-{index}", self.thread_name));
            if let Some(bytes) = self.stack_size.or(crate::sync::WORKER_STACK_SIZE) {
                builder = builder.stack_size(bytes);
            }
            let for_worker = registry.clone();
            // The unit its start hook runs under (`worker::main`): taken
            // while the pool is new, so never refused.
            let start_unit = registry.thread_hooks.start.is_some() && registry.accept_top_level().is_ok();
            match builder.spawn(move || worker::main(for_worker, index, deque, parker, start_unit)) {
                Ok(handle) => handles.push(handle),
                Err(err) => {
                    if start_unit {
                        registry.release();
                    }
                    registry.set_threads(handles);
                    // Dropping the only handle shuts down and joins what started.
                    drop(pool);
                    return Err(BuildError::spawn(err));
                }
            }
        }
        registry.set_threads(handles);
        Ok(pool)
    }

    /// Builds the pool and installs it as the global default (the one
    /// [`Pool::global`] returns and free functions use off-pool).
    ///
    /// # Errors
    ///
    /// Everything [`build`](Self::build) can fail with, and
    /// [`BuildError::is_global_already_initialized`] if the global pool
    /// already exists — whether from an earlier `build_global` or because
    /// something already called [`Pool::global`].
    ///
    /// # Examples
    ///
    /// ```
    /// knotwork::Pool::builder().threads(2).build_global()?;
    /// assert_eq!(knotwork::Pool::global().threads(), 2);
    /// assert!(knotwork::Pool::builder().build_global().unwrap_err().is_global_already_initialized());
    /// # Ok::<(), knotwork::BuildError>(())
    /// ```
    pub fn build_global(self) -> Result<(), BuildError> {
        global::install(self)
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("threads", &self.threads)
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .field("spare_threads", &self.spare_threads)
            .field("panic_handler", &self.panic_handler.as_ref().map(|_| ".."))
            .field("on_thread_start", &self.thread_hooks.start.as_ref().map(|_| ".."))
            .field("on_thread_stop", &self.thread_hooks.stop.as_ref().map(|_| ".."))
            .finish()
    }
}
