//! Can the engine run a model? A node-by-node report, before anyone ships it.

use std::collections::BTreeMap;

use serde::Serialize;
use tract_onnx::pb::{ModelProto, NodeProto};

use crate::batching::Batching;
use crate::error::Result;
use crate::lowering;
use crate::onnx::{read_proto, with_onnx};
use crate::typing::{declared_dims, graph_inputs, type_graph};

/// A node the engine cannot run, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnsupportedNode {
    /// The node's name (its first output's name when it has none).
    pub name: String,
    /// Its op type.
    pub op: String,
    /// Its domain (`ai.onnx` for the default domain).
    pub domain: String,
    /// Why it cannot run.
    pub reason: String,
}

/// What [`check_model`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupportReport {
    /// Number of nodes in the graph, as written.
    pub nodes: usize,
    /// Op counts by domain, then op type, as written.
    pub ops: BTreeMap<String, BTreeMap<String, usize>>,
    /// Every node the engine cannot run.
    pub unsupported: Vec<UnsupportedNode>,
    /// No node is unsupported and the whole graph plans.
    pub supported: bool,
    /// The batch size the graph fixes, when it only runs with that many rows at a time (a
    /// predictor then runs rows in groups of it); `None` when it takes any number.
    #[serde(rename = "fixedBatch", skip_serializing_if = "Option::is_none")]
    pub fixed_batch: Option<usize>,
}

impl SupportReport {
    /// One message naming every unsupported node.
    pub fn summary(&self) -> String {
        if self.unsupported.is_empty() {
            let groups = self.fixed_batch.map_or(String::new(), |rows| {
                format!("; the graph fixes its batch size to {rows}, so rows run in groups of {rows}")
            });
            format!("all {} nodes are supported{groups}", self.nodes)
        } else {
            describe(&self.unsupported)
        }
    }
}

/// One message naming every node of the list, its op and why it cannot run.
pub fn describe(unsupported: &[UnsupportedNode]) -> String {
    let lines: Vec<String> = unsupported
        .iter()
        .map(|n| format!("node {:?} ({}:{}): {}", n.name, n.domain, n.op, n.reason))
        .collect();
    format!("{} node(s) cannot run: {}", unsupported.len(), lines.join("; "))
}

/// The graph's inputs as a user reads them: `input "x" of shape [1, 1, 28, 28]` (`?` for an
/// open dimension).
fn inputs_described(proto: &ModelProto) -> String {
    let described: Vec<String> = graph_inputs(proto)
        .iter()
        .map(|input| {
            let shape = declared_dims(input).map_or("unknown shape".to_string(), |dims| {
                let dims: Vec<String> = dims
                    .iter()
                    .map(|d| d.map_or("?".to_string(), |n| n.to_string()))
                    .collect();
                format!("shape [{}]", dims.join(", "))
            });
            format!("input {:?} of {shape}", input.name)
        })
        .collect();
    described.join(", ")
}

fn domain_of(node: &NodeProto) -> String {
    if node.domain.is_empty() {
        "ai.onnx".into()
    } else {
        node.domain.clone()
    }
}

fn node_name(node: &NodeProto) -> String {
    if node.name.is_empty() {
        node.output.first().cloned().unwrap_or_else(|| node.op_type.clone())
    } else {
        node.name.clone()
    }
}

/// Checks every node of an ONNX model against the engine (with our rewrites applied) and tries
/// to plan the whole graph; bad bytes are an error, an unsupported model is a report.
pub fn check_model(model: &[u8]) -> Result<SupportReport> {
    let mut proto = read_proto(model)?;
    let graph = proto.graph.as_ref().map(|g| g.node.as_slice()).unwrap_or_default();
    let mut ops: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for node in graph {
        *ops.entry(domain_of(node))
            .or_default()
            .entry(node.op_type.clone())
            .or_default() += 1;
    }
    let nodes = graph.len();
    if crate::records::takes_records(&proto) {
        // Typed as loading types it: the inputs merged into one row, categories as the graph's.
        let merged = crate::records::layout_from_graph(&proto)
            .and_then(|layouts| crate::records::merge_inputs(&mut proto, &layouts).map(|_| ()));
        if let Err(e) = merged {
            return Ok(SupportReport {
                nodes,
                ops,
                unsupported: vec![UnsupportedNode {
                    name: String::new(),
                    op: String::new(),
                    domain: String::new(),
                    reason: e.to_string(),
                }],
                supported: false,
                fixed_batch: None,
            });
        }
    }
    lowering::lower(&mut proto)?;
    let (unsupported, batching) = support_of(&proto);
    let fixed_batch = match batching {
        Some(Batching::Fixed(rows)) => Some(rows),
        _ => None,
    };
    Ok(SupportReport {
        nodes,
        ops,
        supported: unsupported.is_empty(),
        unsupported,
        fixed_batch,
    })
}

/// The nodes of a lowered graph that the engine cannot run: every op missing from the register,
/// else the node that stops the graph from being typed, with tract's reason.
pub fn unsupported_nodes(proto: &ModelProto) -> Vec<UnsupportedNode> {
    support_of(proto).0
}

/// The unsupported nodes, and how the graph takes rows when there are none.
fn support_of(proto: &ModelProto) -> (Vec<UnsupportedNode>, Option<Batching>) {
    let nodes = proto.graph.as_ref().map(|g| g.node.as_slice()).unwrap_or_default();
    let missing: Vec<UnsupportedNode> = with_onnx(|onnx| {
        nodes
            .iter()
            .filter(|n| !onnx.op_register.0.contains_key(&n.op_type))
            .map(|n| UnsupportedNode {
                name: node_name(n),
                op: n.op_type.clone(),
                domain: domain_of(n),
                reason: "the engine has no implementation of this op".into(),
            })
            .collect()
    });
    if !missing.is_empty() {
        return (missing, None);
    }
    // Typed as loading types it (crate::typing), so that what this calls supported loads.
    match type_graph(proto, None) {
        Ok(typed) => (vec![], Some(typed.batching)),
        Err(e) => {
            let message = format!(
                "the engine cannot work out the shapes of the graph here, for {}; it says: {e:#}",
                inputs_described(proto)
            );
            let culprit = nodes.iter().find(|n| {
                let name = node_name(n);
                message.contains(&format!("\"{name}\"")) || message.contains(&format!("node {name} "))
            });
            let node = match culprit {
                Some(n) => UnsupportedNode {
                    name: node_name(n),
                    op: n.op_type.clone(),
                    domain: domain_of(n),
                    reason: message,
                },
                None => UnsupportedNode {
                    name: String::new(),
                    op: String::new(),
                    domain: String::new(),
                    reason: message,
                },
            };
            (vec![node], None)
        }
    }
}
