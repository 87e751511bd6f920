//! Small ONNX graphs for the unit tests of the rewrites, and a way to run them with tract.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto,
    ValueInfoProto,
};
use tract_onnx::prelude::*;

use crate::onnx::with_onnx;

/// A node of `domain` (empty: the default one) with one output, named after it.
pub fn node_in(domain: &str, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        domain: domain.into(),
        name: output.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

/// A node of the default domain with one output and no attributes.
pub fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    node_in("", op, inputs, output, vec![])
}

/// A float constant.
pub fn floats(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// A one-element uint8 constant.
pub fn uint8(name: &str, value: u8) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: DataType::Uint8 as i32,
        int32_data: vec![i32::from(value)],
        ..Default::default()
    }
}

fn float_value(name: &str, dims: &[i64]) -> ValueInfoProto {
    use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(tract_onnx::pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(dimension::Value::DimValue(*d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A graph from input `x` of shape `dims` (float) to output `y`.
pub fn graph(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>, dims: &[i64]) -> GraphProto {
    GraphProto {
        node: nodes,
        initializer,
        input: vec![float_value("x", dims)],
        output: vec![ValueInfoProto {
            name: "y".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `QuantizeLinear -> DequantizeLinear -> Relu` on a uint8 grid of step 0.1 centred on 128.
pub fn qdq_relu(dims: &[i64]) -> GraphProto {
    graph(
        vec![
            node("QuantizeLinear", &["x", "s", "zp"], "q"),
            node("DequantizeLinear", &["q", "s", "zp"], "d"),
            node("Relu", &["d"], "y"),
        ],
        vec![floats("s", &[], &[0.1]), uint8("zp", 128)],
        dims,
    )
}

/// The op types of the graph's nodes, in order.
pub fn ops(graph: &GraphProto) -> Vec<&str> {
    graph.node.iter().map(|n| n.op_type.as_str()).collect()
}

/// Runs `graph` with tract (our ops registered) on `x`, of the shape the graph's input declares,
/// and returns `y` as floats.
pub fn run(graph: &GraphProto, x: &[f32]) -> Vec<f32> {
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 3,
            },
        ],
        graph: Some(graph.clone()),
        ..Default::default()
    };
    let dims: Vec<usize> = match graph.input[0].r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t.shape.as_ref().unwrap().dim.iter().map(|d| match d.value {
            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v)) => v as usize,
            _ => 1,
        }),
        _ => panic!("the test graph's input has no shape"),
    }
    .collect();
    let plan = with_onnx(|onnx| onnx.model_for_proto_model(&model))
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::ArrayD::from_shape_vec(dims, x.to_vec()).unwrap();
    let outputs = plan.run(tvec!(Tensor::from(input).into_tvalue())).unwrap();
    let y = outputs[0].cast_to::<f32>().unwrap();
    y.to_plain_array_view::<f32>().unwrap().iter().copied().collect()
}
