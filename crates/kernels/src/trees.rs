//! Tree ensembles (random forests, gradient boosting, LightGBM, XGBoost, CatBoost) evaluated as
//! onnxruntime evaluates ONNX's `TreeEnsembleClassifier`, `TreeEnsembleRegressor` and
//! `TreeEnsemble`, with a layout made for speed.
//!
//! An [`Ensemble`] (trees as a model lists them) is compiled once into a [`Forest`]: every node,
//! leaves included, is 16 bytes (threshold, feature with its mode and missing-value bit, two
//! children) in one array; a leaf is a node whose two children are itself, so a cursor that
//! reached it stays there. A walk is then a fixed number of branch-free steps (the tree's depth),
//! and several walks run interleaved: 8 rows of a batch through the same tree, or one row through
//! 10 trees, so the processor overlaps their memory loads instead of waiting on each. Batches go
//! tree by tree over blocks of rows, so a tree's nodes stay in cache while the block passes.
//!
//! Comparisons follow onnxruntime's: a NaN feature value makes every comparison false except
//! `NEQ`, unless the node sends missing values to its true branch.

use std::fmt;

use masks::MaskForest;

use serde::{Deserialize, Serialize};

mod masks;
mod quads;

/// How a node compares the row's feature value `x` with its threshold `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// `x <= t`.
    Leq,
    /// `x < t`.
    Lt,
    /// `x >= t`.
    Gte,
    /// `x > t`.
    Gt,
    /// `x == t`.
    Eq,
    /// `x != t` (true for NaN, as in onnxruntime).
    Neq,
    /// `x` is one of the node's members.
    Member,
}

/// How the trees' outputs are combined, per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    /// The sum over trees.
    Sum,
    /// The sum divided by the number of trees.
    Average,
    /// The smallest leaf value.
    Min,
    /// The largest leaf value.
    Max,
}

/// The function applied to the aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostTransform {
    /// The scores as they are.
    None,
    /// Softmax over the targets.
    Softmax,
    /// The logistic function of each score.
    Logistic,
    /// Softmax that leaves scores of (nearly) zero at zero.
    SoftmaxZero,
    /// `sqrt(2) * erfinv(2p - 1)` of each score.
    Probit,
}

/// Where a branch leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Child {
    /// Another split, by its index in [`Ensemble::splits`].
    Split(usize),
    /// A leaf, by its index in [`Ensemble::leaves`].
    Leaf(usize),
}

/// One split of a tree, as a model states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// The feature compared (its column in the row).
    pub feature: usize,
    /// The comparison.
    pub mode: Mode,
    /// The threshold (unused by [`Mode::Member`]), as the model gives it.
    pub threshold: f64,
    /// The members of a [`Mode::Member`] split.
    pub members: Vec<f64>,
    /// A missing value (NaN) takes the true branch.
    pub missing_goes_true: bool,
    /// Where the comparison leads when true.
    pub if_true: Child,
    /// Where it leads when false.
    pub if_false: Child,
}

/// What the ensemble's output is, which decides how scores are finalized (onnxruntime's rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// A regressor (or ai.onnx.ml v5 `TreeEnsemble`): one score per target.
    Regressor,
    /// A classifier over `classes` labels: one score per class, with onnxruntime's special
    /// layouts for two classes.
    Classifier,
}

/// A tree ensemble as a model lists it, before compilation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// Every split of every tree.
    pub splits: Vec<Split>,
    /// Every leaf: its `(target, weight)` contributions.
    pub leaves: Vec<Vec<(usize, f32)>>,
    /// Each tree's root.
    pub roots: Vec<Child>,
    /// Targets (regression) or classes (classification).
    pub targets: usize,
    /// How trees combine (classifiers always sum).
    pub aggregate: Aggregate,
    /// The transform of the scores.
    pub post_transform: PostTransform,
    /// Added to the aggregated scores as onnxruntime adds them: a regressor's only when there is
    /// one per target; a classifier's per class, with its own rules for two classes.
    pub base_values: Vec<f32>,
    /// Regressor or classifier.
    pub output: Output,
}

/// Why an ensemble cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleError(pub String);

impl fmt::Display for EnsembleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EnsembleError {}

const LEQ: u32 = 0;
const LT: u32 = 1;
const GTE: u32 = 2;
const GT: u32 = 3;
const EQ: u32 = 4;
const NEQ: u32 = 5;
const MEMBER: u32 = 6;
/// Nodes of several modes: each node's own mode is read.
const MIXED: u32 = 7;
/// Every mode, at the index of its code in a node's bits.
const MODES: [Mode; 7] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
    Mode::Member,
];

const FEATURE_BITS: u32 = 24;
const FEATURE_MASK: u32 = (1 << FEATURE_BITS) - 1;
const MODE_SHIFT: u32 = FEATURE_BITS;
const MISSING_TRUE: u32 = 1 << 28;

/// Rows that go through a tree together in a batch: the tree's nodes stay in cache meanwhile.
const BLOCK_ROWS: usize = 128;
/// Walks interleaved: independent cursors whose loads overlap.
const LANES: usize = 8;
/// Sums a forest with a sole target keeps for each row: tree `t`'s leaf goes to sum `t % 4`, and
/// the four make the score as [`total`] adds them, whichever way the row went (alone or in a
/// batch, walked or by leaf masks), so that a row scores the same bits every way.
const PARTIALS: usize = 4;
/// Trees walked interleaved for one row: 10 overlap more loads than 8 without spilling cursors
/// (measured 5–20% faster a row on every walked corpus model; 12 and 16 are slower on most).
const ROW_LANES: usize = 10;
/// Step bounds that hold for any walk: none sure, until every lane is on a leaf.
const ANY_STEPS: [u32; 2] = [0, u32::MAX];
/// Trees whose leaves for one row are gathered before they are added in the trees' order (the
/// sums then do not depend on the order of the walks); whole groups of [`ROW_LANES`] and of
/// [`PARTIALS`].
const TREE_WINDOW: usize = 120;
const _: () = assert!(TREE_WINDOW.is_multiple_of(ROW_LANES) && TREE_WINDOW.is_multiple_of(PARTIALS));
/// The deepest tree evaluated level by level (its leaf table has `2^depth` entries).
const MAX_LEVELS: usize = 10;
/// Threads a native batch is shared between at most, whatever the machine has.
#[cfg(not(target_arch = "wasm32"))]
const MAX_THREADS: usize = 8;
/// Walk steps (1 to 2 ns each) each thread of a native batch must have. On two cores, a second
/// thread lost up to 30% below about 300k steps a batch when the other core was busy, and gained
/// 1.2-1.8x from 400k on.
#[cfg(not(target_arch = "wasm32"))]
const STEPS_PER_THREAD: usize = 200_000;

/// One node, leaves included: a leaf's children are itself. A leaf of a forest whose leaves
/// each add one weight ([`Forest::inline_leaves`]) holds that weight as its threshold and its
/// target as its feature, so the walk that reaches it has them at hand (the leaf's own step,
/// which compares that feature, goes back to the leaf either way).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    /// The threshold, or for a member split the index of its member list, as bits.
    threshold: f32,
    /// Feature index, mode and the missing-value bit.
    bits: u32,
    /// `[if false, if true]`.
    children: [u32; 2],
}

/// A tree whose splits at each level all make the same comparison (CatBoost's oblivious trees):
/// its leaf follows from one comparison per level, independent of each other, instead of a walk.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LevelTree {
    /// Its levels' splits, root first, from this index in [`Forest::levels`].
    first: u32,
    /// Levels.
    depth: u32,
    /// Its `2^depth` leaf nodes from this index in [`Forest::level_leaves`], by the levels'
    /// outcomes read as a binary number (the root's the highest bit, true as 1).
    leaves: u32,
}

/// Finalization of a classifier with two classes, as onnxruntime does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BinaryRule {
    /// Every leaf weight is for the same class (onnxruntime's `binary_case_`).
    one_class: bool,
    /// No leaf weight is negative.
    all_positive: bool,
}

/// A compiled ensemble, ready to evaluate rows; see the module documentation. It is stored as
/// its [`Ensemble`] and compiled again when read, so a stored forest is checked like a new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Ensemble", into = "Ensemble")]
pub struct Forest {
    nodes: Vec<Node>,
    /// The trees' roots: the model's trees by their depth (the longest path to a leaf),
    /// shallowest first, within each window of [`TREE_WINDOW`] trees.
    roots: Vec<u32>,
    /// Per tree, the steps every walk from its root takes at least and at most: its shortest path
    /// to a leaf and its depth.
    tree_steps: Vec<[u32; 2]>,
    /// The same bounds for each group of [`ROW_LANES`] trees walked together for one row (window
    /// by window): the most of their shortest paths, the most of their depths.
    group_steps: Vec<[u32; 2]>,
    /// Nodes from this index on are leaves.
    first_leaf: u32,
    /// Every leaf adds one weight to one target and trees sum (boosted trees, one-target
    /// regressors): leaf nodes hold their target and weight.
    inline_leaves: bool,
    /// With inline leaves, the target of every leaf when they all have the same one (and hits
    /// need no tracking).
    sole_target: Option<u32>,
    /// Without inline leaves, the targets every leaf adds to in order, when they are the same for
    /// every leaf and trees sum without tracking hits: leaf `l`'s weights are then
    /// `leaf_weights[l * k..(l + 1) * k]` for `k` such targets (CatBoost's classifiers).
    shared_targets: Option<Vec<u32>>,
    /// For a classifier, the classes every row's leaves add to, when that does not depend on
    /// the row (each tree's leaves all add to the same classes): then hits are not tracked.
    fixed_hits: Option<Vec<bool>>,
    /// Every tree as a [`LevelTree`], when every tree is one (else empty).
    level_trees: Vec<LevelTree>,
    levels: Vec<Node>,
    level_leaves: Vec<u32>,
    /// The trees laid out for leaf masks, when batches go faster so.
    masks: Option<MaskForest>,
    /// Roughly the steps of a row's walk through every tree (the sum of their depths).
    steps_per_row: usize,
    /// Member lists, delimited by `member_offsets` (list 0 is empty: what leaves point to).
    members: Vec<f32>,
    member_offsets: Vec<u32>,
    /// Per split node, the threshold and member list as the model gave them, for doubles.
    thresholds: Vec<f64>,
    exact_members: Vec<Vec<f64>>,
    /// Leaf contributions, delimited by `leaf_offsets`.
    leaf_offsets: Vec<u32>,
    leaf_targets: Vec<u32>,
    leaf_weights: Vec<f32>,
    mode: u32,
    tracks_missing: bool,
    width: usize,
    targets: usize,
    aggregate: Aggregate,
    post_transform: PostTransform,
    base_values: Vec<f32>,
    output: Output,
    binary: BinaryRule,
}

/// Calls `$self.$method::<MODE, TRACK>(args)` for the forest's comparison mode, `TRACK` being
/// `$track`: whether the walk must read the splits' missing-value bits.
macro_rules! dispatch {
    ($self:ident, $track:expr, $method:ident, $($arg:expr),*) => {
        match ($self.mode, $track) {
            (LEQ, false) => $self.$method::<LEQ, false>($($arg),*),
            (LEQ, true) => $self.$method::<LEQ, true>($($arg),*),
            (LT, false) => $self.$method::<LT, false>($($arg),*),
            (LT, true) => $self.$method::<LT, true>($($arg),*),
            (GTE, false) => $self.$method::<GTE, false>($($arg),*),
            (GTE, true) => $self.$method::<GTE, true>($($arg),*),
            (GT, false) => $self.$method::<GT, false>($($arg),*),
            (GT, true) => $self.$method::<GT, true>($($arg),*),
            (_, false) => $self.$method::<MIXED, false>($($arg),*),
            (_, true) => $self.$method::<MIXED, true>($($arg),*),
        }
    };
}

impl TryFrom<Ensemble> for Forest {
    type Error = EnsembleError;

    fn try_from(ensemble: Ensemble) -> Result<Forest, EnsembleError> {
        Forest::compile(&ensemble)
    }
}

impl From<Forest> for Ensemble {
    fn from(forest: Forest) -> Ensemble {
        forest.ensemble()
    }
}

impl Forest {
    /// Compiles `ensemble`: checks every index, refuses cycles, lays the nodes out.
    pub fn compile(ensemble: &Ensemble) -> Result<Forest, EnsembleError> {
        fn fail<T>(message: String) -> Result<T, EnsembleError> {
            Err(EnsembleError(message))
        }
        let (splits, leaves) = (&ensemble.splits, &ensemble.leaves);
        if ensemble.targets == 0 {
            return fail("the ensemble has no target or class".into());
        }
        if ensemble.roots.is_empty() {
            return fail("the ensemble has no tree".into());
        }
        if ensemble.output == Output::Classifier && ensemble.targets < 2 {
            return fail(format!(
                "a classifier needs two classes or more, this one has {}",
                ensemble.targets
            ));
        }
        if ensemble.base_values.len() > ensemble.targets {
            return fail(format!(
                "{} base values for {} targets",
                ensemble.base_values.len(),
                ensemble.targets
            ));
        }
        let check_child = |child: Child, what: &str| match child {
            Child::Split(i) if i >= splits.len() => fail(format!("{what} is split {i}, there are {}", splits.len())),
            Child::Leaf(i) if i >= leaves.len() => fail(format!("{what} is leaf {i}, there are {}", leaves.len())),
            _ => Ok(()),
        };
        for (t, root) in ensemble.roots.iter().enumerate() {
            check_child(*root, &format!("the root of tree {t}"))?;
        }
        let mut width = 0;
        for (i, split) in splits.iter().enumerate() {
            check_child(split.if_true, &format!("the true branch of split {i}"))?;
            check_child(split.if_false, &format!("the false branch of split {i}"))?;
            if split.feature > FEATURE_MASK as usize {
                return fail(format!("split {i} reads feature {}, beyond any row", split.feature));
            }
            width = width.max(split.feature + 1);
        }
        for (l, leaf) in leaves.iter().enumerate() {
            if let Some((target, _)) = leaf.iter().find(|(t, _)| *t >= ensemble.targets) {
                return fail(format!(
                    "leaf {l} adds to target {target}, there are {}",
                    ensemble.targets
                ));
            }
        }
        let (depths, shortest) = depths_refusing_cycles(ensemble)?;
        let steps_of = |root: &Child| match root {
            Child::Split(i) => [shortest.get(*i), depths.get(*i)].map(|d| d.copied().unwrap_or(0)),
            Child::Leaf(_) => [0, 0],
        };
        // The trees by depth within each window, so that trees of like depth walk together and
        // few lanes wait on a deeper one; the forest adds them up in this order.
        let mut trees = ensemble.roots.clone();
        for window in trees.chunks_mut(TREE_WINDOW) {
            window.sort_by_key(|root| steps_of(root)[1]);
        }
        let tree_steps: Vec<[u32; 2]> = trees.iter().map(steps_of).collect();
        let group_steps = tree_steps
            .chunks(TREE_WINDOW)
            .flat_map(|window| window.chunks(ROW_LANES))
            .map(|group| group.iter().fold([0, 0], |[a, b], [c, d]| [a.max(*c), b.max(*d)]))
            .collect();
        let steps_per_row = tree_steps.iter().map(|s| s[1] as usize).sum();

        // Splits first, then leaves, each once; a leaf shared by several branches is one node.
        let leaf_node = |l: usize| (splits.len() + l) as u32;
        let node_of = |child: Child| match child {
            Child::Split(i) => i as u32,
            Child::Leaf(l) => leaf_node(l),
        };
        let first_mode = splits.first().map(|s| s.mode);
        let mode = match first_mode {
            Some(m) if splits.iter().all(|s| s.mode == m) => mode_code(m),
            Some(_) => MIXED,
            None => LEQ,
        };
        let mut members = Vec::new();
        let mut member_offsets = vec![0u32, 0];
        let mut nodes = Vec::with_capacity(splits.len() + leaves.len());
        let mut exact_members = vec![vec![]];
        for split in splits {
            let threshold = if split.mode == Mode::Member {
                // A member no float32 holds can never equal a float32 feature value.
                members.extend(
                    split
                        .members
                        .iter()
                        .filter(|m| f64::from(**m as f32) == **m)
                        .map(|m| *m as f32),
                );
                member_offsets.push(members.len() as u32);
                exact_members.push(split.members.clone());
                f32::from_bits(member_offsets.len() as u32 - 2)
            } else {
                threshold_for(split.mode, split.threshold)
            };
            let missing = if split.missing_goes_true { MISSING_TRUE } else { 0 };
            nodes.push(Node {
                threshold,
                bits: split.feature as u32 | mode_code(split.mode) << MODE_SHIFT | missing,
                children: [node_of(split.if_false), node_of(split.if_true)],
            });
        }
        let sums =
            ensemble.output == Output::Classifier || matches!(ensemble.aggregate, Aggregate::Sum | Aggregate::Average);
        let inline_leaves =
            sums && ensemble.targets <= FEATURE_MASK as usize + 1 && leaves.iter().all(|l| l.len() == 1);
        for (l, leaf) in leaves.iter().enumerate() {
            let me = leaf_node(l);
            let (target, weight) = match leaf.first() {
                Some(&(target, weight)) if inline_leaves => (target as u32, weight),
                _ => (0, 0.0),
            };
            nodes.push(Node {
                threshold: weight,
                bits: target | LEQ << MODE_SHIFT,
                children: [me, me],
            });
        }
        let roots: Vec<u32> = trees.iter().map(|r| node_of(*r)).collect();
        let first_leaf = splits.len() as u32;
        let (level_trees, levels, level_leaves) = level_trees(&nodes, first_leaf, &roots).unwrap_or_default();
        let masks = match level_trees.is_empty() {
            true => MaskForest::new(&nodes, first_leaf, &roots),
            false => None,
        };
        let mut leaf_offsets = vec![0u32];
        let (mut leaf_targets, mut leaf_weights) = (Vec::new(), Vec::new());
        for leaf in leaves {
            for &(target, weight) in leaf {
                leaf_targets.push(target as u32);
                leaf_weights.push(weight);
            }
            leaf_offsets.push(leaf_targets.len() as u32);
        }
        let one_class = {
            let mut classes = leaf_targets.iter();
            let first = classes.next();
            first.is_some() && classes.all(|c| Some(c) == first)
        };
        let binary = BinaryRule {
            one_class: ensemble.targets == 2 && one_class,
            all_positive: leaf_weights.iter().all(|w| *w >= 0.0),
        };
        let fixed_hits = fixed_hits(ensemble, &depths);
        // Its accumulation does not track hits: only where they are not needed.
        let untracked = ensemble.output == Output::Regressor || fixed_hits.is_some();
        let first_targets = leaf_targets.get(..leaf_offsets.get(1).map_or(0, |&end| end as usize));
        let shared_targets = match first_targets {
            Some(first) if sums && untracked && !inline_leaves && !first.is_empty() => leaves
                .iter()
                .all(|leaf| leaf.len() == first.len() && leaf.iter().zip(first).all(|((t, _), f)| *t as u32 == *f))
                .then(|| first.to_vec()),
            _ => None,
        };
        Ok(Forest {
            roots,
            first_leaf,
            tree_steps,
            group_steps,
            inline_leaves,
            shared_targets,
            sole_target: match leaf_targets.first() {
                Some(&target) if inline_leaves && one_class && untracked => Some(target),
                _ => None,
            },
            fixed_hits,
            level_trees,
            levels,
            level_leaves,
            masks,
            steps_per_row,
            nodes,
            members,
            member_offsets,
            thresholds: splits.iter().map(|s| s.threshold).collect(),
            exact_members,
            leaf_offsets,
            leaf_targets,
            leaf_weights,
            mode,
            tracks_missing: splits.iter().any(|s| s.missing_goes_true),
            width: width.max(1),
            targets: ensemble.targets,
            aggregate: if ensemble.output == Output::Classifier {
                Aggregate::Sum
            } else {
                ensemble.aggregate
            },
            post_transform: ensemble.post_transform,
            base_values: ensemble.base_values.clone(),
            output: ensemble.output.clone(),
            binary,
        })
    }

    /// The ensemble this forest was compiled from, up to what compiling does not keep (a
    /// classifier's aggregate, always a sum; the trees' order, by depth within windows of
    /// [`TREE_WINDOW`]): compiling it again gives this forest.
    pub fn ensemble(&self) -> Ensemble {
        let first_leaf = self.first_leaf as usize;
        let child = |node: u32| match (node as usize).checked_sub(first_leaf) {
            Some(leaf) => Child::Leaf(leaf),
            None => Child::Split(node as usize),
        };
        let splits = self
            .nodes
            .iter()
            .take(first_leaf)
            .enumerate()
            .map(|(i, node)| {
                let mode = MODES
                    .get(((node.bits >> MODE_SHIFT) & 7) as usize)
                    .copied()
                    .unwrap_or(Mode::Leq);
                let members = match mode {
                    Mode::Member => self
                        .exact_members
                        .get(node.threshold.to_bits() as usize)
                        .cloned()
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                Split {
                    feature: (node.bits & FEATURE_MASK) as usize,
                    mode,
                    threshold: self.thresholds.get(i).copied().unwrap_or_default(),
                    members,
                    missing_goes_true: node.bits & MISSING_TRUE != 0,
                    if_true: child(node.children[1]),
                    if_false: child(node.children[0]),
                }
            })
            .collect();
        let leaves = self
            .leaf_offsets
            .windows(2)
            .map(|w| {
                let (start, end) = (w[0] as usize, w[1] as usize);
                let targets = self.leaf_targets.get(start..end).unwrap_or_default();
                let weights = self.leaf_weights.get(start..end).unwrap_or_default();
                targets
                    .iter()
                    .map(|&t| t as usize)
                    .zip(weights.iter().copied())
                    .collect()
            })
            .collect();
        Ensemble {
            splits,
            leaves,
            roots: self.roots.iter().map(|&r| child(r)).collect(),
            targets: self.targets,
            aggregate: self.aggregate,
            post_transform: self.post_transform,
            base_values: self.base_values.clone(),
            output: self.output.clone(),
        }
    }

    /// Features a row must have at least (the highest feature read, plus one).
    pub fn min_width(&self) -> usize {
        self.width
    }

    /// Outputs per row: the targets or classes.
    pub fn targets(&self) -> usize {
        self.targets
    }

    /// Trees.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// Whether batches go by leaf masks (trees of up to 32 leaves whose splits all compare with
    /// `<=`, `<`, `>=` or `>`, and not evaluated level by level) rather than by walks.
    pub fn batches_by_leaf_masks(&self) -> bool {
        self.masks.is_some()
    }

    /// Splits that `row` passes through on its way to a leaf, summed over the trees: the work a
    /// prediction does, for benchmarks.
    pub fn visits(&self, row: &[f32]) -> usize {
        let mut visits = 0;
        for &root in &self.roots {
            let mut at = root as usize;
            loop {
                let next = dispatch!(self, self.tracks_missing, step, at, row, 0);
                if next == at {
                    break;
                }
                visits += 1;
                at = next;
            }
        }
        visits
    }

    /// Evaluates `rows` rows of `width` values each (`width >= min_width()`), given one after the
    /// other in `x`: `rows * targets()` scores, row after row, and each row's winning target
    /// (for a classifier, the index of its label, by onnxruntime's rules). Natively, a large
    /// batch is shared out between threads.
    // One copy of the walks however many callers: inlined into each, they doubled in the wasm.
    #[inline(never)]
    pub fn evaluate(&self, x: &[f32], width: usize, rows: usize) -> Result<(Vec<f32>, Vec<usize>), EnsembleError> {
        self.check_rows(x.len(), width, rows)?;
        let (mut values, mut hits) = self.scores(rows);
        let x = x.get(..rows * width).unwrap_or_default();
        if let (1, Some(target)) = (rows, self.sole_target) {
            let mut partials = [0.0; PARTIALS];
            dispatch!(self, self.tracks(x), score_row, x, &mut partials, &mut hits);
            if let Some(s) = values.get_mut(target as usize) {
                *s += total(&partials);
            }
        } else if rows == 1 {
            dispatch!(self, self.tracks(x), score_row, x, &mut values, &mut hits);
        } else {
            self.score_batch(x, width, &mut values, &mut hits);
        }
        let labels = self.finish(&mut values, &hits);
        Ok((values, labels))
    }

    /// [`Forest::evaluate`] for rows of doubles, compared with the thresholds as the model gave
    /// them (doubles too, where it did): a plain walk, one row and one tree at a time.
    #[inline(never)]
    pub fn evaluate_f64(&self, x: &[f64], width: usize, rows: usize) -> Result<(Vec<f32>, Vec<usize>), EnsembleError> {
        self.check_rows(x.len(), width, rows)?;
        let (mut values, mut hits) = self.scores(rows);
        let t = self.targets;
        for (r, row) in x.chunks_exact(width).take(rows).enumerate() {
            for &root in &self.roots {
                let mut at = root as usize;
                while let Some(node) = self.nodes.get(at) {
                    let value = row
                        .get((node.bits & FEATURE_MASK) as usize)
                        .copied()
                        .unwrap_or(f64::NAN);
                    let next = node.children[usize::from(self.goes_true_f64(at, node, value))] as usize;
                    if next == at {
                        break;
                    }
                    at = next;
                }
                let scores = values.get_mut(r * t..(r + 1) * t).unwrap_or_default();
                let hits = hits.get_mut(r * t..(r + 1) * t).unwrap_or_default();
                self.add_leaf(at as u32, scores, hits);
            }
        }
        let labels = self.finish(&mut values, &hits);
        Ok((values, labels))
    }

    fn goes_true_f64(&self, at: usize, node: &Node, x: f64) -> bool {
        let t = self.thresholds.get(at).copied().unwrap_or(f64::NAN);
        let hit = compare((node.bits >> MODE_SHIFT) & 7, x, t).unwrap_or_else(|| {
            self.exact_members
                .get(node.threshold.to_bits() as usize)
                .is_some_and(|m| m.contains(&x))
        });
        hit || (node.bits & MISSING_TRUE != 0 && x.is_nan())
    }

    fn check_rows(&self, values: usize, width: usize, rows: usize) -> Result<(), EnsembleError> {
        if width < self.width || values < rows.saturating_mul(width) {
            return Err(EnsembleError(format!(
                "the trees read feature {} but rows have {width} values",
                self.width - 1
            )));
        }
        Ok(())
    }

    /// Empty scores for `rows` rows, and which classes each row's leaves added to, for a
    /// classifier whose hits depend on the row (else empty).
    fn scores(&self, rows: usize) -> (Vec<f32>, Vec<bool>) {
        let empty = match self.aggregate {
            Aggregate::Min | Aggregate::Max => f32::NAN,
            Aggregate::Sum | Aggregate::Average => 0.0,
        };
        // Which classes got a contribution: onnxruntime's labels and binary layouts depend on it.
        let hits = if self.output == Output::Classifier && self.fixed_hits.is_none() {
            rows * self.targets
        } else {
            0
        };
        (vec![empty; rows * self.targets], vec![false; hits])
    }

    /// Finalizes every row's scores in place; returns each row's winning index.
    fn finish(&self, values: &mut [f32], hits: &[bool]) -> Vec<usize> {
        let t = self.targets;
        let fixed = self.fixed_hits.as_deref();
        values
            .chunks_exact_mut(t)
            .enumerate()
            .map(|(r, scores)| {
                let hits = fixed.unwrap_or_else(|| hits.get(r * t..(r + 1) * t).unwrap_or_default());
                self.finalize(scores, hits)
            })
            .collect()
    }

    /// Adds leaf node `leaf`'s contributions to one row's scores (`hits` empty when not
    /// tracked).
    #[inline(always)]
    fn add_leaf(&self, leaf: u32, scores: &mut [f32], hits: &mut [bool]) {
        if self.inline_leaves {
            if let Some((target, weight)) = self.inline_leaf(leaf) {
                if let Some(s) = scores.get_mut(target) {
                    *s += weight;
                }
                if let Some(h) = hits.get_mut(target) {
                    *h = true;
                }
            }
            return;
        }
        let leaf = leaf.saturating_sub(self.first_leaf) as usize;
        let (from, to) = (
            self.leaf_offsets.get(leaf).copied().unwrap_or(0) as usize,
            self.leaf_offsets.get(leaf + 1).copied().unwrap_or(0) as usize,
        );
        let targets = self.leaf_targets.get(from..to).unwrap_or_default();
        let weights = self.leaf_weights.get(from..to).unwrap_or_default();
        for (&target, &w) in targets.iter().zip(weights) {
            let target = target as usize;
            if let Some(s) = scores.get_mut(target) {
                *s = match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => *s + w,
                    Aggregate::Min if s.is_nan() || w < *s => w,
                    Aggregate::Max if s.is_nan() || w > *s => w,
                    Aggregate::Min | Aggregate::Max => *s,
                };
            }
            if let Some(h) = hits.get_mut(target) {
                *h = true;
            }
        }
    }

    /// The target and weight an inline leaf node holds (none past the nodes).
    #[inline(always)]
    fn inline_leaf(&self, leaf: u32) -> Option<(usize, f32)> {
        let node = self.nodes.get(leaf as usize)?;
        Some(((node.bits & FEATURE_MASK) as usize, node.threshold))
    }

    /// The weight an inline leaf node holds (0 past the nodes).
    #[inline(always)]
    fn inline_weight(&self, leaf: u32) -> f32 {
        self.nodes.get(leaf as usize).map_or(0.0, |n| n.threshold)
    }

    /// Adds one row's leaf nodes, in the trees' order, to its scores; for a forest with a sole
    /// target, `scores` are its [`PARTIALS`] sums and `leaves` start at a multiple of 4 trees.
    #[inline(always)]
    fn add_leaves(&self, leaves: &[u32], scores: &mut [f32], hits: &mut [bool]) {
        if self.sole_target.is_some() {
            // Four sums in registers, not one through memory: a sum's additions wait on each other.
            let mut sums = [0.0; PARTIALS];
            for (sum, s) in sums.iter_mut().zip(scores.iter()) {
                *sum = *s;
            }
            let mut quads = leaves.chunks_exact(PARTIALS);
            for quad in &mut quads {
                for (sum, &leaf) in sums.iter_mut().zip(quad) {
                    *sum += self.inline_weight(leaf);
                }
            }
            for (sum, &leaf) in sums.iter_mut().zip(quads.remainder()) {
                *sum += self.inline_weight(leaf);
            }
            for (s, sum) in scores.iter_mut().zip(sums) {
                *s = sum;
            }
            return;
        }
        if let Some(targets) = &self.shared_targets {
            return self.add_shared_leaves(targets, leaves, scores);
        }
        for &leaf in leaves {
            self.add_leaf(leaf, scores, hits);
        }
    }

    /// [`Forest::add_leaves`] for a forest with `shared_targets`.
    // One copy for the walks of every comparison mode.
    #[inline(never)]
    fn add_shared_leaves(&self, targets: &[u32], leaves: &[u32], scores: &mut [f32]) {
        for &leaf in leaves {
            self.add_shared(targets, leaf, scores);
        }
    }

    /// Adds leaf node `leaf`'s weights to `targets` (the forest's `shared_targets`) of one row's
    /// scores.
    #[inline(always)]
    fn add_shared(&self, targets: &[u32], leaf: u32, scores: &mut [f32]) {
        let at = leaf.saturating_sub(self.first_leaf) as usize * targets.len();
        let weights = self.leaf_weights.get(at..at + targets.len()).unwrap_or_default();
        for (&target, &w) in targets.iter().zip(weights) {
            if let Some(s) = scores.get_mut(target as usize) {
                *s += w;
            }
        }
    }

    /// Adds tree `tree`'s leaf nodes for consecutive rows, `leaves[k]` to the row whose scores
    /// start at `scores[k * targets]`; for a forest with a sole target, `scores` are the rows'
    /// [`PARTIALS`] sums one after the other.
    #[inline(never)]
    fn add_rows(&self, tree: usize, leaves: &[u32], scores: &mut [f32], hits: &mut [bool]) {
        let t = self.targets;
        if self.sole_target.is_some() {
            let sums = scores.get_mut(tree % PARTIALS..).unwrap_or_default();
            for (&leaf, sum) in leaves.iter().zip(sums.iter_mut().step_by(PARTIALS)) {
                *sum += self.inline_weight(leaf);
            }
            return;
        }
        if let Some(targets) = &self.shared_targets {
            for (&leaf, row) in leaves.iter().zip(scores.chunks_exact_mut(t)) {
                self.add_shared(targets, leaf, row);
            }
            return;
        }
        for (k, &leaf) in leaves.iter().enumerate() {
            let scores = scores.get_mut(k * t..(k + 1) * t).unwrap_or_default();
            let hits = hits.get_mut(k * t..(k + 1) * t).unwrap_or_default();
            self.add_leaf(leaf, scores, hits);
        }
    }

    /// Whether walks over `data` must read the splits' missing-value bits: only if some split
    /// has it set and some value is missing (then the bit decides; otherwise it cannot matter).
    fn tracks(&self, data: &[f32]) -> bool {
        self.tracks_missing && data.iter().any(|x| x.is_nan())
    }

    /// Adds every tree's leaf for one row to its scores: [`ROW_LANES`] trees walked at a time, or
    /// the level trees one after the other; the leaves of a window of trees are added in the
    /// trees' order (for a forest with a sole target, to its [`PARTIALS`] sums: `scores`).
    fn score_row<const MODE: u32, const TRACK: bool>(&self, row: &[f32], scores: &mut [f32], hits: &mut [bool]) {
        let mut leaves = [0u32; TREE_WINDOW];
        if !self.level_trees.is_empty() {
            for trees in self.level_trees.chunks(TREE_WINDOW) {
                for (leaf, tree) in leaves.iter_mut().zip(trees) {
                    *leaf = self.level_leaf::<MODE, TRACK>(tree, row, 0);
                }
                self.add_leaves(leaves.get(..trees.len()).unwrap_or_default(), scores, hits);
            }
            return;
        }
        let mut group_steps = self.group_steps.iter();
        for window in self.roots.chunks(TREE_WINDOW) {
            for (roots, out) in window.chunks(ROW_LANES).zip(leaves.chunks_mut(ROW_LANES)) {
                let mut cursors = [self.first_leaf; ROW_LANES];
                for (cursor, root) in cursors.iter_mut().zip(roots) {
                    *cursor = *root;
                }
                let steps = group_steps.next().copied().unwrap_or(ANY_STEPS);
                self.descend::<MODE, TRACK, ROW_LANES>(&mut cursors, row, [0; ROW_LANES], steps);
                for (leaf, cursor) in out.iter_mut().zip(cursors) {
                    *leaf = cursor;
                }
            }
            self.add_leaves(leaves.get(..window.len()).unwrap_or_default(), scores, hits);
        }
    }

    /// How many threads a native batch of `rows` rows is shared between (1: none started).
    #[cfg(not(target_arch = "wasm32"))]
    fn batch_threads(&self, rows: usize) -> usize {
        static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let work = rows.saturating_mul(self.steps_per_row.max(1));
        cores
            .min(MAX_THREADS)
            .min(work / STEPS_PER_THREAD)
            .min(rows / LANES)
            .max(1)
    }

    /// [`Forest::score_rows`] over every row of `x`, natively shared out between threads when
    /// the batch is large enough to pay for them.
    #[cfg(not(target_arch = "wasm32"))]
    fn score_batch(&self, x: &[f32], width: usize, values: &mut [f32], hits: &mut [bool]) {
        let t = self.targets;
        let rows = values.len() / t;
        let threads = self.batch_threads(rows);
        if threads < 2 || width == 0 {
            return self.score_rows(x, width, values, hits);
        }
        // Chunks of rows taken in turn by this thread and the others, several per thread: a
        // thread that starts late, or not at all, leaves more to the others.
        let chunk = (rows / (4 * threads))
            .clamp(4 * LANES, BLOCK_ROWS)
            .next_multiple_of(LANES);
        let mut hit_chunks = hits.chunks_mut(chunk * t);
        let chunks: Vec<_> = x
            .chunks(chunk * width)
            .zip(values.chunks_mut(chunk * t))
            .map(|(x, values)| (x, values, hit_chunks.next().unwrap_or_default()))
            .collect();
        let queue = std::sync::Mutex::new(chunks.into_iter());
        let work = || loop {
            let next = match queue.lock() {
                Ok(mut chunks) => chunks.next(),
                Err(_) => None,
            };
            let Some((x, values, hits)) = next else { return };
            self.score_rows(x, width, values, hits);
        };
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads)
                .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
                .collect();
            work();
            for helper in helpers {
                // The walks do not panic; a helper that did anyway has left its chunk unscored.
                let _ = helper.join();
            }
        });
    }

    #[cfg(target_arch = "wasm32")]
    fn score_batch(&self, x: &[f32], width: usize, values: &mut [f32], hits: &mut [bool]) {
        self.score_rows(x, width, values, hits)
    }

    /// Adds every tree's leaves for the rows of `x` to their scores: blocks of rows, tree by
    /// tree.
    fn score_rows(&self, x: &[f32], width: usize, values: &mut [f32], hits: &mut [bool]) {
        let t = self.targets;
        let rows = values.len() / t;
        let mut leaves = [0u32; BLOCK_ROWS];
        let mut partials = [0.0; BLOCK_ROWS * PARTIALS];
        for start in (0..rows).step_by(BLOCK_ROWS) {
            let end = (start + BLOCK_ROWS).min(rows);
            let block = x.get(start * width..end * width).unwrap_or_default();
            let scores = values.get_mut(start * t..end * t).unwrap_or_default();
            let hits = hits.get_mut(start * t..end * t).unwrap_or_default();
            let leaves = leaves.get_mut(..end - start).unwrap_or_default();
            let sums = match self.sole_target {
                Some(_) => {
                    let sums = partials.get_mut(..leaves.len() * PARTIALS).unwrap_or_default();
                    sums.fill(0.0);
                    sums
                }
                None => &mut *scores,
            };
            if !self.level_trees.is_empty() {
                self.score_level_block(block, width, leaves, sums, hits);
            } else if let Some(masks) = &self.masks {
                masks.score_block(self, block, width, leaves, sums, hits);
            } else {
                dispatch!(self, self.tracks(block), score_block, block, width, leaves, sums, hits);
            }
            if let Some(target) = self.sole_target {
                for (row, sums) in scores.chunks_exact_mut(t).zip(partials.chunks_exact(PARTIALS)) {
                    if let Some(s) = row.get_mut(target as usize) {
                        *s += total(sums);
                    }
                }
            }
        }
    }

    /// [`Forest::score_rows`] for one block of walked trees: each tree's leaves for [`LANES`]
    /// rows at a time, added before the next tree.
    fn score_block<const MODE: u32, const TRACK: bool>(
        &self,
        block: &[f32],
        width: usize,
        leaves: &mut [u32],
        scores: &mut [f32],
        hits: &mut [bool],
    ) {
        for (t, (&root, &steps)) in self.roots.iter().zip(&self.tree_steps).enumerate() {
            for (group, out) in leaves.chunks_mut(LANES).enumerate() {
                let first = group * LANES;
                // Lanes past the block's last row start on a leaf and read nothing.
                let cursors = &mut [self.first_leaf; LANES];
                let mut offsets = [block.len(); LANES];
                for k in 0..out.len() {
                    cursors[k] = root;
                    offsets[k] = (first + k) * width;
                }
                self.descend::<MODE, TRACK, LANES>(cursors, block, offsets, steps);
                for (leaf, cursor) in out.iter_mut().zip(cursors.iter()) {
                    *leaf = *cursor;
                }
            }
            self.add_rows(t, leaves, scores, hits);
        }
    }

    /// [`Forest::score_block`] for level trees: level by level, each split applied to every row
    /// of the block before the next (the block laid out feature by feature first, or each
    /// level's feature gathered when the rows are wider than the trees have levels), so that the
    /// comparisons run as vectors, and then each row's leaf looked up; a feature past the row
    /// reads NaN.
    // One copy for every comparison mode: each level reads its own.
    #[inline(never)]
    fn score_level_block(
        &self,
        block: &[f32],
        width: usize,
        leaves: &mut [u32],
        scores: &mut [f32],
        hits: &mut [bool],
    ) {
        let rows = leaves.len();
        // Feature by feature, unless the block has more features than the trees have levels.
        let mut columns = Vec::new();
        if width > 0 && width <= self.levels.len() {
            columns = vec![0.0f32; width * rows];
            for (r, row) in block.chunks_exact(width).enumerate() {
                for (f, &x) in row.iter().enumerate() {
                    if let Some(c) = columns.get_mut(f * rows + r) {
                        *c = x;
                    }
                }
            }
        }
        let mut index = [0u32; BLOCK_ROWS];
        let mut gathered = [0.0f32; BLOCK_ROWS];
        let index = index.get_mut(..rows).unwrap_or_default();
        let gathered = gathered.get_mut(..rows).unwrap_or_default();
        for (t, tree) in self.level_trees.iter().enumerate() {
            index.fill(0);
            let (first, depth) = (tree.first as usize, tree.depth as usize);
            for node in self.levels.get(first..first + depth).unwrap_or_default() {
                let feature = (node.bits & FEATURE_MASK) as usize;
                let column = match columns.get(feature * rows..(feature + 1) * rows) {
                    Some(column) => column,
                    None => {
                        for (r, x) in gathered.iter_mut().enumerate() {
                            let row = block.get(r * width..(r + 1) * width).unwrap_or_default();
                            *x = row.get(feature).copied().unwrap_or(f32::NAN);
                        }
                        &*gathered
                    }
                };
                let (t, missing) = (node.threshold, node.bits & MISSING_TRUE != 0);
                match (node.bits >> MODE_SHIFT) & 7 {
                    LEQ => shift_in::<LEQ>(column, t, missing, index),
                    LT => shift_in::<LT>(column, t, missing, index),
                    GTE => shift_in::<GTE>(column, t, missing, index),
                    GT => shift_in::<GT>(column, t, missing, index),
                    EQ => shift_in::<EQ>(column, t, missing, index),
                    NEQ => shift_in::<NEQ>(column, t, missing, index),
                    // Level trees have no member splits.
                    _ => shift_in::<MEMBER>(column, t, missing, index),
                }
            }
            for (leaf, &i) in leaves.iter_mut().zip(index.iter()) {
                *leaf = self
                    .level_leaves
                    .get(tree.leaves as usize + i as usize)
                    .copied()
                    .unwrap_or(self.first_leaf);
            }
            self.add_rows(t, leaves, scores, hits);
        }
    }

    /// The leaf node a level tree sends the row at `offset` in `data` to.
    #[inline(always)]
    fn level_leaf<const MODE: u32, const TRACK: bool>(&self, tree: &LevelTree, data: &[f32], offset: usize) -> u32 {
        let (first, depth) = (tree.first as usize, tree.depth as usize);
        let levels = self.levels.get(first..first + depth).unwrap_or_default();
        let mut index = 0;
        for node in levels {
            index = 2 * index + usize::from(self.goes_true::<MODE, TRACK>(node, data, offset));
        }
        self.level_leaves
            .get(tree.leaves as usize + index)
            .copied()
            .unwrap_or(self.first_leaf)
    }

    /// Moves every cursor down to its leaf, the lanes interleaved; lane `k` reads its features
    /// from `data[offsets[k]..]`. `[sure, most]` bound the steps: the first `sure` are taken
    /// without looking whether every lane is on a leaf (a branch the processor mispredicts each
    /// time the walks end at another step than before), and there are never more than `most`.
    #[inline(always)]
    fn descend<const MODE: u32, const TRACK: bool, const N: usize>(
        &self,
        cursors: &mut [u32; N],
        data: &[f32],
        offsets: [usize; N],
        [sure, most]: [u32; 2],
    ) {
        let mut at = cursors.map(|c| c as usize);
        let first_leaf = self.first_leaf as usize;
        let mut steps = 0;
        loop {
            for (at, offset) in at.iter_mut().zip(offsets) {
                *at = self.step::<MODE, TRACK>(*at, data, offset);
            }
            steps += 1;
            if steps >= sure && (steps >= most || at.iter().all(|c| *c >= first_leaf)) {
                break;
            }
        }
        for (cursor, at) in cursors.iter_mut().zip(at) {
            *cursor = at as u32;
        }
    }

    /// One step down from node `at` for the row at `offset` in `data`; a leaf steps to itself.
    #[inline(always)]
    // A `usize` cursor: a `u32` one is widened again at every step.
    fn step<const MODE: u32, const TRACK: bool>(&self, at: usize, data: &[f32], offset: usize) -> usize {
        let Some(node) = self.nodes.get(at) else {
            return self.first_leaf as usize;
        };
        node.children[usize::from(self.goes_true::<MODE, TRACK>(node, data, offset))] as usize
    }

    /// Whether split `node` sends the row at `offset` in `data` to its true branch. A value past
    /// the data (only lanes without a row) reads NaN.
    #[inline(always)]
    fn goes_true<const MODE: u32, const TRACK: bool>(&self, node: &Node, data: &[f32], offset: usize) -> bool {
        let x = data
            .get(offset + (node.bits & FEATURE_MASK) as usize)
            .copied()
            .unwrap_or(f32::NAN);
        let t = node.threshold;
        let mode = if MODE == MIXED {
            (node.bits >> MODE_SHIFT) & 7
        } else {
            MODE
        };
        let mut goes_true = compare(mode, x, t).unwrap_or_else(|| self.is_member(t.to_bits(), x));
        if TRACK {
            goes_true |= node.bits & MISSING_TRUE != 0 && x.is_nan();
        }
        goes_true
    }

    fn is_member(&self, list: u32, x: f32) -> bool {
        let list = list as usize;
        let (from, to) = (
            self.member_offsets.get(list).copied().unwrap_or(0) as usize,
            self.member_offsets.get(list + 1).copied().unwrap_or(0) as usize,
        );
        self.members.get(from..to).unwrap_or_default().contains(&x)
    }

    /// Turns one row's aggregated scores into outputs in place; returns the winning index.
    fn finalize(&self, scores: &mut [f32], hits: &[bool]) -> usize {
        let trees = self.roots.len() as f32;
        match self.output {
            Output::Regressor => {
                let use_base = self.base_values.len() == scores.len();
                for (k, s) in scores.iter_mut().enumerate() {
                    let scored = if s.is_nan() { 0.0 } else { *s };
                    let aggregated = match self.aggregate {
                        Aggregate::Average => scored / trees,
                        _ => scored,
                    };
                    let base = if use_base { self.base_values[k] } else { 0.0 };
                    *s = aggregated + base;
                }
                if self.targets == 1 {
                    if self.post_transform == PostTransform::Probit {
                        scores[0] = probit(scores[0]);
                    }
                } else {
                    transform(scores, self.post_transform);
                }
                argmax(scores)
            }
            Output::Classifier if self.targets > 2 => {
                for (s, b) in scores.iter_mut().zip(&self.base_values) {
                    *s += b;
                }
                let scored = |k: usize| k < self.base_values.len() || hits.get(k).copied().unwrap_or(false);
                let mut label = None::<usize>;
                for (k, s) in scores.iter().enumerate() {
                    if scored(k) && label.is_none_or(|best| *s > scores[best]) {
                        label = Some(k);
                    }
                }
                transform(scores, self.post_transform);
                label.unwrap_or(0)
            }
            Output::Classifier => self.finalize_binary(scores, hits),
        }
    }

    /// onnxruntime's `TreeAggregatorClassifier::FinalizeScores` for two classes, literally.
    fn finalize_binary(&self, scores: &mut [f32], hits: &[bool]) -> usize {
        let (mut s0, mut s1) = (scores[0], scores[1]);
        let (has0, mut has1) = (hits[0], hits[1]);
        let mut second = None::<u8>;
        let mut one_value = false;
        match self.base_values.len() {
            2 if has1 => {
                s1 = self.base_values[1] + s0;
                s0 = -s1;
                has1 = true;
            }
            2 => {
                s1 += self.base_values[1];
                s0 += self.base_values[0];
            }
            1 => {
                s0 += self.base_values[0];
                one_value = !has1;
            }
            0 => {
                second = Some(3);
                one_value = !has1;
            }
            _ => {}
        }
        let positive = if !one_value && has1 {
            s1
        } else if has0 {
            s0
        } else {
            0.0
        };
        let label = if self.binary.one_class {
            let (code, label) = match (self.binary.all_positive, positive) {
                (true, p) if p > 0.5 => (0, 1),
                (true, _) => (1, 0),
                (false, p) if p > 0.0 => (2, 1),
                (false, _) => (3, 0),
            };
            second = Some(code);
            label
        } else {
            usize::from(positive > 0.0)
        };
        if !one_value {
            scores[0] = s0;
            scores[1] = s1;
            transform(scores, self.post_transform);
            return label;
        }
        let s = s0;
        let logistic = self.post_transform == PostTransform::Logistic;
        let pair = if self.post_transform == PostTransform::Probit {
            [probit(s), 0.0]
        } else {
            match second {
                Some(0 | 1) => [1.0 - s, s],
                Some(2 | 3) if logistic => [sigmoid(-s), sigmoid(s)],
                Some(2 | 3) => [-s, s],
                _ => [s, 0.0],
            }
        };
        scores.copy_from_slice(&pair);
        label
    }
}

/// The f32 threshold that gives every float32 feature value the answer the model's threshold `t`
/// (possibly a double) gives: rounded down for `<=` and `>`, up for `<` and `>=`; an equality with
/// a value no float32 holds never holds (NaN: also for `!=`, which then always holds).
fn threshold_for(mode: Mode, t: f64) -> f32 {
    let nearest = t as f32;
    if f64::from(nearest) == t || t.is_nan() {
        return nearest;
    }
    let below = f64::from(nearest) < t;
    match mode {
        Mode::Leq | Mode::Gt if below => nearest,
        Mode::Leq | Mode::Gt => nearest.next_down(),
        Mode::Lt | Mode::Gte if below => nearest.next_up(),
        Mode::Lt | Mode::Gte => nearest,
        Mode::Eq | Mode::Neq | Mode::Member => f32::NAN,
    }
}

/// A split's comparison of `x` with `t` by its mode code, as C++ compares (every comparison with
/// NaN false but `!=`); `None` for a member split.
#[inline(always)]
fn compare<T: PartialOrd>(mode: u32, x: T, t: T) -> Option<bool> {
    Some(match mode {
        LEQ => x <= t,
        LT => x < t,
        GTE => x >= t,
        GT => x > t,
        EQ => x == t,
        NEQ => x != t,
        _ => return None,
    })
}

/// Appends to each row's level-tree leaf index (`index`) whether its value in `column` goes to
/// the true branch of a split comparing by `MODE` with `t` (missing values to the true branch
/// if `missing`), as [`Forest::goes_true`] decides it.
#[inline(always)]
fn shift_in<const MODE: u32>(column: &[f32], t: f32, missing: bool, index: &mut [u32]) {
    for (i, &x) in index.iter_mut().zip(column) {
        let goes_true = compare(MODE, x, t).unwrap_or(false) | (missing & x.is_nan());
        *i = 2 * *i + u32::from(goes_true);
    }
}

fn mode_code(mode: Mode) -> u32 {
    match mode {
        Mode::Leq => LEQ,
        Mode::Lt => LT,
        Mode::Gte => GTE,
        Mode::Gt => GT,
        Mode::Eq => EQ,
        Mode::Neq => NEQ,
        Mode::Member => MEMBER,
    }
}

/// Each split's depth (the longest path below it to a leaf) and its shortest path to a leaf,
/// refusing an ensemble where a split is its own descendant.
fn depths_refusing_cycles(ensemble: &Ensemble) -> Result<(Vec<u32>, Vec<u32>), EnsembleError> {
    const UNSEEN: u32 = u32::MAX;
    const OPEN: u32 = u32::MAX - 1;
    let splits = &ensemble.splits;
    let mut depth = vec![UNSEEN; splits.len()];
    let mut shortest = vec![0; splits.len()];
    for start in 0..splits.len() {
        if depth[start] != UNSEEN {
            continue;
        }
        // Iterative depth-first search: (split, children done).
        let mut stack = vec![(start, false)];
        while let Some((i, done)) = stack.pop() {
            let children = [splits[i].if_false, splits[i].if_true];
            if done {
                let below = children.map(|c| match c {
                    Child::Split(j) => [depth[j], shortest[j]],
                    Child::Leaf(_) => [0, 0],
                });
                depth[i] = below[0][0].max(below[1][0]) + 1;
                shortest[i] = below[0][1].min(below[1][1]) + 1;
                continue;
            }
            if depth[i] == OPEN {
                return Err(EnsembleError(format!(
                    "split {i} is its own descendant: a tree has a cycle"
                )));
            }
            if depth[i] != UNSEEN {
                continue;
            }
            depth[i] = OPEN;
            stack.push((i, true));
            for child in children {
                if let Child::Split(j) = child {
                    if depth[j] == OPEN {
                        return Err(EnsembleError(format!(
                            "split {j} is its own descendant: a tree has a cycle"
                        )));
                    }
                    if depth[j] == UNSEEN {
                        stack.push((j, false));
                    }
                }
            }
        }
    }
    Ok((depth, shortest))
}

/// For a classifier, the classes every row's leaves add to when that does not depend on the row:
/// when, in every tree, all leaves add to the same classes.
fn fixed_hits(ensemble: &Ensemble, depths: &[u32]) -> Option<Vec<bool>> {
    if ensemble.output != Output::Classifier || ensemble.targets > 64 {
        return None;
    }
    let (splits, leaves) = (&ensemble.splits, &ensemble.leaves);
    // Per split, the classes of every leaf below it as bits, `None` when they differ.
    let mut below = vec![None::<u64>; splits.len()];
    let classes = |child: Child, below: &[Option<u64>]| match child {
        Child::Leaf(l) => leaves.get(l).map(|leaf| {
            leaf.iter()
                .fold(0u64, |m, (t, _)| m | 1u64.checked_shl(*t as u32).unwrap_or(0))
        }),
        Child::Split(i) => below.get(i).copied().flatten(),
    };
    // A split is deeper than its children: by increasing depth, children come first.
    let mut order: Vec<usize> = (0..splits.len()).collect();
    order.sort_by_key(|i| depths.get(*i).copied().unwrap_or(0));
    for i in order {
        if let Some(split) = splits.get(i) {
            let (t, f) = (classes(split.if_true, &below), classes(split.if_false, &below));
            if let Some(b) = below.get_mut(i) {
                *b = if t == f { t } else { None };
            }
        }
    }
    let mut hits = vec![false; ensemble.targets];
    for root in &ensemble.roots {
        let mask = classes(*root, &below)?;
        for (k, hit) in hits.iter_mut().enumerate() {
            *hit |= mask >> k & 1 != 0;
        }
    }
    Some(hits)
}

/// Every tree as a [`LevelTree`], with the levels' splits and the leaf tables, when every tree
/// is one: each level's splits all alike (a leaf above the last level stands for itself on
/// both sides), no member split, [`MAX_LEVELS`] levels at most, and tables not much larger than
/// the trees.
fn level_trees(nodes: &[Node], first_leaf: u32, roots: &[u32]) -> Option<(Vec<LevelTree>, Vec<Node>, Vec<u32>)> {
    let (mut trees, mut levels, mut leaves) = (Vec::new(), Vec::new(), Vec::new());
    let split = |n: u32| nodes.get(n as usize).filter(|_| n < first_leaf);
    for &root in roots {
        let first = levels.len();
        let mut frontier = vec![root];
        while let Some(node) = frontier.iter().find_map(|&n| split(n)) {
            let alike = |n: &u32| {
                split(*n).is_none_or(|s| s.bits == node.bits && s.threshold.to_bits() == node.threshold.to_bits())
            };
            if levels.len() - first == MAX_LEVELS
                || (node.bits >> MODE_SHIFT) & 7 == MEMBER
                || !frontier.iter().all(alike)
            {
                return None;
            }
            levels.push(*node);
            frontier = frontier
                .iter()
                .flat_map(|&n| split(n).map_or([n, n], |s| s.children))
                .collect();
        }
        trees.push(LevelTree {
            first: first as u32,
            depth: (levels.len() - first) as u32,
            leaves: leaves.len() as u32,
        });
        leaves.extend(frontier);
        if leaves.len() > 2 * nodes.len() + 64 {
            return None;
        }
    }
    Some((trees, levels, leaves))
}

/// A row's score from its [`PARTIALS`] sums.
fn total(sums: &[f32]) -> f32 {
    match sums {
        [a, b, c, d, ..] => (a + b) + (c + d),
        _ => sums.iter().sum(),
    }
}

fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// onnxruntime's `ComputeLogistic`.
fn sigmoid(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

/// onnxruntime's `ComputeProbit`: `sqrt(2) * erfinv(2p - 1)`, erfinv by Winitzki's approximation.
fn probit(p: f32) -> f32 {
    let x = 2.0 * p - 1.0;
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    std::f32::consts::SQRT_2 * sign * v3.sqrt()
}

/// The post transform over one row's scores (two or more).
fn transform(scores: &mut [f32], post: PostTransform) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = sigmoid(*s)),
        PostTransform::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
        PostTransform::Softmax => {
            let max = scores.iter().fold(-f32::MAX, |m, s| if *s > m { *s } else { m });
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
        PostTransform::SoftmaxZero => {
            let max = scores.iter().fold(-f32::MAX, |m, s| if *s > m { *s } else { m });
            let exp_neg_max = (-max).exp();
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                if *s > 1e-7 || *s < -1e-7 {
                    *s = (*s - max).exp();
                    sum += *s;
                } else {
                    *s *= exp_neg_max;
                }
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(feature: usize, mode: Mode, threshold: f64, if_true: Child, if_false: Child) -> Split {
        Split {
            feature,
            mode,
            threshold,
            members: vec![],
            missing_goes_true: false,
            if_true,
            if_false,
        }
    }

    /// The scalar reference: a plain walk per tree and row, as onnxruntime's loop does it.
    fn reference(e: &Ensemble, row: &[f32]) -> Vec<f32> {
        let mut scores = vec![f32::NAN; e.targets];
        for root in &e.roots {
            let mut at = *root;
            let leaf = loop {
                match at {
                    Child::Leaf(l) => break l,
                    Child::Split(i) => {
                        let s = &e.splits[i];
                        let x = f64::from(row[s.feature]);
                        let hit = match s.mode {
                            Mode::Leq => x <= s.threshold,
                            Mode::Lt => x < s.threshold,
                            Mode::Gte => x >= s.threshold,
                            Mode::Gt => x > s.threshold,
                            Mode::Eq => x == s.threshold,
                            Mode::Neq => x != s.threshold,
                            Mode::Member => s.members.contains(&x),
                        } || (s.missing_goes_true && x.is_nan());
                        at = if hit { s.if_true } else { s.if_false };
                    }
                }
            };
            for &(t, w) in &e.leaves[leaf] {
                scores[t] = match e.aggregate {
                    Aggregate::Sum | Aggregate::Average => {
                        if scores[t].is_nan() {
                            w
                        } else {
                            scores[t] + w
                        }
                    }
                    Aggregate::Min => {
                        if scores[t].is_nan() || w < scores[t] {
                            w
                        } else {
                            scores[t]
                        }
                    }
                    Aggregate::Max => {
                        if scores[t].is_nan() || w > scores[t] {
                            w
                        } else {
                            scores[t]
                        }
                    }
                };
            }
        }
        scores
    }

    /// A one-target regressor summing its trees, leaf `l` worth `l + 1`.
    fn regressor(splits: Vec<Split>, leaves: usize, roots: Vec<Child>) -> Ensemble {
        Ensemble {
            splits,
            leaves: (0..leaves).map(|l| vec![(0, l as f32 + 1.0)]).collect(),
            roots,
            targets: 1,
            aggregate: Aggregate::Sum,
            post_transform: PostTransform::None,
            base_values: vec![],
            output: Output::Regressor,
        }
    }

    /// Scores as the reference's, but for the order of their sums: a forest with a sole target
    /// adds its trees in four sums ([`PARTIALS`]), the reference one after the other, so the two
    /// may differ by a few roundings, within `1e-5` of `1 + |want|`.
    fn assert_close(got: &[f32], want: &[f32], context: &str) {
        let close = |(g, w): (&f32, &f32)| g.to_bits() == w.to_bits() || (g - w).abs() <= 1e-5 * (1.0 + w.abs());
        assert!(
            got.len() == want.len() && got.iter().zip(want).all(close),
            "{context}: {got:?}, want {want:?}"
        );
    }

    /// A regressor's finalized scores for `row` by the reference: an average divided by the
    /// trees, a target no leaf added to 0.
    fn finalized(e: &Ensemble, row: &[f32]) -> Vec<f32> {
        let trees = e.roots.len() as f32;
        reference(e, row)
            .iter()
            .map(|v| match e.aggregate {
                _ if v.is_nan() => 0.0,
                Aggregate::Average => v / trees,
                _ => *v,
            })
            .collect()
    }

    /// Two trees over 3 features with every mode, a member split, missing tracking and a shared leaf.
    fn ensemble(aggregate: Aggregate) -> Ensemble {
        use Child::{Leaf, Split as S};
        let mut member = split(2, Mode::Member, 0.0, Leaf(4), Leaf(5));
        member.members = vec![1.0, 3.0];
        let mut tracked = split(1, Mode::Gt, 0.5, Leaf(2), Leaf(3));
        tracked.missing_goes_true = true;
        Ensemble {
            splits: vec![
                split(0, Mode::Leq, 0.0, S(1), S(2)),
                split(1, Mode::Lt, 1.0, Leaf(0), Leaf(1)),
                tracked,
                split(0, Mode::Gte, 2.0, S(4), S(5)),
                member,
                split(2, Mode::Neq, 7.0, S(6), Leaf(6)),
                split(1, Mode::Eq, 0.25, Leaf(6), Leaf(0)),
            ],
            leaves: (0..7)
                .map(|l| vec![(l % 2, l as f32 + 0.5), (1 - l % 2, -(l as f32))])
                .collect(),
            roots: vec![Child::Split(0), Child::Split(3), Child::Leaf(1)],
            targets: 2,
            aggregate,
            post_transform: PostTransform::None,
            base_values: vec![],
            output: Output::Regressor,
        }
    }

    #[test]
    fn a_forest_gives_back_an_ensemble_that_compiles_to_itself() {
        for aggregate in [Aggregate::Sum, Aggregate::Average, Aggregate::Min, Aggregate::Max] {
            let mut classifier = ensemble(aggregate);
            classifier.output = Output::Classifier;
            classifier.post_transform = PostTransform::Logistic;
            classifier.base_values = vec![0.5, -0.25];
            let mut one_weight = ensemble(aggregate);
            one_weight.leaves.iter_mut().for_each(|l| l.truncate(1));
            for e in [ensemble(aggregate), classifier, one_weight] {
                let forest = Forest::compile(&e).unwrap();
                let mut again = forest.ensemble();
                assert_eq!(Forest::compile(&again).unwrap(), forest, "{e:?}");
                if e.output == Output::Regressor {
                    // The same trees, maybe in another order (by depth).
                    let mut want = e.clone();
                    for roots in [&mut again.roots, &mut want.roots] {
                        roots.sort_by_key(|r| format!("{r:?}"));
                    }
                    assert_eq!(again, want);
                }
            }
        }
    }

    #[test]
    fn every_mode_and_missing_value_walks_as_the_reference_does() {
        let values = [f32::NAN, -1.0, 0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 7.0];
        let cases = [Aggregate::Sum, Aggregate::Min, Aggregate::Max]
            .into_iter()
            .flat_map(|aggregate| {
                let mut one_weight = ensemble(aggregate);
                one_weight.leaves.iter_mut().for_each(|l| l.truncate(1));
                [ensemble(aggregate), one_weight]
            });
        for e in cases {
            let aggregate = e.aggregate;
            let forest = Forest::compile(&e).unwrap();
            let mut rows = vec![];
            for a in values {
                for b in values {
                    for c in values {
                        rows.extend([a, b, c]);
                    }
                }
            }
            let n = rows.len() / 3;
            let (batch, _) = forest.evaluate(&rows, 3, n).unwrap();
            for (r, row) in rows.chunks(3).enumerate() {
                let want: Vec<f32> = reference(&e, row)
                    .iter()
                    .map(|v| if v.is_nan() { 0.0 } else { *v })
                    .collect();
                let (one, _) = forest.evaluate(row, 3, 1).unwrap();
                assert_eq!(one, want, "{aggregate:?} row {row:?}");
                assert_eq!(&batch[r * 2..r * 2 + 2], &want[..], "{aggregate:?} batch row {row:?}");
            }
        }
    }

    #[test]
    fn nan_takes_the_false_branch_except_for_neq_and_tracked_splits() {
        use Child::Leaf;
        let one = |mode, tracked| {
            let mut s = split(0, mode, 1.0, Leaf(1), Leaf(0));
            s.missing_goes_true = tracked;
            let e = Ensemble {
                splits: vec![s],
                leaves: vec![vec![(0, 0.0)], vec![(0, 1.0)]],
                roots: vec![Child::Split(0)],
                targets: 1,
                aggregate: Aggregate::Sum,
                post_transform: PostTransform::None,
                base_values: vec![],
                output: Output::Regressor,
            };
            Forest::compile(&e).unwrap().evaluate(&[f32::NAN], 1, 1).unwrap().0[0]
        };
        for mode in [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt, Mode::Eq, Mode::Member] {
            assert_eq!(one(mode, false), 0.0, "{mode:?}");
            assert_eq!(one(mode, true), 1.0, "{mode:?}");
        }
        assert_eq!(one(Mode::Neq, false), 1.0);
    }

    #[test]
    fn blocks_with_and_without_missing_values_walk_as_the_reference_does() {
        use Child::{Leaf, Split as S};
        // One mode, some splits tracking missing values: the walk reads the bits only for a
        // block (or row) that has a NaN, and must agree with the reference either way.
        let tracked = |feature, threshold, t, f| {
            let mut s = split(feature, Mode::Leq, threshold, t, f);
            s.missing_goes_true = true;
            s
        };
        let splits = vec![
            tracked(0, 0.5, S(1), S(2)),
            split(1, Mode::Leq, -0.5, Leaf(0), Leaf(1)),
            tracked(2, 1.5, Leaf(2), S(3)),
            split(1, Mode::Leq, 0.0, Leaf(3), Leaf(4)),
        ];
        let e = regressor(splits, 5, vec![S(0), S(2)]);
        let forest = Forest::compile(&e).unwrap();
        let value = |i: usize| [-1.0, 0.0, 0.5, 1.0, 2.0][i % 5];
        // 300 rows: the first block of 128 has no NaN, the second one, the third several.
        let mut rows: Vec<f32> = (0..300 * 3).map(|i| value(i * 7 / 3)).collect();
        rows[3 * 200 + 2] = f32::NAN;
        for r in (260..300).step_by(3) {
            rows[3 * r + r % 3] = f32::NAN;
        }
        let (batch, _) = forest.evaluate(&rows, 3, 300).unwrap();
        for (r, row) in rows.chunks(3).enumerate() {
            let want = reference(&e, row)[0];
            assert_eq!(batch[r], want, "row {r} {row:?} in a batch");
            assert_eq!(forest.evaluate(row, 3, 1).unwrap().0[0], want, "row {r} {row:?} alone");
        }
    }

    #[test]
    fn average_and_base_values_and_post_transforms() {
        let mut e = ensemble(Aggregate::Average);
        e.base_values = vec![1.0, 2.0];
        let row = [0.5, 0.5, 3.0];
        let sum = reference(&ensemble(Aggregate::Sum), &row);
        let (got, _) = Forest::compile(&e).unwrap().evaluate(&row, 3, 1).unwrap();
        assert!((got[0] - (sum[0] / 3.0 + 1.0)).abs() < 1e-6 && (got[1] - (sum[1] / 3.0 + 2.0)).abs() < 1e-6);
        e.post_transform = PostTransform::Softmax;
        let (soft, _) = Forest::compile(&e).unwrap().evaluate(&row, 3, 1).unwrap();
        let z = got[0].exp() + got[1].exp();
        assert!((soft[0] - got[0].exp() / z).abs() < 1e-6);
        let mut zero = [0.0f32, 2.0, 0.0];
        transform(&mut zero, PostTransform::SoftmaxZero);
        assert_eq!(zero, [0.0, 1.0, 0.0]);
        assert!((probit(0.975) - 1.95996).abs() < 2e-3, "{}", probit(0.975));
        assert!((sigmoid(-2.0) - 0.119203).abs() < 1e-6);
    }

    #[test]
    fn a_classifier_of_65_classes_whose_leaves_share_their_targets_labels_by_its_hits() {
        // Past 64 classes hits are tracked (no fixed set is worked out), so leaves add through
        // the general path even though they all share their targets.
        let classes = 65;
        let leaf = |best: usize| {
            (0..classes)
                .map(|k| (k, if k == best { 10.0 } else { -(k as f32) }))
                .collect()
        };
        let e = Ensemble {
            splits: vec![split(0, Mode::Leq, 0.5, Child::Leaf(0), Child::Leaf(1))],
            leaves: vec![leaf(7), leaf(40)],
            roots: vec![Child::Split(0)],
            targets: classes,
            aggregate: Aggregate::Sum,
            post_transform: PostTransform::None,
            base_values: vec![],
            output: Output::Classifier,
        };
        let forest = Forest::compile(&e).unwrap();
        assert!(forest.shared_targets.is_none());
        let (batch, labels) = forest.evaluate(&[0.0, 1.0], 1, 2).unwrap();
        assert_eq!(labels, [7, 40]);
        for (r, (x, best)) in [(0.0, 7), (1.0, 40)].into_iter().enumerate() {
            let (scores, label) = forest.evaluate(&[x], 1, 1).unwrap();
            assert_eq!(label, [best]);
            assert_eq!(scores[best], 10.0);
            assert_eq!(&batch[r * classes..(r + 1) * classes], &scores[..]);
        }
    }

    #[test]
    fn binary_classifier_layouts_follow_onnxruntime() {
        use Child::Leaf;
        let classifier = |weights: [f32; 2], post, base: Vec<f32>| {
            let e = Ensemble {
                splits: vec![split(0, Mode::Leq, 0.0, Leaf(0), Leaf(1))],
                leaves: weights.iter().map(|w| vec![(0, *w)]).collect(),
                roots: vec![Child::Split(0)],
                targets: 2,
                aggregate: Aggregate::Sum,
                post_transform: post,
                base_values: base,
                output: Output::Classifier,
            };
            let forest = Forest::compile(&e).unwrap();
            let (a, la) = forest.evaluate(&[-1.0], 1, 1).unwrap();
            let (b, lb) = forest.evaluate(&[1.0], 1, 1).unwrap();
            (a, la[0], b, lb[0])
        };
        // Every weight on class 0, all positive: [1 - s, s], the label by s > 0.5.
        let (a, la, b, lb) = classifier([0.8, 0.3], PostTransform::None, vec![]);
        assert_eq!((a, la), (vec![1.0 - 0.8, 0.8], 1));
        assert_eq!((b, lb), (vec![1.0 - 0.3, 0.3], 0));
        // Mixed signs with a logistic: [sigmoid(-s), sigmoid(s)], the base value added first.
        let (a, la, _, _) = classifier([2.0, -1.0], PostTransform::Logistic, vec![0.5]);
        assert!(
            (a[0] - sigmoid(-2.5)).abs() < 1e-6 && (a[1] - sigmoid(2.5)).abs() < 1e-6,
            "{a:?}"
        );
        assert_eq!(la, 1);
    }

    #[test]
    fn malformed_ensembles_are_refused_with_a_reason() {
        use Child::{Leaf, Split as S};
        let mut e = ensemble(Aggregate::Sum);
        e.splits[6].if_false = S(5);
        assert!(Forest::compile(&e).unwrap_err().0.contains("cycle"));
        let mut e = ensemble(Aggregate::Sum);
        e.splits[0].if_true = Leaf(99);
        assert!(Forest::compile(&e).unwrap_err().0.contains("leaf 99"));
        let mut e = ensemble(Aggregate::Sum);
        e.leaves[0].push((5, 1.0));
        assert!(Forest::compile(&e).unwrap_err().0.contains("target 5"));
        let forest = Forest::compile(&ensemble(Aggregate::Sum)).unwrap();
        assert!(
            forest.evaluate(&[0.0, 1.0], 2, 1).is_err(),
            "rows narrower than the features read"
        );
    }

    /// A small deterministic generator (xorshift), for random ensembles.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn value(&mut self) -> f64 {
            [f64::NAN, -1.5, 0.0, 0.1, 1.0, 2.0, 3.0][self.below(7)] + f64::from(self.below(4) as u32) / 3.0
        }
    }

    /// A random ensemble: unbalanced trees or, with `levelled`, trees whose levels split alike
    /// (each with a leaf or two above the last level); one mode or all of them.
    fn random_ensemble(random: &mut Random, levelled: bool, targets: usize, most_trees: usize) -> Ensemble {
        let one_mode = random.below(2) == 0;
        let mode = MODES[random.below(4)];
        let single = random.below(2) == 0;
        // Or every leaf adds to the same targets in the same order.
        let pattern: Option<Vec<usize>> = (!single && random.below(2) == 0)
            .then(|| (0..1 + random.below(3)).map(|_| random.below(targets)).collect());
        let mut e = Ensemble {
            splits: vec![],
            leaves: vec![],
            roots: vec![],
            targets,
            aggregate: [Aggregate::Sum, Aggregate::Average, Aggregate::Min, Aggregate::Max][random.below(4)],
            post_transform: PostTransform::None,
            base_values: vec![],
            output: Output::Regressor,
        };
        let mut new_split = |random: &mut Random| {
            let mut s = split(
                random.below(4),
                if one_mode { mode } else { MODES[random.below(7)] },
                random.value(),
                Child::Leaf(0),
                Child::Leaf(0),
            );
            s.members = vec![random.value(), random.value()];
            s.missing_goes_true = random.below(3) == 0;
            s
        };
        let mut new_leaf = |e: &mut Ensemble, random: &mut Random| {
            let entries = if single { 1 } else { random.below(3) };
            let targets: Vec<usize> = match &pattern {
                Some(pattern) => pattern.clone(),
                None => (0..entries).map(|_| random.below(targets)).collect(),
            };
            let leaf = targets
                .into_iter()
                .map(|t| (t, random.value().max(-9.0) as f32 * 1.37))
                .map(|(t, w)| (t, if w.is_nan() { 0.5 } else { w }))
                .collect();
            e.leaves.push(leaf);
            Child::Leaf(e.leaves.len() - 1)
        };
        for _ in 0..1 + random.below(most_trees) {
            let depth = random.below(8);
            let level_splits: Vec<Split> = (0..depth).map(|_| new_split(random)).collect();
            // Builds the subtree at `level`, children before parents.
            fn build(
                e: &mut Ensemble,
                random: &mut Random,
                level: usize,
                depth: usize,
                level_splits: &[Split],
                new_split: &mut dyn FnMut(&mut Random) -> Split,
                new_leaf: &mut dyn FnMut(&mut Ensemble, &mut Random) -> Child,
            ) -> Child {
                if level == depth || random.below(8) == 0 {
                    return new_leaf(e, random);
                }
                let mut s = if level_splits.is_empty() {
                    new_split(random)
                } else {
                    level_splits[level].clone()
                };
                s.if_true = build(e, random, level + 1, depth, level_splits, new_split, new_leaf);
                s.if_false = build(e, random, level + 1, depth, level_splits, new_split, new_leaf);
                e.splits.push(s);
                Child::Split(e.splits.len() - 1)
            }
            let shared = if levelled { level_splits } else { vec![] };
            let root = build(&mut e, random, 0, depth, &shared, &mut new_split, &mut new_leaf);
            e.roots.push(root);
        }
        e
    }

    #[test]
    fn random_ensembles_walk_as_the_reference_does_alone_and_in_batches() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let (mut levelled_seen, mut masked_seen, mut shared_seen) = (0, 0, 0);
        for case in 0..120 {
            let levelled = case % 3 == 0;
            let targets = 1 + random.below(4);
            let mut e = random_ensemble(&mut random, levelled, targets, 40);
            let forest = Forest::compile(&e).unwrap();
            levelled_seen += usize::from(!forest.level_trees.is_empty());
            masked_seen += usize::from(forest.masks.is_some());
            shared_seen += usize::from(forest.shared_targets.is_some());
            // Enough rows for several blocks.
            let n = 300 + random.below(700);
            let rows: Vec<f32> = (0..n * 4).map(|_| random.value() as f32).collect();
            let (batch, _) = forest.evaluate(&rows, 4, n).unwrap();
            for (r, row) in rows.chunks(4).enumerate() {
                let want = finalized(&e, row);
                let (one, _) = forest.evaluate(row, 4, 1).unwrap();
                assert_close(&one, &want, &format!("case {case} row {row:?} alone"));
                assert_eq!(
                    &batch[r * targets..(r + 1) * targets],
                    &one[..],
                    "case {case} row {r} in a batch"
                );
            }
            // As a classifier over 3 classes or more: the label is the best of the classes some
            // leaf added to.
            if targets >= 3 {
                e.output = Output::Classifier;
                let forest = Forest::compile(&e).unwrap();
                shared_seen += usize::from(forest.shared_targets.is_some());
                e.aggregate = Aggregate::Sum;
                let (batch, labels) = forest.evaluate(&rows, 4, n).unwrap();
                for (r, row) in rows.chunks(4).enumerate() {
                    let sums = reference(&e, row);
                    let mut label = None::<usize>;
                    for (k, s) in sums.iter().enumerate() {
                        if !s.is_nan() && label.is_none_or(|best| *s > sums[best]) {
                            label = Some(k);
                        }
                    }
                    let want: Vec<f32> = sums.iter().map(|v| if v.is_nan() { 0.0 } else { *v }).collect();
                    let (one, one_label) = forest.evaluate(row, 4, 1).unwrap();
                    assert_close(&one, &want, &format!("case {case} row {row:?}"));
                    // The best class, or one within the sums' rounding of it.
                    let (got, best) = (one_label[0], label.unwrap_or(0));
                    assert!(
                        got == best
                            || (!sums[got].is_nan()
                                && (sums[got] - sums[best]).abs() <= 1e-5 * (1.0 + sums[best].abs())),
                        "case {case} row {row:?}: label {got}, want {best} ({sums:?})"
                    );
                    assert_eq!(
                        (&batch[r * targets..(r + 1) * targets], labels[r]),
                        (&one[..], one_label[0]),
                        "case {case} row {r} in a batch"
                    );
                }
            }
        }
        assert!(levelled_seen >= 20, "{levelled_seen} levelled forests");
        assert!(masked_seen >= 5, "{masked_seen} forests by leaf masks");
        assert!(
            shared_seen >= 5,
            "{shared_seen} forests whose leaves share their targets"
        );
    }

    #[test]
    fn forests_of_several_windows_and_rows_wider_than_the_forest_score_alone_as_in_batches() {
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        let (mut windows_seen, mut gathered_seen, mut transposed_seen, mut masked_classes_seen) = (0, 0, 0, 0);
        for case in 0..36 {
            let levelled = case % 3 == 0;
            let targets = 1 + random.below(4);
            // Every other forest of a few trees, whose levels are fewer than some rows' values.
            let most_trees = if case % 2 == 0 { 3 * TREE_WINDOW } else { 3 };
            let mut e = random_ensemble(&mut random, levelled, targets, most_trees);
            // Rows of 4 to 63 values, past the 4 features the splits read.
            let width = 4 + random.below(60);
            let n = 150 + random.below(300);
            let rows: Vec<f32> = (0..n * width).map(|_| random.value() as f32).collect();
            for classifier in [false, true] {
                if classifier {
                    if targets < 2 {
                        continue;
                    }
                    e.output = Output::Classifier;
                    e.aggregate = Aggregate::Sum;
                }
                let forest = Forest::compile(&e).unwrap();
                windows_seen += usize::from(forest.trees() > TREE_WINDOW);
                if !forest.level_trees.is_empty() {
                    gathered_seen += usize::from(width > forest.levels.len());
                    transposed_seen += usize::from(width <= forest.levels.len());
                }
                masked_classes_seen +=
                    usize::from(classifier && forest.masks.is_some() && forest.inline_leaves && targets >= 3);
                let (batch, labels) = forest.evaluate(&rows, width, n).unwrap();
                for (r, row) in rows.chunks(width).enumerate() {
                    let (one, one_label) = forest.evaluate(row, width, 1).unwrap();
                    if !classifier {
                        // Up to 360 trees summed in another order than the reference's: the
                        // roundings grow with the trees, 1e-5 of `1 + |want|` per 40 of them.
                        let want = finalized(&e, row);
                        let tolerance = 1e-5 * forest.trees().div_ceil(40) as f32;
                        assert!(
                            one.iter().zip(&want).all(
                                |(g, w)| g.to_bits() == w.to_bits() || (g - w).abs() <= tolerance * (1.0 + w.abs())
                            ),
                            "case {case} row {r} alone: {one:?}, want {want:?}"
                        );
                    }
                    assert_eq!(
                        (&batch[r * targets..(r + 1) * targets], labels[r]),
                        (&one[..], one_label[0]),
                        "case {case} ({}) row {r} in a batch",
                        if classifier { "classifier" } else { "regressor" }
                    );
                }
            }
        }
        assert!(windows_seen >= 10, "{windows_seen} forests of several windows");
        assert!(
            gathered_seen >= 2,
            "{gathered_seen} level forests whose rows are gathered"
        );
        assert!(
            transposed_seen >= 2,
            "{transposed_seen} level forests whose rows are transposed"
        );
        assert!(
            masked_classes_seen >= 1,
            "{masked_classes_seen} classifiers by leaf masks"
        );
    }

    /// One tree of `leaves` leaves in a chain: split `i` sends `x0 <= i` to leaf `i`, the others
    /// on; missing values go to the first leaf when tracked.
    fn chain(leaves: usize, missing_goes_true: bool) -> Ensemble {
        let splits = (0..leaves - 1)
            .map(|i| {
                let next = if i + 2 == leaves {
                    Child::Leaf(i + 1)
                } else {
                    Child::Split(i + 1)
                };
                let mut s = split(0, Mode::Leq, i as f64, Child::Leaf(i), next);
                s.missing_goes_true = missing_goes_true && i == 0;
                s
            })
            .collect::<Vec<_>>();
        let root = if splits.is_empty() {
            Child::Leaf(0)
        } else {
            Child::Split(0)
        };
        regressor(splits, leaves, vec![root])
    }

    #[test]
    fn trees_of_up_to_32_leaves_go_by_leaf_masks_and_score_as_walks_do() {
        // Chains of up to 10 splits are level trees (one split a level), evaluated as such.
        for (leaves, masked) in [(2, false), (12, true), (32, true), (33, false)] {
            for tracked in [false, true] {
                let e = chain(leaves, tracked);
                let forest = Forest::compile(&e).unwrap();
                assert_eq!(forest.masks.is_some(), masked, "{leaves} leaves");
                let values: Vec<f32> = (-2..2 * leaves as i32 + 4)
                    .map(|h| h as f32 / 2.0)
                    .chain([f32::NAN])
                    .collect();
                for n in [2, 17, 300] {
                    let rows: Vec<f32> = (0..n).map(|r| values[r * 7 % values.len()]).collect();
                    let (batch, _) = forest.evaluate(&rows, 1, n).unwrap();
                    for (r, x) in rows.iter().enumerate() {
                        let want = reference(&e, &[*x])[0];
                        assert_eq!(batch[r], want, "{leaves} leaves, x = {x}, {n} rows");
                        assert_eq!(
                            forest.evaluate(&[*x], 1, 1).unwrap().0[0],
                            want,
                            "{leaves} leaves, x = {x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_tree_100_000_splits_deep_compiles_and_walks() {
        // Laying out leaf masks gives up at the 32nd split, not after walking the whole chain.
        let e = chain(100_001, false);
        let forest = Forest::compile(&e).unwrap();
        assert!(!forest.batches_by_leaf_masks());
        let rows = [-1.0, 0.5, 70_000.2, 200_000.0];
        let (batch, _) = forest.evaluate(&rows, 1, 4).unwrap();
        for (x, got) in rows.iter().zip(batch) {
            assert_eq!(got, reference(&e, &[*x])[0], "x = {x}");
        }
    }

    #[test]
    fn every_comparison_by_leaf_masks_holds_at_the_edges() {
        use Child::{Leaf, Split as S};
        let values = [
            f32::NAN,
            f32::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            1e-45,
            0.5,
            1.0,
            f32::INFINITY,
        ];
        for mode in [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt] {
            for t in values.iter().map(|v| f64::from(*v)).chain([0.1]) {
                for tracked in [false, true] {
                    // Feature 1 picks one of two different subtrees (not a level tree).
                    let mut edge = split(0, mode, t, Leaf(0), Leaf(1));
                    edge.missing_goes_true = tracked;
                    let splits = vec![
                        split(1, mode, 0.0, S(1), S(2)),
                        edge,
                        split(0, Mode::Leq, 100.0, Leaf(2), Leaf(3)),
                    ];
                    let e = regressor(splits, 4, vec![S(0)]);
                    let forest = Forest::compile(&e).unwrap();
                    assert!(forest.masks.is_some());
                    let rows: Vec<f32> = values.iter().flat_map(|x| values.map(|y| [*x, y])).flatten().collect();
                    let n = rows.len() / 2;
                    let (batch, _) = forest.evaluate(&rows, 2, n).unwrap();
                    for (r, row) in rows.chunks(2).enumerate() {
                        assert_eq!(batch[r], reference(&e, row)[0], "{mode:?} {t} {tracked} {row:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn random_forests_by_leaf_masks_score_as_the_reference_does() {
        let mut random = Random(0x6a09_e667_f3bc_c908);
        let mut masked = 0;
        while masked < 40 {
            let targets = 1 + random.below(3);
            let mut e = random_ensemble(&mut random, false, targets, 40);
            let mode = MODES[random.below(4)];
            e.splits.iter_mut().for_each(|s| s.mode = mode);
            let forest = Forest::compile(&e).unwrap();
            if forest.masks.is_none() {
                continue;
            }
            masked += 1;
            let n = 2 + random.below(400);
            let rows: Vec<f32> = (0..n * 4).map(|_| random.value() as f32).collect();
            let (batch, _) = forest.evaluate(&rows, 4, n).unwrap();
            for (r, row) in rows.chunks(4).enumerate() {
                let want = finalized(&e, row);
                let got = &batch[r * targets..(r + 1) * targets];
                assert_close(got, &want, &format!("forest {masked} row {r}"));
                let (one, _) = forest.evaluate(row, 4, 1).unwrap();
                assert_eq!(got, &one[..], "forest {masked} row {r} alone");
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn a_batch_shared_between_threads_scores_as_its_rows_alone() {
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut cases = 0;
        while cases < 6 {
            let levelled = cases % 2 == 0;
            let mut e = random_ensemble(&mut random, levelled, 3, 40);
            if cases >= 3 {
                e.output = Output::Classifier;
                e.aggregate = Aggregate::Sum;
            }
            let forest = Forest::compile(&e).unwrap();
            if forest.steps_per_row < 100 {
                continue;
            }
            let n = 2 * STEPS_PER_THREAD / forest.steps_per_row + LANES;
            assert_eq!(forest.batch_threads(n) >= 2, cores >= 2, "case {cases}");
            let rows: Vec<f32> = (0..n * 4).map(|_| random.value() as f32).collect();
            let (batch, labels) = forest.evaluate(&rows, 4, n).unwrap();
            for (r, row) in rows.chunks(4).enumerate() {
                let (one, one_label) = forest.evaluate(row, 4, 1).unwrap();
                assert_eq!(
                    (&batch[r * 3..(r + 1) * 3], labels[r]),
                    (&one[..], one_label[0]),
                    "case {cases} row {r}"
                );
            }
            cases += 1;
        }
    }
}
