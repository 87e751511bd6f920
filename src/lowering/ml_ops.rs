//! The ai.onnx.ml ops tract lacks, as standard ops: `Scaler` as `Sub, Mul`; `Binarizer` as
//! `Greater, Cast`; an integer `OneHotEncoder` as `Unsqueeze, Equal, Cast`; `Imputer` as `IsNaN`
//! (or `Equal`) and `Where`; `ZipMap` dropped (classes come from the manifest).

use tract_onnx::pb::{tensor_proto::DataType, GraphProto};

use super::rewriter::{rewrite_nodes, Rewriter};
use crate::graph_edit::{attribute, int64_vector};

/// Rewrites every ai.onnx.ml node tract lacks as standard ops.
pub fn ml_ops_to_standard(graph: &mut GraphProto) {
    rewrite_nodes(graph, |rewriter, _| {
        match (rewriter.node.domain.as_str(), rewriter.node.op_type.as_str()) {
            ("ai.onnx.ml", "Scaler") => rewriter.scaler(),
            ("ai.onnx.ml", "ZipMap") => rewriter.zip_map(),
            ("ai.onnx.ml", "Binarizer") => rewriter.binarizer(),
            ("ai.onnx.ml", "Imputer") => rewriter.imputer(),
            ("ai.onnx.ml", "OneHotEncoder") => rewriter.one_hot_encoder(),
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
        let axes = self.name("axes");
        let categories = self.name("categories");
        self.initializers.push(int64_vector(&axes, vec![-1]));
        self.initializers.push(int64_vector(&categories, cats));
        let as_int = self.name("as_int64");
        self.cast(&node.input[0], &as_int, DataType::Int64 as i32);
        let expanded = self.name("expanded");
        self.push("Unsqueeze", &[&as_int, &axes], &expanded, vec![]);
        let hits = self.name("hits");
        self.push("Equal", &[&expanded, &categories], &hits, vec![]);
        self.cast(&hits, &node.output[0], DataType::Float as i32);
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
        ml_ops_to_standard(&mut g);
        assert!(g.node.iter().all(|n| n.domain.is_empty()), "{:?}", ops(&g));
        let x = [1.0f32, 2.0, 1.5, 3.5];
        // (x - offset) * scale = [0, 0, 1, 0.75]; > 0.5 gives [0, 0, 1, 1].
        assert_eq!(run(&g, &x), [0.0, 0.0, 1.0, 1.0]);
    }
}
