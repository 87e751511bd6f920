//! `QuantizeLinear`, `DequantizeLinear`, `MatMulInteger` and `ConvInteger` left after the fusions,
//! as float ops: `Div, Round, Add, Clip, Cast`; `Cast, Sub, Mul` (folded into a float constant
//! for a weight); the float product of the zero-point-centred values.

use tract_onnx::pb::{tensor_proto::DataType, GraphProto};

use super::rewriter::{rewrite_nodes, Initializers, Rewriter};
use crate::graph_edit::{attribute, integer_range};

/// Rewrites every QDQ and integer-product node as float ops.
pub fn qdq_to_float(graph: &mut GraphProto) {
    rewrite_nodes(graph, |rewriter, shapes| {
        match (rewriter.node.domain.as_str(), rewriter.node.op_type.as_str()) {
            ("" | "ai.onnx", "DequantizeLinear") => rewriter.dequantize_linear(shapes),
            ("" | "ai.onnx", "QuantizeLinear") => rewriter.quantize_linear(shapes),
            ("" | "ai.onnx", "MatMulInteger") => rewriter.integer_product("MatMul", shapes),
            ("" | "ai.onnx", "ConvInteger") => rewriter.integer_product("Conv", shapes),
            _ => false,
        }
    });
}

impl Rewriter<'_> {
    fn dequantize_linear(&mut self, shapes: &Initializers) -> bool {
        let node = self.node;
        let Ok(axis) = self.parameter_axis(shapes) else {
            return false;
        };
        if self.has_block_size() || node.input.len() < 2 || node.output.len() != 1 {
            return false;
        }
        let x_float = self.name("x_float");
        self.cast(&node.input[0], &x_float, DataType::Float as i32);
        let mut scale = node.input[1].clone();
        let mut centered = x_float;
        if let Some(zp) = node.input.get(2).filter(|s| !s.is_empty()) {
            let zp_float = self.name("zero_point_float");
            self.cast(zp, &zp_float, DataType::Float as i32);
            let zp_float = match axis {
                Some((axis, rank)) => self.along_axis(&zp_float, "zero_point_axis", axis, rank),
                None => zp_float,
            };
            let out = self.name("centered");
            self.push("Sub", &[&centered, &zp_float], &out, vec![]);
            centered = out;
        }
        if let Some((axis, rank)) = axis {
            scale = self.along_axis(&scale, "scale_axis", axis, rank);
        }
        self.push("Mul", &[&centered, &scale], &node.output[0], vec![]);
        true
    }

    fn quantize_linear(&mut self, shapes: &Initializers) -> bool {
        let node = self.node;
        let Ok(axis) = self.parameter_axis(shapes) else {
            return false;
        };
        if self.has_block_size() || node.input.len() < 2 || node.output.len() != 1 {
            return false;
        }
        let zero_point = node.input.get(2).filter(|s| !s.is_empty());
        let to = match zero_point {
            Some(zp) => match shapes.dtype.get(zp) {
                Some(t) => *t,
                None => return false,
            },
            None => attribute(node, "output_dtype")
                .map(|a| a.i as i32)
                .filter(|t| *t != 0)
                .unwrap_or(DataType::Uint8 as i32),
        };
        let Some((low, high)) = integer_range(to) else {
            return false;
        };
        let mut scale = node.input[1].clone();
        if let Some((axis, rank)) = axis {
            scale = self.along_axis(&scale, "scale_axis", axis, rank);
        }
        let scaled = self.name("scaled");
        self.push("Div", &[&node.input[0], &scale], &scaled, vec![]);
        let rounded = self.name("rounded");
        self.push("Round", &[&scaled], &rounded, vec![]);
        let mut shifted = rounded;
        if let Some(zp) = zero_point {
            let zp_float = self.name("zero_point_float");
            self.cast(zp, &zp_float, DataType::Float as i32);
            let zp_float = match axis {
                Some((axis, rank)) => self.along_axis(&zp_float, "zero_point_axis", axis, rank),
                None => zp_float,
            };
            let out = self.name("shifted");
            self.push("Add", &[&shifted, &zp_float], &out, vec![]);
            shifted = out;
        }
        let low = self.float_constant("low", vec![], vec![low]);
        let high = self.float_constant("high", vec![], vec![high]);
        // Max and Min rather than Clip, whose form changed at opset 11.
        let floored = self.name("floored");
        self.push("Max", &[&shifted, &low], &floored, vec![]);
        let clipped = self.name("clipped");
        self.push("Min", &[&floored, &high], &clipped, vec![]);
        self.cast(&clipped, &node.output[0], to);
        true
    }

    /// `op(Cast(A) - a_zp, Cast(B) - b_zp)` as an int32 tensor, like the integer op it replaces.
    /// Per-tensor zero points only, and for `Conv` the int8/uint8 attributes carry over.
    fn integer_product(&mut self, op: &str, shapes: &Initializers) -> bool {
        let node = self.node;
        if node.input.len() < 2 || node.output.len() != 1 {
            return false;
        }
        let zero_points_are_scalars = node.input[2..]
            .iter()
            .filter(|zp| !zp.is_empty())
            .all(|zp| shapes.scalar.contains(zp) || shapes.rank.get(zp) == Some(&0));
        if !zero_points_are_scalars {
            return false;
        }
        let mut centred = vec![];
        for (k, side) in ["a", "b"].iter().enumerate() {
            let value = self.name(&format!("{side}_float"));
            self.cast(&node.input[k], &value, DataType::Float as i32);
            match node.input.get(k + 2).filter(|zp| !zp.is_empty()) {
                Some(zp) => {
                    let zp_float = self.name(&format!("{side}_zero_point_float"));
                    self.cast(zp, &zp_float, DataType::Float as i32);
                    let out = self.name(&format!("{side}_centred"));
                    self.push("Sub", &[&value, &zp_float], &out, vec![]);
                    centred.push(out);
                }
                None => centred.push(value),
            }
        }
        let attributes = if op == "Conv" {
            node.attribute
                .iter()
                .filter(|a| a.name != "group" || a.i != 1)
                .cloned()
                .collect()
        } else {
            vec![]
        };
        let product = self.name("product");
        self.push(op, &[&centred[0], &centred[1]], &product, attributes);
        self.cast(&product, &node.output[0], DataType::Int32 as i32);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::qdq_to_float;
    use crate::test_graph::{ops, qdq_relu, run};

    #[test]
    fn a_quantize_dequantize_pair_becomes_float_ops_with_onnx_values() {
        let mut g = qdq_relu(&[1, 6]);
        qdq_to_float(&mut g);
        assert!(ops(&g).iter().all(|op| !op.contains("Quantize")), "{:?}", ops(&g));
        let x = [-20.0f32, -0.26, 0.05, 0.15, 3.04, 20.0];
        // (clamp(round_half_even(x / s) + zp, 0, 255) - zp) * s, then Relu.
        let want: Vec<f32> = x
            .iter()
            .map(|v| (((v / 0.1f32).round_ties_even() + 128.0).clamp(0.0, 255.0) - 128.0) * 0.1)
            .map(|v| v.max(0.0))
            .collect();
        let got = run(&g, &x);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-6, "{got:?} != {want:?}");
        }
    }
}
