//! Running a plan: shapes worked out once per number of rows, then each node into its buffer.

use wasm_predict_kernels::pool_f32::max_pool;
use wasm_predict_kernels::{dynamic_fake_quantize, fake_quantize, Rounding};

use crate::broadcast::broadcast_shape;
use crate::layout::{concat, gather, gathered_shape, slice, softmax, transpose, transposed_shape};
use crate::plan::{Op, Plan, PlanError};

impl Op {
    /// The output's shape for inputs of `inputs` shapes, at `rows` rows, or why they do not fit.
    pub fn output_shape(&self, inputs: &[&[usize]], rows: usize) -> Result<Vec<usize>, String> {
        let arity = match self {
            Op::Binary(_) | Op::Gather(_) => 2,
            Op::Where(_) => 3,
            Op::Concat(_) => inputs.len().max(1),
            _ => 1,
        };
        if inputs.len() != arity {
            return Err(format!("{} input(s), expected {arity}", inputs.len()));
        }
        let x = inputs[0];
        let image = || match x {
            &[n, c, h, w] => Ok((n, c, h, w)),
            _ => Err(format!("input shape {x:?}, expected NCHW")),
        };
        match self {
            Op::Dense(packed) => product_shape(x, packed.k(), packed.m()),
            Op::QuantizedDense(dense) => product_shape(x, dense.depth(), dense.columns()),
            Op::QuantizedSoftmax(softmax) => softmax.layout(x).map(|_| x.to_vec()),
            Op::Conv(conv) => {
                let (n, c, h, w) = image()?;
                let g = conv.geometry();
                match (c == conv.channels(), g.along(0, h), g.along(1, w)) {
                    (true, Some((oh, _)), Some((ow, _))) => Ok(vec![n, conv.out_channels(), oh, ow]),
                    _ => Err(format!("the convolution does not fit an input of shape {x:?}")),
                }
            }
            Op::MaxPool(g) => {
                let (n, c, h, w) = image()?;
                match (g.along(0, h), g.along(1, w)) {
                    (Some((oh, _)), Some((ow, _))) => Ok(vec![n, c, oh, ow]),
                    _ => Err(format!("the pooling window does not fit an input of shape {x:?}")),
                }
            }
            Op::Trees(forest) => match x {
                &[n, width] if width >= forest.min_width() => Ok(vec![n, forest.targets()]),
                _ => Err(format!(
                    "input shape {x:?}, expected rows of at least {} features",
                    forest.min_width()
                )),
            },
            Op::FakeQuantize(_) | Op::DynamicFakeQuantize | Op::Unary(_) | Op::Cast(_) => Ok(x.to_vec()),
            Op::Softmax { axis, .. } if *axis < x.len() => Ok(x.to_vec()),
            Op::Softmax { axis, .. } => Err(format!("axis {axis} of a rank {} input", x.len())),
            Op::Binary(_) | Op::Where(_) => broadcast_shape(inputs),
            Op::Reshape { at, from, to } => {
                let end = at.checked_add(*from).filter(|&e| e <= x.len());
                let Some(end) = end else {
                    return Err(format!("axes {at}..{at}+{from} of a rank {} input", x.len()));
                };
                let to: Option<Vec<usize>> = to.iter().map(|d| d.at(rows)).collect();
                let to = to.ok_or("the new shape overflows")?;
                let replaced = crate::plan::elements(&x[*at..end]);
                if replaced.is_none() || crate::plan::elements(&to) != replaced {
                    return Err(format!("dimensions {:?} of {x:?} cannot become {to:?}", &x[*at..end]));
                }
                Ok([&x[..*at], &to, &x[end..]].concat())
            }
            Op::Transpose(permutation) => transposed_shape(x, permutation),
            Op::Concat(axis) => {
                let mut shape = x.to_vec();
                let total = inputs.iter().try_fold(0usize, |sum, s| {
                    let same =
                        s.len() == x.len() && s.iter().zip(x).enumerate().all(|(i, (a, b))| i == *axis || a == b);
                    match (same, s.get(*axis)) {
                        (true, Some(d)) => Ok(sum + d),
                        _ => Err(format!("cannot join shapes {inputs:?} along axis {axis}")),
                    }
                })?;
                *shape.get_mut(*axis).ok_or("no such axis")? = total;
                Ok(shape)
            }
            Op::Slice { axis, start, end } => match x.get(*axis) {
                Some(&d) if start <= end && *end <= d => {
                    let mut shape = x.to_vec();
                    shape[*axis] = end - start;
                    Ok(shape)
                }
                _ => Err(format!("{start}..{end} along axis {axis} of shape {x:?}")),
            },
            Op::Reduce(reduction) => reduction.output_shape(x),
            Op::Gather(axis) => gathered_shape(x, inputs[1], *axis),
        }
    }
}

/// The shape of a product along the last axis: `[..., k]` times a `k × m` weight is `[..., m]`.
pub fn product_shape(shape: &[usize], k: usize, m: usize) -> Result<Vec<usize>, String> {
    match shape.split_last() {
        Some((&last, rest)) if last == k => Ok([rest, &[m]].concat()),
        _ => Err(format!("input shape {shape:?}, expected a last dimension of {k}")),
    }
}

/// A plan with a buffer per value, kept from one run to the next.
#[derive(Debug)]
pub struct Runner {
    plan: Plan,
    buffers: Vec<Vec<f32>>,
    /// The shapes for the last number of rows run.
    shapes: Vec<Vec<usize>>,
    rows: Option<usize>,
}

impl Runner {
    /// A runner for a checked plan.
    pub fn new(plan: Plan) -> Result<Runner, PlanError> {
        plan.check()?;
        let mut buffers = vec![Vec::new(); plan.values];
        for (v, _, values) in &plan.constants {
            if let Some(b) = buffers.get_mut(*v) {
                b.clone_from(values);
            }
        }
        Ok(Runner {
            plan,
            buffers,
            shapes: Vec::new(),
            rows: None,
        })
    }

    /// The plan it runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Runs `rows` rows given one after the other in `input`: the output's values and shape.
    pub fn run(&mut self, input: &[f32], rows: usize) -> Result<(&[f32], &[usize]), PlanError> {
        if self.rows != Some(rows) {
            self.shapes = self.plan.shapes(rows)?;
            self.rows = Some(rows);
        }
        let expected: usize = self.shapes.get(self.plan.input).map_or(0, |s| s.iter().product());
        if input.len() != expected {
            return Err(PlanError(format!(
                "the input has {} values, its shape {:?} needs {expected}",
                input.len(),
                self.shapes.get(self.plan.input)
            )));
        }
        if let Some(b) = self.buffers.get_mut(self.plan.input) {
            b.clear();
            b.extend_from_slice(input);
        }
        for node in &self.plan.nodes {
            let mut out = std::mem::take(self.buffers.get_mut(node.output).ok_or_else(|| missing(node.output))?);
            let result = eval(
                &node.op,
                &node.inputs,
                &self.buffers,
                &self.shapes,
                node.output,
                &mut out,
            );
            self.buffers[node.output] = out;
            result.map_err(|e| PlanError(format!("node {:?}: {e}", node.name)))?;
        }
        let output = self.plan.output;
        match (self.buffers.get(output), self.shapes.get(output)) {
            (Some(values), Some(shape)) => Ok((values, shape)),
            _ => Err(missing(output)),
        }
    }
}

fn missing(value: usize) -> PlanError {
    PlanError(format!("value {value} is missing"))
}

/// Computes one node's output into `out`.
fn eval(
    op: &Op,
    inputs: &[usize],
    buffers: &[Vec<f32>],
    shapes: &[Vec<usize>],
    output: usize,
    out: &mut Vec<f32>,
) -> Result<(), String> {
    let arg = |i: usize| -> (&[f32], &[usize]) {
        let v = inputs.get(i).copied().unwrap_or(usize::MAX);
        (
            buffers.get(v).map(Vec::as_slice).unwrap_or_default(),
            shapes.get(v).map(Vec::as_slice).unwrap_or_default(),
        )
    };
    let out_shape = shapes.get(output).map(Vec::as_slice).unwrap_or_default();
    let (x, shape) = arg(0);
    let copy = |out: &mut Vec<f32>| {
        out.clear();
        out.extend_from_slice(x);
    };
    match op {
        Op::Dense(packed) => packed.apply_into(x, x.len().checked_div(packed.k()).unwrap_or(0), out),
        Op::QuantizedDense(dense) => dense.apply_into(x, x.len() / dense.depth().max(1), out),
        Op::QuantizedSoftmax(softmax) => *out = softmax.apply(x, softmax.layout(shape)?),
        Op::Conv(conv) => {
            let &[n, _, h, w] = shape else {
                return Err("not an image".into());
            };
            *out = conv.apply(x, n, h, w).ok_or("the convolution does not fit its input")?;
        }
        Op::MaxPool(geometry) => {
            let &[n, c, h, w] = shape else {
                return Err("not an image".into());
            };
            *out = max_pool(x, n * c, h, w, geometry).ok_or("the pooling window does not fit its input")?;
        }
        Op::Trees(forest) => {
            let &[n, width] = shape else {
                return Err("not rows".into());
            };
            *out = forest.evaluate(x, width, n).map_err(|e| e.to_string())?.0;
        }
        Op::FakeQuantize(grid) => {
            copy(out);
            fake_quantize(out, Rounding::centred(*grid));
        }
        Op::DynamicFakeQuantize => {
            copy(out);
            dynamic_fake_quantize(out);
        }
        Op::Softmax { axis, log } => softmax(x, shape, *axis, *log, out),
        Op::Unary(f) => {
            out.clear();
            out.extend(x.iter().map(|&v| f.at(v)));
        }
        Op::Cast(c) => {
            out.clear();
            out.extend(x.iter().map(|&v| c.at(v)));
        }
        Op::Binary(f) => f.apply(arg(0), arg(1), out_shape, out),
        Op::Where(w) => w.apply(arg(0), arg(1), arg(2), out_shape, out),
        Op::Reshape { .. } => copy(out),
        Op::Transpose(permutation) => transpose(x, shape, permutation, out),
        Op::Concat(axis) => {
            let all: Vec<_> = (0..inputs.len()).map(arg).collect();
            concat(&all, *axis, out);
        }
        Op::Slice { axis, start, end } => slice(x, shape, *axis, *start, *end, out),
        Op::Reduce(reduction) => reduction.apply(x, shape, out_shape, out),
        Op::Gather(axis) => gather(x, shape, arg(1).0, *axis, out)?,
    }
    let expected: usize = out_shape.iter().product();
    if out.len() != expected {
        return Err(format!("gave {} values for shape {out_shape:?}", out.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Binary, Dim, Node, Reducer, Reduction, Unary, Where};

    #[test]
    fn plans_that_would_exhaust_the_memory_are_refused() {
        let many_values = Plan {
            values: 1 << 60,
            ..Plan::default()
        };
        assert!(many_values.check().is_err());
        let huge_input = Plan {
            input_shape: vec![
                Dim {
                    per_row: 1 << 20,
                    fixed: 0,
                },
                Dim::fixed(1 << 20),
            ],
            ..Plan::default()
        };
        assert!(huge_input.check().is_err());
        let huge_constant = Plan {
            values: 2,
            input_shape: vec![Dim::fixed(1)],
            constants: vec![(1, vec![1 << 40, 1 << 40], vec![])],
            output: 1,
            ..Plan::default()
        };
        assert!(huge_constant.check().is_err());
    }

    /// A plan of one node over the input `[rows, width]` and the given constants.
    fn one_node(width: usize, op: Op, constants: Vec<(Vec<usize>, Vec<f32>)>) -> Runner {
        let mut inputs = vec![0];
        let mut plan = Plan {
            input_shape: vec![Dim { per_row: 1, fixed: 0 }, Dim::fixed(width)],
            ..Plan::default()
        };
        for (i, (shape, values)) in constants.into_iter().enumerate() {
            plan.constants.push((i + 1, shape, values));
            inputs.push(i + 1);
        }
        let output = inputs.len();
        plan.nodes.push(Node {
            name: "n".into(),
            op,
            inputs,
            output,
        });
        plan.values = output + 1;
        plan.output = output;
        Runner::new(plan).unwrap()
    }

    fn run(runner: &mut Runner, x: &[f32], rows: usize) -> (Vec<f32>, Vec<usize>) {
        let (values, shape) = runner.run(x, rows).unwrap();
        (values.to_vec(), shape.to_vec())
    }

    #[test]
    fn binary_ops_broadcast_like_numpy() {
        let mut add = one_node(3, Op::Binary(Binary::Add), vec![(vec![1, 3], vec![10.0, 20.0, 30.0])]);
        assert_eq!(
            run(&mut add, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2).0,
            [11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
        );
        let mut sub = one_node(3, Op::Binary(Binary::Sub), vec![(vec![3], vec![1.0, 2.0, 3.0])]);
        assert_eq!(
            run(&mut sub, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2).0,
            [0.0, 0.0, 0.0, 3.0, 3.0, 3.0]
        );
        let mut outer = one_node(1, Op::Binary(Binary::Mul), vec![(vec![1, 3], vec![1.0, 2.0, 3.0])]);
        assert_eq!(
            run(&mut outer, &[1.0, 10.0], 2),
            (vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0], vec![2, 3])
        );
        let mut gt = one_node(2, Op::Binary(Binary::Gt), vec![(vec![], vec![0.5])]);
        assert_eq!(run(&mut gt, &[0.0, 1.0], 1).0, [0.0, 1.0]);
        let mut max = one_node(2, Op::Binary(Binary::Max), vec![(vec![1], vec![0.0])]);
        let (out, _) = run(&mut max, &[-1.0, f32::NAN], 1);
        assert_eq!(out[0], 0.0);
        assert!(out[1].is_nan());
    }

    #[test]
    fn where_picks_by_the_condition() {
        let mut w = one_node(
            2,
            Op::Where(Where),
            vec![(vec![1, 2], vec![7.0, 7.0]), (vec![1, 1], vec![-1.0])],
        );
        assert_eq!(run(&mut w, &[1.0, 0.0, 0.0, 2.0], 2).0, [7.0, -1.0, -1.0, 7.0]);
    }

    #[test]
    fn softmax_and_reductions_follow_their_formulas() {
        let mut softmax = one_node(3, Op::Softmax { axis: 1, log: false }, vec![]);
        let (out, _) = run(&mut softmax, &[1.0, 2.0, 3.0], 1);
        let sum: f32 = [1f32, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        for (o, v) in out.iter().zip([1f32, 2.0, 3.0]) {
            assert!((o - v.exp() / sum).abs() < 1e-6);
        }
        let mut log = one_node(3, Op::Softmax { axis: 1, log: true }, vec![]);
        let (out, _) = run(&mut log, &[1.0, 2.0, 3.0], 1);
        assert!((out[2] - (3.0 - sum.ln())).abs() < 1e-5);
        let reduce = |reducer| Op::Reduce(Reduction { axes: vec![1], reducer });
        let x = [1.0, -2.0, 3.0, 4.0, 5.0, 6.0];
        for (reducer, want) in [
            (Reducer::Sum, [2.0, 15.0]),
            (Reducer::Prod, [-6.0, 120.0]),
            (Reducer::Max, [3.0, 6.0]),
            (Reducer::Min, [-2.0, 4.0]),
            (Reducer::MeanOfSquares, [14.0 / 3.0, 77.0 / 3.0]),
        ] {
            let (out, shape) = run(&mut one_node(3, reduce(reducer), vec![]), &x, 2);
            assert_eq!(shape, [2, 1]);
            for (o, w) in out.iter().zip(want) {
                assert!((o - w).abs() < 1e-5, "{reducer:?}: {out:?}");
            }
        }
        let (out, _) = run(&mut one_node(2, reduce(Reducer::Max), vec![]), &[f32::NAN, 1.0], 1);
        assert!(out[0].is_nan());
    }

    #[test]
    fn values_move_as_the_layout_ops_say() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut transpose = one_node(3, Op::Transpose(vec![1, 0]), vec![]);
        assert_eq!(
            run(&mut transpose, &x, 2),
            (vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0], vec![3, 2])
        );
        let mut slice = one_node(
            3,
            Op::Slice {
                axis: 1,
                start: 1,
                end: 3,
            },
            vec![],
        );
        assert_eq!(run(&mut slice, &x, 2), (vec![2.0, 3.0, 5.0, 6.0], vec![2, 2]));
        let mut concat = one_node(3, Op::Concat(0), vec![(vec![1, 3], vec![9.0, 8.0, 7.0])]);
        assert_eq!(
            run(&mut concat, &x, 2),
            (vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0, 8.0, 7.0], vec![3, 3])
        );
        let mut reshape = one_node(
            3,
            Op::Reshape {
                at: 0,
                from: 2,
                to: vec![Dim { per_row: 3, fixed: 0 }],
            },
            vec![],
        );
        assert_eq!(run(&mut reshape, &x, 2), (x.to_vec(), vec![6]));
        let mut leaky = one_node(3, Op::Unary(Unary::LeakyRelu(0.1)), vec![]);
        assert_eq!(run(&mut leaky, &[-1.0, 0.0, 2.0], 1).0, [-0.1, 0.0, 2.0]);
    }

    #[test]
    fn a_bad_plan_or_input_is_an_error_not_a_panic() {
        let plan = Plan {
            input_shape: vec![Dim { per_row: 1, fixed: 0 }, Dim::fixed(2)],
            nodes: vec![
                Node {
                    name: "reads the future".into(),
                    op: Op::Binary(Binary::Add),
                    inputs: vec![0, 2],
                    output: 1,
                },
                Node {
                    name: "writes it".into(),
                    op: Op::Unary(Unary::Neg),
                    inputs: vec![0],
                    output: 2,
                },
            ],
            values: 3,
            output: 1,
            ..Plan::default()
        };
        assert!(Runner::new(plan).unwrap_err().0.contains("reads value 2 before"));
        let mut add = one_node(3, Op::Binary(Binary::Add), vec![(vec![1, 3], vec![1.0; 3])]);
        assert!(add.run(&[0.0; 5], 2).unwrap_err().0.contains("the input has 5 values"));
        assert!(add.run(&[0.0; 3], usize::MAX).unwrap_err().0.contains("more than"));
        let mut plan = add.plan().clone();
        plan.constants[0].1 = vec![1, 4];
        plan.constants[0].2 = vec![1.0; 4];
        assert!(Runner::new(plan).unwrap_err().0.contains("do not broadcast"));
    }
}
