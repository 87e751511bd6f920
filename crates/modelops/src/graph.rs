//! Reading an ONNX graph for the model operations: its interface, its ops, its parameters, and
//! the draft manifest a bundle starts from.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use prost::Message;
use serde::Serialize;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension;
use tract_onnx::pb::{type_proto, ModelProto, TensorProto, ValueInfoProto};

/// Decodes ONNX protobuf bytes.
pub fn decode(bytes: &[u8]) -> Result<ModelProto> {
    let model = ModelProto::decode(bytes).map_err(|e| anyhow!("not an ONNX model: {e}"))?;
    if model.graph.is_none() {
        bail!("not an ONNX model: no graph");
    }
    Ok(model)
}

/// The name of an ONNX element type.
pub fn dtype_name(code: i32) -> String {
    DataType::try_from(code).map_or_else(|_| format!("type{code}"), |t| t.as_str_name().to_lowercase())
}

/// Bytes per element of a fixed-size type (0 for strings and unknown types).
pub fn dtype_size(code: i32) -> u64 {
    match DataType::try_from(code) {
        Ok(DataType::Float | DataType::Int32 | DataType::Uint32) => 4,
        Ok(DataType::Double | DataType::Int64 | DataType::Uint64 | DataType::Complex64) => 8,
        Ok(DataType::Uint8 | DataType::Int8 | DataType::Bool | DataType::Float8e4m3fn | DataType::Float8e5m2) => 1,
        Ok(DataType::Uint16 | DataType::Int16 | DataType::Float16 | DataType::Bfloat16) => 2,
        Ok(DataType::Complex128) => 16,
        _ => 0,
    }
}

/// A graph input or output.
#[derive(Debug, Clone, Serialize)]
pub struct TensorInfo {
    /// Its name.
    pub name: String,
    /// Element type.
    pub dtype: String,
    /// Dimensions: sizes, or symbol names (`?` when unnamed).
    pub shape: Vec<String>,
}

fn tensor_info(value: &ValueInfoProto) -> TensorInfo {
    let (dtype, shape) = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(tensor)) => (
            dtype_name(tensor.elem_type),
            tensor
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(dimension::Value::DimValue(v)) => v.to_string(),
                            Some(dimension::Value::DimParam(p)) if !p.is_empty() => p.clone(),
                            _ => "?".into(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => ("unknown".into(), Vec::new()),
    };
    TensorInfo {
        name: value.name.clone(),
        dtype,
        shape,
    }
}

/// Elements of an initializer.
pub fn elements(tensor: &TensorProto) -> u64 {
    tensor.dims.iter().map(|&d| d.max(0) as u64).product()
}

/// Ops whose presence means the graph computes in int8 (or uint8).
const INT8_OPS: [&str; 16] = [
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "QLinearMatMul",
    "QLinearConv",
    "MatMulInteger",
    "ConvInteger",
    "QGemm",
    "QLinearAdd",
    "QLinearMul",
    "QLinearSigmoid",
    "QLinearLeakyRelu",
    "QLinearSoftmax",
    "QLinearConcat",
    "QLinearGlobalAveragePool",
    "QLinearAveragePool",
];

/// Whether a node of this op computes in int8 (or uint8).
pub fn is_int8_op(op: &str) -> bool {
    INT8_OPS.contains(&op)
}

/// What `inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct GraphSummary {
    /// Model size.
    pub bytes: u64,
    /// sha256 of the bytes.
    pub sha256: String,
    /// The exporter.
    pub producer: String,
    /// Opset per domain.
    pub opsets: BTreeMap<String, i64>,
    /// Graph inputs (initializers excluded).
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Node count per domain and op.
    pub ops: BTreeMap<String, BTreeMap<String, u64>>,
    /// Parameters: elements and bytes per element type.
    pub parameters: BTreeMap<String, ParameterCount>,
    /// All parameters' elements.
    pub parameter_count: u64,
    /// All parameters' bytes.
    pub parameter_bytes: u64,
    /// The nodes that compute in int8, by op.
    pub int8_ops: BTreeMap<String, u64>,
    /// The predictor's node-by-node support report.
    pub support: wasm_predict::SupportReport,
}

/// Elements and bytes of one element type's parameters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ParameterCount {
    /// Initializers of this type.
    pub tensors: u64,
    /// Elements.
    pub elements: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Summarises a model's bytes.
pub fn summarize(bytes: &[u8]) -> Result<GraphSummary> {
    let model = decode(bytes)?;
    let graph = model.graph.as_ref().context("no graph")?;
    let initializers: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut ops: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut int8_ops = BTreeMap::new();
    for node in &graph.node {
        let domain = if node.domain.is_empty() {
            "ai.onnx".to_string()
        } else {
            node.domain.clone()
        };
        *ops.entry(domain).or_default().entry(node.op_type.clone()).or_default() += 1;
        if is_int8_op(&node.op_type) {
            *int8_ops.entry(node.op_type.clone()).or_default() += 1;
        }
    }
    let mut parameters: BTreeMap<String, ParameterCount> = BTreeMap::new();
    // ai.onnx.ml ops (Scaler, LinearClassifier, tree ensembles) keep their coefficients in attributes.
    for node in graph.node.iter().filter(|n| n.domain == "ai.onnx.ml") {
        for attribute in node.attribute.iter().filter(|a| !a.floats.is_empty()) {
            let count = parameters.entry("float (ml attributes)".into()).or_default();
            count.tensors += 1;
            count.elements += attribute.floats.len() as u64;
            count.bytes += 4 * attribute.floats.len() as u64;
        }
    }
    for tensor in &graph.initializer {
        let count = parameters.entry(dtype_name(tensor.data_type)).or_default();
        count.tensors += 1;
        count.elements += elements(tensor);
        count.bytes += elements(tensor) * dtype_size(tensor.data_type);
    }
    Ok(GraphSummary {
        bytes: bytes.len() as u64,
        sha256: wasm_predict::hash::sha256_hex(bytes),
        producer: format!("{} {}", model.producer_name, model.producer_version)
            .trim()
            .to_string(),
        opsets: model
            .opset_import
            .iter()
            .map(|o| {
                (
                    if o.domain.is_empty() {
                        "ai.onnx".into()
                    } else {
                        o.domain.clone()
                    },
                    o.version,
                )
            })
            .collect(),
        inputs: graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(tensor_info)
            .collect(),
        outputs: graph.output.iter().map(tensor_info).collect(),
        ops,
        parameter_count: parameters.values().map(|p| p.elements).sum(),
        parameter_bytes: parameters.values().map(|p| p.bytes).sum(),
        parameters,
        int8_ops,
        support: wasm_predict::check_model(bytes).map_err(|e| anyhow!("{e}"))?,
    })
}

/// The class labels a classifier node of the graph declares (`classlabels_ints` or
/// `classlabels_strings` of an ai.onnx.ml classifier), if any.
pub fn declared_classes(model: &ModelProto) -> Option<Vec<String>> {
    let graph = model.graph.as_ref()?;
    for node in &graph.node {
        for attribute in &node.attribute {
            match attribute.name.as_str() {
                "classlabels_ints" | "classlabels_int64s" if !attribute.ints.is_empty() => {
                    return Some(attribute.ints.iter().map(i64::to_string).collect())
                }
                "classlabels_strings" if !attribute.strings.is_empty() => {
                    return Some(
                        attribute
                            .strings
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect(),
                    )
                }
                _ => {}
            }
        }
    }
    None
}

/// The graph's interface as a draft manifest needs it.
#[derive(Debug, Clone)]
pub struct Interface {
    /// The one input's name (the first, for a model that takes records).
    pub input: String,
    /// A model that takes records: its inputs as a row holds them.
    pub records: Option<Vec<wasm_predict::records::InputLayout>>,
    /// Its shape after the batch dimension.
    pub row_shape: Vec<u64>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
}

/// Whether the graph gives missing values (NaN) a meaning of their own: an Imputer replaces them,
/// or a tree ensemble routes them (`nodes_missing_value_tracks_true`, as LightGBM, XGBoost and
/// HistGradientBoosting models export).
pub fn takes_missing(model: &ModelProto) -> bool {
    model.graph.iter().flat_map(|g| &g.node).any(|node| {
        node.op_type == "Imputer"
            || (node.op_type.starts_with("TreeEnsemble")
                && node
                    .attribute
                    .iter()
                    .any(|a| a.name == "nodes_missing_value_tracks_true" && a.ints.iter().any(|v| *v != 0)))
    })
}

/// The single float input and the outputs; errors say what is not of the supported shape.
pub fn interface(model: &ModelProto) -> Result<Interface> {
    let graph = model.graph.as_ref().context("no graph")?;
    let initializers: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<TensorInfo> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .map(tensor_info)
        .collect();
    if wasm_predict::records::takes_records(model) {
        let layouts = wasm_predict::records::layout_from_graph(model).map_err(|e| anyhow!("{e}"))?;
        return Ok(Interface {
            input: layouts.first().map(|l| l.name.clone()).unwrap_or_default(),
            row_shape: vec![layouts.iter().map(|l| l.width as u64).sum()],
            records: Some(layouts),
            outputs: graph.output.iter().map(tensor_info).collect(),
        });
    }
    let [input] = inputs.as_slice() else {
        bail!(
            "the model has {} inputs; a bundle takes models with exactly one float input [N, features]",
            inputs.len()
        );
    };
    if input.dtype != "float" {
        bail!(
            "the input `{}` is {}; a bundle's input is float32",
            input.name,
            input.dtype
        );
    }
    if input.shape.len() < 2 {
        bail!(
            "the input `{}` has shape [{}]; a bundle's input is [N, features...]",
            input.name,
            input.shape.join(", ")
        );
    }
    let row_shape = input.shape[1..]
        .iter()
        .map(|d| {
            d.parse::<u64>().map_err(|_| {
                anyhow!(
                    "the input `{}` has a symbolic dimension `{d}` after the batch",
                    input.name
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Interface {
        input: input.name.clone(),
        records: None,
        row_shape,
        outputs: graph.output.iter().map(tensor_info).collect(),
    })
}

/// The summary as text.
pub fn render(path: &str, s: &GraphSummary) -> String {
    use std::fmt::Write;
    let mut out = format!("{path}: {} bytes, sha256 {}\n", s.bytes, s.sha256);
    let opsets: Vec<String> = s.opsets.iter().map(|(d, v)| format!("{d} {v}")).collect();
    let _ = writeln!(
        out,
        "  producer: {}; opsets: {}",
        if s.producer.is_empty() { "unknown" } else { &s.producer },
        opsets.join(", ")
    );
    for (role, tensors) in [("input", &s.inputs), ("output", &s.outputs)] {
        for t in tensors.iter() {
            let _ = writeln!(out, "  {role}: {} {} [{}]", t.name, t.dtype, t.shape.join(", "));
        }
    }
    for (domain, ops) in &s.ops {
        let list: Vec<String> = ops
            .iter()
            .map(|(op, n)| if *n > 1 { format!("{op} ×{n}") } else { op.clone() })
            .collect();
        let _ = writeln!(out, "  ops ({domain}): {}", list.join(", "));
    }
    let by_type: Vec<String> = s
        .parameters
        .iter()
        .map(|(t, p)| format!("{t}: {} in {} tensors, {} bytes", p.elements, p.tensors, p.bytes))
        .collect();
    let _ = writeln!(
        out,
        "  parameters: {} values, {} bytes ({})",
        s.parameter_count,
        s.parameter_bytes,
        if by_type.is_empty() {
            "none".into()
        } else {
            by_type.join("; ")
        }
    );
    if s.int8_ops.is_empty() {
        let _ = writeln!(out, "  int8: no quantized op (a float model)");
    } else {
        let list: Vec<String> = s.int8_ops.iter().map(|(op, n)| format!("{op} ×{n}")).collect();
        let _ = writeln!(out, "  int8 ops: {}", list.join(", "));
    }
    let _ = writeln!(out, "  support: {}", s.support.summary());
    out
}
