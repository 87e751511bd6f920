//! Batches through small trees by leaf masks (QuickScorer, Lucchese et al., SIGIR'15): each of a
//! tree's at most 32 leaves is a bit, and each split, whichever way a row goes, clears the bits
//! of the leaves on the other side. After every split of the tree has been applied, the one bit
//! left is the row's leaf. There is no walk: every split is looked at, but the comparisons do not
//! wait on each other, and 4 rows go through one in a vector (the rows of a block are first laid
//! out feature by feature). For trees of 8 to 31 leaves (LightGBM's default is 31), that costs
//! less than walks whose lanes wait for the deepest path among their rows.
//!
//! Every split becomes an `x <= t` (with its own missing-value bit): `x < t` is `x <= t'` for
//! the float `t'` just below `t`, and `x > t`, `x >= t` are the negations of those with the
//! branches swapped and the missing-value bit flipped (a NaN compares false either way, so it
//! still goes to the split's own false branch unless the split sends it to its true one).

use super::quads::{self, quad, Quad};
use super::{Forest, Node, FEATURE_MASK, GT, GTE, LEQ, LT, MISSING_TRUE, MODE_SHIFT, PARTIALS};

/// Leaves a tree may have (one bit each in a `u32`).
const MAX_LEAVES: usize = 32;
/// Rows whose masks are kept together while a tree's splits are applied.
const CHUNK: usize = 16;
/// A split's bit, in [`MaskSplit::column`], when missing values take its true branch.
const COLUMN_MISSING_TRUE: u32 = 1 << 31;

/// One split of a mask tree.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MaskSplit {
    /// Where the feature compared is among [`MaskForest::columns`], and [`COLUMN_MISSING_TRUE`].
    column: u32,
    threshold: f32,
    /// The leaves kept `[if the row goes false, if it goes true]`.
    keep: [u32; 2],
}

/// One tree: its splits and its leaves, from these indices.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MaskTree {
    first_split: u32,
    splits: u32,
    first_leaf: u32,
    leaves: u32,
}

/// A forest laid out for leaf masks; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MaskForest {
    trees: Vec<MaskTree>,
    splits: Vec<MaskSplit>,
    /// Per tree, its leaf nodes by bit.
    leaves: Vec<u32>,
    /// The features some split reads, in the order a block is laid out.
    columns: Vec<u32>,
    /// Some split sends missing values to its true branch.
    tracks_missing: bool,
}

impl MaskForest {
    /// Lays out `roots`' trees, when every split compares with `<=`, `<`, `>=` or `>` and no tree
    /// has more than 32 leaves.
    pub(super) fn new(nodes: &[Node], first_leaf: u32, roots: &[u32]) -> Option<MaskForest> {
        // Every feature a split reads, in order, and the column of each: a block is laid out
        // feature by feature in them.
        let splits = nodes.get(..first_leaf as usize)?;
        let features = splits
            .iter()
            .map(|n| n.bits & FEATURE_MASK)
            .max()
            .map_or(0, |f| f as usize + 1);
        // A table by feature number, unless the numbers run far past the splits (a model reading
        // feature 16 million): the walks then, rather than a table of that size.
        if features > 64 * splits.len() + 4096 {
            return None;
        }
        let mut column_of = vec![u32::MAX; features];
        for node in splits {
            if let Some(column) = column_of.get_mut((node.bits & FEATURE_MASK) as usize) {
                *column = 0;
            }
        }
        let mut columns = Vec::new();
        for (feature, column) in column_of.iter_mut().enumerate() {
            if *column == 0 {
                *column = columns.len() as u32;
                columns.push(feature as u32);
            }
        }
        let mut forest = MaskForest {
            trees: Vec::with_capacity(roots.len()),
            splits: Vec::new(),
            leaves: Vec::new(),
            columns,
            tracks_missing: false,
        };
        for &root in roots {
            let (first_split, first_leaf_bit) = (forest.splits.len(), forest.leaves.len());
            // Depth first, false branch first: the leaves below a split are consecutive bits.
            // (node, index of the split that is its parent and whether it is the true branch).
            let mut stack = vec![(root, None::<(usize, bool)>)];
            // Per split of this tree: the bits of the leaves below its false and true branches.
            let mut below: Vec<[u32; 2]> = Vec::new();
            // Per split of this tree: whether its comparison is the negation of the node's.
            let mut negations: Vec<bool> = Vec::new();
            let mut parents: Vec<Option<(usize, bool)>> = Vec::new();
            while let Some((at, parent)) = stack.pop() {
                let bits = if at >= first_leaf {
                    let bit = forest.leaves.len() - first_leaf_bit;
                    if bit >= MAX_LEAVES {
                        return None;
                    }
                    forest.leaves.push(at);
                    1u32 << bit
                } else {
                    // A tree of at most 32 leaves has at most 31 splits.
                    if below.len() >= MAX_LEAVES - 1 {
                        return None;
                    }
                    let node = nodes.get(at as usize)?;
                    let column = *column_of.get((node.bits & FEATURE_MASK) as usize)?;
                    let missing_true = node.bits & MISSING_TRUE != 0;
                    let (threshold, negated) = match (node.bits >> MODE_SHIFT) & 7 {
                        LEQ => (node.threshold, false),
                        LT => (just_below(node.threshold), false),
                        GT => (node.threshold, true),
                        GTE => (just_below(node.threshold), true),
                        _ => return None,
                    };
                    // No comparison with NaN holds, so its negation always does.
                    let threshold = if negated && node.threshold.is_nan() {
                        f32::INFINITY
                    } else {
                        threshold
                    };
                    let missing = if missing_true != negated {
                        COLUMN_MISSING_TRUE
                    } else {
                        0
                    };
                    forest.tracks_missing |= missing != 0;
                    let me = forest.splits.len() - first_split;
                    forest.splits.push(MaskSplit {
                        column: column | missing,
                        threshold,
                        keep: [0, 0],
                    });
                    below.push([0, 0]);
                    negations.push(negated);
                    parents.push(parent);
                    stack.push((node.children[1], Some((me, true))));
                    stack.push((node.children[0], Some((me, false))));
                    0
                };
                // A leaf's bit belongs to every split above it, on the side it is on. (At most
                // 32 leaves each walk up at most 31 splits: no deep tree makes this quadratic.)
                let mut up = parent.filter(|_| bits != 0);
                while let Some((split, side)) = up {
                    below[split][usize::from(side)] |= bits;
                    up = parents[split];
                }
            }
            let leaves = (forest.leaves.len() - first_leaf_bit) as u32;
            let all = every_leaf(leaves as usize);
            let splits = forest.splits.iter_mut().skip(first_split);
            for ((split, [if_false, if_true]), negated) in splits.zip(below).zip(negations) {
                let keep = [all & !if_true, all & !if_false];
                split.keep = if negated { [keep[1], keep[0]] } else { keep };
            }
            forest.trees.push(MaskTree {
                first_split: first_split as u32,
                splits: (forest.splits.len() - first_split) as u32,
                first_leaf: first_leaf_bit as u32,
                leaves,
            });
        }
        Some(forest)
    }

    /// Adds every tree's leaves for the rows of `block` (`leaves.len()` rows of `width` values) to
    /// their scores, tree by tree.
    pub(super) fn score_block(
        &self,
        forest: &Forest,
        block: &[f32],
        width: usize,
        leaves: &mut [u32],
        scores: &mut [f32],
        hits: &mut [bool],
    ) {
        let rows = leaves.len();
        // Quads per feature: rows past the block's end read zeros and are not used.
        let stride = rows.next_multiple_of(CHUNK) / 4;
        let mut columns = vec![quad([0.0; 4]); self.columns.len() * stride];
        let mut missing = false;
        for (column, &feature) in columns.chunks_exact_mut(stride).zip(&self.columns) {
            for (at, rows) in column.iter_mut().zip(block.chunks(4 * width)) {
                let mut values = [0.0f32; 4];
                for (value, row) in values.iter_mut().zip(rows.chunks_exact(width)) {
                    *value = row.get(feature as usize).copied().unwrap_or(f32::NAN);
                    missing |= value.is_nan();
                }
                *at = quad(values);
            }
        }
        if missing && self.tracks_missing {
            self.score_columns::<true>(forest, &columns, stride, leaves, scores, hits);
        } else {
            self.score_columns::<false>(forest, &columns, stride, leaves, scores, hits);
        }
    }

    /// [`MaskForest::score_block`] once the block is laid out by feature, `stride` quads each;
    /// `TRACK`: whether the splits' missing-value bits must be read.
    fn score_columns<const TRACK: bool>(
        &self,
        forest: &Forest,
        columns: &[Quad],
        stride: usize,
        leaves: &mut [u32],
        scores: &mut [f32],
        hits: &mut [bool],
    ) {
        for (t, tree) in self.trees.iter().enumerate() {
            let (first, count) = (tree.first_split as usize, tree.splits as usize);
            let splits = self.splits.get(first..first + count).unwrap_or_default();
            let (first, count) = (tree.first_leaf as usize, tree.leaves as usize);
            let tree_leaves = self.leaves.get(first..first + count).unwrap_or_default();
            let all = every_leaf(count);
            if forest.sole_target.is_some() {
                // Each row's leaf weight straight into its sum: no leaf nodes to look up per row.
                let mut weights = [0.0; MAX_LEAVES];
                for (w, &leaf) in weights.iter_mut().zip(tree_leaves) {
                    *w = forest.inline_weight(leaf);
                }
                let p = t % PARTIALS;
                for (c, sums) in scores.chunks_mut(CHUNK * PARTIALS).enumerate() {
                    let masks = chunk_masks::<TRACK>(splits, columns, stride, c * CHUNK / 4, all);
                    for (sums, mask) in sums.chunks_exact_mut(PARTIALS).zip(masks) {
                        if let Some(sum) = sums.get_mut(p) {
                            *sum += weights[mask.trailing_zeros() as usize % MAX_LEAVES];
                        }
                    }
                }
                continue;
            }
            if forest.inline_leaves {
                // The same for leaves that each add one weight to their own target; a loop apart
                // from the one above, which with this one's table of targets ran 40-50% slower.
                let mut table = [None; MAX_LEAVES];
                for (entry, &leaf) in table.iter_mut().zip(tree_leaves) {
                    *entry = forest.inline_leaf(leaf);
                }
                let n = forest.targets;
                for (c, out) in leaves.chunks(CHUNK).enumerate() {
                    let masks = chunk_masks::<TRACK>(splits, columns, stride, c * CHUNK / 4, all);
                    for (k, mask) in masks.iter().enumerate().take(out.len()) {
                        let Some((target, weight)) = table[mask.trailing_zeros() as usize % MAX_LEAVES] else {
                            continue;
                        };
                        let at = (c * CHUNK + k) * n + target;
                        if let Some(s) = scores.get_mut(at) {
                            *s += weight;
                        }
                        if let Some(h) = hits.get_mut(at) {
                            *h = true;
                        }
                    }
                }
                continue;
            }
            for (c, out) in leaves.chunks_mut(CHUNK).enumerate() {
                let masks = chunk_masks::<TRACK>(splits, columns, stride, c * CHUNK / 4, all);
                for (leaf, mask) in out.iter_mut().zip(masks) {
                    let bit = mask.trailing_zeros() as usize;
                    *leaf = tree_leaves.get(bit).copied().unwrap_or(forest.first_leaf);
                }
            }
            forest.add_rows(t, leaves, scores, hits);
        }
    }
}

/// The masks of [`CHUNK`] rows from quad `start` after every split of a tree.
#[inline(always)]
fn chunk_masks<const TRACK: bool>(
    splits: &[MaskSplit],
    columns: &[Quad],
    stride: usize,
    start: usize,
    all: u32,
) -> [u32; CHUNK] {
    let mut masks = [quads::masks(all); CHUNK / 4];
    for split in splits {
        let from = (split.column & !COLUMN_MISSING_TRUE) as usize * stride + start;
        let Some(values) = columns
            .get(from..from + CHUNK / 4)
            .and_then(|v| <&[Quad; CHUNK / 4]>::try_from(v).ok())
        else {
            continue;
        };
        let t = quads::splat(split.threshold);
        let (if_false, if_true) = (quads::masks(split.keep[0]), quads::masks(split.keep[1]));
        if TRACK && split.column & COLUMN_MISSING_TRUE != 0 {
            for (m, &x) in masks.iter_mut().zip(values) {
                *m = quads::keep(*m, if_true, if_false, quads::at_most_or_nan(x, t));
            }
        } else {
            for (m, &x) in masks.iter_mut().zip(values) {
                *m = quads::keep(*m, if_true, if_false, quads::at_most(x, t));
            }
        }
    }
    let mut out = [0; CHUNK];
    for (out, m) in out.chunks_exact_mut(4).zip(masks) {
        out.copy_from_slice(&quads::lanes(m));
    }
    out
}

/// The mask of a tree's `leaves` leaves (1 to 32), every bit set.
fn every_leaf(leaves: usize) -> u32 {
    u32::MAX >> (32 - leaves.clamp(1, MAX_LEAVES))
}

/// The threshold `t'` for which `x <= t'` is `x < t` for every float32 `x`.
fn just_below(t: f32) -> f32 {
    if t == f32::NEG_INFINITY {
        // Nothing is below: NaN compares false.
        return f32::NAN;
    }
    t.next_down()
}
