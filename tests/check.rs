//! The node-by-node support report: every unsupported node is named at once, not tract's first error.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use prost::Message;
use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use wasm_predict::{check_model, Manifest, Predictor};

fn float_value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                None => tensor_shape_proto::dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(name: &str, op: &str, domain: &str, input: &str, output: &str) -> NodeProto {
    NodeProto {
        name: name.into(),
        op_type: op.into(),
        domain: domain.into(),
        input: vec![input.into()],
        output: vec![output.into()],
        ..Default::default()
    }
}

/// X -> Relu -> FancyNorm (com.example) -> Sigmoid -> Shrinkwrap (ai.onnx.ml) -> Y
fn model_with_two_unknown_ops() -> Vec<u8> {
    let graph = GraphProto {
        name: "two-unknown".into(),
        node: vec![
            node("relu", "Relu", "", "X", "a"),
            node("fancy", "FancyNorm", "com.example", "a", "b"),
            node("sigmoid", "Sigmoid", "", "b", "c"),
            node("wrap", "Shrinkwrap", "ai.onnx.ml", "c", "Y"),
        ],
        input: vec![float_value("X", &[None, Some(4)])],
        output: vec![float_value("Y", &[None, Some(4)])],
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 3,
            },
            OperatorSetIdProto {
                domain: "com.example".into(),
                version: 1,
            },
        ],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn every_unsupported_node_is_named_with_its_domain() {
    let report = check_model(&model_with_two_unknown_ops()).unwrap();
    assert!(!report.supported);
    assert_eq!(report.nodes, 4);
    let named: Vec<(&str, &str, &str)> = report
        .unsupported
        .iter()
        .map(|n| (n.name.as_str(), n.op.as_str(), n.domain.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("fancy", "FancyNorm", "com.example"),
            ("wrap", "Shrinkwrap", "ai.onnx.ml")
        ]
    );
    let summary = report.summary();
    assert!(
        summary.contains("2 node(s) cannot run") && summary.contains("FancyNorm") && summary.contains("Shrinkwrap")
    );
    assert_eq!(report.ops["ai.onnx"]["Relu"], 1);
}

#[test]
fn loading_an_unsupported_model_reports_all_its_nodes_in_one_error() {
    let manifest = std::fs::read("models/breast-cancer-logreg/1.0.0/manifest.json").unwrap();
    let mut manifest: Manifest = serde_json::from_slice(&manifest).unwrap();
    manifest.inputs[0].name = "X".into();
    let error = Predictor::from_model(manifest, &model_with_two_unknown_ops()).unwrap_err();
    // The manifest's outputs are not in this graph: the graph check comes first.
    assert_eq!(error.code(), "GRAPH_MISMATCH", "{error}");

    let manifest = std::fs::read("models/diabetes-linreg/1.0.0/manifest.json").unwrap();
    let mut manifest: Manifest = serde_json::from_slice(&manifest).unwrap();
    manifest.outputs.score = Some("Y".into());
    let mut graph_manifest = manifest.clone();
    graph_manifest.inputs[0].features.truncate(4);
    graph_manifest.inputs[0].shape[1] = wasm_predict::manifest::Dim::Fixed(4);
    let error = Predictor::from_model(graph_manifest, &model_with_two_unknown_ops()).unwrap_err();
    assert_eq!(error.code(), "MODEL_UNSUPPORTED", "{error}");
    let message = error.to_string();
    assert!(
        message.contains("\"fancy\" (com.example:FancyNorm)") && message.contains("\"wrap\" (ai.onnx.ml:Shrinkwrap)"),
        "{message}"
    );
}

#[test]
fn committed_bundles_are_supported_and_their_ops_counted() {
    for name in [
        "digits-mlp",
        "digits-mlp-int8",
        "digits-mlp-qdq",
        "breast-cancer-logreg",
        "diabetes-linreg",
    ] {
        let report = check_model(&std::fs::read(format!("models/{name}/1.0.0/model.onnx")).unwrap()).unwrap();
        assert!(report.supported, "{name}: {}", report.summary());
    }
    let qdq = check_model(&std::fs::read("models/digits-mlp-qdq/1.0.0/model.onnx").unwrap()).unwrap();
    assert_eq!(qdq.ops["ai.onnx"]["QuantizeLinear"], 2);
    let cancer = check_model(&std::fs::read("models/breast-cancer-logreg/1.0.0/model.onnx").unwrap()).unwrap();
    assert_eq!(cancer.ops["ai.onnx.ml"]["Scaler"], 1);
}

#[test]
fn garbage_is_an_error_not_a_report() {
    assert_eq!(check_model(b"not a model at all").unwrap_err().code(), "MODEL_INVALID");
    assert_eq!(check_model(&[]).unwrap_err().code(), "MODEL_INVALID");
}

#[test]
fn raw_data_of_a_type_tract_cannot_read_is_an_error_not_a_panic() {
    let mut model = ModelProto::decode(model_with_two_unknown_ops().as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    graph.initializer.push(tract_onnx::pb::TensorProto {
        name: "strings".into(),
        dims: vec![2],
        data_type: DataType::String as i32,
        raw_data: b"ab".to_vec(),
        ..Default::default()
    });
    let error = check_model(&model.encode_to_vec()).unwrap_err();
    assert_eq!(error.code(), "MODEL_UNSUPPORTED", "{error}");
    assert!(error.to_string().contains("\"strings\""), "{error}");
}

#[test]
fn a_graph_exported_with_a_fixed_batch_size_is_supported_and_says_so() {
    let fixed = check_model(&std::fs::read("tests/corpus/torch-cnn-batch1/model.onnx").unwrap()).unwrap();
    assert!(fixed.supported, "{}", fixed.summary());
    assert_eq!(fixed.fixed_batch, Some(1));
    assert!(
        fixed.summary().contains("rows run in groups of 1"),
        "{}",
        fixed.summary()
    );
    let any = check_model(&std::fs::read("tests/corpus/cnn-float/model.onnx").unwrap()).unwrap();
    assert_eq!(any.fixed_batch, None);
}

/// X [N, 4] -> Reshape to the constant shape [3, 5]: no number of rows can be reshaped so.
#[test]
fn a_graph_whose_shapes_cannot_work_names_the_input_and_its_shape() {
    let shape = tract_onnx::pb::TensorProto {
        name: "shape".into(),
        dims: vec![2],
        data_type: DataType::Int64 as i32,
        int64_data: vec![3, 5],
        ..Default::default()
    };
    let graph = GraphProto {
        name: "bad-reshape".into(),
        node: vec![NodeProto {
            name: "reshape".into(),
            op_type: "Reshape".into(),
            input: vec!["X".into(), "shape".into()],
            output: vec!["Y".into()],
            ..Default::default()
        }],
        initializer: vec![shape],
        input: vec![float_value("X", &[Some(2), Some(4)])],
        output: vec![float_value("Y", &[Some(3), Some(5)])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(graph),
        ..Default::default()
    };
    let report = check_model(&model.encode_to_vec()).unwrap();
    assert!(!report.supported);
    let reason = &report.unsupported[0].reason;
    assert!(reason.contains("input \"X\" of shape [2, 4]"), "{reason}");
    assert_eq!(report.unsupported[0].name, "reshape", "{reason}");
}
