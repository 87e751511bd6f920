//! Rewrites of an ONNX graph before tract reads it, for ops tract lacks or gets wrong.
//!
//! Each rewrite replaces a node by standard float ops that tract runs with its fast kernels:
//! - `QuantizeLinear` / `DequantizeLinear` become `Div, Round, Add, Clip, Cast` / `Cast, Sub, Mul`.
//!   tract 0.23 turns QDQ pairs into its own quantized types, which returns 1.0 for every class
//!   after a quantized Softmax and runs slower than float in wasm; as plain float ops, a
//!   `DequantizeLinear` of an int8 weight is folded into a float constant at optimization, and
//!   activations are rounded to the int8 grid exactly as onnxruntime's QuantizeLinear does.
//! - ai.onnx.ml `Scaler` (missing in tract) becomes `Sub, Mul`.
//!
//! The model downloaded and cached stays int8: only the in-memory plan is float.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto, GraphProto, ModelProto,
    NodeProto, TensorProto,
};

use crate::error::{PredictError, Result};

/// Keeps only `outputs` as graph outputs and drops every node they do not depend on.
pub fn keep_outputs(model: &mut ModelProto, outputs: &[&str]) -> Result<()> {
    let graph = graph_mut(model)?;
    for name in outputs {
        if !graph.output.iter().any(|o| o.name == *name) {
            return Err(PredictError::GraphMismatch(format!(
                "the graph has no output named {name:?} (it has {:?})",
                graph.output.iter().map(|o| o.name.as_str()).collect::<Vec<_>>()
            )));
        }
    }
    graph.output.retain(|o| outputs.contains(&o.name.as_str()));
    let mut needed: HashSet<String> = outputs.iter().map(|s| s.to_string()).collect();
    let mut kept = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| needed.contains(o)) {
            kept[i] = true;
            needed.extend(node.input.iter().filter(|s| !s.is_empty()).cloned());
        }
    }
    let mut flags = kept.into_iter();
    graph.node.retain(|_| flags.next().unwrap_or(false));
    Ok(())
}

/// Applies every lowering to the graph, in place.
pub fn lower(model: &mut ModelProto) -> Result<()> {
    let graph = graph_mut(model)?;
    let shapes = Initializers::of(graph);
    let mut new_initializers = vec![];
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let mut rewriter = Rewriter {
            node: &node,
            nodes: &mut nodes,
            initializers: &mut new_initializers,
        };
        let done = match (node.domain.as_str(), node.op_type.as_str()) {
            ("" | "ai.onnx", "DequantizeLinear") => rewriter.dequantize_linear(&shapes),
            ("" | "ai.onnx", "QuantizeLinear") => rewriter.quantize_linear(&shapes),
            ("ai.onnx.ml", "Scaler") => rewriter.scaler(),
            _ => false,
        };
        if !done {
            nodes.push(node);
        }
    }
    graph.node = nodes;
    graph.initializer.extend(new_initializers);
    Ok(())
}

fn graph_mut(model: &mut ModelProto) -> Result<&mut GraphProto> {
    model
        .graph
        .as_mut()
        .ok_or_else(|| PredictError::ModelInvalid("the model has no graph".into()))
}

/// Ranks and element types of the graph's constant tensors and typed values.
struct Initializers {
    rank: HashMap<String, usize>,
    dtype: HashMap<String, i32>,
    scalar: HashSet<String>,
}

impl Initializers {
    fn of(graph: &GraphProto) -> Initializers {
        let mut rank = HashMap::new();
        let mut dtype = HashMap::new();
        let mut scalar = HashSet::new();
        for t in &graph.initializer {
            rank.insert(t.name.clone(), t.dims.len());
            dtype.insert(t.name.clone(), t.data_type);
            if t.dims.iter().product::<i64>() == 1 {
                scalar.insert(t.name.clone());
            }
        }
        for v in graph.input.iter().chain(&graph.value_info) {
            if let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                if let Some(shape) = &t.shape {
                    rank.entry(v.name.clone()).or_insert(shape.dim.len());
                }
            }
        }
        Initializers { rank, dtype, scalar }
    }
}

struct Rewriter<'a> {
    node: &'a NodeProto,
    nodes: &'a mut Vec<NodeProto>,
    initializers: &'a mut Vec<TensorProto>,
}

impl Rewriter<'_> {
    /// A tensor name unique to this node.
    fn name(&self, suffix: &str) -> String {
        format!(
            "{}__wasm_predict_{suffix}",
            self.node.output.first().map(String::as_str).unwrap_or(&self.node.name)
        )
    }

    fn push(&mut self, op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: output.to_string(),
            op_type: op.to_string(),
            attribute: attributes,
            ..Default::default()
        });
    }

    fn cast(&mut self, input: &str, output: &str, to: i32) {
        self.push("Cast", &[input], output, vec![int_attribute("to", to as i64)]);
    }

    fn float_constant(&mut self, suffix: &str, dims: Vec<i64>, values: Vec<f32>) -> String {
        let name = self.name(suffix);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims,
            data_type: DataType::Float as i32,
            float_data: values,
            ..Default::default()
        });
        name
    }

    /// Brings a per-axis scale or zero point of length C to a shape that broadcasts along `axis`
    /// of a tensor of rank `rank`: `[C, 1, ..., 1]`.
    fn along_axis(&mut self, tensor: &str, suffix: &str, axis: usize, rank: usize) -> String {
        if axis + 1 == rank {
            return tensor.to_string();
        }
        let shape = self.name(&format!("{suffix}_shape"));
        let mut dims = vec![-1i64];
        dims.resize(rank - axis, 1);
        self.initializers.push(TensorProto {
            name: shape.clone(),
            dims: vec![dims.len() as i64],
            data_type: DataType::Int64 as i32,
            int64_data: dims,
            ..Default::default()
        });
        let out = self.name(suffix);
        self.push("Reshape", &[tensor, &shape], &out, vec![]);
        out
    }

    /// The axis the node's per-axis parameters apply to, once resolved against the input rank;
    /// `None` for per-tensor parameters. `Err(())` when the rank is needed but unknown.
    fn parameter_axis(&self, shapes: &Initializers) -> std::result::Result<Option<(usize, usize)>, ()> {
        let scale = self.node.input.get(1).ok_or(())?;
        if shapes.scalar.contains(scale) {
            return Ok(None);
        }
        if shapes.rank.get(scale) != Some(&1) {
            return Err(());
        }
        let rank = *shapes.rank.get(&self.node.input[0]).ok_or(())?;
        let axis = attribute(self.node, "axis").map(|a| a.i).unwrap_or(1);
        let axis = if axis < 0 { axis + rank as i64 } else { axis };
        if axis < 0 || axis as usize >= rank {
            return Err(());
        }
        Ok(Some((axis as usize, rank)))
    }

    fn has_block_size(&self) -> bool {
        attribute(self.node, "block_size").is_some_and(|a| a.i != 0)
    }

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
        let (low, high) = match to {
            t if t == DataType::Uint8 as i32 => (0.0, 255.0),
            t if t == DataType::Int8 as i32 => (-128.0, 127.0),
            _ => return false,
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
        let clipped = self.name("clipped");
        self.push("Clip", &[&shifted, &low, &high], &clipped, vec![]);
        self.cast(&clipped, &node.output[0], to);
        true
    }

    fn scaler(&mut self) -> bool {
        let node = self.node;
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        let offset = attribute(node, "offset").map(|a| a.floats.clone()).unwrap_or_default();
        let scale = attribute(node, "scale").map(|a| a.floats.clone()).unwrap_or_default();
        let mut current = node.input[0].clone();
        if !offset.is_empty() {
            let c = self.float_constant("offset", vec![offset.len() as i64], offset);
            let out = self.name("offset_applied");
            self.push("Sub", &[&current, &c], &out, vec![]);
            current = out;
        }
        if scale.is_empty() {
            self.push("Identity", &[&current], &node.output[0], vec![]);
        } else {
            let c = self.float_constant("scale", vec![scale.len() as i64], scale);
            self.push("Mul", &[&current, &c], &node.output[0], vec![]);
        }
        true
    }
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}
