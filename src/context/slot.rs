//! `Slot<T>`: a context variable, declared as a `static`.
//!
//! Prior art: Java's `ScopedValue.where(..).run(..)` (<https://openjdk.org/jeps/481>), the shape of
//! `Slot::bind`.

use super::bindings::{Origin, Snapshot, Value, with_current};
use crate::hooks::{self, Inheritance};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// Hands out slot numbers, once per `Slot`, on its first use.
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// A context slot: a value bound for the extent of a call, and inherited by
/// every child spawned within it (Python's `contextvars`, Java's
/// `ScopedValue`) — or, as its [`Inheritance`] says, only by async
/// children, or by none.
///
/// Declare one as a `static`. [`bind`](Self::bind) gives it a value while a
/// closure runs; [`Scope::exec`](crate::Scope::exec) and
/// [`Scope::exec_blocking`](crate::Scope::exec_blocking) take a snapshot of
/// all bindings when they spawn, in O(1), and the child sees that snapshot
/// on whatever worker it runs, and passes it on to its own children. A
/// rebinding inside a child is never seen by its parent or siblings, and a
/// rebinding in the parent after the spawn is not seen by the child.
///
/// Work outside a scope sees **no bindings**: a
/// [`Pool::spawn`](crate::Pool::spawn) job (fire-and-forget: nobody waits
/// for it, so it is nobody's child), a `std::thread`, a task of another
/// executor. To carry them there,
/// [`Context::capture`](crate::Context::capture) them and
/// [`run`](crate::Context::run) or [`wrap`](crate::Context::wrap) there.
/// What the caller waits for as for a call of its own —
/// [`Pool::run`](crate::Pool::run), both halves of
/// [`Pool::join`](crate::Pool::join), every call of
/// [`Pool::broadcast`](crate::Pool::broadcast) — runs in the caller's own
/// bindings, wherever it runs.
///
/// # Examples
///
/// ```
/// use knotwork::Slot;
/// static REQUEST_ID: Slot<u64> = Slot::new();
///
/// let seen = REQUEST_ID.bind(7, || {
///     knotwork::scope(|s| s.exec_blocking(|| REQUEST_ID.get()).join().unwrap())
/// });
/// assert_eq!(seen, Some(7));
/// assert_eq!(REQUEST_ID.get(), None); // unbound outside `bind`
/// ```
pub struct Slot<T: Send + Sync + 'static> {
    /// 1 + this slot's index in the binding table; 0 until first use.
    index: AtomicUsize,
    inheritance: Inheritance,
    _marker: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> Slot<T> {
    /// A new slot, inherited by every child ([`Inheritance::Always`]);
    /// bind it with [`bind`](Self::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// static TENANT: knotwork::Slot<&'static str> = knotwork::Slot::new();
    /// assert_eq!(TENANT.inheritance(), knotwork::Inheritance::Always);
    /// ```
    pub const fn new() -> Self {
        Slot::with_inheritance(Inheritance::Always)
    }

    /// A task-local slot ([`Inheritance::Never`]): its binding is seen by
    /// the code that bound it — and by a scope's body there, which is part
    /// of the same task — but by no child, no `spawn_local` task and no
    /// [`Context`](crate::Context).
    ///
    /// # Examples
    ///
    /// ```
    /// // A live transaction's callback queue must never cross into children.
    /// static IN_TRANSACTION: knotwork::Slot<bool> = knotwork::Slot::local();
    /// IN_TRANSACTION.bind(true, || {
    ///     assert_eq!(IN_TRANSACTION.get(), Some(true));
    ///     let child = knotwork::scope(|s| s.exec(async { IN_TRANSACTION.get() }).join().unwrap());
    ///     assert_eq!(child, None);
    /// });
    /// ```
    pub const fn local() -> Self {
        Slot::with_inheritance(Inheritance::Never)
    }

    /// A slot that crosses into children as `inheritance` says.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::{Inheritance, Slot};
    /// static LOOP_HINT: Slot<u32> = Slot::with_inheritance(Inheritance::AsyncOnly);
    /// let (a, b) = LOOP_HINT.bind(3, || {
    ///     knotwork::scope(|s| {
    ///         let a = s.exec(async { LOOP_HINT.get() });
    ///         let b = s.exec_blocking(|| LOOP_HINT.get());
    ///         (a.join().unwrap(), b.join().unwrap())
    ///     })
    /// });
    /// assert_eq!((a, b), (Some(3), None));
    /// ```
    pub const fn with_inheritance(inheritance: Inheritance) -> Self {
        Slot { index: AtomicUsize::new(0), inheritance, _marker: PhantomData }
    }

    /// How this slot's bindings cross into children.
    ///
    /// # Examples
    ///
    /// ```
    /// static S: knotwork::Slot<u8> = knotwork::Slot::local();
    /// assert_eq!(S.inheritance(), knotwork::Inheritance::Never);
    /// ```
    pub const fn inheritance(&self) -> Inheritance {
        self.inheritance
    }

    /// The provenance of a binding made here, by the caller at `location`.
    fn origin(&self, location: &'static Location<'static>) -> Origin {
        Origin { inheritance: self.inheritance, location, by: hooks::current_task() }
    }

    #[inline]
    fn index(&'static self) -> usize {
        // ORDERING: Relaxed: the index is a plain number, published by the
        // CAS below; no other memory depends on it.
        match self.index.load(Ordering::Relaxed) {
            0 => self.assign_index(),
            n => n - 1,
        }
    }

    #[cold]
    fn assign_index(&'static self) -> usize {
        // ORDERING: Relaxed: uniqueness needs only the RMW's atomicity.
        let fresh = NEXT_INDEX.fetch_add(1, Ordering::Relaxed) + 1;
        // ORDERING: Relaxed: whoever wins, every thread then reads the same value.
        match self.index.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => fresh - 1,
            Err(winner) => winner - 1,
        }
    }

    /// A clone of the current value, if the slot is bound here.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: knotwork::Slot<String> = knotwork::Slot::new();
    /// assert_eq!(USER.get(), None);
    /// USER.bind("ada".to_string(), || assert_eq!(USER.get().as_deref(), Some("ada")));
    /// ```
    #[inline]
    pub fn get(&'static self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|v| v.cloned())
    }

    /// Runs `f` with a reference to the current value (no clone).
    ///
    /// # Examples
    ///
    /// ```
    /// static NAMES: knotwork::Slot<Vec<&'static str>> = knotwork::Slot::new();
    /// let n = NAMES.bind(vec!["a", "b"], || NAMES.with(|v| v.map_or(0, Vec::len)));
    /// assert_eq!(n, 2);
    /// ```
    #[inline]
    pub fn with<R>(&'static self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let index = self.index();
        with_current(|table| f(table.and_then(|t| t.get(index)).and_then(|v| v.downcast_ref::<T>())))
    }

    /// Runs `f` with the slot bound to `value`; the previous binding is
    /// restored afterwards (also if `f` panics). Children spawned inside
    /// `f` inherit the binding.
    ///
    /// # Examples
    ///
    /// ```
    /// static DEPTH: knotwork::Slot<u32> = knotwork::Slot::new();
    /// DEPTH.bind(1, || {
    ///     DEPTH.bind(2, || assert_eq!(DEPTH.get(), Some(2)));
    ///     assert_eq!(DEPTH.get(), Some(1));
    /// });
    /// ```
    #[track_caller]
    pub fn bind<R>(&'static self, value: T, f: impl FnOnce() -> R) -> R {
        let origin = self.origin(Location::caller());
        let snapshot = Snapshot::capture().with(self.index(), Arc::new(value) as Value, origin);
        let _entered = snapshot.enter();
        f()
    }

    /// A future that runs `fut` with the slot bound to `value` during every
    /// poll, on top of the bindings current where it is polled. It is `Send`
    /// when `F` and `T` are.
    ///
    /// # Examples
    ///
    /// ```
    /// static TRACE: knotwork::Slot<&'static str> = knotwork::Slot::new();
    /// let v = knotwork::block_on(TRACE.bind_async("req-1", async {
    ///     knotwork::yield_now().await;
    ///     TRACE.get()
    /// }));
    /// assert_eq!(v, Some("req-1"));
    /// ```
    #[track_caller]
    pub fn bind_async<F: Future>(&'static self, value: T, fut: F) -> impl Future<Output = F::Output> {
        let origin = self.origin(Location::caller());
        BindAsync {
            index: self.index(),
            value: Some(Arc::new(value) as Value),
            origin,
            bound: None,
            fut: Some(fut),
        }
    }
}

impl<T: Send + Sync + 'static> Default for Slot<T> {
    fn default() -> Self {
        Slot::new()
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").field("type", &std::any::type_name::<T>()).finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Slot::bind_async`].
    struct BindAsync<F> {
        index: usize,
        value: Option<Value>,
        origin: Origin,
        // The table entered on each poll: the bindings current at the first
        // poll, plus ours; rebuilt only if the surrounding bindings change.
        bound: Option<(Snapshot, Snapshot)>,
        // `None` only once dropped (see the drop below).
        #[pin]
        fut: Option<F>,
    }

    impl<F> PinnedDrop for BindAsync<F> {
        // The inner future's drop (its cleanup) runs with our binding in
        // place too, as its polls do.
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let ours = match this.bound.take() {
                Some((_, ours)) => ours,
                None => match this.value.clone() {
                    Some(value) => Snapshot::capture().with(*this.index, value, *this.origin),
                    None => Snapshot::capture(),
                },
            };
            let _entered = ours.enter();
            let mut fut = this.fut;
            fut.set(None);
        }
    }
}

impl<F: Future> Future for BindAsync<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let base = Snapshot::capture();
        let stale = this.bound.as_ref().is_none_or(|(b, _)| !b.same_as(&base));
        if stale {
            let value = this.value.clone().expect("the value is kept for re-binding");
            let ours = base.with(*this.index, value, *this.origin);
            *this.bound = Some((base, ours));
        }
        let (_, ours) = this.bound.as_ref().expect("set above");
        let _entered = ours.enter();
        match this.fut.as_pin_mut() {
            Some(fut) => fut.poll(cx),
            None => unreachable!("a bind_async future is polled only before it is dropped"),
        }
    }
}
