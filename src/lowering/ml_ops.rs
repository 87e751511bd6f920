//! The ai.onnx.ml ops tract lacks, as standard ops: `Scaler` as `Sub, Mul`; `Binarizer` as
//! `Greater, Cast`; an integer `OneHotEncoder` as `Unsqueeze, Equal, Cast`; `Imputer` as `IsNaN`
//! (or `Equal`) and `Where`; a `LabelEncoder` of integer or float keys (string keys become
//! integers in [`crate::records`]) as `Equal, ArgMax, Gather, Where`; `ZipMap` dropped (classes
//! come from the manifest).

use tract_onnx::pb::{tensor_proto::DataType, GraphProto};

use super::rewriter::{rewrite_nodes, Rewriter};
use crate::graph_edit::{attribute, int64_vector, int_attribute, ints_attribute};

/// Rewrites every ai.onnx.ml node tract lacks as standard ops, for a graph of default-domain
/// `opset`.
pub fn ml_ops_to_standard(graph: &mut GraphProto, opset: i64) {
    rewrite_nodes(graph, |rewriter, _| {
        rewriter.opset = opset;
        match (rewriter.node.domain.as_str(), rewriter.node.op_type.as_str()) {
            ("ai.onnx.ml", "Scaler") => rewriter.scaler(),
            ("ai.onnx.ml", "ZipMap") => rewriter.zip_map(),
            ("ai.onnx.ml", "Binarizer") => rewriter.binarizer(),
            ("ai.onnx.ml", "Imputer") => rewriter.imputer(),
            ("ai.onnx.ml", "OneHotEncoder") => rewriter.one_hot_encoder(),
            ("ai.onnx.ml", "LabelEncoder") => rewriter.label_encoder(),
            ("ai.onnx.ml", "LinearClassifier") => rewriter.class_indices(),
            _ => false,
        }
    });
}

impl Rewriter<'_> {
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

    fn zip_map(&mut self) -> bool {
        let node = self.node;
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        self.push("Identity", &[&node.input[0]], &node.output[0], vec![]);
        true
    }

    fn binarizer(&mut self) -> bool {
        let node = self.node;
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        let threshold = attribute(node, "threshold").map(|a| a.f).unwrap_or(0.0);
        let threshold = self.float_constant("threshold", vec![], vec![threshold]);
        let above = self.name("above");
        self.push("Greater", &[&node.input[0], &threshold], &above, vec![]);
        self.cast(&above, &node.output[0], DataType::Float as i32);
        true
    }

    fn imputer(&mut self) -> bool {
        let node = self.node;
        let values = attribute(node, "imputed_value_floats")
            .map(|a| a.floats.clone())
            .unwrap_or_default();
        if node.input.len() != 1 || node.output.len() != 1 || values.is_empty() {
            return false;
        }
        let replaced = attribute(node, "replaced_value_float").map(|a| a.f).unwrap_or(0.0);
        let mask = self.name("missing");
        if replaced.is_nan() {
            self.push("IsNaN", &[&node.input[0]], &mask, vec![]);
        } else {
            let replaced = self.float_constant("replaced", vec![], vec![replaced]);
            self.push("Equal", &[&node.input[0], &replaced], &mask, vec![]);
        }
        let dims = if values.len() == 1 {
            vec![]
        } else {
            vec![values.len() as i64]
        };
        let values = self.float_constant("imputed", dims, values);
        self.push("Where", &[&mask, &values, &node.input[0]], &node.output[0], vec![]);
        true
    }

    /// `Y[..., c] = (X[...] == cats[c])` for integer categories; an unknown category gives a row
    /// of zeros (onnxruntime refuses it when `zeros` is 0).
    fn one_hot_encoder(&mut self) -> bool {
        let node = self.node;
        let Some(cats) = attribute(node, "cats_int64s")
            .map(|a| a.ints.clone())
            .filter(|c| !c.is_empty())
        else {
            return false;
        };
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        let categories = self.name("categories");
        self.initializers.push(int64_vector(&categories, cats));
        let as_int = self.name("as_int64");
        self.cast(&node.input[0], &as_int, DataType::Int64 as i32);
        let expanded = self.unsqueeze_last(&as_int);
        let hits = self.name("hits");
        self.push("Equal", &[&expanded, &categories], &hits, vec![]);
        self.cast(&hits, &node.output[0], DataType::Float as i32);
        true
    }
}

impl Rewriter<'_> {
    /// A classifier whose labels are strings, which the engine cannot produce, made to label by
    /// class index: the predictor reads the probabilities and takes the labels from the manifest.
    fn class_indices(&mut self) -> bool {
        let node = self.node;
        let Some(count) = attribute(node, "classlabels_strings").map(|a| a.strings.len()) else {
            return false;
        };
        let mut indexed = node.clone();
        indexed.attribute.retain(|a| a.name != "classlabels_strings");
        indexed
            .attribute
            .push(ints_attribute("classlabels_ints", (0..count as i64).collect()));
        self.nodes.push(indexed);
        true
    }

    /// `input` with a last axis of size 1, its name (the axes an input from opset 13, an attribute before).
    fn unsqueeze_last(&mut self, input: &str) -> String {
        let expanded = self.name("expanded");
        if self.opset >= 13 {
            let axes = self.name("axes");
            self.initializers.push(int64_vector(&axes, vec![-1]));
            self.push("Unsqueeze", &[input, &axes], &expanded, vec![]);
        } else {
            self.push("Unsqueeze", &[input], &expanded, vec![ints_attribute("axes", vec![-1])]);
        }
        expanded
    }

    /// `Y = values[k]` where `X == keys[k]`, else the default: the first equal key's position by
    /// `ArgMax` over `X == keys`, then `Where` that key is `X`. Integer or float keys, integer or
    /// float values (string values are left to the engine, which refuses them).
    fn label_encoder(&mut self) -> bool {
        let node = self.node;
        if node.input.len() != 1 || node.output.len() != 1 {
            return false;
        }
        let ints = |name: &str| attribute(node, name).map(|a| a.ints.clone()).filter(|v| !v.is_empty());
        let floats = |name: &str| {
            attribute(node, name)
                .map(|a| a.floats.clone())
                .filter(|v| !v.is_empty())
        };
        let keys = self.name("keys");
        let key_count = match (ints("keys_int64s"), floats("keys_floats")) {
            (Some(k), None) => {
                let n = k.len();
                self.initializers.push(int64_vector(&keys, k));
                n
            }
            (None, Some(k)) => {
                let n = k.len();
                let name = self.float_constant("key_table", vec![n as i64], k);
                self.push("Identity", &[&name], &keys, vec![]);
                n
            }
            _ => return false,
        };
        let values = self.name("values");
        let default = self.name("default");
        match (ints("values_int64s"), floats("values_floats")) {
            (Some(v), None) if v.len() == key_count => {
                self.initializers.push(int64_vector(&values, v));
                let d = attribute(node, "default_int64").map_or(-1, |a| a.i);
                let mut scalar = int64_vector(&default, vec![d]);
                scalar.dims.clear();
                self.initializers.push(scalar);
            }
            (None, Some(v)) if v.len() == key_count => {
                let name = self.float_constant("value_table", vec![key_count as i64], v);
                self.push("Identity", &[&name], &values, vec![]);
                let d = attribute(node, "default_float").map_or(-0.0, |a| a.f);
                let name = self.float_constant("default_value", vec![], vec![d]);
                self.push("Identity", &[&name], &default, vec![]);
            }
            _ => return false,
        }
        let expanded = self.unsqueeze_last(&node.input[0]);
        let hits = self.name("hits");
        self.push("Equal", &[&expanded, &keys], &hits, vec![]);
        let hits_float = self.name("hits_float");
        self.cast(&hits, &hits_float, DataType::Float as i32);
        let position = self.name("position");
        self.push(
            "ArgMax",
            &[&hits_float],
            &position,
            vec![int_attribute("axis", -1), int_attribute("keepdims", 0)],
        );
        let key_at = self.name("key_at");
        self.push("Gather", &[&keys, &position], &key_at, vec![int_attribute("axis", 0)]);
        let found = self.name("found");
        self.push("Equal", &[&key_at, &node.input[0]], &found, vec![]);
        let value_at = self.name("value_at");
        self.push(
            "Gather",
            &[&values, &position],
            &value_at,
            vec![int_attribute("axis", 0)],
        );
        self.push("Where", &[&found, &value_at, &default], &node.output[0], vec![]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::ml_ops_to_standard;
    use crate::graph_edit::{float_attribute, floats_attribute};
    use crate::test_graph::{graph, node, node_in, ops, run};

    #[test]
    fn scaler_and_binarizer_become_standard_ops_with_the_same_values() {
        let mut g = graph(
            vec![
                node_in(
                    "ai.onnx.ml",
                    "Scaler",
                    &["x"],
                    "a",
                    vec![
                        floats_attribute("offset", vec![1.0, 2.0]),
                        floats_attribute("scale", vec![2.0, 0.5]),
                    ],
                ),
                node_in(
                    "ai.onnx.ml",
                    "Binarizer",
                    &["a"],
                    "b",
                    vec![float_attribute("threshold", 0.5)],
                ),
                node("Identity", &["b"], "y"),
            ],
            vec![],
            &[2, 2],
        );
        ml_ops_to_standard(&mut g, 17);
        assert!(g.node.iter().all(|n| n.domain.is_empty()), "{:?}", ops(&g));
        let x = [1.0f32, 2.0, 1.5, 3.5];
        // (x - offset) * scale = [0, 0, 1, 0.75]; > 0.5 gives [0, 0, 1, 1].
        assert_eq!(run(&g, &x), [0.0, 0.0, 1.0, 1.0]);
    }
}
