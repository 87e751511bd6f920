//! QOperator ops (`QLinearConv`, `QLinearMatMul`, com.microsoft `QGemm` and the `QLinear*`
//! family) as dequantize, float op, quantize: the QDQ passes then take them as any QDQ graph.

use tract_onnx::pb::{tensor_proto::DataType, AttributeProto, GraphProto, NodeProto};

use crate::graph_edit::{attribute, int_attribute, single_output_node, unique_name};

/// One quantized operand of a QLinear op: the positions of its value, scale and zero point.
type Operand = (usize, usize, usize);

/// Emits the nodes that compute a QLinear op as dequantize, float op, quantize.
struct QLinearExpansion<'a> {
    node: &'a NodeProto,
    nodes: Vec<NodeProto>,
}

impl QLinearExpansion<'_> {
    fn input(&self, i: usize) -> Option<&str> {
        self.node.input.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }

    fn tensor(&self, suffix: &str) -> String {
        unique_name(self.node, suffix)
    }

    fn emit(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        self.nodes.push(single_output_node(op, inputs, output, attribute));
    }

    /// A float version of operand `(value, scale, zero point)`, per-axis along `axis` if given.
    fn dequantized(&mut self, (value, scale, zp): Operand, axis: Option<i64>, suffix: &str) -> Option<String> {
        let (value, scale) = (self.input(value)?.to_string(), self.input(scale)?.to_string());
        let mut inputs = vec![value.as_str(), scale.as_str()];
        let zp = self.input(zp).map(str::to_string);
        if let Some(zp) = &zp {
            inputs.push(zp);
        }
        let out = self.tensor(suffix);
        let attributes = axis.map(|a| vec![int_attribute("axis", a)]).unwrap_or_default();
        self.emit("DequantizeLinear", &inputs, &out, attributes);
        Some(out)
    }

    /// Quantizes the float result into the node's output with the scale and zero point at `scale`, `zp`.
    fn quantize_into_output(&mut self, float: &str, scale: usize, zp: usize) -> Option<()> {
        let scale = self.input(scale)?.to_string();
        let output = self.node.output.first()?.clone();
        match self.input(zp).map(str::to_string) {
            Some(zp) => self.emit("QuantizeLinear", &[float, &scale, &zp], &output, vec![]),
            None => self.emit("QuantizeLinear", &[float, &scale], &output, vec![]),
        }
        Some(())
    }

    /// `Cast(bias) * scale_a * scale_b`: an int32 bias in float.
    fn bias(&mut self, bias: usize, scale_a: usize, scale_b: usize) -> Option<String> {
        let (bias, a, b) = (
            self.input(bias)?.to_string(),
            self.input(scale_a)?.to_string(),
            self.input(scale_b)?.to_string(),
        );
        let cast = self.tensor("bias_float");
        self.emit(
            "Cast",
            &[&bias],
            &cast,
            vec![int_attribute("to", DataType::Float as i32 as i64)],
        );
        let times_a = self.tensor("bias_times_a");
        self.emit("Mul", &[&cast, &a], &times_a, vec![]);
        let out = self.tensor("bias_dequantized");
        self.emit("Mul", &[&times_a, &b], &out, vec![]);
        Some(out)
    }

    fn copied_attributes(&self, names: &[&str]) -> Vec<AttributeProto> {
        self.node
            .attribute
            .iter()
            .filter(|a| names.contains(&a.name.as_str()))
            .cloned()
            .collect()
    }

    /// Unary ops: `X, X_scale, X_zp, Y_scale, Y_zp`.
    fn unary(&mut self, op: &str, attributes: Vec<AttributeProto>) -> Option<()> {
        let x = self.dequantized((0, 1, 2), None, "x")?;
        let y = self.tensor("y_float");
        self.emit(op, &[&x], &y, attributes);
        self.quantize_into_output(&y, 3, 4)
    }

    /// Binary ops: `A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp`.
    fn binary(&mut self, op: &str) -> Option<()> {
        let a = self.dequantized((0, 1, 2), None, "a")?;
        let b = self.dequantized((3, 4, 5), None, "b")?;
        let y = self.tensor("y_float");
        self.emit(op, &[&a, &b], &y, vec![]);
        self.quantize_into_output(&y, 6, 7)
    }

    fn expand(&mut self) -> Option<()> {
        let node = self.node;
        if node.output.len() != 1 {
            return None;
        }
        let microsoft = node.domain == "com.microsoft";
        match (microsoft, node.op_type.as_str()) {
            (false, "QLinearMatMul") => {
                let a = self.dequantized((0, 1, 2), None, "a")?;
                let b = self.dequantized((3, 4, 5), Some(-1), "b")?;
                let y = self.tensor("y_float");
                self.emit("MatMul", &[&a, &b], &y, vec![]);
                self.quantize_into_output(&y, 6, 7)
            }
            (false, "QLinearConv") => {
                let x = self.dequantized((0, 1, 2), None, "x")?;
                let w = self.dequantized((3, 4, 5), Some(0), "w")?;
                let mut inputs = vec![x, w];
                if self.input(8).is_some() {
                    inputs.push(self.bias(8, 1, 4)?);
                }
                let attributes =
                    self.copied_attributes(&["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"]);
                let y = self.tensor("y_float");
                self.emit(
                    "Conv",
                    &inputs.iter().map(String::as_str).collect::<Vec<_>>(),
                    &y,
                    attributes,
                );
                self.quantize_into_output(&y, 6, 7)
            }
            (true, "QGemm") => {
                let trans_b = attribute(node, "transB").is_some_and(|a| a.i != 0);
                let a = self.dequantized((0, 1, 2), None, "a")?;
                let b = self.dequantized((3, 4, 5), Some(if trans_b { 0 } else { 1 }), "b")?;
                let mut inputs = vec![a, b];
                if self.input(6).is_some() {
                    inputs.push(self.bias(6, 1, 4)?);
                }
                let y = if self.input(7).is_some() {
                    self.tensor("y_float")
                } else {
                    node.output[0].clone()
                };
                let attributes = self.copied_attributes(&["alpha", "transA", "transB"]);
                self.emit(
                    "Gemm",
                    &inputs.iter().map(String::as_str).collect::<Vec<_>>(),
                    &y,
                    attributes,
                );
                if self.input(7).is_some() {
                    self.quantize_into_output(&y, 7, 8)?;
                }
                Some(())
            }
            (true, "QLinearAdd") => self.binary("Add"),
            (true, "QLinearMul") => self.binary("Mul"),
            (true, "QLinearSigmoid") => self.unary("Sigmoid", vec![]),
            (true, "QLinearLeakyRelu") => {
                let alpha = self.copied_attributes(&["alpha"]);
                self.unary("LeakyRelu", alpha)
            }
            (true, "QLinearSoftmax") => {
                let opset = attribute(node, "opset").map(|a| a.i).unwrap_or(13);
                let axis = attribute(node, "axis")
                    .map(|a| a.i)
                    .unwrap_or(if opset >= 13 { -1 } else { 1 });
                self.unary("Softmax", vec![int_attribute("axis", axis)])
            }
            (true, "QLinearGlobalAveragePool") => {
                if attribute(node, "channels_last").is_some_and(|a| a.i != 0) {
                    return None;
                }
                self.unary("GlobalAveragePool", vec![])
            }
            (true, "QLinearConcat") => {
                // Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input.
                let count = node.input.len().checked_sub(2)? / 3;
                let mut parts = vec![];
                for i in 0..count {
                    let at = 2 + 3 * i;
                    parts.push(self.dequantized((at, at + 1, at + 2), None, &format!("x{i}"))?);
                }
                let y = self.tensor("y_float");
                let axis = self.copied_attributes(&["axis"]);
                self.emit(
                    "Concat",
                    &parts.iter().map(String::as_str).collect::<Vec<_>>(),
                    &y,
                    axis,
                );
                self.quantize_into_output(&y, 0, 1)
            }
            _ => None,
        }
    }
}

/// Replaces every QOperator node we know by dequantize, float op, quantize.
pub fn expand_qlinear_ops(graph: &mut GraphProto) {
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let mut expansion = QLinearExpansion {
            node: &node,
            nodes: vec![],
        };
        match expansion.expand() {
            Some(()) => nodes.append(&mut expansion.nodes),
            None => nodes.push(node),
        }
    }
    graph.node = nodes;
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{tensor_proto::DataType, TensorProto};

    use super::expand_qlinear_ops;
    use crate::test_graph::{floats, graph, node, ops, run, uint8};

    #[test]
    fn qlinear_matmul_becomes_dequantize_matmul_quantize_with_onnx_values() {
        let weight = TensorProto {
            name: "w".into(),
            dims: vec![2, 2],
            data_type: DataType::Uint8 as i32,
            int32_data: vec![130, 100, 90, 160],
            ..Default::default()
        };
        let mut g = graph(
            vec![
                node("QuantizeLinear", &["x", "xs", "xzp"], "xq"),
                node(
                    "QLinearMatMul",
                    &["xq", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp"],
                    "yq",
                ),
                node("DequantizeLinear", &["yq", "ys", "yzp"], "y"),
            ],
            vec![
                weight,
                floats("xs", &[], &[0.02]),
                uint8("xzp", 128),
                floats("ws", &[], &[0.01]),
                uint8("wzp", 128),
                floats("ys", &[], &[0.003]),
                uint8("yzp", 120),
            ],
            &[1, 2],
        );
        expand_qlinear_ops(&mut g);
        assert!(
            ops(&g).contains(&"MatMul") && !ops(&g).contains(&"QLinearMatMul"),
            "{:?}",
            ops(&g)
        );
        let x = [0.71f32, -0.43];
        let q = |v: f32, s: f32, zp: f32| ((v / s).round_ties_even() + zp).clamp(0.0, 255.0);
        let xd: Vec<f32> = x.iter().map(|v| (q(*v, 0.02, 128.0) - 128.0) * 0.02).collect();
        let w = [130.0f32, 100.0, 90.0, 160.0].map(|v| (v - 128.0) * 0.01);
        let want: Vec<f32> = (0..2)
            .map(|c| xd[0] * w[c] + xd[1] * w[2 + c])
            .map(|v| (q(v, 0.003, 120.0) - 120.0) * 0.003)
            .collect();
        let got = run(&g, &x);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-6, "{got:?} != {want:?}");
        }
    }
}
