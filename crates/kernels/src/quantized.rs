//! The quantized ops the main crate fuses into graphs, as kernels: [`QuantizedDense`] (a row
//! rounded to an 8-bit grid times an int8 weight, summed exactly in integers) and
//! [`QuantizedSoftmax`] (a Softmax of rounded logits, from a table of exponentials).
//!
//! Each is stored as the parameters it was made of ([`QuantizedWeight`], [`SoftmaxGrid`]) and
//! made again when read, so a stored op is checked like a new one.

use serde::{Deserialize, Serialize};

use crate::{dynamic_grid, round_each, Grid, IntRows, PackedWeight, Rounding};

/// How the activation is rounded to integers before the product.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum InputGrid {
    /// A fixed scale, zero point and integer range (static quantization).
    Fixed(Grid),
    /// uint8 with the scale and zero point taken from the whole input's range, widened to include
    /// 0, on every call (ONNX `DynamicQuantizeLinear`).
    Dynamic,
}

/// Largest `|weight - zero point|` and `|activation - zero point|`: both fit an i16 and the sums of
/// products an i32 for `k` below [`MAX_DEPTH`].
const MAX_CENTRED: i32 = 255;

/// Longest dot product whose exact sum is sure to fit an i32 (`MAX_DEPTH * 255 * 255 < 2^31`).
pub const MAX_DEPTH: usize = 32_768;

/// An 8-bit grid a kernel can round to: a positive finite step, the zero point in the range, a
/// range of at most 256 integers.
fn check_grid(grid: Grid) -> Result<(), String> {
    let Grid {
        scale,
        zero_point,
        low,
        high,
    } = grid;
    let finite = [scale, zero_point, low, high].iter().all(|v| v.is_finite());
    if !(finite && scale > 0.0 && low <= zero_point && zero_point <= high) {
        return Err(format!(
            "input grid: scale {scale}, zero point {zero_point}, range [{low}, {high}]"
        ));
    }
    if high - low > MAX_CENTRED as f32 {
        return Err(format!("input range [{low}, {high}] is wider than 8 bits"));
    }
    Ok(())
}

/// A [`QuantizedDense`] as it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedWeight {
    /// How the input is rounded.
    pub input: InputGrid,
    /// Depth: values per input row.
    pub k: usize,
    /// Outputs per row.
    pub m: usize,
    /// The weight's integers minus its zero point, `[k, m]` row-major.
    pub weight: Vec<i32>,
    /// Per output column, or one for the whole weight.
    pub weight_scale: Vec<f32>,
    /// Per output column, or none.
    pub bias: Vec<f32>,
    /// Whether a Relu follows.
    pub relu: bool,
}

/// A quantized activation times an int8 weight: `y = acc * (input_scale * weight_scale[m]) +
/// bias[m]`, then `max(y, 0)` if a Relu was fused, where `acc` is the exact integer product.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "QuantizedWeight", into = "QuantizedWeight")]
pub struct QuantizedDense {
    input: InputGrid,
    k: usize,
    m: usize,
    weight: Vec<i16>,
    /// Per output column (a per-tensor scale is repeated).
    weight_scale: Vec<f32>,
    bias: Vec<f32>,
    relu: bool,
    /// Made from the fields above, for the kernel.
    packed: PackedWeight,
}

impl PartialEq for QuantizedDense {
    fn eq(&self, other: &Self) -> bool {
        fn fields(d: &QuantizedDense) -> (InputGrid, usize, usize, &[i16], &[f32], &[f32], bool) {
            (d.input, d.k, d.m, &d.weight, &d.weight_scale, &d.bias, d.relu)
        }
        fields(self) == fields(other)
    }
}

impl TryFrom<QuantizedWeight> for QuantizedDense {
    type Error = String;

    /// The op for a centred weight `[k, m]` (row-major), its per-column scales (length `m`, or 1
    /// for a per-tensor scale), a bias of length `m` (or empty), and whether a Relu follows.
    fn try_from(stored: QuantizedWeight) -> Result<QuantizedDense, String> {
        let QuantizedWeight {
            input,
            k,
            m,
            weight,
            weight_scale,
            bias,
            relu,
        } = stored;
        if !(k > 0 && m > 0 && k <= MAX_DEPTH) {
            return Err(format!("a {k}x{m} weight is outside what the kernel takes"));
        }
        if k.checked_mul(m) != Some(weight.len()) {
            return Err(format!("the weight has {} values for {k}x{m}", weight.len()));
        }
        if !weight.iter().all(|w| w.unsigned_abs() <= MAX_CENTRED.unsigned_abs()) {
            return Err(format!(
                "a weight integer is not within ±{MAX_CENTRED} of its zero point"
            ));
        }
        let weight_scale = match weight_scale.len() {
            1 => vec![weight_scale[0]; m],
            n if n == m => weight_scale,
            n => return Err(format!("{n} weight scales for {m} columns")),
        };
        let bias = match bias.len() {
            0 => vec![0.0; m],
            n if n == m => bias,
            n => return Err(format!("a bias of {n} values for {m} columns")),
        };
        if let InputGrid::Fixed(grid) = input {
            check_grid(grid)?;
        }
        let weight: Vec<i16> = weight.into_iter().map(|w| w as i16).collect();
        let packed = PackedWeight::new(&weight, k, m, &weight_scale, &bias, relu);
        Ok(QuantizedDense {
            input,
            k,
            m,
            weight,
            weight_scale,
            bias,
            relu,
            packed,
        })
    }
}

impl From<QuantizedDense> for QuantizedWeight {
    fn from(d: QuantizedDense) -> QuantizedWeight {
        QuantizedWeight {
            input: d.input,
            k: d.k,
            m: d.m,
            weight: d.weight.into_iter().map(i32::from).collect(),
            weight_scale: d.weight_scale,
            bias: d.bias,
            relu: d.relu,
        }
    }
}

impl QuantizedDense {
    /// Depth: values per input row.
    pub fn depth(&self) -> usize {
        self.k
    }

    /// Output columns.
    pub fn columns(&self) -> usize {
        self.m
    }

    /// Whether a Relu follows.
    pub fn relu(&self) -> bool {
        self.relu
    }

    /// How the input is rounded.
    pub fn input(&self) -> InputGrid {
        self.input
    }

    /// The centred weight's integers, `[k, m]` row-major.
    pub fn weight(&self) -> &[i16] {
        &self.weight
    }

    /// Computes `rows` rows of `k` values into `rows * m` outputs.
    pub fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.apply_into(x, rows, &mut out);
        out
    }

    /// [`QuantizedDense::apply`] into `out`, whose allocation is reused from one call to the next.
    pub fn apply_into(&self, x: &[f32], rows: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(rows * self.m, 0.0);
        let Some((rounding, input_scale)) = self.rounding(x) else {
            out.fill(f32::NAN);
            return;
        };
        let ints = IntRows::round(x.get(..rows * self.k).unwrap_or_default(), self.k, rounding);
        self.packed.apply(&ints, input_scale, out);
    }

    /// How this input is rounded, and its scale; `None` when a dynamic range is not finite.
    fn rounding(&self, x: &[f32]) -> Option<(Rounding, f32)> {
        let centred = |grid: Grid| (Rounding::centred(grid), grid.scale);
        match self.input {
            InputGrid::Fixed(grid) => Some(centred(grid)),
            InputGrid::Dynamic => {
                let grid = dynamic_grid(x)?;
                // Every value is 0: all integers are 0 whatever the scale.
                Some(centred(if grid.scale == 0.0 {
                    Grid { scale: 1.0, ..grid }
                } else {
                    grid
                }))
            }
        }
    }
}

/// A [`QuantizedSoftmax`] as it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxGrid {
    /// The grid its input was rounded to.
    pub grid: Grid,
    /// ONNX's `axis` (negative counts from the end).
    pub axis: i64,
    /// Before opset 13, the Softmax runs over all the axes from `axis` on, flattened; since, along
    /// `axis` alone.
    pub flattened: bool,
}

/// A Softmax whose input was rounded to an 8-bit grid, computed with a table: on that grid the
/// differences `x_i - max(x)` are `(q_i - q_max) * scale` with `q_max - q_i` between 0 and 255,
/// so the 256 exponentials are computed once, and each value costs a lookup instead of an `exp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SoftmaxGrid", into = "SoftmaxGrid")]
pub struct QuantizedSoftmax {
    stored: SoftmaxGrid,
    rounding: Rounding,
    /// `exp(-d * scale)` for `d` in `0..=high - low`.
    table: Vec<f32>,
}

impl TryFrom<SoftmaxGrid> for QuantizedSoftmax {
    type Error = String;

    fn try_from(s: SoftmaxGrid) -> Result<QuantizedSoftmax, String> {
        QuantizedSoftmax::new(s.grid, s.axis, s.flattened)
    }
}

impl From<QuantizedSoftmax> for SoftmaxGrid {
    fn from(s: QuantizedSoftmax) -> SoftmaxGrid {
        s.stored
    }
}

/// Where the values of each Softmax lie in a flat input: run `r` starts at
/// `(r / stride) * length * stride + r % stride` and steps by `stride`.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    outer: usize,
    length: usize,
    stride: usize,
}

impl QuantizedSoftmax {
    /// The op for the input grid of a rounding.
    pub fn new(grid: Grid, axis: i64, flattened: bool) -> Result<QuantizedSoftmax, String> {
        check_grid(grid)?;
        let Grid { scale, low, high, .. } = grid;
        let rounding = Rounding::centred(grid);
        let table = (0..=(high - low) as u32).map(|d| (-(d as f32) * scale).exp()).collect();
        Ok(QuantizedSoftmax {
            stored: SoftmaxGrid { grid, axis, flattened },
            rounding,
            table,
        })
    }

    /// What it was made of.
    pub fn stored(&self) -> SoftmaxGrid {
        self.stored
    }

    /// For an input of this shape: how many Softmaxes, over how many values each, at what
    /// distance from one value to the next.
    pub fn layout(&self, shape: &[usize]) -> Result<Layout, String> {
        let rank = shape.len() as i64;
        let SoftmaxGrid {
            axis: given, flattened, ..
        } = self.stored;
        let axis = if given < 0 { given + rank } else { given };
        if !(0..rank.max(1)).contains(&axis) {
            return Err(format!("axis {given} of a rank {rank} input"));
        }
        let (before, after) = shape.split_at((axis as usize).min(shape.len()));
        let outer = before.iter().product();
        if flattened {
            return Ok(Layout {
                outer,
                length: after.iter().product(),
                stride: 1,
            });
        }
        let length = after.first().copied().unwrap_or(1);
        let stride = after.iter().skip(1).product();
        Ok(Layout {
            outer: outer * stride,
            length,
            stride,
        })
    }

    /// The Softmax of the rounded values, for every run that `layout` describes.
    pub fn apply(&self, x: &[f32], layout: Layout) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        let Layout { length, stride, .. } = layout;
        let (mut ints, mut gathered) = (Vec::with_capacity(length), Vec::with_capacity(length));
        for run in 0..layout.outer {
            let (block, within) = (run / stride.max(1), run % stride.max(1));
            let first = block * length * stride + within;
            let values = if stride == 1 {
                x.get(first..first + length).unwrap_or_default()
            } else {
                gathered.clear();
                gathered.extend((0..length).map(|j| x.get(first + j * stride).copied().unwrap_or(0.0)));
                &gathered
            };
            ints.clear();
            let nan = round_each(values, self.rounding, &mut ints);
            let top = ints.iter().copied().max().unwrap_or(0);
            let exp = |q: &i32| self.table.get((top - q) as usize).copied().unwrap_or(0.0);
            let sum: f32 = ints.iter().map(exp).sum();
            let inverse = if nan { f32::NAN } else { 1.0 / sum };
            for (j, q) in ints.iter().enumerate() {
                if let Some(y) = out.get_mut(first + j * stride) {
                    *y = exp(q) * inverse;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stored(input: InputGrid, k: usize, m: usize, weight: Vec<i32>) -> QuantizedWeight {
        QuantizedWeight {
            input,
            k,
            m,
            weight,
            weight_scale: vec![1.0],
            bias: vec![],
            relu: false,
        }
    }

    #[test]
    fn parameters_no_kernel_can_hold_are_errors() {
        let grid = Grid {
            scale: 0.1,
            zero_point: 0.0,
            low: -128.0,
            high: 127.0,
        };
        let fixed = InputGrid::Fixed(grid);
        assert!(QuantizedDense::try_from(stored(fixed, 2, 2, vec![1; 4])).is_ok());
        assert!(QuantizedDense::try_from(stored(fixed, 2, 2, vec![i32::MIN, 1, 1, 1])).is_err());
        assert!(QuantizedDense::try_from(stored(fixed, 2, usize::MAX / 2 + 1, vec![])).is_err());
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            let grid = Grid {
                low: bad,
                zero_point: bad,
                high: bad,
                ..grid
            };
            assert!(QuantizedDense::try_from(stored(InputGrid::Fixed(grid), 2, 2, vec![1; 4])).is_err());
            assert!(QuantizedSoftmax::new(grid, -1, false).is_err());
        }
    }
}
