//! A two-dimensional convolution by a constant weight (NCHW, one group), as a float product: the
//! weight `[channels, taps]` times, for each tap of the kernel, the input values it reads for
//! every output pixel, which gives the output channel-major, as NCHW wants it. At stride 1 those
//! values are read from a zero-padded copy of the image, where a tap's values for 8 neighbouring
//! outputs are one contiguous run; at other
//! strides they are gathered into a row per tap (im2col, zeros where a tap covers the padding). A
//! tile of 4 channels × 8 pixels keeps 8 `f32x4` accumulators, like the float product's; bias and
//! Relu are fused. Sums run in depth order. Elsewhere a plain loop computes the same values; it
//! exists for tests.

use serde::{Deserialize, Serialize};

use crate::dense_f32::{store_block, Sums};

/// How the input is padded, as ONNX's `pads` and `auto_pad` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Padding {
    /// `[top, left, bottom, right]` (ONNX's `pads`: the two begins, then the two ends).
    Explicit([usize; 4]),
    /// `SAME_UPPER`: as many outputs as `ceil(input / stride)`, the odd padding at the end.
    SameUpper,
    /// `SAME_LOWER`: the same, the odd padding at the beginning.
    SameLower,
}

/// Where a convolution's windows fall: kernel size, strides, dilations and padding, per spatial
/// axis (height, then width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Geometry {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Steps between windows.
    pub strides: [usize; 2],
    /// Steps between a window's taps.
    pub dilations: [usize; 2],
    /// The padding.
    pub padding: Padding,
}

impl Geometry {
    /// For an input of `input` values along `axis`: the number of outputs and the padding before
    /// the first, or `None` when the window does not fit once.
    pub fn along(&self, axis: usize, input: usize) -> Option<(usize, usize)> {
        let (kernel, stride, dilation) = (
            *self.kernel.get(axis)?,
            (*self.strides.get(axis)?).max(1),
            (*self.dilations.get(axis)?).max(1),
        );
        let field = kernel.checked_sub(1)?.checked_mul(dilation)?.checked_add(1)?;
        match self.padding {
            Padding::Explicit(pads) => {
                let (before, after) = (*pads.get(axis)?, *pads.get(axis + 2)?);
                let padded = input.checked_add(before)?.checked_add(after)?;
                let outputs = padded.checked_sub(field)? / stride + 1;
                Some((outputs, before))
            }
            Padding::SameUpper | Padding::SameLower => {
                let outputs = input.div_ceil(stride);
                let total = ((outputs.checked_sub(1)?) * stride + field).saturating_sub(input);
                let before = if self.padding == Padding::SameUpper {
                    total / 2
                } else {
                    total - total / 2
                };
                Some((outputs, before))
            }
        }
    }

    /// The outputs along `axis` whose tap `tap` reads inside an input of `size` values padded by
    /// `before` at its start: the first and the end (exclusive, at most `outputs`).
    pub fn outputs_inside(
        &self,
        axis: usize,
        tap: usize,
        size: usize,
        before: usize,
        outputs: usize,
    ) -> (usize, usize) {
        let stride = self.strides.get(axis).map_or(1, |&s| s.max(1));
        let offset = tap * self.dilations.get(axis).map_or(1, |&d| d.max(1));
        let first = before.saturating_sub(offset).div_ceil(stride);
        let end = (size + before).saturating_sub(offset).div_ceil(stride).min(outputs);
        (first, end.max(first))
    }
}

/// Output channels computed together: each vector of patch values loaded serves this many.
const CHANNELS: usize = 4;
/// One group of channels' weights: for each depth, the group's [`CHANNELS`] weights.
type GroupWeights = [[f32; CHANNELS]];
/// Pixels computed together (two vectors of 4, as many as [`Sums`] holds).
const PIXELS: usize = crate::dense_f32::BLOCK;

/// A convolution as it is stored: its weight unpacked, so that the kernel's layout is not part of
/// any file format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvWeight {
    /// `[out_channels, channels, kh, kw]`.
    pub dims: [usize; 4],
    /// Row-major, of `dims`.
    pub weight: Vec<f32>,
    /// One per output channel, or none.
    pub bias: Vec<f32>,
    /// Whether a Relu follows.
    pub relu: bool,
    /// Where the windows fall.
    pub geometry: Geometry,
}

impl TryFrom<ConvWeight> for PackedConv {
    type Error = String;

    fn try_from(w: ConvWeight) -> Result<PackedConv, String> {
        PackedConv::new(&w.weight, w.dims, &w.bias, w.relu, w.geometry).ok_or_else(|| {
            format!(
                "a convolution weight of dims {:?} with {} values, {} biases and a {:?} kernel",
                w.dims,
                w.weight.len(),
                w.bias.len(),
                w.geometry.kernel
            )
        })
    }
}

impl From<PackedConv> for ConvWeight {
    fn from(packed: PackedConv) -> ConvWeight {
        let depth = packed.depth;
        let [kh, kw] = packed.geometry.kernel;
        ConvWeight {
            dims: [packed.out_channels, packed.channels, kh, kw],
            weight: (0..packed.out_channels * depth)
                .map(|i| {
                    let (c, d) = (i / depth, i % depth);
                    packed
                        .weights
                        .get(c / CHANNELS * depth + d)
                        .map_or(0.0, |w| w[c % CHANNELS])
                })
                .collect(),
            bias: packed.bias,
            relu: packed.relu,
            geometry: packed.geometry,
        }
    }
}

/// A convolution's weight `[out_channels, channels, kh, kw]` packed for the product, with its
/// bias and whether a Relu follows. Stored as its [`ConvWeight`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConvWeight", into = "ConvWeight")]
pub struct PackedConv {
    channels: usize,
    out_channels: usize,
    /// Values per patch: `channels × kh × kw`.
    depth: usize,
    geometry: Geometry,
    /// For each group of [`CHANNELS`] output channels, for each depth, their weights (zero past
    /// the last channel).
    weights: Vec<[f32; CHANNELS]>,
    bias: Vec<f32>,
    relu: bool,
}

impl PackedConv {
    /// Packs a weight of `dims` `[out_channels, channels, kh, kw]` (row-major), its biases (empty:
    /// none) and whether a Relu follows; `None` when the values do not fill the dims or the
    /// kernel's size differs from the geometry's.
    pub fn new(weight: &[f32], dims: [usize; 4], bias: &[f32], relu: bool, geometry: Geometry) -> Option<PackedConv> {
        let [out_channels, channels, kh, kw] = dims;
        if dims.contains(&0) {
            return None;
        }
        let depth = channels.checked_mul(kh)?.checked_mul(kw)?;
        if weight.len() != depth.checked_mul(out_channels)?
            || geometry.kernel != [kh, kw]
            || !(bias.is_empty() || bias.len() == out_channels)
        {
            return None;
        }
        let at = |c: usize, d: usize| if c < out_channels { weight[c * depth + d] } else { 0.0 };
        let weights = (0..out_channels.div_ceil(CHANNELS))
            .flat_map(|g| (0..depth).map(move |d| std::array::from_fn(|i| at(g * CHANNELS + i, d))))
            .collect();
        Some(PackedConv {
            channels,
            out_channels,
            depth,
            geometry,
            weights,
            bias: (0..out_channels).map(|c| bias.get(c).copied().unwrap_or(0.0)).collect(),
            relu,
        })
    }

    /// Input channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Where the windows fall.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Convolves `images` images of `channels × height × width` values (NCHW, one after the
    /// other): `images × out_channels × oh × ow` values, or `None` if `x` is not that size or the
    /// kernel does not fit.
    pub fn apply(&self, x: &[f32], images: usize, height: usize, width: usize) -> Option<Vec<f32>> {
        let (oh, top) = self.geometry.along(0, height)?;
        let (ow, left) = self.geometry.along(1, width)?;
        let plane = height.checked_mul(width)?;
        let image = self.channels.checked_mul(plane)?;
        if x.len() != images.checked_mul(image)? {
            return None;
        }
        let pixels = oh.checked_mul(ow)?;
        let outputs = self.out_channels.checked_mul(pixels)?;
        let mut out = vec![0f32; images.checked_mul(outputs)?];
        let images = x.chunks_exact(image.max(1)).zip(out.chunks_exact_mut(outputs.max(1)));
        if self.geometry.strides == [1, 1] {
            self.direct(images, height, width, [oh, ow], [top, left])?;
            return Some(out);
        }
        let padded = pixels.div_ceil(PIXELS) * PIXELS;
        // `[depth, padded]`: row `d` holds tap `d` of every pixel's patch. The padding's places are
        // the same for every image, so they stay zero from here on.
        let mut patches = vec![0f32; self.depth.checked_mul(padded)?];
        let offsets: Vec<usize> = (0..self.depth).map(|d| d * padded).collect();
        let places = Places::new((0..padded).map(|p| (p < pixels).then_some(p)))?;
        for (input, out) in images {
            self.gather(input, height, width, [oh, ow], [top, left], padded, &mut patches);
            self.product(&patches, &offsets, &places, out, pixels);
        }
        Some(out)
    }

    /// Stride 1 without im2col: each image is copied once into a zero-padded frame of
    /// `(oh + field_h - 1) × (ow + field_w - 1)` per channel; over the frame's flat index `q = y ×
    /// frame_width + x`, tap `(c, ky, kx)` of the output at `q` reads the frame at `q + c × frame +
    /// ky × dh × frame_width + kx × dw`, so the tile reads 8 outputs' values of a tap in one
    /// contiguous run. The frame's columns past `ow` give outputs that are dropped.
    fn direct<'a>(
        &self,
        images: impl Iterator<Item = (&'a [f32], &'a mut [f32])>,
        height: usize,
        width: usize,
        [oh, ow]: [usize; 2],
        [top, left]: [usize; 2],
    ) -> Option<()> {
        let [kh, kw] = self.geometry.kernel;
        let [dh, dw] = self.geometry.dilations.map(|d| d.max(1));
        let (fh, fw) = (oh + (kh.checked_sub(1)?) * dh, ow + (kw.checked_sub(1)?) * dw);
        let frame = fh.checked_mul(fw)?;
        let columns = oh * fw;
        let offsets: Vec<usize> = (0..self.channels)
            .flat_map(|c| (0..kh).flat_map(move |ky| (0..kw).map(move |kx| c * frame + ky * dh * fw + kx * dw)))
            .collect();
        // Reads run up to 8 values past the last output's taps.
        let mut frames = vec![0f32; self.channels.checked_mul(frame)?.checked_add(fw + PIXELS)?];
        // Frame column `q` is output `(q / fw, q % fw)`, dropped past `ow`.
        let places = Places::new(
            (0..columns.div_ceil(PIXELS) * PIXELS).map(|q| (q < columns && q % fw < ow).then(|| q / fw * ow + q % fw)),
        )?;
        for (input, out) in images {
            for (channel, framed) in input
                .chunks_exact((height * width).max(1))
                .zip(frames.chunks_exact_mut(frame.max(1)))
            {
                for (y, row) in channel.chunks_exact(width.max(1)).enumerate() {
                    // Image row `y` is frame row `y + top`, its column `x` frame column `x + left`;
                    // rows and columns past the frame are never read.
                    let fy = y + top;
                    if fy >= fh {
                        break;
                    }
                    let visible = row.get(..fw.saturating_sub(left).min(width)).unwrap_or_default();
                    if let Some(target) = framed.get_mut(fy * fw + left..fy * fw + left + visible.len()) {
                        target.copy_from_slice(visible);
                    }
                }
            }
            self.product(&frames, &offsets, &places, out, oh * ow);
        }
        Some(())
    }

    /// im2col: writes each tap's row of `patches` from the image, where the tap falls inside it.
    #[allow(clippy::too_many_arguments)]
    fn gather(
        &self,
        input: &[f32],
        height: usize,
        width: usize,
        [oh, ow]: [usize; 2],
        [top, left]: [usize; 2],
        padded: usize,
        patches: &mut [f32],
    ) {
        let [kh, kw] = self.geometry.kernel;
        let [sh, sw] = self.geometry.strides.map(|s| s.max(1));
        let [dh, dw] = self.geometry.dilations.map(|d| d.max(1));
        let mut rows = patches.chunks_exact_mut(padded.max(1));
        for channel in input.chunks_exact((height * width).max(1)) {
            for ky in 0..kh {
                for kx in 0..kw {
                    let Some(row) = rows.next() else { return };
                    let (first, end) = self.geometry.outputs_inside(1, kx, width, left, ow);
                    let offset = kx * dw;
                    for oy in 0..oh {
                        let Some(iy) = (oy * sh + ky * dh).checked_sub(top).filter(|&y| y < height) else {
                            continue;
                        };
                        if first >= end {
                            continue;
                        }
                        let start = first * sw + offset - left;
                        let source = channel.get(iy * width + start..(iy + 1) * width).unwrap_or_default();
                        let target = row.get_mut(oy * ow + first..oy * ow + end).unwrap_or_default();
                        if sw == 1 {
                            target.copy_from_slice(source.get(..target.len()).unwrap_or_default());
                        } else {
                            for (t, s) in target.iter_mut().zip(source.iter().step_by(sw)) {
                                *t = *s;
                            }
                        }
                    }
                }
            }
        }
    }

    /// `out[c × plane + places[p]] = relu?(bias[c] + Σ_d weight[c][d] × source[offsets[d] + p])`
    /// for every column `p` that has a place.
    fn product(&self, source: &[f32], offsets: &[usize], places: &Places, out: &mut [f32], plane: usize) {
        // Blocks outside, channel groups inside: the values of a block's taps, one cache line
        // per tap, are read from memory once and then from the cache for the other groups.
        for (b, block_places) in places.places.chunks_exact(PIXELS).enumerate() {
            let block = b * PIXELS;
            let run = places.runs.get(b).copied().flatten();
            for (g, weights) in self.weights.chunks_exact(self.depth.max(1)).enumerate() {
                // A last group of one or two channels (LeNet's 6) computes two.
                let sums = match self.out_channels.saturating_sub(g * CHANNELS) {
                    ..=2 => tile::<2>(weights, source, offsets, block),
                    _ => tile::<CHANNELS>(weights, source, offsets, block),
                };
                for (i, sums) in sums.into_iter().enumerate() {
                    let c = g * CHANNELS + i;
                    let Some(&bias) = self.bias.get(c) else { break };
                    let out = out.get_mut(c * plane..(c + 1) * plane).unwrap_or_default();
                    if let Some(start) = run {
                        let end = start + PIXELS;
                        store_block(
                            out.get_mut(start..end).unwrap_or_default(),
                            sums,
                            &[bias; PIXELS],
                            self.relu,
                        );
                        continue;
                    }
                    let mut values = [0f32; PIXELS];
                    store_block(&mut values, sums, &[bias; PIXELS], self.relu);
                    for (&place, v) in block_places.iter().zip(values) {
                        if let Some(y) = out.get_mut(place as usize) {
                            *y = v;
                        }
                    }
                }
            }
        }
    }
}

/// Where the product's columns go in an output channel's plane, in blocks of [`PIXELS`]: a
/// column without a place (past the last pixel, or a padded frame's column past the row) is
/// dropped.
struct Places {
    /// Per column, its place, or `u32::MAX`.
    places: Vec<u32>,
    /// Per block, the first place if its 8 columns go to 8 places in a row.
    runs: Vec<Option<usize>>,
}

impl Places {
    /// From each column's place (a multiple of [`PIXELS`] columns); `None` past `u32`.
    fn new(places: impl Iterator<Item = Option<usize>>) -> Option<Places> {
        let places = places
            .map(|p| p.map_or(Some(u32::MAX), |p| u32::try_from(p).ok().filter(|&p| p != u32::MAX)))
            .collect::<Option<Vec<u32>>>()?;
        let runs = places
            .chunks_exact(PIXELS)
            .map(|block| {
                let first = *block.first()?;
                let in_a_row = (0u32..).zip(block).all(|(i, &p)| first.checked_add(i) == Some(p));
                (in_a_row && first != u32::MAX).then_some(first as usize)
            })
            .collect();
        Some(Places { places, runs })
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::*;

/// The sums of the first `USED` of [`CHANNELS`] output channels (the others zero) for the columns
/// `at..at + 8`, in depth order: tap `d` of column `p` is `source[offsets[d] + p]`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn tile<const USED: usize>(weights: &GroupWeights, source: &[f32], offsets: &[usize], at: usize) -> [Sums; CHANNELS] {
    let zero = f32x4_splat(0.0);
    let mut acc = [[zero; 2]; CHANNELS];
    for (w, &offset) in weights.iter().zip(offsets) {
        let start = offset + at;
        let Some(&[p0, p1, p2, p3, p4, p5, p6, p7]) = source.get(start..start + PIXELS) else {
            continue;
        };
        let (lo, hi) = (f32x4(p0, p1, p2, p3), f32x4(p4, p5, p6, p7));
        for (acc, &w) in acc.iter_mut().zip(w).take(USED) {
            let s = f32x4_splat(w);
            acc[0] = f32x4_add(acc[0], f32x4_mul(s, lo));
            acc[1] = f32x4_add(acc[1], f32x4_mul(s, hi));
        }
    }
    acc
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn tile<const USED: usize>(weights: &GroupWeights, source: &[f32], offsets: &[usize], at: usize) -> [Sums; CHANNELS] {
    let mut acc = [[0f32; PIXELS]; CHANNELS];
    for (w, &offset) in weights.iter().zip(offsets) {
        let values = source.get(offset + at..offset + at + PIXELS).unwrap_or_default();
        for (acc, &w) in acc.iter_mut().zip(w).take(USED) {
            for (a, &p) in acc.iter_mut().zip(values) {
                *a += w * p;
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::{ConvWeight, Geometry, PackedConv, Padding};

    #[test]
    fn a_packed_convolution_unpacks_to_what_it_was_made_of() {
        for dims in [[1, 1, 1, 1], [5, 3, 3, 2], [8, 2, 5, 5]] {
            let geometry = Geometry {
                kernel: [dims[2], dims[3]],
                strides: [1, 2],
                dilations: [1, 1],
                padding: Padding::SameUpper,
            };
            let stored = ConvWeight {
                dims,
                weight: (0..dims.iter().product()).map(|i: usize| i as f32 - 7.0).collect(),
                bias: (0..dims[0]).map(|c| c as f32).collect(),
                relu: true,
                geometry,
            };
            let packed = PackedConv::try_from(stored.clone()).unwrap();
            assert_eq!(ConvWeight::from(packed), stored);
            let wrong = ConvWeight {
                dims: [dims[0] + 1, dims[1], dims[2], dims[3]],
                ..stored.clone()
            };
            assert!(PackedConv::try_from(wrong).is_err());
            let empty = ConvWeight {
                dims: [usize::MAX, 0, dims[2], dims[3]],
                weight: vec![],
                bias: vec![],
                ..stored
            };
            assert!(PackedConv::try_from(empty).is_err());
        }
    }

    /// The convolution by its definition, in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        [n, c, h, wd]: [usize; 4],
        [oc, kh, kw]: [usize; 3],
        g: &Geometry,
        relu: bool,
    ) -> Vec<f32> {
        let (oh, top) = g.along(0, h).unwrap();
        let (ow, left) = g.along(1, wd).unwrap();
        let mut out = vec![];
        for i in 0..n {
            for o in 0..oc {
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut s = f64::from(b.get(o).copied().unwrap_or(0.0));
                        for ch in 0..c {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (y * g.strides[0] + ky * g.dilations[0]) as isize - top as isize;
                                    let ix = (xx * g.strides[1] + kx * g.dilations[1]) as isize - left as isize;
                                    if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= wd {
                                        continue;
                                    }
                                    let v = x[((i * c + ch) * h + iy as usize) * wd + ix as usize];
                                    s += f64::from(v) * f64::from(w[((o * c + ch) * kh + ky) * kw + kx]);
                                }
                            }
                        }
                        let v = s as f32;
                        out.push(if relu && v < 0.0 { 0.0 } else { v });
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_geometry_matches_the_definition() {
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 25.0;
        let geometry = |kernel, strides, dilations, padding| Geometry {
            kernel,
            strides,
            dilations,
            padding,
        };
        for (shape, oc, g, relu) in [
            (
                [2, 1, 8, 8],
                8,
                geometry([3, 3], [1, 1], [1, 1], Padding::Explicit([0; 4])),
                true,
            ),
            (
                [1, 1, 28, 28],
                6,
                geometry([5, 5], [1, 1], [1, 1], Padding::Explicit([2; 4])),
                true,
            ),
            (
                [3, 6, 14, 14],
                16,
                geometry([5, 5], [1, 1], [1, 1], Padding::Explicit([0; 4])),
                false,
            ),
            (
                [1, 3, 9, 7],
                5,
                geometry([3, 2], [2, 3], [1, 1], Padding::Explicit([1, 0, 2, 1])),
                true,
            ),
            (
                [2, 2, 10, 11],
                9,
                geometry([3, 3], [1, 2], [2, 1], Padding::SameUpper),
                false,
            ),
            (
                [1, 2, 6, 5],
                4,
                geometry([2, 4], [2, 2], [1, 1], Padding::SameLower),
                true,
            ),
            (
                [2, 3, 9, 12],
                7,
                geometry([3, 3], [1, 1], [1, 1], Padding::Explicit([1; 4])),
                true,
            ),
            (
                [5, 4, 3, 3],
                17,
                geometry([1, 1], [1, 1], [1, 1], Padding::Explicit([0; 4])),
                false,
            ),
        ] {
            let [n, c, h, wd] = shape;
            let [kh, kw] = g.kernel;
            let w: Vec<f32> = (0..oc * c * kh * kw).map(value).collect();
            let b: Vec<f32> = (0..oc).map(|i| value(i + 5)).collect();
            let x: Vec<f32> = (0..n * c * h * wd).map(|i| value(i + 13)).collect();
            let conv = PackedConv::new(&w, [oc, c, kh, kw], &b, relu, g).unwrap();
            let got = conv.apply(&x, n, h, wd).unwrap();
            let want = reference(&x, &w, &b, shape, [oc, kh, kw], &g, relu);
            assert_eq!(got.len(), want.len(), "{shape:?} {g:?}");
            let depth = (c * kh * kw) as f32;
            for (i, (g2, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g2 - e).abs() <= 1e-5 * depth * (1.0 + e.abs()),
                    "{shape:?} {g:?} [{i}]: {g2} against {e}"
                );
            }
        }
    }

    #[test]
    fn sizes_follow_onnx_and_a_kernel_larger_than_the_input_is_refused() {
        let g = |padding| Geometry {
            kernel: [3, 3],
            strides: [2, 2],
            dilations: [1, 1],
            padding,
        };
        assert_eq!(g(Padding::Explicit([0; 4])).along(0, 7), Some((3, 0)));
        assert_eq!(g(Padding::Explicit([1, 1, 1, 1])).along(1, 7), Some((4, 1)));
        // SAME: ceil(8 / 2) = 4 outputs; total padding (4 - 1) * 2 + 3 - 8 = 1.
        assert_eq!(g(Padding::SameUpper).along(0, 8), Some((4, 0)));
        assert_eq!(g(Padding::SameLower).along(0, 8), Some((4, 1)));
        assert_eq!(g(Padding::Explicit([0; 4])).along(0, 2), None);
        let conv = PackedConv::new(&[1.0; 9], [1, 1, 3, 3], &[], false, g(Padding::Explicit([0; 4]))).unwrap();
        assert_eq!(conv.apply(&[0.0; 4], 1, 2, 2), None);
        assert_eq!(conv.apply(&[0.0; 5], 1, 3, 3), None, "9 values expected");
        assert!(PackedConv::new(&[1.0; 8], [1, 1, 3, 3], &[], false, g(Padding::Explicit([0; 4]))).is_none());
    }
}
