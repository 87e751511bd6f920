//! Keeps the outputs the manifest names and drops what only other outputs need.

use std::collections::HashSet;

use tract_onnx::pb::ModelProto;

use crate::error::{PredictError, Result};
use crate::graph_edit::graph_mut;

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tract_onnx::pb::{ModelProto, ValueInfoProto};

    use super::keep_outputs;
    use crate::error::PredictError;
    use crate::test_graph::{graph, node, ops};

    #[test]
    fn keeps_the_named_output_and_what_it_needs() {
        let mut g = graph(
            vec![
                node("Relu", &["x"], "a"),
                node("Sigmoid", &["a"], "y"),
                node("Tanh", &["x"], "z"),
            ],
            vec![],
            &[1, 2],
        );
        g.output.push(ValueInfoProto {
            name: "z".into(),
            ..Default::default()
        });
        let mut model = ModelProto {
            graph: Some(g),
            ..Default::default()
        };
        keep_outputs(&mut model, &["y"]).unwrap();
        let g = model.graph.as_ref().unwrap();
        assert_eq!(ops(g), ["Relu", "Sigmoid"]);
        assert_eq!(g.output.len(), 1);
        match keep_outputs(&mut model, &["probabilities"]) {
            Err(PredictError::GraphMismatch(m)) => assert!(m.contains("probabilities") && m.contains("\"y\""), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
