//! Small reads and writes of ONNX graphs, shared by the rewrites that run before tract reads a
//! model: the lowering passes ([`crate::lowering`]) and the fusions of our ops ([`crate::ops`]).

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};

use crate::error::{PredictError, Result};

/// The domain of the nodes our rewrites write.
pub const DOMAIN: &str = "ai.wasm-predict";

/// Whether `node` is the standard ONNX op `op`.
pub fn is_standard(node: &NodeProto, op: &str) -> bool {
    node.op_type == op && (node.domain.is_empty() || node.domain == "ai.onnx")
}

/// The positions of the nodes that read `tensor`.
pub fn readers(graph: &GraphProto, tensor: &str) -> Vec<usize> {
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.input.iter().any(|i| i == tensor))
        .map(|(i, _)| i)
        .collect()
}

/// The only node reading `tensor`, if there is one and `tensor` is not a graph output.
pub fn only_reader(graph: &GraphProto, tensor: &str) -> Option<usize> {
    if graph.output.iter().any(|o| o.name == tensor) {
        return None;
    }
    match readers(graph, tensor)[..] {
        [one] => Some(one),
        _ => None,
    }
}

/// The attribute `name` of `node`.
pub fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// A float attribute.
pub fn float_attribute(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}

/// A list-of-floats attribute.
pub fn floats_attribute(name: &str, values: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Floats as i32,
        floats: values,
        ..Default::default()
    }
}

/// A tensor attribute, named as its tensor.
pub fn tensor_attribute(tensor: TensorProto) -> AttributeProto {
    AttributeProto {
        name: tensor.name.clone(),
        r#type: AttributeType::Tensor as i32,
        t: Some(tensor),
        ..Default::default()
    }
}

/// An integer attribute.
pub fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

/// A list-of-integers attribute.
pub fn ints_attribute(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values,
        ..Default::default()
    }
}

/// Ops that commute with a per-tensor quantization: they move or pick values without changing them
/// (quantization is non-decreasing, so the max of quantized values is the quantized max).
pub const ORDER_PRESERVING: [&str; 6] = ["MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Identity"];

/// The range of a quantized integer type.
pub fn integer_range(data_type: i32) -> Option<(f32, f32)> {
    match data_type {
        t if t == DataType::Uint8 as i32 => Some((0.0, 255.0)),
        t if t == DataType::Int8 as i32 => Some((-128.0, 127.0)),
        t if t == DataType::Uint16 as i32 => Some((0.0, 65535.0)),
        t if t == DataType::Int16 as i32 => Some((-32768.0, 32767.0)),
        _ => None,
    }
}

/// The value of a one-element float, int8, uint8 or int32 tensor.
pub fn scalar(t: &TensorProto) -> Option<f32> {
    if t.dims.iter().product::<i64>() != 1 {
        return None;
    }
    let raw = &t.raw_data;
    match t.data_type {
        d if d == DataType::Float as i32 => match raw.get(..4) {
            Some(b) => Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            None => t.float_data.first().copied(),
        },
        d if d == DataType::Uint8 as i32 => raw
            .first()
            .map(|&b| b as f32)
            .or(t.int32_data.first().map(|&v| v as f32)),
        d if d == DataType::Int8 as i32 => raw
            .first()
            .map(|&b| b as i8 as f32)
            .or(t.int32_data.first().map(|&v| v as f32)),
        _ => None,
    }
}

/// The model's graph, or an error naming its absence.
pub fn graph_mut(model: &mut ModelProto) -> Result<&mut GraphProto> {
    model
        .graph
        .as_mut()
        .ok_or_else(|| PredictError::ModelInvalid("the model has no graph".into()))
}

/// A tensor name unique to `node`: its first output (or its name) with a suffix.
pub fn unique_name(node: &NodeProto, suffix: &str) -> String {
    format!(
        "{}__wasm_predict_{suffix}",
        node.output.first().map(String::as_str).unwrap_or(&node.name)
    )
}

/// A node of the default domain with one output, named after it.
pub fn single_output_node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: output.to_string(),
        op_type: op.to_string(),
        attribute,
        ..Default::default()
    }
}

/// A one-dimensional int64 constant.
pub fn int64_vector(name: &str, values: Vec<i64>) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: vec![values.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: values,
        ..Default::default()
    }
}
