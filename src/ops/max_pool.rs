//! `MaxPool2d`: a two-dimensional `MaxPool` (NCHW, f32) on our kernel
//! ([`wasm_predict_kernels::pool_f32`]) instead of tract's, which took a quarter of a LeNet-size
//! CNN's time in wasm once its convolutions ran on [`crate::ops::float_conv`].
//!
//! [`fuse_max_pool`] puts it in place of every `MaxPool` over two spatial axes with one output
//! (no indices) and `ceil_mode` 0, with any strides, dilations and padding; others stay tract's.

use std::collections::HashSet;

use tract_onnx::pb::{GraphProto, NodeProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::Onnx;
use wasm_predict_kernels::conv_f32::Geometry;
use wasm_predict_kernels::pool_f32::max_pool;

use crate::graph_edit::{attribute, is_standard, DOMAIN};
use crate::ops::dense_chain::fuse_chains;
use crate::ops::expansion::WindowExpansion;
use crate::ops::window::{geometry_of, output_shape, window_attributes};

/// Op type of [`MaxPool2d`] in rewritten graphs.
pub const MAX_POOL: &str = "WasmPredictMaxPool";

/// The op; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaxPool2d {
    geometry: Geometry,
}

impl MaxPool2d {
    /// Where its windows fall.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn output_shape<D: DimLike>(&self, input: &[D]) -> TractResult<TVec<D>> {
        output_shape(MAX_POOL, input, None, &self.geometry)
    }
}

impl Op for MaxPool2d {
    fn name(&self) -> StaticName {
        MAX_POOL.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}", self.geometry)])
    }

    op_as_typed_op!();
}

impl EvalOp for MaxPool2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape().to_vec();
        let output_shape = self.output_shape(&shape)?;
        let [n, c, h, w] = shape[..] else {
            bail!("{MAX_POOL}: input shape {shape:?}");
        };
        let plain = input.try_as_plain_ram()?;
        let values = max_pool(plain.as_slice::<f32>()?, n * c, h, w, &self.geometry)
            .ok_or_else(|| format_err!("{MAX_POOL}: the window does not fit an input of shape {shape:?}"))?;
        let out = tract_ndarray::ArrayD::from_shape_vec(output_shape.to_vec(), values)?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for MaxPool2d {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        Ok(tvec!(f32::fact(self.output_shape(&shape)?)))
    }
}

/// Adds [`MaxPool2d`] to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(MAX_POOL, |_, node| {
        let expansion = WindowExpansion {
            op: MaxPool2d {
                geometry: geometry_of(MAX_POOL, node)?,
            },
            name: MAX_POOL,
            shape: |op, input| op.output_shape(input),
        };
        Ok((expand(expansion), vec![]))
    });
}

/// Replaces every `MaxPool` our kernel takes by a [`MaxPool2d`] node.
pub fn fuse_max_pool(graph: &mut GraphProto) {
    fuse_chains(graph, |graph, p| {
        let pool = &graph.node[p];
        if !is_standard(pool, "MaxPool")
            || pool.output.len() != 1
            || pool.input.len() != 1
            || attribute(pool, "ceil_mode").is_some_and(|a| a.i != 0)
            || attribute(pool, "storage_order").is_some_and(|a| a.i != 0)
        {
            return None;
        }
        let kernel = match attribute(pool, "kernel_shape").map(|a| &a.ints[..]) {
            Some(&[h, w]) if h >= 1 && w >= 1 => [usize::try_from(h).ok()?, usize::try_from(w).ok()?],
            _ => return None,
        };
        let node = NodeProto {
            input: pool.input.clone(),
            output: pool.output.clone(),
            name: format!("{}__wasm_predict_max_pool", pool.output[0]),
            op_type: MAX_POOL.into(),
            domain: DOMAIN.into(),
            attribute: window_attributes(pool, kernel)?,
            ..Default::default()
        };
        Some((HashSet::from([p]), p, node))
    });
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{GraphProto, NodeProto, ValueInfoProto};

    use super::{fuse_max_pool, MAX_POOL};
    use crate::graph_edit::{int_attribute, ints_attribute};

    #[test]
    fn two_dimensional_max_pools_are_ours_and_ceil_mode_or_indices_stay_tracts() {
        let pool = |output: &str, extra: Vec<_>, outputs: usize| NodeProto {
            op_type: "MaxPool".into(),
            input: vec!["x".into()],
            output: (0..outputs).map(|i| format!("{output}{i}")).collect(),
            attribute: [vec![ints_attribute("kernel_shape", vec![2, 2])], extra].concat(),
            ..Default::default()
        };
        let mut graph = GraphProto {
            node: vec![
                pool("a", vec![ints_attribute("strides", vec![2, 2])], 1),
                pool("b", vec![int_attribute("ceil_mode", 1)], 1),
                pool("c", vec![], 2),
            ],
            output: ["a0", "b0", "c0"]
                .map(|name| ValueInfoProto {
                    name: name.into(),
                    ..Default::default()
                })
                .to_vec(),
            ..Default::default()
        };
        fuse_max_pool(&mut graph);
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, [MAX_POOL, "MaxPool", "MaxPool"]);
    }
}
