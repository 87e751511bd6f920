//! The kernels of wasm-predict: tree ensembles ([`trees`]) and the integer product behind its `QuantizedDense`: rows rounded to 8-bit grids times
//! an int8 weight, summed exactly in i32, then scaled per column.
//!
//! In wasm each step is `i32x4.dot_i16x8_s` (8 multiply-adds in one instruction, where the float
//! kernel needs two instructions for 4) on a tile of 4 rows by 8 columns, so each weight vector is
//! loaded once per 4 rows. Elsewhere a plain loop computes the same integers; it exists for tests
//! and for hosts that fuse the op anyway.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::*;

use serde::{Deserialize, Serialize};

pub mod conv_f32;
pub mod dense_f32;
pub mod pool_f32;
pub mod quantized;
pub mod trees;

/// Rows computed together: each weight vector loaded serves this many rows.
const TILE_ROWS: usize = 4;
/// Columns computed together (two groups of 4).
const TILE_COLUMNS: usize = 8;

/// How a row of floats becomes integers: `round_half_even(clamp(x / scale, low, high))`, where
/// `low` and `high` already have the zero point taken off (so the integers are centred).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rounding {
    /// Quantization step.
    pub scale: f32,
    /// Smallest centred integer.
    pub low: f32,
    /// Largest centred integer.
    pub high: f32,
}

/// A quantization grid as ONNX gives it: the step, the zero point and the integer range
/// (`low..=high`) of the quantized type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Quantization step.
    pub scale: f32,
    /// The integer that stands for 0.
    pub zero_point: f32,
    /// Smallest integer of the quantized type.
    pub low: f32,
    /// Largest integer of the quantized type.
    pub high: f32,
}

impl Grid {
    /// The four values as bits, for ops that must be `Eq` and `Hash`.
    pub fn bits(self) -> [u32; 4] {
        [self.scale, self.zero_point, self.low, self.high].map(f32::to_bits)
    }
}

impl Rounding {
    /// The rounding to `grid`, centred on its zero point.
    pub fn centred(grid: Grid) -> Rounding {
        Rounding {
            scale: grid.scale,
            low: grid.low - grid.zero_point,
            high: grid.high - grid.zero_point,
        }
    }

    /// One value's centred integer, and whether it was NaN (then the integer is meaningless).
    fn integer(self, v: f32) -> (i32, bool) {
        let q = v / self.scale;
        (q.max(self.low).min(self.high).round_ties_even() as i32, q.is_nan())
    }

    /// [`Rounding::integer`] of 4 values at once; NaN lanes are set in `nan_lanes`.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn integers4(self, x: &[f32], nan_lanes: &mut v128) -> v128 {
        let v = f32x4_div(f32x4(x[0], x[1], x[2], x[3]), f32x4_splat(self.scale));
        *nan_lanes = v128_or(*nan_lanes, f32x4_ne(v, v));
        let clamped = f32x4_pmin(f32x4_splat(self.high), f32x4_pmax(f32x4_splat(self.low), v));
        i32x4_trunc_sat_f32x4(f32x4_nearest(clamped))
    }
}

/// The 4 lanes of an integer vector.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn i32_lanes(v: v128) -> [i32; 4] {
    [
        i32x4_extract_lane::<0>(v),
        i32x4_extract_lane::<1>(v),
        i32x4_extract_lane::<2>(v),
        i32x4_extract_lane::<3>(v),
    ]
}

/// The 4 lanes of a float vector.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn f32_lanes(v: v128) -> [f32; 4] {
    [
        f32x4_extract_lane::<0>(v),
        f32x4_extract_lane::<1>(v),
        f32x4_extract_lane::<2>(v),
        f32x4_extract_lane::<3>(v),
    ]
}

/// Rows of centred integers, two depths per `i32` (the even depth in the low half), rows padded
/// to a multiple of [`TILE_ROWS`] with zeros. A row with a NaN is remembered, and its outputs are
/// NaN, as the float computation would give.
#[derive(Debug, Default)]
pub struct IntRows {
    rows: usize,
    pairs: usize,
    ints: Vec<i32>,
    nan_rows: Vec<usize>,
}

impl IntRows {
    /// Rounds `x` (rows of `k` values) with `rounding`.
    pub fn round(x: &[f32], k: usize, rounding: Rounding) -> IntRows {
        let pairs = k.div_ceil(2);
        let rows = x.len().checked_div(k).unwrap_or(0);
        let padded = rows.div_ceil(TILE_ROWS) * TILE_ROWS;
        let mut ints = Vec::with_capacity(padded * pairs);
        let mut nan_rows = vec![];
        for (r, row) in x.chunks_exact(k.max(1)).take(rows).enumerate() {
            if round_row(row, rounding, &mut ints) {
                nan_rows.push(r);
            }
        }
        ints.resize(padded * pairs, 0);
        IntRows {
            rows,
            pairs,
            ints,
            nan_rows,
        }
    }
}

/// Appends the rounded integers of `x`, one per `i32`; returns whether `x` holds a NaN.
pub fn round_each(x: &[f32], rounding: Rounding, out: &mut Vec<i32>) -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (rest, mut nan) = round_fours(x, rounding, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let (rest, mut nan) = (x, false);
    for &v in rest {
        let (q, is_nan) = rounding.integer(v);
        nan |= is_nan;
        out.push(q);
    }
    nan
}

/// Rounds `x` 4 values at a time, as [`round_each`] does; returns the values left over and
/// whether those done held a NaN.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn round_fours<'a>(x: &'a [f32], rounding: Rounding, out: &mut Vec<i32>) -> (&'a [f32], bool) {
    let mut nan_lanes = i32x4_splat(0);
    let mut chunks = x.chunks_exact(4);
    for c in chunks.by_ref() {
        out.extend(i32_lanes(rounding.integers4(c, &mut nan_lanes)));
    }
    (chunks.remainder(), v128_any_true(nan_lanes))
}

/// Rounds every value to its grid and back in place: `round_half_even(clamp(x / scale, low,
/// high)) * scale`, a `+0` for a zero, NaN kept (the `FakeQuantize` op's formula).
pub fn fake_quantize(values: &mut [f32], rounding: Rounding) {
    let Rounding { scale, low, high } = rounding;
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let values = {
        let (s, l, h, zero) = (
            f32x4_splat(scale),
            f32x4_splat(low),
            f32x4_splat(high),
            f32x4_splat(0.0),
        );
        let mut chunks = values.chunks_exact_mut(4);
        for c in chunks.by_ref() {
            let v = f32x4_div(f32x4(c[0], c[1], c[2], c[3]), s);
            // pmax(v, l) is v unless v < l, and pmin(.., h) keeps it unless h < it: NaN stays.
            let q = f32x4_add(f32x4_nearest(f32x4_pmin(f32x4_pmax(v, l), h)), zero);
            c.copy_from_slice(&f32_lanes(f32x4_mul(q, s)));
        }
        chunks.into_remainder()
    };
    // clamp(x) rounded is round(clamp(x)) for integer bounds; with |x| under 2^22 after the
    // clamp, adding and subtracting 1.5 * 2^23 rounds half to even exactly (natively a few times
    // faster than `round_ties_even`, a libm call without SSE4.1) and turns -0 into +0.
    const ROUNDER: f32 = 12_582_912.0;
    for v in values {
        let x = *v / scale;
        let x = if x < low {
            low
        } else if x > high {
            high
        } else {
            x
        };
        *v = ((x + ROUNDER) - ROUNDER) * scale;
    }
}

/// Appends one row's integers, two per `i32`; returns whether the row holds a NaN.
fn round_row(row: &[f32], rounding: Rounding, out: &mut Vec<i32>) -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (rest, mut nan) = round_eights(row, rounding, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let (rest, mut nan) = (row, false);
    for pair in rest.chunks(2) {
        let mut ints = [0i32; 2];
        for (q, &v) in ints.iter_mut().zip(pair) {
            let is_nan;
            (*q, is_nan) = rounding.integer(v);
            nan |= is_nan;
        }
        out.push((ints[0] & 0xffff) | (ints[1] << 16));
    }
    nan
}

/// Rounds the row 8 values at a time, as [`round_row`] does; returns the values left over and
/// whether those done held a NaN.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn round_eights<'a>(row: &'a [f32], rounding: Rounding, out: &mut Vec<i32>) -> (&'a [f32], bool) {
    let mut nan_lanes = i32x4_splat(0);
    let mut chunks = row.chunks_exact(8);
    for c in chunks.by_ref() {
        let (a, b) = c.split_at(4);
        let (a, b) = (
            rounding.integers4(a, &mut nan_lanes),
            rounding.integers4(b, &mut nan_lanes),
        );
        out.extend(i32_lanes(i16x8_narrow_i32x4(a, b)));
    }
    (chunks.remainder(), v128_any_true(nan_lanes))
}

/// One vector of packed weight integers: `v128` in wasm, its 8 lanes elsewhere.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
type Lane = v128;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
type Lane = [i16; 8];

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn lane(l: [i16; 8]) -> Lane {
    i16x8(l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7])
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn lane(l: [i16; 8]) -> Lane {
    l
}

/// An int8 weight `[k, m]` laid out for the kernel, with its per-column scales, bias and Relu
/// (everything that turns sums into outputs but the input's scale).
#[derive(Debug, Clone)]
pub struct PackedWeight {
    m: usize,
    /// For each block of [`TILE_COLUMNS`] columns, each pair of depths `(2p, 2p + 1)` and each of
    /// the block's two groups of 4 columns `c`: `[w(2p, c), w(2p + 1, c)]` as i16 pairs. Padding
    /// (an odd depth, columns past `m`) is zero.
    lanes: Vec<Lane>,
    /// Per block of columns, padded with zeros.
    weight_scale: Vec<[f32; TILE_COLUMNS]>,
    bias: Vec<[f32; TILE_COLUMNS]>,
    relu: bool,
}

impl PackedWeight {
    /// Packs a centred weight `[k, m]`, row-major, every value within i16, with `m` weight scales
    /// and `m` biases, and whether a Relu follows.
    pub fn new(weight: &[i16], k: usize, m: usize, weight_scale: &[f32], bias: &[f32], relu: bool) -> PackedWeight {
        let pairs = k.div_ceil(2);
        let blocks = m.div_ceil(TILE_COLUMNS);
        let at = |d: usize, c: usize| if d < k && c < m { weight[d * m + c] } else { 0 };
        let mut lanes = Vec::with_capacity(blocks * pairs * 2);
        for block in 0..blocks {
            for p in 0..pairs {
                for group in 0..2 {
                    let c = block * TILE_COLUMNS + group * 4;
                    let (d0, d1) = (2 * p, 2 * p + 1);
                    lanes.push(lane([
                        at(d0, c),
                        at(d1, c),
                        at(d0, c + 1),
                        at(d1, c + 1),
                        at(d0, c + 2),
                        at(d1, c + 2),
                        at(d0, c + 3),
                        at(d1, c + 3),
                    ]));
                }
            }
        }
        let padded = |v: &[f32]| {
            let mut p = vec![[0.0; TILE_COLUMNS]; blocks];
            for (i, x) in v.iter().take(m).enumerate() {
                p[i / TILE_COLUMNS][i % TILE_COLUMNS] = *x;
            }
            p
        };
        PackedWeight {
            m,
            lanes,
            weight_scale: padded(weight_scale),
            bias: padded(bias),
            relu,
        }
    }

    /// `out[r][c] = epilogue(Σ_d ints[r][d] * w(d, c) * (input_scale * weight_scale[c]) + bias[c])`
    /// for every row of `rows`, where the epilogue is the Relu if there is one; `out` holds
    /// `rows * m` values.
    pub fn apply(&self, rows: &IntRows, input_scale: f32, out: &mut [f32]) {
        let (m, pairs) = (self.m, rows.pairs);
        let mut tile = [[0f32; TILE_COLUMNS]; TILE_ROWS];
        // One row (a single prediction) needs no tile of four.
        let tile_rows = if rows.rows == 1 { 1 } else { TILE_ROWS };
        for (t, ints) in rows.ints.chunks_exact(TILE_ROWS * pairs).enumerate() {
            for (block, (weight_scale, bias)) in self.weight_scale.iter().zip(&self.bias).enumerate() {
                let epilogue = Epilogue {
                    scale: weight_scale.map(|s| input_scale * s),
                    bias,
                    relu: self.relu,
                };
                let lanes = &self.lanes[block * pairs * 2..(block + 1) * pairs * 2];
                if tile_rows == 1 {
                    tile[0] = row_outputs(ints.get(..pairs).unwrap_or_default(), lanes, epilogue);
                } else {
                    tile_outputs(ints, pairs, lanes, epilogue, &mut tile);
                }
                let first = block * TILE_COLUMNS;
                let columns = (m - first).min(TILE_COLUMNS);
                for (r, values) in tile.iter().enumerate().take(tile_rows) {
                    let row = t * TILE_ROWS + r;
                    if let Some(out) = out.get_mut(row * m + first..row * m + first + columns) {
                        out.copy_from_slice(&values[..columns]);
                    }
                }
            }
        }
        for &r in &rows.nan_rows {
            if let Some(out) = out.get_mut(r * m..(r + 1) * m) {
                out.fill(f32::NAN);
            }
        }
    }
}

/// What turns one block's sums into outputs: `sum * scale + bias`, then a Relu if asked.
#[derive(Clone, Copy)]
struct Epilogue<'a> {
    scale: [f32; TILE_COLUMNS],
    bias: &'a [f32; TILE_COLUMNS],
    relu: bool,
}

/// The outputs of one tile: [`TILE_ROWS`] rows of `pairs` pair-packed integers times one block's
/// lanes, through the epilogue.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn tile_outputs(
    ints: &[i32],
    pairs: usize,
    lanes: &[Lane],
    epilogue: Epilogue,
    tile: &mut [[f32; TILE_COLUMNS]; TILE_ROWS],
) {
    let (r0, rest) = ints.split_at(pairs);
    let (r1, rest) = rest.split_at(pairs);
    let (r2, r3) = rest.split_at(pairs);
    let zero = i32x4_splat(0);
    let (mut a00, mut a01, mut a10, mut a11) = (zero, zero, zero, zero);
    let (mut a20, mut a21, mut a30, mut a31) = (zero, zero, zero, zero);
    for ((((w, &x0), &x1), &x2), &x3) in lanes.chunks_exact(2).zip(r0).zip(r1).zip(r2).zip(r3) {
        let (w0, w1) = (w[0], w[1]);
        let s = i32x4_splat(x0);
        a00 = i32x4_add(a00, i32x4_dot_i16x8(s, w0));
        a01 = i32x4_add(a01, i32x4_dot_i16x8(s, w1));
        let s = i32x4_splat(x1);
        a10 = i32x4_add(a10, i32x4_dot_i16x8(s, w0));
        a11 = i32x4_add(a11, i32x4_dot_i16x8(s, w1));
        let s = i32x4_splat(x2);
        a20 = i32x4_add(a20, i32x4_dot_i16x8(s, w0));
        a21 = i32x4_add(a21, i32x4_dot_i16x8(s, w1));
        let s = i32x4_splat(x3);
        a30 = i32x4_add(a30, i32x4_dot_i16x8(s, w0));
        a31 = i32x4_add(a31, i32x4_dot_i16x8(s, w1));
    }
    for (row, sums) in tile.iter_mut().zip([[a00, a01], [a10, a11], [a20, a21], [a30, a31]]) {
        *row = epilogue.outputs(sums);
    }
}

/// The outputs of one row of `pairs` pair-packed integers times one block's lanes.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn row_outputs(ints: &[i32], lanes: &[Lane], epilogue: Epilogue) -> [f32; TILE_COLUMNS] {
    let zero = i32x4_splat(0);
    let (mut a0, mut a1) = (zero, zero);
    for (w, &x) in lanes.chunks_exact(2).zip(ints) {
        let s = i32x4_splat(x);
        a0 = i32x4_add(a0, i32x4_dot_i16x8(s, w[0]));
        a1 = i32x4_add(a1, i32x4_dot_i16x8(s, w[1]));
    }
    epilogue.outputs([a0, a1])
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn row_outputs(ints: &[i32], lanes: &[Lane], epilogue: Epilogue) -> [f32; TILE_COLUMNS] {
    let mut tile = [[0f32; TILE_COLUMNS]; TILE_ROWS];
    tile_outputs(ints, ints.len(), lanes, epilogue, &mut tile);
    tile[0]
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl Epilogue<'_> {
    /// One row's 8 outputs from its two vectors of sums.
    #[inline(always)]
    fn outputs(&self, sums: [v128; 2]) -> [f32; TILE_COLUMNS] {
        let [s0, s1, s2, s3, s4, s5, s6, s7] = self.scale;
        let [b0, b1, b2, b3, b4, b5, b6, b7] = *self.bias;
        let scale = [f32x4(s0, s1, s2, s3), f32x4(s4, s5, s6, s7)];
        let bias = [f32x4(b0, b1, b2, b3), f32x4(b4, b5, b6, b7)];
        let floor = f32x4_splat(if self.relu { 0.0 } else { f32::NEG_INFINITY });
        let mut out = [0f32; TILE_COLUMNS];
        for (half, (sums, (scale, bias))) in sums.into_iter().zip(scale.iter().zip(bias)).enumerate() {
            let y = f32x4_pmax(floor, f32x4_add(f32x4_mul(f32x4_convert_i32x4(sums), *scale), bias));
            out[half * 4..half * 4 + 4].copy_from_slice(&f32_lanes(y));
        }
        out
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn tile_outputs(
    ints: &[i32],
    pairs: usize,
    lanes: &[Lane],
    epilogue: Epilogue,
    tile: &mut [[f32; TILE_COLUMNS]; TILE_ROWS],
) {
    for (row, values) in ints.chunks_exact(pairs).zip(tile.iter_mut()) {
        let mut sums = [0i32; TILE_COLUMNS];
        for (&x, w) in row.iter().zip(lanes.chunks_exact(2)) {
            let (lo, hi) = (i32::from(x as i16), x >> 16);
            for (group, w) in w.iter().enumerate() {
                for (c, pair) in w.chunks_exact(2).enumerate() {
                    sums[group * 4 + c] += lo * i32::from(pair[0]) + hi * i32::from(pair[1]);
                }
            }
        }
        for (((y, acc), s), b) in values.iter_mut().zip(sums).zip(epilogue.scale).zip(epilogue.bias) {
            let v = acc as f32 * s + b;
            *y = if epilogue.relu && v < 0.0 { 0.0 } else { v };
        }
    }
}

/// ONNX's uint8 `DynamicQuantizeLinear` followed by the dequantization of its result, in place:
/// the scale and zero point come from the values' range (widened to include 0), then every value
/// is rounded to that grid.
pub fn dynamic_fake_quantize(values: &mut [f32]) {
    if let Some(grid) = dynamic_grid(values).filter(|g| g.scale > 0.0) {
        fake_quantize(values, Rounding::centred(grid));
    }
}

/// The uint8 grid `DynamicQuantizeLinear` takes for `x`: scale `(max - min) / 255` over the range
/// widened to include 0, zero point `round_half_even(-min / scale)` clamped to 0..=255. `None`
/// when the range is not finite; a scale of 0 (every value 0) with zero point 0.
pub fn dynamic_grid(x: &[f32]) -> Option<Grid> {
    let (min, max) = range_with_zero(x);
    let scale = (max - min) / 255.0;
    if !scale.is_finite() {
        return None;
    }
    let zero_point = if scale == 0.0 {
        0.0
    } else {
        (-min / scale).round_ties_even().clamp(0.0, 255.0)
    };
    Some(Grid {
        scale,
        zero_point,
        low: 0.0,
        high: 255.0,
    })
}

/// `(min(0, x...), max(0, x...))`, NaNs ignored: the range `DynamicQuantizeLinear` quantizes.
pub fn range_with_zero(x: &[f32]) -> (f32, f32) {
    let mut chunks = x.chunks_exact(4);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (low, high) = {
        let (mut low, mut high) = (f32x4_splat(0.0), f32x4_splat(0.0));
        for c in chunks.by_ref() {
            let v = f32x4(c[0], c[1], c[2], c[3]);
            // pmin/pmax keep the accumulator when a comparison with NaN is false.
            low = f32x4_pmin(low, v);
            high = f32x4_pmax(high, v);
        }
        (
            f32_lanes(low).into_iter().fold(0f32, f32::min),
            f32_lanes(high).into_iter().fold(0f32, f32::max),
        )
    };
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let (low, high) = chunks
        .by_ref()
        .flatten()
        .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    chunks
        .remainder()
        .iter()
        .fold((low, high), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}
