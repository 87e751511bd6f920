//! Ops we add to tract's ONNX register, emitted by [`crate::lowering`].

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::element_wise::{ElementWiseMiniOp, ElementWiseOp};
use tract_onnx::tract_hir::ops::element_wise::ElementWiseIntoHir;
use tract_onnx::Onnx;
use wasm_predict_kernels::Rounding;

/// Op type of [`FakeQuantize`] in rewritten graphs.
pub const FAKE_QUANTIZE: &str = "WasmPredictFakeQuantize";

/// Op type of [`DynamicFakeQuantize`] in rewritten graphs.
pub const DYNAMIC_FAKE_QUANTIZE: &str = "WasmPredictDynamicFakeQuantize";

/// ONNX's uint8 `DynamicQuantizeLinear` followed by the dequantization of its result, in place:
/// the scale and zero point come from the tensor's range (widened to include 0), then every value
/// is rounded to that grid. Two passes over f32 instead of tract's integer path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicFakeQuantize;

impl DynamicFakeQuantize {
    /// Applies the op to values in place.
    pub fn apply(values: &mut [f32]) {
        let (min, max) = wasm_predict_kernels::range_with_zero(values);
        let scale = (max - min) / 255.0;
        if scale == 0.0 || !scale.is_finite() {
            return;
        }
        let zp = (-min / scale).round_ties_even().clamp(0.0, 255.0);
        FakeQuantize::new(scale, zp, 0.0, 255.0).apply(values);
    }
}

impl ElementWiseMiniOp for DynamicFakeQuantize {
    fn name(&self) -> String {
        DYNAMIC_FAKE_QUANTIZE.into()
    }

    fn eval_in_place(&self, t: &mut Tensor, _out_dt: Option<DatumType>) -> TractResult<()> {
        let mut view = t.try_as_plain_ram_mut()?;
        DynamicFakeQuantize::apply(view.as_slice_mut::<f32>()?);
        Ok(())
    }

    fn operating_datum_type(&self, _dt: DatumType) -> DatumType {
        DatumType::F32
    }
}

/// A `QuantizeLinear` followed by its `DequantizeLinear`, per tensor, in one pass over f32:
/// `(clamp(round_half_even(x / scale) + zero_point, low, high) - zero_point) * scale`.
///
/// The values are those onnxruntime computes through the int8 grid; fused, the pair costs one
/// pass instead of nine tract ops with two casts through u8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeQuantize {
    // f32 bits, so that the op is `Eq` as tract requires.
    scale: u32,
    zero_point: u32,
    low: u32,
    high: u32,
}

impl FakeQuantize {
    /// The op for a scale, a zero point and the integer range of the quantized type.
    pub fn new(scale: f32, zero_point: f32, low: f32, high: f32) -> FakeQuantize {
        FakeQuantize {
            scale: scale.to_bits(),
            zero_point: zero_point.to_bits(),
            low: low.to_bits(),
            high: high.to_bits(),
        }
    }

    /// Applies the op to values in place.
    pub fn apply(&self, values: &mut [f32]) {
        // clamp(round(x) + zp, low, high) - zp is round(clamp(x, low - zp, high - zp)) for an
        // integer zp.
        let rounding = Rounding::centred(
            f32::from_bits(self.scale),
            f32::from_bits(self.zero_point),
            f32::from_bits(self.low),
            f32::from_bits(self.high),
        );
        wasm_predict_kernels::fake_quantize(values, rounding);
    }
}

impl ElementWiseMiniOp for FakeQuantize {
    fn name(&self) -> String {
        FAKE_QUANTIZE.into()
    }

    fn eval_in_place(&self, t: &mut Tensor, _out_dt: Option<DatumType>) -> TractResult<()> {
        let mut view = t.try_as_plain_ram_mut()?;
        self.apply(view.as_slice_mut::<f32>()?);
        Ok(())
    }

    fn operating_datum_type(&self, _dt: DatumType) -> DatumType {
        DatumType::F32
    }
}

/// The grid that a node's float attributes `scale`, `zero_point`, `low` and `high` give, as
/// `[scale, zero_point, low, high]`: a `FakeQuantize` carries it so, and so do the ops fused from
/// one.
pub fn grid_of(node: &NodeProto) -> TractResult<[f32; 4]> {
    let value = |name| {
        crate::graph_edit::attribute(node, name)
            .map(|a| a.f)
            .ok_or_else(|| anyhow::anyhow!("{} node {:?} lacks attribute {name}", node.op_type, node.name))
    };
    Ok([value("scale")?, value("zero_point")?, value("low")?, value("high")?])
}

/// Adds our ops to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(FAKE_QUANTIZE, |_, node| {
        let [scale, zero_point, low, high] = grid_of(node)?;
        let op = FakeQuantize::new(scale, zero_point, low, high);
        Ok((ElementWiseOp(Box::new(op), None).into_hir(), vec![]))
    });
    onnx.op_register.insert(DYNAMIC_FAKE_QUANTIZE, |_, _| {
        Ok((ElementWiseOp(Box::new(DynamicFakeQuantize), None).into_hir(), vec![]))
    });
    crate::dense::register(onnx);
    crate::float_dense::register(onnx);
    crate::quantized_softmax::register(onnx);
    crate::tree_ensemble::register(onnx);
}

#[cfg(test)]
mod tests {
    use super::{DynamicFakeQuantize, FakeQuantize};

    #[test]
    fn dynamic_fake_quantize_uses_the_range_widened_to_zero() {
        // min -1, max 2: scale 3/255, zero point round(85) = 85; values land on that grid.
        let mut values = [-1.0f32, 0.0, 2.0, 0.5];
        DynamicFakeQuantize::apply(&mut values);
        let scale = 3.0f32 / 255.0;
        assert_eq!(values[1], 0.0);
        assert!((values[0] + 1.0).abs() < 1e-6 && (values[2] - 2.0).abs() < 1e-6);
        assert_eq!(values[3], (0.5f32 / scale).round_ties_even() * scale);
        let mut zeros = [0.0f32; 4];
        DynamicFakeQuantize::apply(&mut zeros);
        assert_eq!(zeros, [0.0; 4]);
    }

    #[test]
    fn fake_quantize_rounds_half_to_even_and_saturates() {
        let op = FakeQuantize::new(0.5, 10.0, 0.0, 255.0);
        let mut values = [0.25, 0.75, 1.3, -5.0, -6.0, 200.0, 0.0];
        op.apply(&mut values);
        // 0.25/0.5 = 0.5 -> 0; 0.75/0.5 = 1.5 -> 2; 2.6 -> 3; -10 -> 0 after zp; -12+10 = -2 -> clamp 0; 400 -> 255.
        assert_eq!(values, [0.0, 1.0, 1.5, -5.0, -5.0, 122.5, 0.0]);
    }

    #[test]
    fn fake_quantize_equals_the_quantize_dequantize_formula_bit_for_bit() {
        let reference = |x: f32, scale: f32, zp: f32, low: f32, high: f32| {
            let q = (x / scale).round_ties_even() + zp;
            let q = if q < low {
                low
            } else if q > high {
                high
            } else {
                q
            };
            (q - zp) * scale
        };
        let mut inputs: Vec<f32> = (-3000..=3000).map(|i| i as f32 * 0.0137).collect();
        inputs.extend((-600..=600).map(|i| i as f32 * 0.5));
        inputs.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            1e30,
            -1e-30,
            0.0,
            -0.0,
        ]);
        for (scale, zp, low, high) in [
            (0.5, 10.0, 0.0, 255.0),
            (0.0123, 128.0, 0.0, 255.0),
            (0.25, 0.0, -128.0, 127.0),
            (0.031, -7.0, -128.0, 127.0),
            (3.0 / 255.0, 85.0, 0.0, 255.0),
        ] {
            let mut values = inputs.clone();
            FakeQuantize::new(scale, zp, low, high).apply(&mut values);
            for (x, got) in inputs.iter().zip(values) {
                let want = reference(*x, scale, zp, low, high);
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "x {x}, scale {scale}, zp {zp}: {got} vs {want}"
                );
            }
            let mut nan = [f32::NAN];
            FakeQuantize::new(scale, zp, low, high).apply(&mut nan);
            assert!(nan[0].is_nan());
        }
    }
}
