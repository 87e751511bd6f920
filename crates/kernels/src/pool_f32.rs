//! Two-dimensional max pooling (NCHW): each output is the largest value its window covers, the
//! padding taking no part (as `-inf` would). Comparisons are `v > max` from `-inf`, taps in
//! window order, so a NaN in a window is passed over. Each input row is folded into the row of
//! maxima it serves: outputs whose window lies wholly inside the image along the width in one
//! tight loop, the others tap by tap; 2 × 2 windows of stride 2 fold their two rows at once (in
//! wasm four outputs at a time).

use crate::conv_f32::Geometry;

/// Where one pooling's windows fall along the width: per tap, the outputs that read inside the
/// image, and the outputs all of whose taps do.
struct Columns {
    /// Per tap `kx`: the first output reading inside and the end (exclusive).
    taps: Vec<(usize, usize)>,
    /// The outputs whose every tap reads inside: the first and the end (exclusive).
    interior: (usize, usize),
    stride: usize,
    dilation: usize,
    left: usize,
}

/// Max-pools `planes` planes of `height × width` values (images × channels, one after the
/// other): `planes × oh × ow` values, or `None` if `x` is not that size or the window does not
/// fit.
pub fn max_pool(x: &[f32], planes: usize, height: usize, width: usize, geometry: &Geometry) -> Option<Vec<f32>> {
    let (oh, top) = geometry.along(0, height)?;
    let (ow, left) = geometry.along(1, width)?;
    let plane = height.checked_mul(width)?;
    if x.len() != planes.checked_mul(plane)? {
        return None;
    }
    let kh = geometry.kernel[0];
    let [sh, sw] = geometry.strides.map(|s| s.max(1));
    let [dh, dw] = geometry.dilations.map(|d| d.max(1));
    let taps: Vec<(usize, usize)> = (0..geometry.kernel[1])
        .map(|kx| geometry.outputs_inside(1, kx, width, left, ow))
        .collect();
    let interior = taps
        .iter()
        .fold((0, ow), |(first, end), &(f, e)| (first.max(f), end.min(e)));
    let columns = Columns {
        taps,
        interior,
        stride: sw,
        dilation: dw,
        left,
    };
    let mut out = vec![f32::NEG_INFINITY; planes.checked_mul(oh)?.checked_mul(ow)?];
    let planes = x.chunks_exact(plane.max(1)).zip(out.chunks_exact_mut((oh * ow).max(1)));
    if columns.pairs() && [kh, sh, dh, top] == [2, 2, 1, 0] && 2 * oh <= height && columns.interior == (0, ow) {
        // Every window inside the image: output row `oy` is input rows `2 oy` and `2 oy + 1`.
        for (input, out) in planes {
            for (rows, maxima) in input
                .chunks_exact((2 * width).max(1))
                .zip(out.chunks_exact_mut(ow.max(1)))
            {
                let (above, below) = rows.split_at(width);
                fold_pairs_of_rows(above, below, maxima);
            }
        }
        return Some(out);
    }
    for (input, out) in planes {
        for (oy, maxima) in out.chunks_exact_mut(ow.max(1)).enumerate() {
            // The window's rows inside the image.
            let first = top.saturating_sub(oy * sh).div_ceil(dh);
            let end = (height + top).saturating_sub(oy * sh).div_ceil(dh).min(kh);
            let row = |ky: usize| {
                let start = (oy * sh + ky * dh - top) * width;
                input.get(start..start + width).unwrap_or_default()
            };
            if end == first + 2 && columns.pairs() {
                columns.fold_two_rows(row(first), row(first + 1), maxima);
                continue;
            }
            for ky in first..end {
                columns.fold(row(ky), maxima);
            }
        }
    }
    Some(out)
}

impl Columns {
    /// Whether windows are two neighbouring values at stride 2 (the common 2 × 2 pooling).
    fn pairs(&self) -> bool {
        self.taps.len() == 2 && self.stride == 2 && self.dilation == 1
    }

    /// Folds one input row into the maxima of the outputs its windows cover.
    fn fold(&self, row: &[f32], maxima: &mut [f32]) {
        let (first, end) = self.interior;
        self.fold_borders(row, maxima);
        let interior = maxima.get_mut(first..end).unwrap_or_default();
        let start = (first * self.stride).saturating_sub(self.left);
        if self.pairs() {
            for (max, pair) in interior
                .iter_mut()
                .zip(row.get(start..).unwrap_or_default().chunks_exact(2))
            {
                if let &[a, b] = pair {
                    *max = larger(larger(*max, a), b);
                }
            }
            return;
        }
        let (stride, dilation) = (self.stride, self.dilation);
        for (i, max) in interior.iter_mut().enumerate() {
            let mut m = *max;
            for kx in 0..self.taps.len() {
                m = larger(m, row.get(start + i * stride + kx * dilation).copied().unwrap_or(m));
            }
            *max = m;
        }
    }

    /// [`Columns::fold`] of two rows one after the other, for [`Columns::pairs`] windows: each
    /// interior output is written once.
    fn fold_two_rows(&self, above: &[f32], below: &[f32], maxima: &mut [f32]) {
        let (first, end) = self.interior;
        self.fold_borders(above, maxima);
        self.fold_borders(below, maxima);
        let start = (first * 2).saturating_sub(self.left);
        let (above, below) = (
            above.get(start..).unwrap_or_default(),
            below.get(start..).unwrap_or_default(),
        );
        fold_pairs_of_rows(above, below, maxima.get_mut(first..end).unwrap_or_default());
    }

    /// The outputs whose window overhangs the image: their taps inside, in order.
    fn fold_borders(&self, row: &[f32], maxima: &mut [f32]) {
        let (first, end) = self.interior;
        for ox in (0..first.min(maxima.len())).chain(end.max(first)..maxima.len()) {
            let Some(max) = maxima.get_mut(ox) else { continue };
            for (kx, &(first, end)) in self.taps.iter().enumerate() {
                if (first..end).contains(&ox) {
                    if let Some(&v) = row.get(ox * self.stride + kx * self.dilation - self.left) {
                        *max = larger(*max, v);
                    }
                }
            }
        }
    }
}

/// Folds `above[2i]`, `above[2i + 1]`, `below[2i]`, `below[2i + 1]` into `maxima[i]`.
fn fold_pairs_of_rows(above: &[f32], below: &[f32], maxima: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (maxima, above, below) = {
        let done = fold_quads(above, below, maxima);
        (
            maxima.get_mut(done..).unwrap_or_default(),
            above.get(2 * done..).unwrap_or_default(),
            below.get(2 * done..).unwrap_or_default(),
        )
    };
    for ((max, a), b) in maxima.iter_mut().zip(above.chunks_exact(2)).zip(below.chunks_exact(2)) {
        if let (&[a0, a1], &[b0, b1]) = (a, b) {
            *max = [a0, a1, b0, b1].into_iter().fold(*max, larger);
        }
    }
}

/// The fold's step: `v` if it is larger than `max`, so a NaN `v` is passed over.
#[inline(always)]
fn larger(max: f32, v: f32) -> f32 {
    if v > max {
        v
    } else {
        max
    }
}

/// 2 × 2 windows of stride 2 over two rows, four outputs at a time: folds `above[2i]`,
/// `above[2i + 1]`, `below[2i]`, `below[2i + 1]` into `maxima[i]`; returns how many outputs it
/// did.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn fold_quads(above: &[f32], below: &[f32], maxima: &mut [f32]) -> usize {
    use core::arch::wasm32::*;
    let mut done = 0;
    for ((max, a), b) in maxima
        .chunks_exact_mut(4)
        .zip(above.chunks_exact(8))
        .zip(below.chunks_exact(8))
    {
        let (&[a0, a1, a2, a3, a4, a5, a6, a7], &[b0, b1, b2, b3, b4, b5, b6, b7], [m0, m1, m2, m3]) = (a, b, max)
        else {
            break;
        };
        let (a_lo, a_hi) = (f32x4(a0, a1, a2, a3), f32x4(a4, a5, a6, a7));
        let (b_lo, b_hi) = (f32x4(b0, b1, b2, b3), f32x4(b4, b5, b6, b7));
        // pmax(m, v) is `m < v ? v : m`: the scalar fold's `v > m`, a NaN passed over.
        let mut m = f32x4(*m0, *m1, *m2, *m3);
        m = f32x4_pmax(m, i32x4_shuffle::<0, 2, 4, 6>(a_lo, a_hi));
        m = f32x4_pmax(m, i32x4_shuffle::<1, 3, 5, 7>(a_lo, a_hi));
        m = f32x4_pmax(m, i32x4_shuffle::<0, 2, 4, 6>(b_lo, b_hi));
        m = f32x4_pmax(m, i32x4_shuffle::<1, 3, 5, 7>(b_lo, b_hi));
        *m0 = f32x4_extract_lane::<0>(m);
        *m1 = f32x4_extract_lane::<1>(m);
        *m2 = f32x4_extract_lane::<2>(m);
        *m3 = f32x4_extract_lane::<3>(m);
        done += 4;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::max_pool;
    use crate::conv_f32::{Geometry, Padding};

    #[test]
    fn windows_strides_and_padding_take_the_largest_value() {
        let g = |kernel, strides, padding| Geometry {
            kernel,
            strides,
            dilations: [1, 1],
            padding,
        };
        let x: Vec<f32> = (0..16).map(|i| ((i * 7) % 16) as f32).collect();
        // 4 × 4: 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9
        let two = max_pool(&x, 1, 4, 4, &g([2, 2], [2, 2], Padding::Explicit([0; 4]))).unwrap();
        assert_eq!(two, [12.0, 14.0, 15.0, 13.0]);
        let padded = max_pool(&x, 1, 4, 4, &g([3, 3], [2, 2], Padding::Explicit([1, 1, 1, 1]))).unwrap();
        assert_eq!(padded, [12.0, 14.0, 15.0, 15.0]);
        let same = max_pool(&x, 1, 4, 4, &g([2, 2], [1, 1], Padding::SameUpper)).unwrap();
        assert_eq!(same.len(), 16);
        assert_eq!(
            &same[12..],
            &[11.0, 11.0, 9.0, 9.0],
            "the last row: its window overhangs the end"
        );
        let planes = max_pool(
            &[x.clone(), x.iter().map(|v| -v).collect()].concat(),
            2,
            4,
            4,
            &g([4, 4], [1, 1], Padding::Explicit([0; 4])),
        );
        assert_eq!(planes.unwrap(), [15.0, 0.0]);
        assert_eq!(
            max_pool(&x, 1, 4, 4, &g([5, 5], [1, 1], Padding::Explicit([0; 4]))),
            None
        );
        let nan = max_pool(
            &[f32::NAN, 1.0, 2.0, f32::NAN],
            1,
            2,
            2,
            &g([2, 2], [1, 1], Padding::Explicit([0; 4])),
        );
        assert_eq!(nan.unwrap(), [2.0]);
    }

    /// Every geometry against the definition: windows over the image's values only, folded with
    /// `f32::max` (which passes a NaN over), interior and border outputs alike.
    #[test]
    fn every_geometry_gives_the_largest_value_of_its_window() {
        let value = |i: usize| {
            if i % 11 == 4 {
                f32::NAN
            } else {
                ((i * 7919 + 13) % 301) as f32 * 0.01 - 1.5
            }
        };
        for (h, w, kernel, strides, dilations, padding) in [
            (28, 28, [2, 2], [2, 2], [1, 1], Padding::Explicit([0; 4])),
            (6, 6, [2, 2], [2, 2], [1, 1], Padding::Explicit([0; 4])),
            (12, 21, [2, 2], [2, 2], [1, 1], Padding::Explicit([1, 1, 0, 1])),
            (9, 13, [3, 3], [2, 2], [1, 1], Padding::SameUpper),
            (10, 11, [3, 2], [1, 3], [2, 1], Padding::SameLower),
            (7, 9, [2, 3], [1, 1], [1, 2], Padding::Explicit([0, 3, 1, 0])),
            (5, 5, [5, 5], [1, 1], [1, 1], Padding::Explicit([2; 4])),
        ] {
            let geometry = Geometry {
                kernel,
                strides,
                dilations,
                padding,
            };
            let planes = 3;
            let x: Vec<f32> = (0..planes * h * w).map(value).collect();
            let (oh, top) = geometry.along(0, h).unwrap();
            let (ow, left) = geometry.along(1, w).unwrap();
            let got = max_pool(&x, planes, h, w, &geometry).unwrap();
            let mut k = 0;
            for p in 0..planes {
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut want = f32::NEG_INFINITY;
                        for ky in 0..kernel[0] {
                            for kx in 0..kernel[1] {
                                let iy = (y * strides[0] + ky * dilations[0]).checked_sub(top).filter(|&v| v < h);
                                let ix = (xx * strides[1] + kx * dilations[1])
                                    .checked_sub(left)
                                    .filter(|&v| v < w);
                                if let (Some(iy), Some(ix)) = (iy, ix) {
                                    want = want.max(x[(p * h + iy) * w + ix]);
                                }
                            }
                        }
                        assert_eq!(got[k], want, "{geometry:?} [{k}]");
                        k += 1;
                    }
                }
            }
        }
    }
}
