//! A float product with a constant weight, `y = max?(x · W + b)`, for wasm: the weight is packed
//! once into blocks of 8 columns, and a tile of 4 rows × 8 columns keeps 8 `f32x4` accumulators
//! in registers (tract's wasm tile is 8 × 8, which needs more vector registers than V8 gives on
//! x64, so it spills). Rows left over go 1 × 16 columns at a time. Sums run in depth order.
//! Elsewhere a plain loop computes the same values; it exists for tests.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::*;

/// Columns in a block of the packed weight.
const BLOCK: usize = 8;
/// Rows computed together.
const TILE_ROWS: usize = 4;

/// A float weight `[k, m]` packed for the kernel, with its bias and whether a Relu follows.
#[derive(Debug, Clone, PartialEq)]
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
        let (k, m) = (self.k, self.m);
        let mut out = vec![0f32; rows * m];
        let tiled = rows / TILE_ROWS * TILE_ROWS;
        for r in (0..tiled).step_by(TILE_ROWS) {
            let x = x.get(r * k..(r + TILE_ROWS) * k).unwrap_or_default();
            for block in 0..self.bias.len() {
                let tile = self.tile(x, block);
                for (i, values) in tile.iter().enumerate() {
                    self.store(&mut out, r + i, block, values);
                }
            }
        }
        for r in tiled..rows {
            let x = x.get(r * k..(r + 1) * k).unwrap_or_default();
            let mut block = 0;
            while block < self.bias.len() {
                let pair = self.row_blocks(x, block);
                self.store(&mut out, r, block, &pair[0]);
                if block + 1 < self.bias.len() {
                    self.store(&mut out, r, block + 1, &pair[1]);
                }
                block += 2;
            }
        }
        out
    }

    /// Writes one row's outputs of one block, through the bias and the Relu.
    #[inline(always)]
    fn store(&self, out: &mut [f32], row: usize, block: usize, sums: &[f32; BLOCK]) {
        let m = self.m;
        let first = block * BLOCK;
        let columns = m.saturating_sub(first).min(BLOCK);
        let bias = self.bias.get(block).copied().unwrap_or([0.0; BLOCK]);
        if let Some(out) = out.get_mut(row * m + first..row * m + first + columns) {
            for ((y, s), b) in out.iter_mut().zip(sums).zip(bias) {
                let v = s + b;
                *y = if self.relu && v < 0.0 { 0.0 } else { v };
            }
        }
    }

    fn weights(&self, block: usize) -> &[[f32; BLOCK]] {
        self.blocks
            .get(block * self.k..(block + 1) * self.k)
            .unwrap_or_default()
    }

    /// The sums of 4 rows (`x` holds them one after the other) for one block of columns.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn tile(&self, x: &[f32], block: usize) -> [[f32; BLOCK]; TILE_ROWS] {
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
        acc.map(|[lo, hi]| lanes8(lo, hi))
    }

    /// The sums of one row for two blocks of columns (the second zero past the last block).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn row_blocks(&self, x: &[f32], block: usize) -> [[f32; BLOCK]; 2] {
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
        [lanes8(a0, a1), lanes8(b0, b1)]
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn tile(&self, x: &[f32], block: usize) -> [[f32; BLOCK]; TILE_ROWS] {
        std::array::from_fn(|i| self.row_block(x.get(i * self.k..(i + 1) * self.k).unwrap_or_default(), block))
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn row_blocks(&self, x: &[f32], block: usize) -> [[f32; BLOCK]; 2] {
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

/// The geometry of a two-dimensional convolution (NCHW, one group): kernel, strides, dilations and
/// padding (top, left, bottom, right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvShape {
    /// Input channels.
    pub channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides along height and width.
    pub strides: [usize; 2],
    /// Dilations along height and width.
    pub dilations: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
}

impl ConvShape {
    /// The output's height and width for an input of `height` × `width`, if the kernel fits.
    pub fn output(&self, height: usize, width: usize) -> Option<[usize; 2]> {
        let along = |size: usize, axis: usize| {
            let padded = size + self.pads[axis] + self.pads[axis + 2];
            let span = self.dilations[axis] * (self.kernel[axis].checked_sub(1)?) + 1;
            (padded >= span && self.strides[axis] > 0).then(|| (padded - span) / self.strides[axis] + 1)
        };
        Some([along(height, 0)?, along(width, 1)?])
    }
}

/// A convolution as the product of each image's patches (im2col) by the packed filters:
/// `[positions, channels × kh × kw] × [channels × kh × kw, filters]`, then transposed to NCHW.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedConv {
    shape: ConvShape,
    /// The filters `[filters, channels, kh, kw]` as a `[channels × kh × kw, filters]` weight.
    product: PackedF32,
}

impl PackedConv {
    /// Packs filters `[filters, channels, kh, kw]` (row-major), their biases (empty: none) and
    /// whether a Relu follows.
    pub fn new(shape: ConvShape, filters: &[f32], count: usize, bias: &[f32], relu: bool) -> PackedConv {
        let k = shape.channels * shape.kernel[0] * shape.kernel[1];
        // Row d of the product's weight is filter element d of every filter.
        let weight: Vec<f32> = (0..k)
            .flat_map(|d| (0..count).map(move |f| (d, f)))
            .map(|(d, f)| filters.get(f * k + d).copied().unwrap_or(0.0))
            .collect();
        PackedConv {
            shape,
            product: PackedF32::new(&weight, k, count, bias, relu),
        }
    }

    /// The geometry.
    pub fn shape(&self) -> ConvShape {
        self.shape
    }

    /// Output channels.
    pub fn filters(&self) -> usize {
        self.product.m()
    }

    /// Convolves `images` images of `channels × height × width` values in `x`: the outputs
    /// `[images, filters, oh, ow]` and `[oh, ow]`, or `None` if the kernel does not fit.
    pub fn apply(&self, x: &[f32], images: usize, height: usize, width: usize) -> Option<(Vec<f32>, [usize; 2])> {
        let s = self.shape;
        let [oh, ow] = s.output(height, width)?;
        let (k, filters, positions) = (self.product.k(), self.product.m(), oh * ow);
        let plane = height * width;
        // The patches transposed, `[k, positions]`: a row is a (clipped) copy of input rows, and
        // 4 neighbouring positions of a row are one vector.
        let mut patches = vec![0f32; k * positions];
        let mut out = vec![0f32; images * filters * positions];
        for image in 0..images {
            let input = x.get(image * s.channels * plane..(image + 1) * s.channels * plane)?;
            let mut rows = patches.chunks_exact_mut(positions);
            for c in 0..s.channels {
                for ky in 0..s.kernel[0] {
                    for kx in 0..s.kernel[1] {
                        let row = rows.next()?;
                        for (py, segment) in row.chunks_exact_mut(ow).enumerate() {
                            let y = (py * s.strides[0] + ky * s.dilations[0]).checked_sub(s.pads[0]);
                            let line = y
                                .filter(|y| *y < height)
                                .and_then(|y| input.get(c * plane + y * width..c * plane + (y + 1) * width));
                            let Some(line) = line else {
                                segment.fill(0.0);
                                continue;
                            };
                            for (px, v) in segment.iter_mut().enumerate() {
                                let at = (px * s.strides[1] + kx * s.dilations[1]).checked_sub(s.pads[1]);
                                *v = at.and_then(|at| line.get(at)).copied().unwrap_or(0.0);
                            }
                        }
                    }
                }
            }
            let target = out.get_mut(image * filters * positions..(image + 1) * filters * positions)?;
            self.product.apply_transposed(&patches, positions, target);
        }
        Some((out, [oh, ow]))
    }
}

impl PackedF32 {
    /// `out[c][p] = max?(Σ_d xt[d][p] · w(d, c) + b[c])`: the product of an input given
    /// transposed, `xt` being `[k, positions]`, written transposed too (`[m, positions]`).
    pub fn apply_transposed(&self, xt: &[f32], positions: usize, out: &mut [f32]) {
        let quads = positions / 4 * 4;
        for block in 0..self.bias.len() {
            for p in (0..quads).step_by(4) {
                let sums = self.quad(xt, positions, p, block);
                for (j, values) in sums.iter().enumerate() {
                    self.store_transposed(out, positions, p, block * BLOCK + j, values);
                }
            }
            for p in quads..positions {
                let mut sums = [0f32; BLOCK];
                for (d, w) in self.weights(block).iter().enumerate() {
                    let v = xt.get(d * positions + p).copied().unwrap_or(0.0);
                    for (s, w) in sums.iter_mut().zip(w) {
                        *s += v * w;
                    }
                }
                for (j, sum) in sums.iter().enumerate() {
                    self.store_transposed(out, positions, p, block * BLOCK + j, &[*sum]);
                }
            }
        }
    }

    /// Writes column `c`'s outputs at positions `p..`, through the bias and the Relu.
    #[inline(always)]
    fn store_transposed(&self, out: &mut [f32], positions: usize, p: usize, c: usize, sums: &[f32]) {
        if c >= self.m {
            return;
        }
        let b = self.bias.get(c / BLOCK).map_or(0.0, |b| b[c % BLOCK]);
        if let Some(out) = out.get_mut(c * positions + p..c * positions + p + sums.len()) {
            for (y, s) in out.iter_mut().zip(sums) {
                let v = s + b;
                *y = if self.relu && v < 0.0 { 0.0 } else { v };
            }
        }
    }

    /// The sums of 4 neighbouring positions `p..p + 4` for the 8 columns of one block, per column.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn quad(&self, xt: &[f32], positions: usize, p: usize, block: usize) -> [[f32; 4]; BLOCK] {
        let mut acc = [f32x4_splat(0.0); BLOCK];
        for (d, w) in self.weights(block).iter().enumerate() {
            let Some(x) = xt.get(d * positions + p..d * positions + p + 4) else {
                break;
            };
            let v = f32x4(x[0], x[1], x[2], x[3]);
            for (acc, w) in acc.iter_mut().zip(w) {
                *acc = f32x4_add(*acc, f32x4_mul(v, f32x4_splat(*w)));
            }
        }
        acc.map(|a| {
            [
                f32x4_extract_lane::<0>(a),
                f32x4_extract_lane::<1>(a),
                f32x4_extract_lane::<2>(a),
                f32x4_extract_lane::<3>(a),
            ]
        })
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn quad(&self, xt: &[f32], positions: usize, p: usize, block: usize) -> [[f32; 4]; BLOCK] {
        let mut sums = [[0f32; 4]; BLOCK];
        for (d, w) in self.weights(block).iter().enumerate() {
            for (i, s) in sums.iter_mut().enumerate() {
                for (lane, s) in s.iter_mut().enumerate() {
                    *s += xt.get(d * positions + p + lane).copied().unwrap_or(0.0) * w[i];
                }
            }
        }
        sums
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn lanes8(lo: v128, hi: v128) -> [f32; BLOCK] {
    [
        f32x4_extract_lane::<0>(lo),
        f32x4_extract_lane::<1>(lo),
        f32x4_extract_lane::<2>(lo),
        f32x4_extract_lane::<3>(lo),
        f32x4_extract_lane::<0>(hi),
        f32x4_extract_lane::<1>(hi),
        f32x4_extract_lane::<2>(hi),
        f32x4_extract_lane::<3>(hi),
    ]
}

#[cfg(test)]
mod tests {
    use super::{ConvShape, PackedConv, PackedF32};

    #[test]
    fn a_convolution_equals_its_direct_sum_with_padding_strides_and_dilations() {
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 25.0;
        for (channels, kernel, strides, dilations, pads, filters, (h, w)) in [
            (1, [5, 5], [1, 1], [1, 1], [2, 2, 2, 2], 6, (12, 12)),
            (3, [3, 2], [2, 1], [1, 2], [1, 0, 0, 1], 5, (7, 9)),
            (2, [1, 1], [1, 1], [1, 1], [0, 0, 0, 0], 9, (4, 3)),
        ] {
            let shape = ConvShape {
                channels,
                kernel,
                strides,
                dilations,
                pads,
            };
            let k = channels * kernel[0] * kernel[1];
            let weights: Vec<f32> = (0..filters * k).map(value).collect();
            let bias: Vec<f32> = (0..filters).map(|f| value(f + 7)).collect();
            let images = 2;
            let x: Vec<f32> = (0..images * channels * h * w).map(|i| value(i + 3)).collect();
            let (got, [oh, ow]) = PackedConv::new(shape, &weights, filters, &bias, true)
                .apply(&x, images, h, w)
                .unwrap();
            assert_eq!([oh, ow], shape.output(h, w).unwrap());
            for n in 0..images {
                for f in 0..filters {
                    for (oy, ox) in (0..oh).flat_map(|y| (0..ow).map(move |x| (y, x))) {
                        let mut sum = f64::from(bias[f]);
                        for c in 0..channels {
                            for ky in 0..kernel[0] {
                                for kx in 0..kernel[1] {
                                    let y = (oy * strides[0] + ky * dilations[0]) as i64 - pads[0] as i64;
                                    let xx = (ox * strides[1] + kx * dilations[1]) as i64 - pads[1] as i64;
                                    if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                                        let input = x[((n * channels + c) * h + y as usize) * w + xx as usize];
                                        let weight = weights[((f * channels + c) * kernel[0] + ky) * kernel[1] + kx];
                                        sum += f64::from(input) * f64::from(weight);
                                    }
                                }
                            }
                        }
                        let want = (sum as f32).max(0.0);
                        let at = ((n * filters + f) * oh + oy) * ow + ox;
                        assert!(
                            (got[at] - want).abs() <= 1e-4,
                            "{shape:?} [{n},{f},{oy},{ox}]: {} against {want}",
                            got[at]
                        );
                    }
                }
            }
        }
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
    }
}
