//! The storage of a recording: the [`Recorder`], the [`Sink`] the hooks
//! send their plain-data events to while a recording is in progress.
//!
//! # Order
//!
//! Every event is appended under the recorder's lock, with the timestamp
//! taken under the lock (see `crate::hooks::event` for why the audit needs
//! that).
//!
//! Prior art: `tracing`'s `Subscriber` (<https://docs.rs/tracing-core>).

use super::recording::Trace;
use crate::hooks::{
    Bindings, ChildKind, Event, EventKind, LoopNumber, Queue, ScopeForm, ScopeId, Sink, SourceLoc, TaskId,
    ThreadInfo, ThreadIx, worker_role,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Instant;

/// One recording in progress.
pub(crate) struct Recorder {
    start: Instant,
    state: Mutex<State>,
}

struct State {
    /// Cleared when the recording ends; later events are dropped.
    open: bool,
    threads: Vec<ThreadInfo>,
    thread_ix: HashMap<ThreadId, ThreadIx>,
    /// Pool ids (process-wide) to pool numbers (within the recording).
    pools: HashMap<u64, u32>,
    events: Vec<Event>,
    scopes: u32,
    /// Where each child's job was queued, indexed by task id - 1.
    queues: Vec<Queue>,
}

impl Recorder {
    pub(crate) fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            state: Mutex::new(State {
                open: true,
                threads: Vec::new(),
                thread_ix: HashMap::new(),
                pools: HashMap::new(),
                events: Vec::new(),
                scopes: 0,
                queues: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held (an allocation failure) leaves the
        // event list consistent: keep recording.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the event `make` builds (given the state and this thread's
    /// index), timestamped now. Returns what `make` returned, or `None` once
    /// the recording has ended.
    fn push<T>(&self, make: impl FnOnce(&mut State, ThreadIx) -> (EventKind, T)) -> Option<T> {
        let mut state = self.lock();
        if !state.open {
            return None;
        }
        let thread = state.thread();
        let (kind, out) = make(&mut state, thread);
        let at_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        state.events.push(Event { at_ns, thread, kind });
        Some(out)
    }

    /// Ends the recording and hands over what it holds.
    pub(crate) fn finish(&self) -> Trace {
        let mut state = self.lock();
        state.open = false;
        Trace::from_parts(std::mem::take(&mut state.threads), std::mem::take(&mut state.events))
    }
}

impl Sink for Recorder {
    fn record(&self, kind: EventKind) {
        self.push(|_, _| (kind, ()));
    }

    fn scope_opened(&self, parent: Option<TaskId>, location: SourceLoc, form: ScopeForm) -> Option<ScopeId> {
        self.push(|state, _| {
            state.scopes += 1;
            let scope = ScopeId(state.scopes);
            (EventKind::ScopeOpened { scope, parent, location, form }, scope)
        })
    }

    fn child_spawned(
        &self,
        scope: ScopeId,
        kind: ChildKind,
        location: SourceLoc,
        on_worker: bool,
        bindings: Bindings,
    ) -> Option<TaskId> {
        self.push(|state, thread| {
            let queue = if on_worker { Queue::Deque(thread) } else { Queue::Injector };
            state.queues.push(queue);
            let task = TaskId(u32::try_from(state.queues.len()).expect("fewer than 2^32 children"));
            (EventKind::Spawned { task, scope, kind, location, queue, bindings }, task)
        })
    }

    fn child_started(&self, task: TaskId, on_loop: Option<LoopNumber>, bindings: Bindings) {
        let stolen = self.push(|state, thread| {
            let from = state.queues.get(task.0 as usize - 1).copied();
            (EventKind::Started { task, on_loop, bindings }, from.filter(|q| *q != Queue::Deque(thread)))
        });
        if let Some(Some(from)) = stolen {
            self.record(EventKind::Stolen { task, from });
        }
    }
}

impl State {
    /// This thread's index, registering it on its first event.
    fn thread(&mut self) -> ThreadIx {
        let current = std::thread::current();
        if let Some(ix) = self.thread_ix.get(&current.id()) {
            return *ix;
        }
        let ix = ThreadIx(u32::try_from(self.threads.len()).expect("fewer than 2^32 threads"));
        let name = current.name().map_or_else(|| format!("thread {}", ix.0), str::to_owned);
        let worker = worker_role().map(|(pool, index)| {
            let next = u32::try_from(self.pools.len() + 1).expect("fewer than 2^32 pools");
            (*self.pools.entry(pool).or_insert(next), index)
        });
        self.threads.push(ThreadInfo { name, worker });
        self.thread_ix.insert(current.id(), ix);
        ix
    }
}
