//! `QuantizedSoftmax`: a Softmax whose input was rounded to an 8-bit grid, computed with a table.
//!
//! Quantized classifiers round the logits before their Softmax. On that grid the differences
//! `x_i - max(x)` are `(q_i - q_max) * scale` with `q_max - q_i` between 0 and 255, so the 256
//! exponentials are computed once when the model loads, and each value costs a lookup instead of
//! an `exp` (onnxruntime's `QLinearSoftmax` does the same). [`fuse_quantized_softmax`] puts the op
//! where a graph has `FakeQuantize -> Softmax`.

use tract_onnx::pb::{GraphProto, NodeProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::Onnx;

use crate::ops::expansion::F32Expansion;

use crate::graph_edit::{attribute, int_attribute, is_standard, only_reader, DOMAIN};
use crate::ops::fake_quantize::FAKE_QUANTIZE;
use std::sync::Arc;

use wasm_predict_kernels::quantized;
use wasm_predict_kernels::Grid;

/// Op type of [`QuantizedSoftmax`] in rewritten graphs.
pub const QUANTIZED_SOFTMAX: &str = "WasmPredictQuantizedSoftmax";

/// The op; see the module documentation. Its arithmetic is the kernel's
/// ([`wasm_predict_kernels::quantized::QuantizedSoftmax`]).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedSoftmax(Arc<quantized::QuantizedSoftmax>);

impl Eq for QuantizedSoftmax {}

impl std::hash::Hash for QuantizedSoftmax {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let stored = self.0.stored();
        (stored.grid.bits(), stored.axis, stored.flattened).hash(state);
    }
}

impl QuantizedSoftmax {
    /// The op for the input grid of a `FakeQuantize`.
    pub fn new(grid: Grid, axis: i64, flattened: bool) -> TractResult<QuantizedSoftmax> {
        quantized::QuantizedSoftmax::new(grid, axis, flattened)
            .map(|kernel| QuantizedSoftmax(Arc::new(kernel)))
            .map_err(|e| format_err!("{QUANTIZED_SOFTMAX}: {e}"))
    }

    /// The kernel, shared.
    pub fn kernel(&self) -> Arc<quantized::QuantizedSoftmax> {
        Arc::clone(&self.0)
    }
}

impl Op for QuantizedSoftmax {
    fn name(&self) -> StaticName {
        QUANTIZED_SOFTMAX.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}", self.0.stored())])
    }

    op_as_typed_op!();
}

impl EvalOp for QuantizedSoftmax {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape().to_vec();
        let plain = input.try_as_plain_ram()?;
        let layout = self
            .0
            .layout(&shape)
            .map_err(|e| format_err!("{QUANTIZED_SOFTMAX}: {e}"))?;
        let out = self.0.apply(plain.as_slice::<f32>()?, layout);
        Ok(tvec!(tract_ndarray::ArrayD::from_shape_vec(shape, out)?.into_tvalue()))
    }
}

impl TypedOp for QuantizedSoftmax {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }
}

/// Reads the op from the node [`fuse_quantized_softmax`] writes.
fn from_node(node: &NodeProto) -> TractResult<QuantizedSoftmax> {
    let grid = crate::ops::fake_quantize::grid_of(node)?;
    let int = |name| attribute(node, name).map(|a| a.i);
    let (axis, flattened) = (int("axis").unwrap_or(-1), int("flattened").unwrap_or(0) != 0);
    QuantizedSoftmax::new(grid, axis, flattened)
}

/// Adds [`QuantizedSoftmax`] to an ONNX op register.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(QUANTIZED_SOFTMAX, |_, node| {
        Ok((
            {
                let op = from_node(node)?;
                expand(F32Expansion {
                    name: QUANTIZED_SOFTMAX,
                    last_axis: None,
                    op,
                })
            },
            vec![],
        ))
    });
}

/// Replaces each `FakeQuantize -> Softmax` whose rounding feeds only the Softmax; the graph's
/// `opset` says what the Softmax's `axis` means.
pub fn fuse_quantized_softmax(graph: &mut GraphProto, opset: i64) {
    let mut at = 0;
    while at < graph.node.len() {
        if let Some((quantize, fused)) = fusion(graph, at, opset) {
            graph.node[at] = fused;
            graph.node.remove(quantize);
            at = 0;
        } else {
            at += 1;
        }
    }
}

/// For the Softmax at `at`: the position of its `FakeQuantize` and the fused node.
fn fusion(graph: &GraphProto, at: usize, opset: i64) -> Option<(usize, NodeProto)> {
    let softmax = &graph.node[at];
    if !is_standard(softmax, "Softmax") {
        return None;
    }
    let flattened = opset < 13;
    let axis = attribute(softmax, "axis").map_or(if flattened { 1 } else { -1 }, |a| a.i);
    let input = softmax.input.first()?;
    let quantize = graph
        .node
        .iter()
        .position(|n| n.op_type == FAKE_QUANTIZE && n.output.first() == Some(input))?;
    only_reader(graph, input)?;
    let q = &graph.node[quantize];
    let mut fused = NodeProto {
        name: format!("{}__wasm_predict_quantized_softmax", softmax.name),
        op_type: QUANTIZED_SOFTMAX.into(),
        domain: DOMAIN.into(),
        input: q.input.clone(),
        output: softmax.output.clone(),
        attribute: q.attribute.clone(),
        ..Default::default()
    };
    fused.attribute.extend([
        int_attribute("axis", axis),
        int_attribute("flattened", i64::from(flattened)),
    ]);
    // Only a grid the op takes: otherwise the pair stays as it is.
    from_node(&fused).ok()?;
    Some((quantize, fused))
}

#[cfg(test)]
mod tests {
    use super::QuantizedSoftmax;
    use crate::ops::fake_quantize::FakeQuantize;
    use wasm_predict_kernels::Grid;

    fn softmax(x: &[f32]) -> Vec<f32> {
        let top = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = x.iter().map(|v| (v - top).exp()).collect();
        let sum: f32 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }

    #[test]
    fn the_table_gives_the_softmax_of_the_rounded_values() {
        for (scale, zp, low, high) in [
            (0.17, 131.0, 0.0, 255.0),
            (0.05, -4.0, -128.0, 127.0),
            (0.9, 0.0, -128.0, 127.0),
        ] {
            let op = QuantizedSoftmax::new(
                Grid {
                    scale,
                    zero_point: zp,
                    low,
                    high,
                },
                -1,
                false,
            )
            .unwrap();
            let x: Vec<f32> = (0..40).map(|i| ((i * 7919) % 97) as f32 * 0.21 - 9.0).collect();
            let got = op.0.apply(&x, op.0.layout(&[4, 10]).unwrap());
            let mut rounded = x.clone();
            FakeQuantize::new(Grid {
                scale,
                zero_point: zp,
                low,
                high,
            })
            .apply(&mut rounded);
            let want: Vec<f32> = rounded.chunks(10).flat_map(softmax).collect();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6 + 1e-5 * w, "scale {scale}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn a_nan_makes_its_row_nan_and_bad_grids_are_errors() {
        let op = QuantizedSoftmax::new(
            Grid {
                scale: 0.1,
                zero_point: 0.0,
                low: -128.0,
                high: 127.0,
            },
            1,
            true,
        )
        .unwrap();
        let out = op.0.apply(&[1.0, f32::NAN, 0.5, 0.5], op.0.layout(&[2, 2]).unwrap());
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(out[2..], [0.5, 0.5]);
        assert!(
            op.0.layout(&[2, 2]).is_ok()
                && QuantizedSoftmax::new(op.0.stored().grid, 3, true)
                    .unwrap()
                    .0
                    .layout(&[2, 2])
                    .is_err()
        );
        assert!(QuantizedSoftmax::new(
            Grid {
                scale: 0.0,
                zero_point: 0.0,
                low: -128.0,
                high: 127.0
            },
            -1,
            false
        )
        .is_err());
        assert!(QuantizedSoftmax::new(
            Grid {
                scale: 0.1,
                zero_point: 0.0,
                low: -32768.0,
                high: 32767.0
            },
            -1,
            false
        )
        .is_err());
        assert!(QuantizedSoftmax::new(
            Grid {
                scale: f32::NAN,
                zero_point: 0.0,
                low: 0.0,
                high: 255.0
            },
            -1,
            false
        )
        .is_err());
    }

    #[test]
    fn any_axis_and_the_flattened_form_match_the_float_softmax() {
        // Shape [2, 3, 4]: along axis 1 (stride 4), and flattened from axis 1 (12 values).
        let x: Vec<f32> = (0..24).map(|i| ((i * 31) % 11) as f32 * 0.3 - 1.0).collect();
        let op = QuantizedSoftmax::new(
            Grid {
                scale: 0.01,
                zero_point: 0.0,
                low: -128.0,
                high: 127.0,
            },
            1,
            false,
        )
        .unwrap();
        let got = op.0.apply(&x, op.0.layout(&[2, 3, 4]).unwrap());
        let mut rounded = x.clone();
        FakeQuantize::new(Grid {
            scale: 0.01,
            zero_point: 0.0,
            low: -128.0,
            high: 127.0,
        })
        .apply(&mut rounded);
        for (b, i) in (0..2).flat_map(|b| (0..4).map(move |i| (b, i))) {
            let at: Vec<usize> = (0..3).map(|j| b * 12 + j * 4 + i).collect();
            let want = softmax(&at.iter().map(|&a| rounded[a]).collect::<Vec<_>>());
            for (a, w) in at.iter().zip(want) {
                assert!((got[*a] - w).abs() < 1e-6, "{b} {i}: {} vs {w}", got[*a]);
            }
        }
        let flat = QuantizedSoftmax::new(
            Grid {
                scale: 0.01,
                zero_point: 0.0,
                low: -128.0,
                high: 127.0,
            },
            1,
            true,
        )
        .unwrap();
        let got = flat.0.apply(&x, flat.0.layout(&[2, 3, 4]).unwrap());
        let want: Vec<f32> = rounded.chunks(12).flat_map(softmax).collect();
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-6));
    }

    #[test]
    fn a_rounding_read_only_by_a_softmax_fuses_with_it() {
        use super::{fuse_quantized_softmax, QUANTIZED_SOFTMAX};
        use crate::ops::fake_quantize::{grid_attributes, FAKE_QUANTIZE};
        use crate::test_graph::{graph, node, node_in, ops, run};
        let grid = Grid {
            scale: 0.05,
            zero_point: 0.0,
            low: -128.0,
            high: 127.0,
        };
        let before = graph(
            vec![
                node("Relu", &["x"], "r"),
                node_in(
                    crate::graph_edit::DOMAIN,
                    FAKE_QUANTIZE,
                    &["r"],
                    "q",
                    grid_attributes(grid).into(),
                ),
                node("Softmax", &["q"], "y"),
            ],
            vec![],
            &[1, 4],
        );
        let mut after = before.clone();
        fuse_quantized_softmax(&mut after, 13);
        assert_eq!(ops(&after), ["Relu", QUANTIZED_SOFTMAX]);
        let x = [0.3, -1.0, 2.02, 0.9];
        let (want, got) = (run(&before, &x), run(&after, &x));
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= 1e-6, "{want:?} != {got:?}");
        }
    }
}
