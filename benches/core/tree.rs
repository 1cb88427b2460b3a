//! Summing a balanced binary tree with a fork at every node: the workload
//! of chili's (and Spice's) benchmarks, where each node's work is one
//! addition, so the figure is the cost of a fork. Big trees (2^20 and 2^24
//! nodes) per node; the 1,023-node tree per whole sum, where the fork path
//! and the hand-over between threads are all there is.

use crate::fork_join::chili_pool;
use crate::harness::{Check, Comparison, Config, Outcome, per_op};
use knotwork::Pool;
use std::hint::black_box;
use std::time::Instant;

/// A node of the tree (chili's `Node`).
pub struct Node {
    val: u64,
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

impl Node {
    /// A balanced tree of `layers` layers: 2^layers - 1 nodes.
    pub fn tree(layers: u32) -> Node {
        Node {
            val: 1,
            left: (layers > 1).then(|| Box::new(Node::tree(layers - 1))),
            right: (layers > 1).then(|| Box::new(Node::tree(layers - 1))),
        }
    }
}

/// A knotwork, a rayon and a chili pool for every thread count asked for.
fn pools(cfg: &Config) -> Vec<(usize, Pool, rayon::ThreadPool, chili::ThreadPool)> {
    cfg.threads
        .iter()
        .map(|&t| {
            let ry = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
            (t, Pool::builder().threads(t).build().unwrap(), ry, chili_pool(t))
        })
        .collect()
}

fn seq_sum(node: &Node) -> u64 {
    node.val + node.left.as_deref().map_or(0, seq_sum) + node.right.as_deref().map_or(0, seq_sum)
}

fn kw_sum(node: &Node) -> u64 {
    let (l, r) =
        knotwork::join(|| node.left.as_deref().map_or(0, kw_sum), || node.right.as_deref().map_or(0, kw_sum));
    node.val + l + r
}

fn rayon_sum(node: &Node) -> u64 {
    let (l, r) = rayon::join(
        || node.left.as_deref().map_or(0, rayon_sum),
        || node.right.as_deref().map_or(0, rayon_sum),
    );
    node.val + l + r
}

fn chili_sum(node: &Node, s: &mut chili::Scope<'_>) -> u64 {
    let (l, r) = s.join(
        |s| node.left.as_deref().map_or(0, |n| chili_sum(n, s)),
        |s| node.right.as_deref().map_or(0, |n| chili_sum(n, s)),
    );
    node.val + l + r
}

/// The four sums of one tree, for every thread count: ns per node, one
/// whole sum per round, entered from outside each pool.
fn big(cfg: &Config, layers: u32) -> Outcome {
    let tree = Node::tree(layers);
    let nodes = (1u64 << layers) - 1;
    let tree = &tree;
    let pools = pools(cfg);
    let mut cmp = Comparison::new(format!("tree sum: 2^{layers} nodes, a join at every node"), "ns/node")
        .contender("sequential sum", move || {
            let start = Instant::now();
            assert_eq!(black_box(seq_sum(black_box(tree))), nodes);
            per_op(start, nodes)
        });
    for (t, kw, ry, ch) in &pools {
        cmp = cmp
            .contender(&format!("knotwork::join, {t} thr"), move || {
                let start = Instant::now();
                assert_eq!(black_box(kw.run(|| kw_sum(black_box(tree))).unwrap()), nodes);
                per_op(start, nodes)
            })
            .contender(&format!("rayon::join, {t} thr"), move || {
                let start = Instant::now();
                assert_eq!(black_box(ry.install(|| rayon_sum(black_box(tree)))), nodes);
                per_op(start, nodes)
            })
            .contender(&format!("chili join, {t} thr"), move || {
                let start = Instant::now();
                assert_eq!(black_box(chili_sum(black_box(tree), &mut ch.scope())), nodes);
                per_op(start, nodes)
            });
    }
    for (t, _, _, _) in &pools {
        cmp = cmp
            .check(Check::ratio(
                &format!("tree 2^{layers}, {t} thr: knotwork / rayon ≤ 1.0"),
                &format!("knotwork::join, {t} thr"),
                &[&format!("rayon::join, {t} thr")],
                1.0,
            ))
            .check(Check::ratio(
                &format!("tree 2^{layers}, {t} thr: knotwork / chili ≤ 1.0 (the moonshot)"),
                &format!("knotwork::join, {t} thr"),
                &[&format!("chili join, {t} thr")],
                1.0,
            ));
    }
    cmp.run(cfg)
}

/// 2^20 nodes.
pub fn tree_2_20(cfg: &Config) -> Outcome {
    big(cfg, cfg.size(20, 16))
}

/// 2^24 nodes (a full run only: the tree takes 0.5 GB).
pub fn tree_2_24(cfg: &Config) -> Outcome {
    big(cfg, cfg.size(24, 17))
}

/// 1,023 nodes, µs per whole sum: entered from outside each pool (chili's
/// README setting: each sum wakes the pool and hands work over), and from
/// inside (the pure fork path, many sums in one entry).
pub fn tree_small(cfg: &Config) -> Outcome {
    let tree = Node::tree(10);
    let tree = &tree;
    let reps: u32 = cfg.size(2_000, 200);
    let per_sum = move |start: Instant| start.elapsed().as_secs_f64() * 1e6 / f64::from(reps);
    let pools = pools(cfg);
    let mut cmp = Comparison::new("tree sum: 1,023 nodes (overhead-bound)", "µs/sum").contender(
        "sequential sum",
        move || {
            let start = Instant::now();
            for _ in 0..reps {
                black_box(seq_sum(black_box(tree)));
            }
            per_sum(start)
        },
    );
    for (t, kw, ry, ch) in &pools {
        cmp = cmp
            .contender(&format!("knotwork from outside, {t} thr"), move || {
                let start = Instant::now();
                for _ in 0..reps {
                    black_box(kw.run(|| kw_sum(black_box(tree))).unwrap());
                }
                per_sum(start)
            })
            .contender(&format!("rayon from outside, {t} thr"), move || {
                let start = Instant::now();
                for _ in 0..reps {
                    black_box(ry.install(|| rayon_sum(black_box(tree))));
                }
                per_sum(start)
            })
            .contender(&format!("chili from outside, {t} thr"), move || {
                let start = Instant::now();
                for _ in 0..reps {
                    black_box(chili_sum(black_box(tree), &mut ch.scope()));
                }
                per_sum(start)
            })
            .contender(&format!("knotwork inside, {t} thr"), move || {
                kw.run(|| {
                    let start = Instant::now();
                    for _ in 0..reps {
                        black_box(kw_sum(black_box(tree)));
                    }
                    per_sum(start)
                })
                .unwrap()
            })
            .contender(&format!("rayon inside, {t} thr"), move || {
                ry.install(|| {
                    let start = Instant::now();
                    for _ in 0..reps {
                        black_box(rayon_sum(black_box(tree)));
                    }
                    per_sum(start)
                })
            })
            .contender(&format!("chili inside, {t} thr"), move || {
                let mut s = ch.scope();
                let start = Instant::now();
                for _ in 0..reps {
                    black_box(chili_sum(black_box(tree), &mut s));
                }
                per_sum(start)
            });
    }
    for (t, _, _, _) in &pools {
        cmp = cmp
            .check(Check::ratio(
                &format!("tree 1,023 from outside, {t} thr: knotwork / rayon ≤ 0.2"),
                &format!("knotwork from outside, {t} thr"),
                &[&format!("rayon from outside, {t} thr")],
                0.2,
            ))
            .check(Check::info(
                &format!("tree 1,023 from outside, {t} thr: knotwork / chili"),
                &format!("knotwork from outside, {t} thr"),
                &[&format!("chili from outside, {t} thr")],
            ))
            .check(Check::info(
                &format!("tree 1,023 inside, {t} thr: knotwork / rayon"),
                &format!("knotwork inside, {t} thr"),
                &[&format!("rayon inside, {t} thr")],
            ))
            .check(Check::info(
                &format!("tree 1,023 inside, {t} thr: knotwork / chili"),
                &format!("knotwork inside, {t} thr"),
                &[&format!("chili inside, {t} thr")],
            ));
    }
    cmp.run(cfg)
}
