//! `QuantizedDense`: a quantized activation times an int8 weight, in integers.
//!
//! [`crate::fuse_dense`] puts it where a graph rounds an activation to an 8-bit grid and multiplies
//! it by a constant 8-bit weight (`QuantizeLinear -> DequantizeLinear -> MatMul|Gemm`, plus the
//! bias `Add` and `Relu` that follow). Instead of rounding the floats, writing them back and
//! running a float product over the dequantized weight, it rounds each row to 16-bit integers,
//! multiplies them by the weight's integers with exact 32-bit sums (in wasm, `i32x4.dot_i16x8_s`:
//! 8 multiply-adds per instruction, where the float kernel does 4 in two), and scales the sums
//! once per output: `y = acc * (input_scale * weight_scale[m]) + bias[m]`, then `max(y, 0)` if a
//! Relu was fused. That is how onnxruntime's integer kernels compute it too.

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::Onnx;

use crate::expansion::F32Expansion;

use wasm_predict_kernels::{IntRows, PackedWeight, Rounding};

/// Op type of [`QuantizedDense`] in rewritten graphs.
pub const QUANTIZED_DENSE: &str = "WasmPredictQuantizedDense";

/// How the activation is rounded to integers before the product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputGrid {
    /// A fixed scale, zero point and integer range (static quantization).
    Fixed {
        scale: f32,
        zero_point: f32,
        low: f32,
        high: f32,
    },
    /// uint8 with the scale and zero point taken from the whole input's range, widened to include
    /// 0, on every call (ONNX `DynamicQuantizeLinear`).
    Dynamic,
}

/// The op; see the module documentation.
#[derive(Debug, Clone)]
pub struct QuantizedDense {
    input: InputGrid,
    k: usize,
    m: usize,
    /// The weight's integers minus its zero point, `[k, m]` row-major.
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

impl Eq for QuantizedDense {}

/// Largest `|weight - zero point|` and `|activation - zero point|`: both fit an i16 and the sums of
/// products an i32 for `k` below [`MAX_DEPTH`].
const MAX_CENTRED: i32 = 255;

/// Longest dot product whose exact sum is sure to fit an i32 (`MAX_DEPTH * 255 * 255 < 2^31`).
pub const MAX_DEPTH: usize = 32_768;

impl QuantizedDense {
    /// The op for a centred weight `[k, m]` (row-major), its per-column scales (length `m`, or 1
    /// for a per-tensor scale), a bias of length `m` (or empty), and whether a Relu follows.
    pub fn new(
        input: InputGrid,
        k: usize,
        m: usize,
        weight: Vec<i32>,
        weight_scale: Vec<f32>,
        bias: Vec<f32>,
        relu: bool,
    ) -> TractResult<QuantizedDense> {
        ensure!(
            k > 0 && m > 0 && k <= MAX_DEPTH,
            "a {k}x{m} weight is outside what the kernel takes"
        );
        ensure!(
            weight.len() == k * m,
            "the weight has {} values for {k}x{m}",
            weight.len()
        );
        ensure!(
            weight.iter().all(|w| w.abs() <= MAX_CENTRED),
            "a weight integer is not within ±{MAX_CENTRED} of its zero point"
        );
        let weight_scale = match weight_scale.len() {
            1 => vec![weight_scale[0]; m],
            n if n == m => weight_scale,
            n => bail!("{n} weight scales for {m} columns"),
        };
        let bias = match bias.len() {
            0 => vec![0.0; m],
            n if n == m => bias,
            n => bail!("a bias of {n} values for {m} columns"),
        };
        if let InputGrid::Fixed {
            scale,
            zero_point,
            low,
            high,
        } = input
        {
            ensure!(
                scale.is_finite() && scale > 0.0 && low <= zero_point && zero_point <= high,
                "input grid: scale {scale}, zero point {zero_point}, range [{low}, {high}]"
            );
            ensure!(
                high - low <= MAX_CENTRED as f32,
                "input range [{low}, {high}] is wider than 8 bits"
            );
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

    /// Output columns.
    pub fn columns(&self) -> usize {
        self.m
    }

    /// Computes `rows` rows of `k` values into `rows * m` outputs.
    pub fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = vec![0f32; rows * self.m];
        let Some((rounding, input_scale)) = self.rounding(x) else {
            out.fill(f32::NAN);
            return out;
        };
        let ints = IntRows::round(&x[..rows * self.k], self.k, rounding);
        self.packed.apply(&ints, input_scale, &mut out);
        out
    }

    /// How this input is rounded, and its scale; `None` when a dynamic range is not finite.
    fn rounding(&self, x: &[f32]) -> Option<(Rounding, f32)> {
        let centred = |scale, zero_point, low, high| (Rounding::centred(scale, zero_point, low, high), scale);
        match self.input {
            InputGrid::Fixed {
                scale,
                zero_point,
                low,
                high,
            } => Some(centred(scale, zero_point, low, high)),
            InputGrid::Dynamic => {
                let (min, max) = wasm_predict_kernels::range_with_zero(x);
                let scale = (max - min) / 255.0;
                if !scale.is_finite() {
                    return None;
                }
                if scale == 0.0 {
                    // Every value is 0: all integers are 0 whatever the scale.
                    return Some(centred(1.0, 0.0, 0.0, 255.0));
                }
                let zero_point = (-min / scale).round_ties_even().clamp(0.0, 255.0);
                Some(centred(scale, zero_point, 0.0, 255.0))
            }
        }
    }
}

impl std::hash::Hash for QuantizedDense {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.k, self.m, self.relu, &self.weight).hash(state);
    }
}

impl Op for QuantizedDense {
    fn name(&self) -> StaticName {
        QUANTIZED_DENSE.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} int weight, {:?}, relu: {}",
            self.k, self.m, self.input, self.relu
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QuantizedDense {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape().to_vec();
        ensure!(
            shape.last() == Some(&self.k),
            "{QUANTIZED_DENSE}: input shape {shape:?}, expected a last dimension of {}",
            self.k
        );
        let plain = input.try_as_plain_ram()?;
        let x = plain.as_slice::<f32>()?;
        let rows = x.len() / self.k;
        let mut out_shape = shape;
        if let Some(last) = out_shape.last_mut() {
            *last = self.m;
        }
        let out = tract_ndarray::ArrayD::from_shape_vec(out_shape, self.apply(x, rows))?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for QuantizedDense {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        match shape.last_mut() {
            Some(last) => *last = self.m.to_dim(),
            None => bail!("{QUANTIZED_DENSE} needs an input of rank 1 or more"),
        }
        Ok(tvec!(f32::fact(shape)))
    }
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> TractResult<&'a tract_onnx::pb::AttributeProto> {
    crate::graph_edit::attribute(node, name)
        .ok_or_else(|| format_err!("{QUANTIZED_DENSE} node {:?} lacks attribute {name}", node.name))
}

/// Reads the op from the node [`crate::fuse_dense`] writes.
fn from_node(node: &NodeProto) -> TractResult<QuantizedDense> {
    let input = if attribute(node, "dynamic")?.i != 0 {
        InputGrid::Dynamic
    } else {
        let [scale, zero_point, low, high] = crate::ops::grid_of(node)?;
        InputGrid::Fixed {
            scale,
            zero_point,
            low,
            high,
        }
    };
    let weight = attribute(node, "weight")?
        .t
        .as_ref()
        .ok_or_else(|| format_err!("{QUANTIZED_DENSE} node {:?}: weight is not a tensor", node.name))?;
    let [k, m] = weight.dims[..] else {
        bail!("{QUANTIZED_DENSE} node {:?}: weight dims {:?}", node.name, weight.dims);
    };
    QuantizedDense::new(
        input,
        usize::try_from(k)?,
        usize::try_from(m)?,
        weight.int32_data.clone(),
        attribute(node, "weight_scale")?.floats.clone(),
        attribute(node, "bias")?.floats.clone(),
        attribute(node, "relu")?.i != 0,
    )
}

/// Adds [`QuantizedDense`] to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(QUANTIZED_DENSE, |_, node| {
        Ok((
            {
                let op = from_node(node)?;
                expand(F32Expansion {
                    name: QUANTIZED_DENSE,
                    last_axis: Some(op.m),
                    op,
                })
            },
            vec![],
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::{InputGrid, QuantizedDense};
    use crate::ops::FakeQuantize;

    /// The float computation the op replaces: round the input to its grid, dequantize the
    /// weight, multiply in f64, add the bias, Relu.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        op_input: InputGrid,
        x: &[f32],
        k: usize,
        m: usize,
        w: &[i32],
        ws: &[f32],
        bias: &[f32],
        relu: bool,
    ) -> Vec<f64> {
        let mut xq = x.to_vec();
        match op_input {
            InputGrid::Fixed {
                scale,
                zero_point,
                low,
                high,
            } => FakeQuantize::new(scale, zero_point, low, high).apply(&mut xq),
            InputGrid::Dynamic => crate::ops::DynamicFakeQuantize::apply(&mut xq),
        }
        let rows = x.len() / k;
        let mut out = vec![];
        for r in 0..rows {
            for c in 0..m {
                let mut v: f64 = (0..k)
                    .map(|d| xq[r * k + d] as f64 * w[d * m + c] as f64 * ws[c] as f64)
                    .sum();
                v += bias[c] as f64;
                out.push(if relu { v.max(0.0) } else { v });
            }
        }
        out
    }

    fn case(input: InputGrid, k: usize, m: usize, rows: usize, relu: bool) {
        let w: Vec<i32> = (0..k * m).map(|i| ((i * 37 + 11) % 255) as i32 - 127).collect();
        let ws: Vec<f32> = (0..m).map(|c| 0.001 + c as f32 * 1e-4).collect();
        let bias: Vec<f32> = (0..m).map(|c| c as f32 * 0.01 - 0.05).collect();
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919) % 301) as f32 * 0.013 - 0.9).collect();
        let op = QuantizedDense::new(input, k, m, w.clone(), ws.clone(), bias.clone(), relu).unwrap();
        let got = op.apply(&x, rows);
        let want = reference(input, &x, k, m, &w, &ws, &bias, relu);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{k}x{m} row {} col {}: {g} vs {w}",
                i / m,
                i % m
            );
        }
    }

    #[test]
    fn integer_products_equal_the_float_computation_they_replace() {
        let u8_grid = InputGrid::Fixed {
            scale: 0.02,
            zero_point: 45.0,
            low: 0.0,
            high: 255.0,
        };
        let s8_grid = InputGrid::Fixed {
            scale: 0.01,
            zero_point: -3.0,
            low: -128.0,
            high: 127.0,
        };
        for (k, m) in [(64, 64), (64, 10), (3, 1), (9, 17), (130, 33)] {
            for rows in [1, 5] {
                case(u8_grid, k, m, rows, false);
                case(s8_grid, k, m, rows, true);
                case(InputGrid::Dynamic, k, m, rows, rows == 1);
            }
        }
    }

    #[test]
    fn bad_parameters_are_errors_not_panics() {
        let grid = InputGrid::Fixed {
            scale: 0.1,
            zero_point: 0.0,
            low: 0.0,
            high: 255.0,
        };
        assert!(QuantizedDense::new(grid, 2, 2, vec![1; 3], vec![1.0], vec![], false).is_err());
        assert!(QuantizedDense::new(grid, 2, 2, vec![300; 4], vec![1.0], vec![], false).is_err());
        assert!(QuantizedDense::new(grid, 2, 2, vec![1; 4], vec![1.0; 3], vec![], false).is_err());
        let wide = InputGrid::Fixed {
            scale: 0.1,
            zero_point: 0.0,
            low: -32768.0,
            high: 32767.0,
        };
        assert!(QuantizedDense::new(wide, 2, 2, vec![1; 4], vec![1.0], vec![], false).is_err());
        let zero = InputGrid::Fixed {
            scale: 0.0,
            zero_point: 0.0,
            low: 0.0,
            high: 255.0,
        };
        assert!(QuantizedDense::new(zero, 2, 2, vec![1; 4], vec![1.0], vec![], false).is_err());
    }

    #[test]
    fn a_dynamic_grid_of_zeros_gives_the_bias_and_an_infinite_range_gives_nan() {
        let op = QuantizedDense::new(
            InputGrid::Dynamic,
            2,
            2,
            vec![1, 2, 3, 4],
            vec![0.5],
            vec![1.0, -1.0],
            false,
        )
        .unwrap();
        assert_eq!(op.apply(&[0.0, 0.0], 1), vec![1.0, -1.0]);
        assert!(op.apply(&[f32::INFINITY, 0.0], 1).iter().all(|v| v.is_nan()));
    }
}
