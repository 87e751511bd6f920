//! The frame of the node-by-node rewrites: what is known of the graph's constants, and a
//! [`Rewriter`] that replaces one node by others.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{tensor_proto::DataType, type_proto, AttributeProto, GraphProto, NodeProto, TensorProto};

use crate::graph_edit::{attribute, int64_vector, int_attribute, single_output_node, unique_name};

/// Ranks, element types and one-element-ness of the graph's constant tensors and typed values.
pub(super) struct Initializers {
    pub(super) rank: HashMap<String, usize>,
    pub(super) dtype: HashMap<String, i32>,
    pub(super) scalar: HashSet<String>,
}

impl Initializers {
    pub(super) fn of(graph: &GraphProto) -> Initializers {
        let mut rank = HashMap::new();
        let mut dtype = HashMap::new();
        let mut scalar = HashSet::new();
        for t in &graph.initializer {
            rank.insert(t.name.clone(), t.dims.len());
            dtype.insert(t.name.clone(), t.data_type);
            if t.dims.iter().product::<i64>() == 1 {
                scalar.insert(t.name.clone());
            }
        }
        let initializer_names: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        // Graph inputs and typed values: scales and zero points given at run time.
        for v in graph.input.iter().chain(&graph.value_info) {
            if let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                dtype.entry(v.name.clone()).or_insert(t.elem_type);
                if let Some(shape) = &t.shape {
                    rank.entry(v.name.clone()).or_insert(shape.dim.len());
                    let ones = shape.dim.iter().all(|d| {
                        matches!(
                            d.value,
                            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(1))
                        )
                    });
                    if ones && !initializer_names.contains(v.name.as_str()) {
                        scalar.insert(v.name.clone());
                    }
                }
            }
        }
        Initializers { rank, dtype, scalar }
    }
}

/// Rewrites one node into the nodes (and constants) that replace it.
pub(super) struct Rewriter<'a> {
    pub(super) node: &'a NodeProto,
    pub(super) nodes: &'a mut Vec<NodeProto>,
    pub(super) initializers: &'a mut Vec<TensorProto>,
    /// The graph's default-domain opset, for rewrites whose ops changed form (0 when unknown).
    pub(super) opset: i64,
}

impl Rewriter<'_> {
    /// A tensor name unique to this node.
    pub(super) fn name(&self, suffix: &str) -> String {
        unique_name(self.node, suffix)
    }

    pub(super) fn push(&mut self, op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) {
        self.nodes.push(single_output_node(op, inputs, output, attributes));
    }

    pub(super) fn cast(&mut self, input: &str, output: &str, to: i32) {
        self.push("Cast", &[input], output, vec![int_attribute("to", to as i64)]);
    }

    pub(super) fn float_constant(&mut self, suffix: &str, dims: Vec<i64>, values: Vec<f32>) -> String {
        let name = self.name(suffix);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims,
            data_type: DataType::Float as i32,
            float_data: values,
            ..Default::default()
        });
        name
    }

    /// Brings a per-axis scale or zero point of length C to a shape that broadcasts along `axis`
    /// of a tensor of rank `rank`: `[C, 1, ..., 1]`.
    pub(super) fn along_axis(&mut self, tensor: &str, suffix: &str, axis: usize, rank: usize) -> String {
        if axis + 1 == rank {
            return tensor.to_string();
        }
        let shape = self.name(&format!("{suffix}_shape"));
        let mut dims = vec![-1i64];
        dims.resize(rank - axis, 1);
        self.initializers.push(int64_vector(&shape, dims));
        let out = self.name(suffix);
        self.push("Reshape", &[tensor, &shape], &out, vec![]);
        out
    }

    /// The axis the node's per-axis parameters apply to, once resolved against the input rank;
    /// `None` for per-tensor parameters. `Err(())` when the rank is needed but unknown.
    pub(super) fn parameter_axis(&self, shapes: &Initializers) -> std::result::Result<Option<(usize, usize)>, ()> {
        let scale = self.node.input.get(1).ok_or(())?;
        if shapes.scalar.contains(scale) {
            return Ok(None);
        }
        if shapes.rank.get(scale) != Some(&1) {
            return Err(());
        }
        let rank = *shapes.rank.get(&self.node.input[0]).ok_or(())?;
        let axis = attribute(self.node, "axis").map(|a| a.i).unwrap_or(1);
        let axis = if axis < 0 { axis + rank as i64 } else { axis };
        if axis < 0 || axis as usize >= rank {
            return Err(());
        }
        Ok(Some((axis as usize, rank)))
    }

    pub(super) fn has_block_size(&self) -> bool {
        attribute(self.node, "block_size").is_some_and(|a| a.i != 0)
    }
}

/// Replaces each node for which `rewrite` returns true by the nodes it emitted; keeps the others.
pub(super) fn rewrite_nodes(graph: &mut GraphProto, rewrite: impl Fn(&mut Rewriter<'_>, &Initializers) -> bool) {
    let shapes = Initializers::of(graph);
    let mut new_initializers = vec![];
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let mut rewriter = Rewriter {
            node: &node,
            nodes: &mut nodes,
            initializers: &mut new_initializers,
            opset: 0,
        };
        if !rewrite(&mut rewriter, &shapes) {
            nodes.push(node);
        }
    }
    graph.node = nodes;
    graph.initializer.extend(new_initializers);
}
