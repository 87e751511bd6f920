//! Two-dimensional max pooling (NCHW): each output is the largest value its window covers, the
//! padding taking no part (as `-inf` would). Comparisons are `v > max` from `-inf`, so
//! a NaN in a window is passed over.

use crate::conv_f32::Geometry;

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
    let [kh, kw] = geometry.kernel;
    let [sh, sw] = geometry.strides.map(|s| s.max(1));
    let [dh, dw] = geometry.dilations.map(|d| d.max(1));
    // The taps of a window inside the image, along one axis: the first and the end (exclusive).
    let inside = |o: usize, stride: usize, dilation: usize, before: usize, kernel: usize, size: usize| {
        let first = before.saturating_sub(o * stride).div_ceil(dilation);
        let end = (size + before)
            .saturating_sub(o * stride)
            .div_ceil(dilation)
            .min(kernel);
        (first, end.max(first))
    };
    // Per tap `kx`, the outputs whose window reads inside the image along the width.
    let taps: Vec<(usize, usize)> = (0..kw)
        .map(|kx| geometry.outputs_inside(1, kx, width, left, ow))
        .collect();
    let mut out = vec![f32::NEG_INFINITY; planes * oh * ow];
    for (input, out) in x.chunks_exact(plane.max(1)).zip(out.chunks_exact_mut((oh * ow).max(1))) {
        for (oy, maxima) in out.chunks_exact_mut(ow.max(1)).enumerate() {
            let (ky0, ky1) = inside(oy, sh, dh, top, kh, height);
            for ky in ky0..ky1 {
                let row = input.get((oy * sh + ky * dh - top) * width..).unwrap_or_default();
                for (kx, &(first, end)) in taps.iter().enumerate() {
                    let start = first * sw + kx * dw - left;
                    let values = row.get(start..).unwrap_or_default().iter().step_by(sw);
                    for (max, &v) in maxima.get_mut(first..end).unwrap_or_default().iter_mut().zip(values) {
                        *max = if v > *max { v } else { *max };
                    }
                }
            }
        }
    }
    Some(out)
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
}
