//! A seeded shape fuzzer: random nestings of knotwork's operations, each
//! tree run under a watchdog, its leaves counted, and the seed of every
//! failure printed so it can be replayed.
//!
//! **Generator.** One xorshift RNG per tree, seeded with the tree's seed,
//! picks the pool (1–3 threads), the depth (3–4) and the operations, each
//! valid where it lands. Sync code: `pool.scope`, `pool.run`, `pool.join`, `pool.broadcast`;
//! `block_on` only where no loop is polling on this thread (inside a task it
//! is a documented panic); on threads outside the pool, `(threads A B)`, two
//! OS threads calling in from outside. Async code: `pool.scope_async(..)
//! .await` (children `'static`: `Arc`s of the tree and the counter) and the
//! blocking `pool.scope`, `pool.run`, `pool.join`, `pool.broadcast`, which are allowed there.
//! A scope spawns 1–3 children (`exec` or `exec_blocking`), then consumes
//! each handle in order: `join()` (in async code too), `.await` (async
//! code), `block_on(task)` (sync code off any poll), drop (the scope still
//! joins it), or `cancel()` then `join()`/`.await`. A leaf adds one to a
//! shared counter, maybe after a 100 µs thread sleep, a `yield_now` or a
//! 1 ms `knotwork::sleep`.
//!
//! **Checks.** Each tree runs on its own thread with a fresh pool, then
//! `pool.shutdown()` must return `Ok`, both within the watchdog (5 s,
//! `KNOTWORK_SHAPES_TIMEOUT`). The leaf count must be exact where no handle
//! is cancelled, and within `min..=max` where one is (its subtree may or may
//! not run); a child may end cancelled only under a cancelled handle; no
//! panic. A hung tree leaks its threads, so the run goes on counting hangs
//! but stops after 5 (`KNOTWORK_SHAPES_MAX_HANGS`). The test fails if any
//! tree hung or failed, printing `shape seed N (threads T, depth D): ...`,
//! the shape as an s-expression and, for a hang, where each node stood (`*`
//! running, `-` never started, `~` dropped part-way).
//! `KNOTWORK_SHAPES_SHRINK=1` also shrinks each hanging tree to a smallest
//! one that still hangs (each step that hangs costs two watchdog periods).
//!
//! ```sh
//! cargo test --test shapes -- --nocapture                         # 500 trees (CI)
//! KNOTWORK_SHAPES=10000 cargo test --release --test shapes -- --nocapture
//! KNOTWORK_SHAPES_SEED=17 cargo test --test shapes -- --nocapture # replay seed 17
//! ```
//!
//! `KNOTWORK_SHAPES_BASE` (default 1) moves the range: seeds
//! `BASE..BASE + KNOTWORK_SHAPES`.

mod common;

use common::{panic_text, pool};
use knotwork::{Pool, Scope, Task, TaskError};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

const LEGEND: &str = "legend: (scope ..) pool.scope | (scope-async ..) pool.scope_async(..).await | \
(block-on X) knotwork::block_on(X) | (run X) pool.run(|| X) | (join A B) pool.join(|| A, || B) | (broadcast X) pool.broadcast: X in worker 0's call | \
(threads A B) OS threads outside the pool | (exec.H X), (exec-blocking.H X) a child whose handle is \
consumed by H: join, await, block-on (block_on(task)), drop, cancel+join, cancel+await | \
leaf: count += 1 (/nap 100 us thread sleep, /yield yield_now, /sleep 1 ms timer) | \
* running when the watchdog fired, - never started, ~ dropped or unwound part-way";

/// xorshift64*, so a seed replays its tree.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------
// Shapes

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pause {
    None,
    Nap,
    Yield,
    Timer,
}
const PAUSE: [&str; 4] = ["leaf", "leaf/nap", "leaf/yield", "leaf/sleep"];

/// How a child's handle is consumed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handle {
    Join,
    Await,
    BlockOn,
    Drop,
    CancelJoin,
    CancelAwait,
}
const HANDLE: [&str; 6] = ["join", "await", "block-on", "drop", "cancel+join", "cancel+await"];

impl Handle {
    fn cancels(self) -> bool {
        matches!(self, Handle::CancelJoin | Handle::CancelAwait)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    BlockOn,
    Run,
    Join,
    Threads,
    /// `pool.broadcast`: the subtree runs in worker 0's call, the others
    /// return at once.
    Broadcast,
}
const CALL: [&str; 5] = ["block-on", "run", "join", "threads", "broadcast"];

struct Child {
    blocking: bool,
    handle: Handle,
    /// This handle or one above it is cancelled: `Err(cancelled)` is fine.
    may_cancel: bool,
    body: Arc<Node>,
}

enum Op {
    Leaf(Pause),
    /// `pool.scope`, or `pool.scope_async(..).await` when `asynchronous`.
    Scope {
        asynchronous: bool,
        children: Vec<Child>,
    },
    /// `block_on(X)`, `run(|| X)`, `join(|| A, || B)`, threads `A B ..`.
    Call(Call, Vec<Arc<Node>>),
}

struct Node {
    /// Preorder number, indexing the progress marks.
    id: usize,
    op: Op,
}

/// Where generated code runs: what it may call there.
#[derive(Clone, Copy)]
struct Ctx {
    asynchronous: bool,
    /// A loop is polling a task on this thread (so no `block_on`).
    in_poll: bool,
    /// Not a pool worker (the tree's own thread or a `threads` thread).
    off_pool: bool,
    may_cancel: bool,
}

impl Ctx {
    fn sync(self, in_poll: bool, off_pool: bool) -> Ctx {
        Ctx { asynchronous: false, in_poll, off_pool, ..self }
    }

    fn in_async(self, off_pool: bool) -> Ctx {
        Ctx { asynchronous: true, in_poll: true, off_pool, ..self }
    }
}

struct Gen {
    rng: Rng,
    next_id: usize,
}

impl Gen {
    fn node(&mut self, ctx: Ctx, depth: u32) -> Arc<Node> {
        let id = self.next_id;
        self.next_id += 1;
        let op = if depth == 0 || (id > 0 && self.rng.below(5) == 0) {
            let pauses: &[Pause] = if ctx.asynchronous {
                &[Pause::None, Pause::Nap, Pause::Yield, Pause::Timer]
            } else {
                &[Pause::None, Pause::None, Pause::Nap]
            };
            Op::Leaf(self.rng.pick(pauses))
        } else {
            self.op(ctx, depth - 1)
        };
        Arc::new(Node { id, op })
    }

    fn op(&mut self, ctx: Ctx, d: u32) -> Op {
        // 0 scope, 1 scope-async, 2 block-on, 3 run, 4 join, 5 threads,
        // 6 broadcast.
        let mut ops = vec![0, 0, 3, 4, 6];
        if ctx.asynchronous {
            ops.extend([1, 1, 1]);
        } else {
            if !ctx.in_poll {
                ops.extend([2, 2]);
            }
            if ctx.off_pool {
                ops.push(5);
            }
        }
        // `run` and `join` run inline on a worker (still inside its poll,
        // if any); from outside the pool they move to a worker first.
        let inline = ctx.sync(ctx.in_poll && !ctx.off_pool, false);
        let outside = ctx.sync(false, true);
        match self.rng.pick(&ops) {
            0 => Op::Scope {
                asynchronous: false,
                children: self.children(ctx.sync(ctx.in_poll, ctx.off_pool), d),
            },
            1 => Op::Scope { asynchronous: true, children: self.children(ctx.in_async(ctx.off_pool), d) },
            2 => Op::Call(Call::BlockOn, vec![self.node(ctx.in_async(ctx.off_pool), d)]),
            3 => Op::Call(Call::Run, vec![self.node(inline, d)]),
            4 => Op::Call(Call::Join, vec![self.node(inline, d), self.node(inline, d)]),
            // Worker 0's call may run on this very worker, on top of its
            // poll (from a wait), or on another: `inline` covers both.
            6 => Op::Call(Call::Broadcast, vec![self.node(inline, d)]),
            _ => Op::Call(Call::Threads, vec![self.node(outside, d), self.node(outside, d)]),
        }
    }

    /// The children of a scope whose body runs in `body`.
    fn children(&mut self, body: Ctx, d: u32) -> Vec<Child> {
        use Handle::*;
        let fan = 1 + self.rng.below(3);
        (0..fan)
            .map(|_| {
                let blocking = self.rng.below(2) == 0;
                let handles: &[Handle] = if body.asynchronous {
                    &[Join, Await, Await, Drop, CancelJoin, CancelAwait]
                } else if body.in_poll {
                    &[Join, Join, Drop, CancelJoin]
                } else {
                    &[Join, Join, BlockOn, Drop, CancelJoin]
                };
                let handle = self.rng.pick(handles);
                let may_cancel = body.may_cancel || handle.cancels();
                let ctx = if blocking { body.sync(false, false) } else { body.in_async(false) };
                Child { blocking, handle, may_cancel, body: self.node(Ctx { may_cancel, ..ctx }, d) }
            })
            .collect()
    }
}

struct Tree {
    seed: u64,
    threads: usize,
    depth: u32,
    nodes: usize,
    root: Arc<Node>,
}

impl Tree {
    fn generate(seed: u64) -> Tree {
        let mut g = Gen { rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1), next_id: 0 };
        let threads = 1 + g.rng.below(3) as usize;
        let depth = 3 + g.rng.below(2) as u32;
        let top = Ctx { asynchronous: false, in_poll: false, off_pool: true, may_cancel: false };
        let root = g.node(top, depth);
        Tree { seed, threads, depth, nodes: g.next_id, root }
    }
}

/// The fewest and the most leaves that may run.
fn bounds(n: &Node) -> (usize, usize) {
    let add = |(a, b): (usize, usize), (c, d): (usize, usize)| (a + c, b + d);
    match &n.op {
        Op::Leaf(_) => (1, 1),
        Op::Scope { children, .. } => children
            .iter()
            .map(|c| match bounds(&c.body) {
                (_, hi) if c.handle.cancels() => (0, hi),
                b => b,
            })
            .fold((0, 0), add),
        Op::Call(_, args) => args.iter().map(|x| bounds(x)).fold((0, 0), add),
    }
}

/// The shape as an s-expression: on one line, or (`pretty`: the indent
/// level) one child per line; with `marks`, each node prefixed by how far
/// it got.
fn render(n: &Node, marks: Option<&[u8]>, pretty: Option<usize>, out: &mut String) {
    if let Some(m) = marks {
        out.push_str(["-", "*", "", "~"][m[n.id] as usize]);
    }
    let (head, kids): (&str, Vec<(String, &Node)>) = match &n.op {
        Op::Leaf(p) => return out.push_str(PAUSE[*p as usize]),
        Op::Scope { asynchronous, children } => (
            if *asynchronous { "scope-async" } else { "scope" },
            children
                .iter()
                .map(|c| {
                    let exec = if c.blocking { "exec-blocking" } else { "exec" };
                    (format!("({exec}.{} ", HANDLE[c.handle as usize]), &*c.body)
                })
                .collect(),
        ),
        Op::Call(call, args) => (CALL[*call as usize], args.iter().map(|x| (String::new(), &**x)).collect()),
    };
    let many = kids.len() > 1 || matches!(n.op, Op::Scope { .. });
    let inner = pretty.map(|level| level + usize::from(many));
    out.push('(');
    out.push_str(head);
    for (label, kid) in kids {
        match inner {
            Some(level) if many => {
                out.push('\n');
                out.push_str(&"  ".repeat(level));
            }
            _ => out.push(' '),
        }
        out.push_str(&label);
        render(kid, marks, inner, out);
        if !label.is_empty() {
            out.push(')');
        }
    }
    out.push(')');
}

fn shape(n: &Node, marks: Option<&[u8]>, pretty: Option<usize>) -> String {
    let mut out = String::new();
    render(n, marks, pretty, &mut out);
    out
}

// ---------------------------------------------------------------------------
// Running a shape

struct Env {
    pool: Pool,
    leaves: AtomicUsize,
    /// Per node: 0 never started, 1 running, 2 finished, 3 dropped part-way.
    marks: Vec<AtomicU8>,
}

type E = Arc<Env>;

/// A node's progress mark: finished (2) once `done`, else dropped or
/// unwound part-way (3).
struct Mark<'a>(&'a AtomicU8, bool);

impl Mark<'_> {
    fn done(mut self) {
        self.1 = true;
    }
}

impl Drop for Mark<'_> {
    fn drop(&mut self) {
        self.0.store(if self.1 { 2 } else { 3 }, SeqCst);
    }
}

impl Env {
    fn enter(&self, id: usize) -> Mark<'_> {
        self.marks[id].store(1, SeqCst);
        Mark(&self.marks[id], false)
    }
}

fn nap() {
    std::thread::sleep(Duration::from_micros(100));
}

/// A child's result: fine, cancelled where that is allowed, else a failure.
fn settle(c: &Child, r: Result<(), TaskError>) {
    match r {
        Ok(()) => {}
        Err(e) if e.is_cancelled() && c.may_cancel => {}
        Err(e) if e.is_panic() => resume_unwind(e.into_panic()),
        Err(e) => panic!("child at node #{} ended cancelled, but nothing cancelled it: {e}", c.body.id),
    }
}

fn spawn<'scope>(s: &Scope<'scope, '_>, c: &Child, env: &E) -> Task<'scope, ()> {
    let (body, env) = (c.body.clone(), env.clone());
    if c.blocking { s.exec_blocking(move || run_sync(&body, &env)) } else { s.exec(run_async(body, env)) }
}

fn run_sync(n: &Node, env: &E) {
    let mark = env.enter(n.id);
    blocking_op(n, env);
    mark.done();
}

/// The operations that are plain (blocking) calls, from sync or async code.
fn blocking_op(n: &Node, env: &E) {
    match &n.op {
        Op::Leaf(pause) => {
            assert!(matches!(pause, Pause::None | Pause::Nap), "an async leaf in sync code");
            if *pause == Pause::Nap {
                nap();
            }
            env.leaves.fetch_add(1, SeqCst);
        }
        Op::Scope { asynchronous: false, children } => env.pool.scope(|s| {
            let tasks: Vec<_> = children.iter().map(|c| spawn(s, c, env)).collect();
            for (c, t) in children.iter().zip(tasks) {
                if c.handle.cancels() {
                    t.cancel();
                }
                let r = match c.handle {
                    Handle::Join | Handle::CancelJoin => t.join(),
                    Handle::BlockOn => knotwork::block_on(t),
                    Handle::Drop => Ok(()), // `t` is dropped here
                    Handle::Await | Handle::CancelAwait => unreachable!("await in a sync scope body"),
                };
                settle(c, r);
            }
        }),
        Op::Scope { .. } => unreachable!("scope-async is only generated in async code"),
        Op::Call(call, args) => match (call, &args[..]) {
            (Call::BlockOn, [x]) => knotwork::block_on(run_async(x.clone(), env.clone())),
            (Call::Run, [x]) => env.pool.run(|| run_sync(x, env)).expect("pool.run refused"),
            (Call::Join, [a, b]) => {
                env.pool.join(|| run_sync(a, env), || run_sync(b, env)).expect("pool.join refused");
            }
            (Call::Broadcast, [x]) => {
                env.pool
                    .broadcast(|i| {
                        if i == 0 {
                            run_sync(x, env);
                        }
                    })
                    .expect("pool.broadcast refused");
            }
            (Call::Threads, xs) => std::thread::scope(|ts| {
                for x in xs {
                    ts.spawn(|| run_sync(x, env));
                }
            }),
            _ => unreachable!("a call with the wrong number of arguments"),
        },
    }
}

fn run_async(n: Arc<Node>, env: E) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let mark = env.enter(n.id);
        match &n.op {
            Op::Leaf(pause) => {
                match pause {
                    Pause::None => {}
                    Pause::Nap => nap(),
                    Pause::Yield => knotwork::yield_now().await,
                    Pause::Timer => knotwork::sleep(Duration::from_millis(1)).await,
                }
                env.leaves.fetch_add(1, SeqCst);
            }
            Op::Scope { asynchronous: true, .. } => {
                let (node, e) = (n.clone(), env.clone());
                env.pool
                    .scope_async(async move |s| {
                        let Op::Scope { children, .. } = &node.op else { unreachable!() };
                        let tasks: Vec<_> = children.iter().map(|c| spawn(&s, c, &e)).collect();
                        for (c, t) in children.iter().zip(tasks) {
                            if c.handle.cancels() {
                                t.cancel();
                            }
                            let r = match c.handle {
                                Handle::Join | Handle::CancelJoin => t.join(),
                                Handle::Await | Handle::CancelAwait => t.await,
                                Handle::Drop => Ok(()), // `t` is dropped here
                                Handle::BlockOn => unreachable!("block_on inside a task"),
                            };
                            settle(c, r);
                        }
                    })
                    .await
            }
            _ => blocking_op(&n, &env),
        }
        mark.done();
    })
}

/// Runs `tree` on its own thread with a fresh pool, then shuts the pool
/// down, under the watchdog: `None` if all went well, else `"FAIL"` or
/// `"HANG"` and what happened. A hung tree's threads are left behind.
fn run_tree(tree: &Tree, timeout: Duration) -> Option<(&'static str, String)> {
    let env = Arc::new(Env {
        pool: pool(tree.threads),
        leaves: AtomicUsize::new(0),
        marks: (0..tree.nodes).map(|_| AtomicU8::new(0)).collect(),
    });
    let in_shutdown = Arc::new(AtomicU8::new(0));
    let (tx, rx) = mpsc::channel();
    let (e, root, phase) = (env.clone(), tree.root.clone(), in_shutdown.clone());
    let thread = std::thread::Builder::new()
        .name(format!("shape-{}", tree.seed))
        .spawn(move || {
            let ran = catch_unwind(AssertUnwindSafe(|| run_sync(&root, &e))).map_err(|p| panic_text(&*p));
            phase.store(1, SeqCst);
            let _ = tx.send((ran, e.pool.shutdown()));
        })
        .expect("spawn the tree's thread");
    let (lo, hi) = bounds(&tree.root);
    let expected = if lo == hi { format!("{lo}") } else { format!("{lo}..={hi}") };
    let outcome = rx.recv_timeout(timeout);
    let leaves = env.leaves.load(SeqCst);
    let compact = shape(&tree.root, None, None);
    let what = match outcome {
        Ok(sent) => {
            thread.join().expect("the tree's thread sends last");
            match sent {
                (Ok(()), Ok(())) if (lo..=hi).contains(&leaves) => return None,
                (Ok(()), Ok(())) => format!("{leaves} leaves ran, expected {expected}"),
                (Ok(()), Err(err)) => format!("pool.shutdown() returned Err: {err}"),
                (Err(msg), _) => format!("panicked: {msg:?}"),
            }
        }
        Err(_) => {
            let marks: Vec<u8> = env.marks.iter().map(|m| m.load(SeqCst)).collect();
            let phase = if in_shutdown.load(SeqCst) == 1 { "in pool.shutdown()" } else { "in the tree" };
            let (secs, state) = (timeout.as_secs(), shape(&tree.root, Some(&marks), Some(2)));
            let what = format!("hung {phase} ({secs}s watchdog), {leaves} of {expected} leaves ran");
            return Some(("HANG", format!("{what}\n  {compact}\n  where it stood:\n    {state}")));
        }
    };
    Some(("FAIL", format!("{what}\n  {compact}")))
}

/// A copy of `n` (fresh ids) with its `k`-th possible simplification made:
/// a subtree becomes a plain leaf, a child or thread goes, a cancel or a
/// pause goes. `k` counts down; still `>= 0` afterwards: there was none.
fn simplify(n: &Node, k: &mut isize, next: &mut usize) -> Arc<Node> {
    fn hit(k: &mut isize) -> bool {
        *k -= 1;
        *k == -1
    }
    let id = *next;
    *next += 1;
    let op = match &n.op {
        Op::Leaf(p) if *p != Pause::None && hit(k) => Op::Leaf(Pause::None),
        Op::Leaf(p) => Op::Leaf(*p),
        _ if hit(k) => Op::Leaf(Pause::None),
        Op::Scope { asynchronous, children } => {
            let mut kept = Vec::new();
            for c in children {
                if children.len() > 1 && hit(k) {
                    continue;
                }
                let handle = match c.handle {
                    Handle::CancelJoin if hit(k) => Handle::Join,
                    Handle::CancelAwait if hit(k) => Handle::Await,
                    h => h,
                };
                kept.push(Child { handle, body: simplify(&c.body, k, next), ..*c });
            }
            Op::Scope { asynchronous: *asynchronous, children: kept }
        }
        Op::Call(call, args) => {
            let mut kept = Vec::new();
            for x in args {
                if *call == Call::Threads && args.len() > 1 && hit(k) {
                    continue;
                }
                kept.push(simplify(x, k, next));
            }
            Op::Call(*call, kept)
        }
    };
    Arc::new(Node { id, op })
}

/// The smallest tree, by `simplify` steps, that still hangs (twice in a
/// row). Each step that does costs two watchdog periods and leaks threads.
fn shrink(tree: &Tree, timeout: Duration) -> Tree {
    let mut best = Tree { root: tree.root.clone(), ..*tree };
    let mut k = 0;
    loop {
        let (mut left, mut nodes) = (k, 0);
        let root = simplify(&best.root, &mut left, &mut nodes);
        if left >= 0 {
            return best;
        }
        let candidate = Tree { root, nodes, ..best };
        // Twice: a run slowed past the watchdog is not a hang.
        let hangs = || run_tree(&candidate, timeout).is_some_and(|(kind, _)| kind == "HANG");
        if hangs() && hangs() {
            (best, k) = (candidate, 0);
        } else {
            k += 1;
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

/// Random trees of scopes, children, handles and blocking calls, on pools
/// of 1–3 threads: none hangs, shutdown succeeds, every leaf that must run
/// runs exactly once. The module docs list the knobs.
#[test]
fn random_shapes_never_hang_and_run_every_leaf() {
    let seeds = match env_u64("KNOTWORK_SHAPES_SEED") {
        Some(seed) => seed..seed + 1,
        None => {
            let base = env_u64("KNOTWORK_SHAPES_BASE").unwrap_or(1);
            base..base + env_u64("KNOTWORK_SHAPES").unwrap_or(500)
        }
    };
    let timeout = Duration::from_secs(env_u64("KNOTWORK_SHAPES_TIMEOUT").unwrap_or(5));
    let max_hangs = env_u64("KNOTWORK_SHAPES_MAX_HANGS").unwrap_or(5) as usize;
    let shrinking = env_u64("KNOTWORK_SHAPES_SHRINK").unwrap_or(0) != 0;
    let start = Instant::now();
    // Per pool size (1, 2, 3 threads): trees, hangs, failures.
    let mut tally = [[0usize; 3]; 3];
    let (mut trees, mut hangs, mut report) = (0, 0, Vec::new());
    for seed in seeds.clone() {
        let tree = Tree::generate(seed);
        trees += 1;
        tally[tree.threads - 1][0] += 1;
        let Some((kind, what)) = run_tree(&tree, timeout) else { continue };
        let hung = kind == "HANG";
        tally[tree.threads - 1][if hung { 1 } else { 2 }] += 1;
        let (threads, depth) = (tree.threads, tree.depth);
        let mut line = format!("{kind} shape seed {seed} (threads {threads}, depth {depth}): {what}");
        if hung && shrinking {
            line += &format!("\n  shrunk, still hangs: {}", shape(&shrink(&tree, timeout).root, None, None));
        }
        eprintln!("{line}");
        report.push(line);
        hangs += usize::from(hung);
        if hangs >= max_hangs {
            report.push(format!("stopped at seed {seed} after {hangs} hangs (KNOTWORK_SHAPES_MAX_HANGS)"));
            break;
        }
    }
    let col = |i: usize| tally.map(|t| t[i].to_string()).join("/");
    let summary = format!(
        "shapes: {trees} trees (seeds {}..{}, depth 3-4), on 1/2/3 threads: {} trees, {} hangs, {} failures; \
         {:.1}s",
        seeds.start,
        seeds.start + trees as u64,
        col(0),
        col(1),
        col(2),
        start.elapsed().as_secs_f64()
    );
    println!("{summary}");
    assert!(
        report.is_empty(),
        "{summary}\n{LEGEND}\nreplay: KNOTWORK_SHAPES_SEED=N\n\n{}",
        report.join("\n\n")
    );
}
