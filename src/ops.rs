//! Ops we add to tract's ONNX register, emitted by [`crate::lowering`].

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::element_wise::{ElementWiseMiniOp, ElementWiseOp};
use tract_onnx::tract_hir::ops::element_wise::ElementWiseIntoHir;
use tract_onnx::Onnx;

/// Op type of [`FakeQuantize`] in rewritten graphs.
pub const FAKE_QUANTIZE: &str = "WasmPredictFakeQuantize";

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
        let (scale, zp) = (f32::from_bits(self.scale), f32::from_bits(self.zero_point));
        let (low, high) = (f32::from_bits(self.low), f32::from_bits(self.high));
        for v in values {
            let q = (*v / scale).round_ties_even() + zp;
            let q = if q < low {
                low
            } else if q > high {
                high
            } else {
                q
            };
            *v = (q - zp) * scale;
        }
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

fn float_attribute(node: &NodeProto, name: &str) -> TractResult<f32> {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.f)
        .ok_or_else(|| anyhow::anyhow!("{FAKE_QUANTIZE} node {:?} lacks attribute {name}", node.name))
}

/// Adds our ops to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(FAKE_QUANTIZE, |_, node| {
        let op = FakeQuantize::new(
            float_attribute(node, "scale")?,
            float_attribute(node, "zero_point")?,
            float_attribute(node, "low")?,
            float_attribute(node, "high")?,
        );
        Ok((ElementWiseOp(Box::new(op), None).into_hir(), vec![]))
    });
}

#[cfg(test)]
mod tests {
    use super::FakeQuantize;

    #[test]
    fn fake_quantize_rounds_half_to_even_and_saturates() {
        let op = FakeQuantize::new(0.5, 10.0, 0.0, 255.0);
        let mut values = [0.25, 0.75, 1.3, -5.0, -6.0, 200.0, 0.0];
        op.apply(&mut values);
        // 0.25/0.5 = 0.5 -> 0; 0.75/0.5 = 1.5 -> 2; 2.6 -> 3; -10 -> 0 after zp; -12+10 = -2 -> clamp 0; 400 -> 255.
        assert_eq!(values, [0.0, 1.0, 1.5, -5.0, -5.0, 122.5, 0.0]);
    }
}
