//! A float product with a constant weight, `y = max?(x · W + b)`, for wasm: the weight is packed
//! once into blocks of 8 columns, and a tile of 4 rows × 8 columns keeps 8 `f32x4` accumulators
//! in registers (tract's wasm tile is 8 × 8, which needs more vector registers than V8 gives on
//! x64, so it spills). Rows left over go 1 × 16 columns at a time. Sums run in depth order.
//! Elsewhere a plain loop computes the same values; it exists for tests.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::*;

use serde::{Deserialize, Serialize};

/// Eight sums (one row's for a block of columns here, one channel's for 8 pixels in
/// [`crate::conv_f32`]): two vectors in wasm, an array elsewhere.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) type Sums = [v128; 2];
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(crate) type Sums = [f32; BLOCK];

/// Columns in a block of the packed weight; also the number of [`Sums`].
pub(crate) const BLOCK: usize = 8;
/// Rows computed together.
const TILE_ROWS: usize = 4;

/// A float weight `[k, m]` as it is stored: unpacked, so that the kernel's layout is not part of
/// any file format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseWeight {
    /// Depth: values per input row.
    pub k: usize,
    /// Outputs per row.
    pub m: usize,
    /// Row-major `[k, m]`.
    pub weight: Vec<f32>,
    /// `m` biases, or none.
    pub bias: Vec<f32>,
    /// Whether a Relu follows.
    pub relu: bool,
}

impl TryFrom<DenseWeight> for PackedF32 {
    type Error = String;

    fn try_from(w: DenseWeight) -> Result<PackedF32, String> {
        if w.k == 0
            || w.m == 0
            || w.k.checked_mul(w.m) != Some(w.weight.len())
            || !(w.bias.is_empty() || w.bias.len() == w.m)
        {
            return Err(format!(
                "a {}x{} weight with {} values and {} biases",
                w.k,
                w.m,
                w.weight.len(),
                w.bias.len()
            ));
        }
        Ok(PackedF32::new(&w.weight, w.k, w.m, &w.bias, w.relu))
    }
}

impl From<PackedF32> for DenseWeight {
    fn from(packed: PackedF32) -> DenseWeight {
        let (k, m) = (packed.k, packed.m);
        let at = |block: usize, d: usize, j: usize| packed.blocks.get(block * k + d).map_or(0.0, |b| b[j]);
        DenseWeight {
            k,
            m,
            weight: (0..k * m).map(|i| at(i % m / BLOCK, i / m, i % m % BLOCK)).collect(),
            bias: (0..m)
                .map(|c| packed.bias.get(c / BLOCK).map_or(0.0, |b| b[c % BLOCK]))
                .collect(),
            relu: packed.relu,
        }
    }
}

/// A float weight `[k, m]` packed for the kernel, with its bias and whether a Relu follows.
/// Stored as its [`DenseWeight`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DenseWeight", into = "DenseWeight")]
pub struct PackedF32 {
    k: usize,
    m: usize,
    /// For each block of [`BLOCK`] columns, for each depth, the block's 8 weights (zero past `m`).
    blocks: Vec<[f32; BLOCK]>,
    /// Per block, zero past `m`.
    bias: Vec<[f32; BLOCK]>,
    relu: bool,
}

impl PackedF32 {
    /// Packs a row-major weight `[k, m]`, its `m` biases (empty: none), and whether a Relu follows.
    pub fn new(weight: &[f32], k: usize, m: usize, bias: &[f32], relu: bool) -> PackedF32 {
        let blocks_count = m.div_ceil(BLOCK);
        let at = |d: usize, c: usize| {
            if c < m {
                weight.get(d * m + c).copied().unwrap_or(0.0)
            } else {
                0.0
            }
        };
        let mut blocks = Vec::with_capacity(blocks_count * k);
        for block in 0..blocks_count {
            for d in 0..k {
                blocks.push(std::array::from_fn(|j| at(d, block * BLOCK + j)));
            }
        }
        let bias = (0..blocks_count)
            .map(|block| std::array::from_fn(|j| bias.get(block * BLOCK + j).copied().unwrap_or(0.0)))
            .collect();
        PackedF32 {
            k,
            m,
            blocks,
            bias,
            relu,
        }
    }

    /// Depth: values per input row.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Outputs per row.
    pub fn m(&self) -> usize {
        self.m
    }

    /// `rows` rows of `k` values in `x` times the weight: `rows * m` outputs.
    pub fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.apply_into(x, rows, &mut out);
        out
    }

    /// [`PackedF32::apply`] into `out`, whose allocation is reused from one call to the next.
    pub fn apply_into(&self, x: &[f32], rows: usize, out: &mut Vec<f32>) {
        let (k, m) = (self.k, self.m);
        out.clear();
        out.resize(rows * m, 0.0);
        let out = out.as_mut_slice();
        let tiled = rows / TILE_ROWS * TILE_ROWS;
        for r in (0..tiled).step_by(TILE_ROWS) {
            let x = x.get(r * k..(r + TILE_ROWS) * k).unwrap_or_default();
            for block in 0..self.bias.len() {
                for (i, sums) in self.tile(x, block).into_iter().enumerate() {
                    self.store_sums(out, r + i, block, sums);
                }
            }
        }
        for r in tiled..rows {
            let x = x.get(r * k..(r + 1) * k).unwrap_or_default();
            let mut block = 0;
            while block < self.bias.len() {
                let [first, second] = self.row_blocks(x, block);
                self.store_sums(out, r, block, first);
                if block + 1 < self.bias.len() {
                    self.store_sums(out, r, block + 1, second);
                }
                block += 2;
            }
        }
    }

    /// Writes one row's sums of one block (the columns before `m`) through the bias and the Relu.
    #[inline(always)]
    fn store_sums(&self, out: &mut [f32], row: usize, block: usize, sums: Sums) {
        let (m, first) = (self.m, block * BLOCK);
        let end = row * m + m.min(first + BLOCK);
        let bias = self.bias.get(block).copied().unwrap_or([0.0; BLOCK]);
        store_block(
            out.get_mut(row * m + first..end).unwrap_or_default(),
            sums,
            &bias,
            self.relu,
        );
    }

    fn weights(&self, block: usize) -> &[[f32; BLOCK]] {
        self.blocks
            .get(block * self.k..(block + 1) * self.k)
            .unwrap_or_default()
    }

    /// The sums of 4 rows (`x` holds them one after the other) for one block of columns.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn tile(&self, x: &[f32], block: usize) -> [Sums; TILE_ROWS] {
        let k = self.k;
        let (x0, rest) = x.split_at(k.min(x.len()));
        let (x1, rest) = rest.split_at(k.min(rest.len()));
        let (x2, x3) = rest.split_at(k.min(rest.len()));
        let zero = f32x4_splat(0.0);
        let mut acc = [[zero; 2]; TILE_ROWS];
        for ((((w, &a), &b), &c), &d) in self.weights(block).iter().zip(x0).zip(x1).zip(x2).zip(x3) {
            let w0 = f32x4(w[0], w[1], w[2], w[3]);
            let w1 = f32x4(w[4], w[5], w[6], w[7]);
            for (acc, v) in acc.iter_mut().zip([a, b, c, d]) {
                let s = f32x4_splat(v);
                acc[0] = f32x4_add(acc[0], f32x4_mul(s, w0));
                acc[1] = f32x4_add(acc[1], f32x4_mul(s, w1));
            }
        }
        acc
    }

    /// The sums of one row for two blocks of columns (the second zero past the last block).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn row_blocks(&self, x: &[f32], block: usize) -> [Sums; 2] {
        let zero = f32x4_splat(0.0);
        let (mut a0, mut a1, mut b0, mut b1) = (zero, zero, zero, zero);
        let second = self.weights(block + 1);
        if second.is_empty() {
            for (w, &v) in self.weights(block).iter().zip(x) {
                let s = f32x4_splat(v);
                a0 = f32x4_add(a0, f32x4_mul(s, f32x4(w[0], w[1], w[2], w[3])));
                a1 = f32x4_add(a1, f32x4_mul(s, f32x4(w[4], w[5], w[6], w[7])));
            }
        } else {
            for ((w, u), &v) in self.weights(block).iter().zip(second).zip(x) {
                let s = f32x4_splat(v);
                a0 = f32x4_add(a0, f32x4_mul(s, f32x4(w[0], w[1], w[2], w[3])));
                a1 = f32x4_add(a1, f32x4_mul(s, f32x4(w[4], w[5], w[6], w[7])));
                b0 = f32x4_add(b0, f32x4_mul(s, f32x4(u[0], u[1], u[2], u[3])));
                b1 = f32x4_add(b1, f32x4_mul(s, f32x4(u[4], u[5], u[6], u[7])));
            }
        }
        [[a0, a1], [b0, b1]]
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn tile(&self, x: &[f32], block: usize) -> [Sums; TILE_ROWS] {
        std::array::from_fn(|i| self.row_block(x.get(i * self.k..(i + 1) * self.k).unwrap_or_default(), block))
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn row_blocks(&self, x: &[f32], block: usize) -> [Sums; 2] {
        [self.row_block(x, block), self.row_block(x, block + 1)]
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn row_block(&self, x: &[f32], block: usize) -> [f32; BLOCK] {
        let mut sums = [0f32; BLOCK];
        for (w, &v) in self.weights(block).iter().zip(x) {
            for (s, w) in sums.iter_mut().zip(w) {
                *s += v * w;
            }
        }
        sums
    }
}

/// Writes 8 sums, through their biases and, if `relu`, the Relu, into `out` (the first
/// `out.len()` of them, at most 8): as two vector stores when `out` takes all 8.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub(crate) fn store_block(out: &mut [f32], [lo, hi]: Sums, b: &[f32; BLOCK], relu: bool) {
    let (mut lo, mut hi) = (
        f32x4_add(lo, f32x4(b[0], b[1], b[2], b[3])),
        f32x4_add(hi, f32x4(b[4], b[5], b[6], b[7])),
    );
    if relu {
        // pmax(v, 0) is `v < 0 ? 0 : v`: a NaN stays NaN, as in the scalar path.
        let zero = f32x4_splat(0.0);
        lo = f32x4_pmax(lo, zero);
        hi = f32x4_pmax(hi, zero);
    }
    if let [y0, y1, y2, y3, y4, y5, y6, y7] = out {
        *y0 = f32x4_extract_lane::<0>(lo);
        *y1 = f32x4_extract_lane::<1>(lo);
        *y2 = f32x4_extract_lane::<2>(lo);
        *y3 = f32x4_extract_lane::<3>(lo);
        *y4 = f32x4_extract_lane::<0>(hi);
        *y5 = f32x4_extract_lane::<1>(hi);
        *y6 = f32x4_extract_lane::<2>(hi);
        *y7 = f32x4_extract_lane::<3>(hi);
        return;
    }
    let values = [
        f32x4_extract_lane::<0>(lo),
        f32x4_extract_lane::<1>(lo),
        f32x4_extract_lane::<2>(lo),
        f32x4_extract_lane::<3>(lo),
        f32x4_extract_lane::<0>(hi),
        f32x4_extract_lane::<1>(hi),
        f32x4_extract_lane::<2>(hi),
        f32x4_extract_lane::<3>(hi),
    ];
    for (y, v) in out.iter_mut().zip(values) {
        *y = v;
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(crate) fn store_block(out: &mut [f32], sums: Sums, bias: &[f32; BLOCK], relu: bool) {
    for ((y, s), b) in out.iter_mut().zip(sums).zip(bias) {
        let v = s + b;
        *y = if relu && v < 0.0 { 0.0 } else { v };
    }
}

#[cfg(test)]
mod tests {
    use super::{DenseWeight, PackedF32};

    #[test]
    fn a_packed_weight_unpacks_to_what_it_was_made_of() {
        for (k, m) in [(1, 1), (3, 5), (7, 17), (16, 8)] {
            let stored = DenseWeight {
                k,
                m,
                weight: (0..k * m).map(|i| i as f32 - 3.5).collect(),
                bias: (0..m).map(|c| c as f32 * 0.25).collect(),
                relu: m % 2 == 0,
            };
            let packed = PackedF32::try_from(stored.clone()).unwrap();
            assert_eq!(DenseWeight::from(packed), stored);
        }
        let short = DenseWeight {
            k: 2,
            m: 2,
            weight: vec![1.0; 3],
            bias: vec![],
            relu: false,
        };
        assert!(PackedF32::try_from(short).is_err());
        let empty = DenseWeight {
            k: 0,
            m: usize::MAX,
            weight: vec![],
            bias: vec![],
            relu: false,
        };
        assert!(PackedF32::try_from(empty).is_err());
    }

    /// `x · W + b` in f64, then the Relu.
    fn reference(x: &[f32], w: &[f32], b: &[f32], k: usize, m: usize, relu: bool) -> Vec<f32> {
        let rows = x.len() / k;
        let mut out = vec![];
        for r in 0..rows {
            for c in 0..m {
                let mut s = f64::from(b.get(c).copied().unwrap_or(0.0));
                for d in 0..k {
                    s += f64::from(x[r * k + d]) * f64::from(w[d * m + c]);
                }
                let v = s as f32;
                out.push(if relu && v < 0.0 { 0.0 } else { v });
            }
        }
        out
    }

    #[test]
    fn every_shape_of_rows_and_columns_matches_the_product() {
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 25.0;
        for (k, m, rows, relu, biased) in [
            (1, 1, 1, false, true),
            (3, 5, 2, true, true),
            (64, 256, 9, true, true),
            (7, 17, 4, false, false),
            (16, 8, 5, true, true),
            (5, 24, 1, false, true),
        ] {
            let w: Vec<f32> = (0..k * m).map(value).collect();
            let b: Vec<f32> = if biased {
                (0..m).map(|i| value(i + 3)).collect()
            } else {
                vec![]
            };
            let x: Vec<f32> = (0..rows * k).map(|i| value(i + 11)).collect();
            let got = PackedF32::new(&w, k, m, &b, relu).apply(&x, rows);
            let want = reference(&x, &w, &b, k, m, relu);
            assert_eq!(got.len(), want.len());
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-5 * (1.0 + e.abs() * k as f32),
                    "k {k} m {m} rows {rows} [{i}]: {g} against {e}"
                );
            }
        }
    }

    #[test]
    fn a_nan_input_gives_nan_outputs_of_its_row_only() {
        let packed = PackedF32::new(&[1.0, 2.0, 3.0, 4.0], 2, 2, &[0.5, 0.5], false);
        let out = packed.apply(&[f32::NAN, 1.0, 1.0, 1.0], 2);
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(&out[2..], &[4.5, 6.5]);
        // Full blocks of 8 columns, through the Relu: the NaN stays, and only in its row.
        let w: Vec<f32> = (0..16).map(|i| i as f32 - 8.0).collect();
        let out = PackedF32::new(&w, 2, 8, &[], true).apply(&[f32::NAN, 1.0, 1.0, 1.0], 2);
        assert!(out[..8].iter().all(|v| v.is_nan()));
        let want: Vec<f32> = (0..8).map(|c| (w[c] + w[8 + c]).max(0.0)).collect();
        assert_eq!(&out[8..], &want[..]);
    }
}
