//! Small reads and writes of ONNX graphs, shared by the rewrites that run before tract reads a
//! model ([`crate::lowering`], [`crate::fuse_dense`], [`crate::quantized_softmax`]).

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, TensorProto};

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
