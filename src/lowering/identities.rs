//! Drops the `Identity` nodes the pair fusions leave behind.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::GraphProto;

use crate::graph_edit::is_standard;

/// Removes each `Identity` whose output is not a graph output, its readers reading its input
/// instead (the pair fusions leave one per `DequantizeLinear`).
pub fn bypass_identities(graph: &mut GraphProto) {
    let outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut renamed: HashMap<String, String> = HashMap::new();
    graph.node.retain(|n| {
        let bypass =
            is_standard(n, "Identity") && n.input.len() == 1 && n.output.len() == 1 && !outputs.contains(&n.output[0]);
        if bypass {
            renamed.insert(n.output[0].clone(), n.input[0].clone());
        }
        !bypass
    });
    // At most one step per removed node: a malformed graph whose Identities form a cycle keeps
    // a name from the cycle (tract refuses it later) rather than looping forever.
    let resolve = |name: &String| {
        let mut name = name;
        for _ in 0..renamed.len() {
            match renamed.get(name) {
                Some(source) => name = source,
                None => break,
            }
        }
        name.clone()
    };
    for node in &mut graph.node {
        node.input = node.input.iter().map(resolve).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::bypass_identities;
    use crate::test_graph::{graph, node, ops};

    #[test]
    fn an_identity_is_bypassed_unless_it_writes_a_graph_output() {
        let mut g = graph(
            vec![
                node("Relu", &["x"], "a"),
                node("Identity", &["a"], "b"),
                node("Sigmoid", &["b"], "y"),
            ],
            vec![],
            &[1, 2],
        );
        bypass_identities(&mut g);
        assert_eq!(ops(&g), ["Relu", "Sigmoid"]);
        assert_eq!(g.node[1].input, ["a"]);

        let mut g = graph(
            vec![
                node("Relu", &["x"], "a"),
                node("Sigmoid", &["a"], "b"),
                node("Identity", &["b"], "y"),
            ],
            vec![],
            &[1, 2],
        );
        bypass_identities(&mut g);
        assert_eq!(ops(&g), ["Relu", "Sigmoid", "Identity"]);
    }
}
