//! Models that take records: several named `[N, k]` inputs of float32, int64 and string values,
//! as skl2onnx exports a pipeline over a table's columns. The engine runs one float row: the
//! graph is rewritten to take the inputs' features one after the other in a single float input,
//! each input taken back out of it (`Gather` on its columns, `Cast` to int64 for integers and
//! categories), and every encoder of string categories (`OneHotEncoder`, `LabelEncoder`,
//! `CategoryMapper`) rewritten to read a category's index in the input's categories instead of
//! the string. Strings never reach the engine; a category the model does not know is -1, which no
//! encoder lists, so each encoder does what it does with unknown categories.

use std::collections::HashMap;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::{type_proto, GraphProto, ModelProto, NodeProto, TensorShapeProto, TypeProto, ValueInfoProto};

use crate::error::{PredictError, Result};
use crate::graph_edit::{attribute, graph_mut, int64_vector, int_attribute, ints_attribute, single_output_node};
use crate::manifest::{Dtype, Manifest};
use crate::typing::{declared_dims, graph_inputs};

/// The name of the one float input of a graph rewritten by [`merge_inputs`].
pub const ROW_INPUT: &str = "wasm_predict_row";

/// One graph input as the row holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputLayout {
    /// The graph input's name.
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its number of columns.
    pub width: usize,
    /// A string input's categories, in the order of the indices a row holds.
    pub categories: Vec<String>,
}

/// Ops that move or pick values without reading them: a string input's values may pass through
/// them on their way to an encoder (the first input only, for those with several).
const MOVES_VALUES: [&str; 10] = [
    "Identity",
    "ArrayFeatureExtractor",
    "Reshape",
    "Flatten",
    "Concat",
    "Squeeze",
    "Unsqueeze",
    "Gather",
    "Transpose",
    "Split",
];

/// The attributes that hold an encoder's string categories.
fn string_keys(node: &NodeProto) -> Option<&[Vec<u8>]> {
    if node.domain != "ai.onnx.ml" {
        return None;
    }
    let name = match node.op_type.as_str() {
        "OneHotEncoder" | "CategoryMapper" => "cats_strings",
        "LabelEncoder" => "keys_strings",
        _ => return None,
    };
    attribute(node, name).map(|a| a.strings.as_slice())
}

/// The ONNX element type of an input of `dtype`.
pub fn onnx_type(dtype: Dtype) -> DataType {
    match dtype {
        Dtype::Float32 => DataType::Float,
        Dtype::Int64 => DataType::Int64,
        Dtype::String => DataType::String,
    }
}

fn dtype_of(code: i32) -> Option<Dtype> {
    [Dtype::Float32, Dtype::Int64, Dtype::String]
        .into_iter()
        .find(|d| onnx_type(*d) as i32 == code)
}

fn elem_type(input: &ValueInfoProto) -> Option<i32> {
    match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => Some(t.elem_type),
        _ => None,
    }
}

/// Whether the graph takes records: several inputs, or one that is not float32.
pub fn takes_records(proto: &ModelProto) -> bool {
    let inputs = graph_inputs(proto);
    inputs.len() > 1
        || inputs
            .iter()
            .any(|i| elem_type(i).is_some_and(|t| t != DataType::Float as i32))
}

/// The graph's inputs as a row holds them, a string input's categories read from the encoders
/// it feeds (in the order they list them). Refuses inputs that are not `[N, k]` tables of
/// float32, int64 or strings, naming the input and what to change at export.
pub fn layout_from_graph(proto: &ModelProto) -> Result<Vec<InputLayout>> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| PredictError::ModelInvalid("no graph".into()))?;
    let mut layouts = Vec::new();
    for input in graph_inputs(proto) {
        let refuse = |why: String| PredictError::Unsupported(format!("the graph's input {:?} {why}", input.name));
        let code = elem_type(input).ok_or_else(|| refuse("is not a tensor".into()))?;
        let dtype = dtype_of(code).ok_or_else(|| {
            refuse(format!(
                "has ONNX element type {code}; inputs may be float32, int64 or string: cast the column at export \
                 (for example FloatTensorType or Int64TensorType in skl2onnx's initial_types)"
            ))
        })?;
        let width = match declared_dims(input).as_deref() {
            Some([_, Some(k)]) => *k,
            other => {
                return Err(refuse(format!(
                    "has shape {}; with several inputs, or int64 or string ones, each input must be a table \
                     [N, columns] with a fixed number of columns (for example [None, 1] in skl2onnx's initial_types)",
                    describe_dims(other)
                )))
            }
        };
        let mut categories: Vec<String> = Vec::new();
        if dtype == Dtype::String {
            for node in encoders_of(graph, &input.name)? {
                for key in string_keys(&graph.node[node]).unwrap_or_default() {
                    let key = String::from_utf8_lossy(key).into_owned();
                    if !categories.contains(&key) {
                        categories.push(key);
                    }
                }
            }
            if categories.is_empty() {
                return Err(refuse("holds strings, but no encoder of categories reads it".into()));
            }
        }
        layouts.push(InputLayout {
            name: input.name.clone(),
            dtype,
            width,
            categories,
        });
    }
    Ok(layouts)
}

fn describe_dims(dims: Option<&[Option<usize>]>) -> String {
    match dims {
        None => "unknown".into(),
        Some(dims) => format!(
            "[{}]",
            dims.iter()
                .map(|d| d.map_or("?".into(), |n| n.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The inputs as the manifest describes them.
pub fn layout_from_manifest(manifest: &Manifest) -> Vec<InputLayout> {
    manifest
        .inputs
        .iter()
        .map(|i| InputLayout {
            name: i.name.clone(),
            dtype: i.dtype,
            width: i.features.len(),
            categories: i.categories.clone().unwrap_or_default(),
        })
        .collect()
}

/// The encoders that read the string values of `input`, through ops that only move values;
/// any other reader is refused, naming it.
fn encoders_of(graph: &GraphProto, input: &str) -> Result<Vec<usize>> {
    let mut encoders = Vec::new();
    let mut frontier = vec![input.to_string()];
    let mut seen = vec![input.to_string()];
    while let Some(tensor) = frontier.pop() {
        if graph.output.iter().any(|o| o.name == tensor) {
            return Err(PredictError::Unsupported(format!(
                "the strings of input {input:?} reach the graph's output {tensor:?}; outputs must be numbers"
            )));
        }
        for (i, node) in graph.node.iter().enumerate() {
            let Some(slot) = node.input.iter().position(|x| *x == tensor) else {
                continue;
            };
            if string_keys(node).is_some() {
                if !encoders.contains(&i) {
                    encoders.push(i);
                }
                continue;
            }
            let moves = MOVES_VALUES.contains(&node.op_type.as_str())
                && (slot == 0 || node.op_type == "Concat")
                && (node.domain.is_empty() || node.domain == "ai.onnx" || node.op_type == "ArrayFeatureExtractor");
            if !moves {
                return Err(PredictError::Unsupported(format!(
                    "the strings of input {input:?} reach node {:?} ({}), which wasm-predict cannot run on strings: \
                     it takes string categories through OneHotEncoder, OrdinalEncoder (LabelEncoder) and \
                     CategoryMapper",
                    if node.name.is_empty() {
                        &node.op_type
                    } else {
                        &node.name
                    },
                    node.op_type
                )));
            }
            for out in &node.output {
                if !seen.contains(out) {
                    seen.push(out.clone());
                    frontier.push(out.clone());
                }
            }
        }
    }
    encoders.sort_unstable();
    Ok(encoders)
}

/// Rewrites the graph to take the inputs of `layouts` (all of the graph's, in its order) as one
/// float row of their features, named [`ROW_INPUT`], and its string encoders to take category
/// indices. An encoder that knows a category `layouts` does not list is a mismatch. Returns the
/// positions in the row of the features whose encoder refuses unknown categories (a one-hot
/// encoder exported with `handle_unknown="error"`, `zeros` 0): rows must not hold -1 there.
pub fn merge_inputs(proto: &mut ModelProto, layouts: &[InputLayout]) -> Result<Vec<usize>> {
    let graph = graph_mut(proto)?;
    let mut owner: HashMap<usize, usize> = HashMap::new();
    for (l, layout) in layouts.iter().enumerate() {
        if layout.dtype != Dtype::String {
            continue;
        }
        for node in encoders_of(graph, &layout.name)? {
            if let Some(other) = owner.insert(node, l) {
                return Err(PredictError::Unsupported(format!(
                    "node {:?} encodes the strings of two inputs, {:?} and {:?}: export one encoder per input",
                    graph.node[node].name, layouts[other].name, layout.name
                )));
            }
        }
    }
    let mut strict = Vec::new();
    for (&node, &l) in &owner {
        let refuses_unknown = graph.node[node].op_type == "OneHotEncoder"
            && attribute(&graph.node[node], "zeros").is_some_and(|a| a.i == 0);
        if refuses_unknown && !strict.contains(&l) {
            strict.push(l);
        }
        encode_indices(&mut graph.node[node], &layouts[l])?;
    }
    let mut refusing = Vec::new();
    let mut start = 0;
    for (l, layout) in layouts.iter().enumerate() {
        if strict.contains(&l) {
            refusing.extend(start..start + layout.width);
        }
        start += layout.width;
    }
    let total: usize = layouts.iter().map(|l| l.width).sum();
    let mut prologue = Vec::new();
    let mut offset = 0;
    for layout in layouts {
        let columns = format!("{}__wasm_predict_columns", layout.name);
        graph.initializer.push(int64_vector(
            &columns,
            (offset..offset + layout.width).map(|c| c as i64).collect(),
        ));
        offset += layout.width;
        let gathered = match layout.dtype {
            Dtype::Float32 => layout.name.clone(),
            _ => format!("{}__wasm_predict_float", layout.name),
        };
        prologue.push(single_output_node(
            "Gather",
            &[ROW_INPUT, &columns],
            &gathered,
            vec![int_attribute("axis", 1)],
        ));
        if layout.dtype != Dtype::Float32 {
            prologue.push(single_output_node(
                "Cast",
                &[&gathered],
                &layout.name,
                vec![int_attribute("to", DataType::Int64 as i64)],
            ));
        }
    }
    let names: Vec<&str> = layouts.iter().map(|l| l.name.as_str()).collect();
    graph.input.retain(|i| !names.contains(&i.name.as_str()));
    graph.input.insert(0, row_input(total));
    prologue.append(&mut graph.node);
    graph.node = prologue;
    Ok(refusing)
}

/// `[N, total]` float32.
fn row_input(total: usize) -> ValueInfoProto {
    table_input(ROW_INPUT, DataType::Float, total)
}

/// A graph input `[N, width]` of `elem_type`.
fn table_input(name: &str, elem_type: DataType, width: usize) -> ValueInfoProto {
    let dim = |value| Dimension {
        value: Some(value),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem_type as i32,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        dim(dimension::Value::DimParam("N".into())),
                        dim(dimension::Value::DimValue(width as i64)),
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An encoder of strings made to read the index of each string in the input's categories.
fn encode_indices(node: &mut NodeProto, layout: &InputLayout) -> Result<()> {
    let keys: Vec<String> = string_keys(node)
        .unwrap_or_default()
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    let indices = keys
        .iter()
        .map(|k| {
            layout.categories.iter().position(|c| c == k).map(|i| i as i64).ok_or_else(|| {
                PredictError::GraphMismatch(format!(
                    "node {:?} ({}) knows the category {k:?} of input {:?}, which the manifest's categories do not list",
                    node.name, node.op_type, layout.name
                ))
            })
        })
        .collect::<Result<Vec<i64>>>()?;
    let ints = ints_attribute;
    match node.op_type.as_str() {
        "OneHotEncoder" => {
            node.attribute.retain(|a| a.name != "cats_strings");
            node.attribute.push(ints("cats_int64s", indices));
        }
        "LabelEncoder" => {
            node.attribute.retain(|a| a.name != "keys_strings");
            node.attribute.push(ints("keys_int64s", indices));
        }
        _ => {
            // CategoryMapper maps strings to `cats_int64s` (and back, which no row needs): the
            // same as a LabelEncoder from indices to those integers.
            let values = attribute(node, "cats_int64s")
                .map(|a| a.ints.clone())
                .unwrap_or_default();
            let default = attribute(node, "default_int64").map_or(-1, |a| a.i);
            node.op_type = "LabelEncoder".into();
            node.attribute = vec![
                ints("keys_int64s", indices),
                ints("values_int64s", values),
                int_attribute("default_int64", default),
            ];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{layout_from_graph, merge_inputs, table_input, takes_records, ROW_INPUT};
    use crate::manifest::Dtype;
    use crate::test_graph::ops;
    use tract_onnx::pb::tensor_proto::DataType;
    use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto};

    fn strings(name: &str, values: &[&str]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: tract_onnx::pb::attribute_proto::AttributeType::Strings as i32,
            strings: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            ..Default::default()
        }
    }

    fn model(nodes: Vec<NodeProto>) -> ModelProto {
        ModelProto {
            graph: Some(GraphProto {
                node: nodes,
                input: vec![
                    table_input("age", DataType::Float, 1),
                    table_input("city", DataType::String, 1),
                ],
                output: vec![table_input("y", DataType::Float, 4)],
                ..Default::default()
            }),
            opset_import: vec![
                OperatorSetIdProto {
                    domain: String::new(),
                    version: 17,
                },
                OperatorSetIdProto {
                    domain: "ai.onnx.ml".into(),
                    version: 3,
                },
            ],
            ..Default::default()
        }
    }

    fn encoder(op: &str, attribute: AttributeProto) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            domain: "ai.onnx.ml".into(),
            input: vec!["city".into()],
            output: vec!["encoded".into()],
            name: "encoder".into(),
            attribute: vec![attribute],
            ..Default::default()
        }
    }

    #[test]
    fn string_inputs_become_indices_in_one_float_row() {
        let mut proto = model(vec![encoder(
            "OneHotEncoder",
            strings("cats_strings", &["Lyon", "Paris", "Nice"]),
        )]);
        assert!(takes_records(&proto));
        let layouts = layout_from_graph(&proto).unwrap();
        assert_eq!(layouts[1].dtype, Dtype::String);
        assert_eq!(layouts[1].categories, ["Lyon", "Paris", "Nice"]);
        // The manifest may order the categories otherwise: the encoder reads the manifest's indices.
        let mut manifest_order = layouts.clone();
        manifest_order[1].categories = vec!["Nice".into(), "Lyon".into(), "Paris".into()];
        assert!(merge_inputs(&mut proto, &manifest_order).unwrap().is_empty());
        let graph = proto.graph.as_ref().unwrap();
        assert_eq!(graph.input.len(), 1);
        assert_eq!(graph.input[0].name, ROW_INPUT);
        assert_eq!(ops(graph), ["Gather", "Gather", "Cast", "OneHotEncoder"]);
        let cats = graph.node[3]
            .attribute
            .iter()
            .find(|a| a.name == "cats_int64s")
            .unwrap();
        assert_eq!(cats.ints, [1, 2, 0]);
        assert!(!takes_records(&proto));
    }

    #[test]
    fn strings_read_by_other_ops_and_unlisted_categories_are_refused_by_name() {
        let mut cast = encoder("OneHotEncoder", strings("cats_strings", &["Lyon"]));
        cast.op_type = "StringNormalizer".into();
        let error = layout_from_graph(&model(vec![cast])).unwrap_err().to_string();
        assert!(
            error.contains("\"city\"") && error.contains("StringNormalizer"),
            "{error}"
        );
        let mut proto = model(vec![encoder(
            "LabelEncoder",
            strings("keys_strings", &["Lyon", "Nice"]),
        )]);
        let mut layouts = layout_from_graph(&proto).unwrap();
        layouts[1].categories = vec!["Lyon".into()];
        let error = merge_inputs(&mut proto, &layouts).unwrap_err().to_string();
        assert!(error.contains("\"Nice\""), "{error}");
    }
}
