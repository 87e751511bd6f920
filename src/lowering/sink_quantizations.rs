//! Moves roundings to an int8 grid past the ops that only move values, so that pairs meet and
//! fewer values are rounded.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::GraphProto;

use crate::graph_edit::{is_standard, ORDER_PRESERVING};
use crate::ops::fake_quantize::FAKE_QUANTIZE;

/// Sinks quantizations past order-preserving ops until none moves, with a bound on the moves: in a
/// malformed graph with a cycle through such an op one could move forever. A quantization left
/// in place computes the same values.
pub fn sink_quantizations(graph: &mut GraphProto) {
    for _ in 0..graph.node.len().saturating_mul(8) {
        if !sink_quantize_past_order_preserving_op(graph) {
            return;
        }
    }
}

/// Moves one `QuantizeLinear` or `FakeQuantize` past the order-preserving op that is its only
/// reader. A `QuantizeLinear` then meets its `DequantizeLinear` and the pair can be fused
/// (QOperator graphs run MaxPool on uint8 between the two); a `FakeQuantize` past a `MaxPool`
/// rounds a quarter of the values. Returns whether it moved one.
fn sink_quantize_past_order_preserving_op(graph: &mut GraphProto) -> bool {
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for input in &node.input {
            readers.entry(input.as_str()).or_default().push(i);
        }
    }
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let found = graph.node.iter().enumerate().find_map(|(i, q)| {
        let quantizes = is_standard(q, "QuantizeLinear") || q.op_type == FAKE_QUANTIZE;
        if !quantizes || q.output.len() != 1 || outputs.contains(q.output[0].as_str()) {
            return None;
        }
        let [j] = readers.get(q.output[0].as_str())?.as_slice() else {
            return None;
        };
        let op = &graph.node[*j];
        let movable = ORDER_PRESERVING.iter().any(|name| is_standard(op, name))
            && op.output.len() == 1
            && op.input.first() == q.output.first()
            && !op.input[1..].contains(&q.output[0]);
        movable.then_some((i, *j))
    });
    let Some((i, j)) = found else { return false };
    let moved = format!("{}__wasm_predict_before_quantize", graph.node[j].output[0]);
    let quantized_output = std::mem::replace(&mut graph.node[j].output[0], moved.clone());
    graph.node[j].input[0] = graph.node[i].input[0].clone();
    let mut quantize = graph.node.remove(i);
    quantize.input[0] = moved;
    quantize.output[0] = quantized_output;
    // The op now comes first: the quantization goes right after it, keeping the order topological.
    graph.node.insert(j, quantize);
    true
}

#[cfg(test)]
mod tests {
    use super::sink_quantizations;
    use crate::test_graph::{floats, graph, node, ops, run, uint8};

    #[test]
    fn a_quantization_moves_past_a_flatten_and_computes_the_same_values() {
        let before = graph(
            vec![
                node("QuantizeLinear", &["x", "s", "zp"], "q"),
                node("Flatten", &["q"], "f"),
                node("DequantizeLinear", &["f", "s", "zp"], "y"),
            ],
            vec![floats("s", &[], &[0.1]), uint8("zp", 128)],
            &[1, 2, 2],
        );
        let mut after = before.clone();
        sink_quantizations(&mut after);
        assert_eq!(ops(&after), ["Flatten", "QuantizeLinear", "DequantizeLinear"]);
        assert_eq!(after.node[1].output, after.node[2].input[..1]);
        let x = [-20.0, -0.26, 0.33, 30.0];
        assert_eq!(run(&before, &x), run(&after, &x));
    }
}
