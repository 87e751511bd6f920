//! A typed, simplified tract model turned into a [`Plan`] of our runtime: the same computation
//! as a flat list of ops over f32 tensors, run without tract's plan.
//!
//! Every op of the model must have a counterpart in the runtime (ours, and the tract ops that
//! tabular models and small networks use: element-wise functions, broadcast arithmetic and
//! comparisons, casts, `Where`, reshapes, transpositions, `Concat`, `Slice`, reductions,
//! `Softmax`, and products by a constant weight); otherwise [`compile`] says which node has
//! none, and the predictor keeps tract's plan.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Gather, Slice, TypedConcat};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cast::Cast as TractCast;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::logic::Iff;
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer as TractReducer, Softmax, SoftmaxKind};
use wasm_predict_kernels::dense_f32::PackedF32;
use wasm_predict_kernels::Grid;
use wasm_predict_runtime::{Binary, Cast, Dim, Node, Op, Plan, Reducer, Reduction, Unary, Where};

use crate::ops::fake_quantize::{DynamicFakeQuantize, FakeQuantize};
use crate::ops::float_conv::FloatConv;
use crate::ops::float_dense::FloatDense;
use crate::ops::max_pool::MaxPool2d;
use crate::ops::quantized_dense::QuantizedDense;
use crate::ops::quantized_softmax::QuantizedSoftmax;
use crate::ops::tree_ensemble::TreeEnsembleOp;
use crate::typing::BATCH_SYMBOL;

/// `plan` with its input rounded to `input`'s grid before anything reads it, and its output
/// rounded to `output`'s: the roundings the lowering took out of the graph, as nodes.
pub fn with_roundings(mut plan: Plan, input: Option<Grid>, output: Option<Grid>) -> Plan {
    if let Some(grid) = input {
        let rounded = plan.values;
        plan.values += 1;
        for node in &mut plan.nodes {
            node.inputs
                .iter_mut()
                .filter(|v| **v == plan.input)
                .for_each(|v| *v = rounded);
        }
        if plan.output == plan.input {
            plan.output = rounded;
        }
        let node = Node {
            name: "the input's rounding".into(),
            op: Op::FakeQuantize(grid),
            inputs: vec![plan.input],
            output: rounded,
        };
        plan.nodes.insert(0, node);
    }
    if let Some(grid) = output {
        let rounded = plan.values;
        plan.values += 1;
        plan.nodes.push(Node {
            name: "the output's rounding".into(),
            op: Op::FakeQuantize(grid),
            inputs: vec![plan.output],
            output: rounded,
        });
        plan.output = rounded;
    }
    plan
}

/// The plan of a typed model with one input and one output, simplified (`into_decluttered`),
/// whose rows are counted by the symbol [`BATCH_SYMBOL`] (or fixed); `Err` names the first
/// node the runtime cannot run, or the value it cannot hold.
pub fn compile(model: &TypedModel) -> Result<Plan, String> {
    let (&[input], &[output]) = (model.inputs.as_slice(), model.outputs.as_slice()) else {
        return Err(format!(
            "the graph has {} inputs and {} outputs; the runtime takes one of each",
            model.inputs.len(),
            model.outputs.len()
        ));
    };
    let rows = model.symbols.sym(BATCH_SYMBOL);
    let dim = |d: &TDim| linear_dim(d, &rows);
    let mut compiler = Compiler {
        plan: Plan::default(),
        values: HashMap::new(),
        // Value 0 is the input.
        next: 1,
        expected: Vec::new(),
    };
    let order = model.eval_order().map_err(|e| format!("ordering the graph: {e:#}"))?;
    for id in order {
        let node = model.node(id);
        if id == input.node {
            let fact = model.outlet_fact(input).map_err(|e| e.to_string())?;
            check_type(fact.datum_type, &node.name)?;
            let shape = fact.shape.iter().map(dim).collect::<Result<_, _>>()?;
            compiler.values.insert(input, 0);
            compiler.plan.input_shape = shape;
            continue;
        }
        if let Some(konst) = constant_of(model, id)? {
            let value = compiler.fresh();
            compiler.values.insert(OutletId::new(id, 0), value);
            compiler.plan.constants.push((value, konst.0, konst.1));
            continue;
        }
        compiler.node(model, node, &dim)?;
    }
    let plan = {
        let mut plan = compiler.plan;
        plan.values = compiler.next;
        plan.output = *compiler
            .values
            .get(&output)
            .ok_or("the graph's output is not computed by any node")?;
        plan
    };
    plan.check().map_err(|e| e.to_string())?;
    for n in [1, 3] {
        let shapes = plan.shapes(n).map_err(|e| e.to_string())?;
        let values = SymbolValues::default().with(&rows, n as i64);
        for (value, expected) in &compiler.expected {
            let expected: Vec<i64> = expected
                .iter()
                .map(|d| d.eval_to_i64(&values))
                .collect::<TractResult<_>>()
                .map_err(|e| e.to_string())?;
            let got: Vec<i64> = shapes
                .get(*value)
                .map(|s| s.iter().map(|&d| d as i64).collect())
                .unwrap_or_default();
            if got != expected {
                return Err(format!(
                    "value {value} has shape {got:?} in the plan and {expected:?} in tract at {n} rows"
                ));
            }
        }
    }
    Ok(plan)
}

struct Compiler {
    plan: Plan,
    values: HashMap<OutletId, usize>,
    next: usize,
    /// Node outputs and the shapes tract gives them, to check the plan's against.
    expected: Vec<(usize, Vec<TDim>)>,
}

impl Compiler {
    fn fresh(&mut self) -> usize {
        let value = self.next;
        self.next += 1;
        value
    }

    fn node(
        &mut self,
        model: &TypedModel,
        node: &TypedNode,
        dim: &dyn Fn(&TDim) -> Result<Dim, String>,
    ) -> Result<(), String> {
        let unsupported = |what: String| format!("node {:?} ({}): {what}", node.name, node.op.name());
        let slot = used_slot(model, node).map_err(unsupported)?;
        let fact = &node
            .outputs
            .get(slot)
            .ok_or_else(|| unsupported("it has no output".into()))?
            .fact;
        check_type(fact.datum_type, &node.name)?;
        let mut inputs = Vec::new();
        for outlet in &node.inputs {
            let fact = model.outlet_fact(*outlet).map_err(|e| e.to_string())?;
            check_type(fact.datum_type, &node.name)?;
            inputs.push(
                *self
                    .values
                    .get(outlet)
                    .ok_or_else(|| unsupported("an input is not computed".into()))?,
            );
        }
        let ops = match node.op_as::<EinSum>() {
            Some(einsum) => constant_product(model, node, einsum, &mut inputs),
            None => translate(model, node, &mut inputs, dim).map(|op| vec![op]),
        }
        .map_err(unsupported)?;
        let mut output = 0;
        for op in ops {
            output = self.fresh();
            self.plan.nodes.push(Node {
                name: node.name.clone(),
                op,
                inputs: std::mem::take(&mut inputs),
                output,
            });
            inputs.push(output);
        }
        let outlet = OutletId::new(node.id, slot);
        self.values.insert(outlet, output);
        self.expected.push((output, fact.shape.to_tvec().to_vec()));
        Ok(())
    }
}

/// Which output of a node the rest of the graph reads: nodes with several outputs (a tree
/// classifier's labels and scores) are taken when only one is used.
fn used_slot(model: &TypedModel, node: &TypedNode) -> Result<usize, String> {
    let used: Vec<usize> = (0..node.outputs.len())
        .filter(|&slot| {
            let outlet = OutletId::new(node.id, slot);
            !node.outputs[slot].successors.is_empty() || model.outputs.contains(&outlet)
        })
        .collect();
    match used[..] {
        [slot] => Ok(slot),
        [] => Ok(node.outputs.len().saturating_sub(1)),
        _ => Err(format!(
            "{} of its outputs are used; the runtime keeps one per node",
            used.len()
        )),
    }
}

/// Values the runtime holds: floats, integers it keeps exactly as f32, booleans.
fn check_type(dt: DatumType, node: &str) -> Result<(), String> {
    if dt == DatumType::F32 || dt == DatumType::Bool || dt.is_integer() || dt == DatumType::TDim {
        Ok(())
    } else {
        Err(format!(
            "node {node:?} holds {dt:?} values; the runtime computes in f32"
        ))
    }
}

/// A constant's shape and values.
type Constant = (Vec<usize>, Vec<f32>);

/// A node's output when tract knows it is constant: its shape and values as f32.
fn constant_of(model: &TypedModel, id: usize) -> Result<Option<Constant>, String> {
    let node = model.node(id);
    let Some(konst) = node.outputs.first().and_then(|o| o.fact.konst.clone()) else {
        return Ok(None);
    };
    if node.outputs.len() != 1 {
        return Ok(None);
    }
    let what = || format!("constant {:?} ({:?})", node.name, konst.datum_type());
    let values: Vec<f32> = match konst.datum_type() {
        DatumType::TDim => konst
            .cast_to::<i64>()
            .and_then(|i| i.cast_to::<f32>().map(|c| std::borrow::Cow::Owned(c.into_owned()))),
        dt if dt.is_float() || dt.is_integer() || dt == DatumType::Bool => konst.cast_to::<f32>(),
        _ => return Err(format!("{} is not numbers", what())),
    }
    .map_err(|e| format!("{}: {e}", what()))?
    .try_as_plain_ram()
    .and_then(|p| Ok(p.as_slice::<f32>()?.to_vec()))
    .map_err(|e| format!("{}: {e}", what()))?;
    if konst.datum_type().is_integer() || konst.datum_type() == DatumType::TDim {
        let exact = konst.cast_to::<i64>().map_err(|e| e.to_string())?;
        let plain = exact.try_as_plain_ram().map_err(|e| e.to_string())?;
        let ints = plain.as_slice::<i64>().map_err(|e| e.to_string())?;
        if ints.iter().zip(&values).any(|(&i, &f)| f as i64 != i) {
            return Err(format!("{} holds integers that f32 does not keep exactly", what()));
        }
    }
    Ok(Some((konst.shape().to_vec(), values)))
}

/// A dimension as `per_row * rows + fixed`, when it is one.
fn linear_dim(d: &TDim, rows: &Symbol) -> Result<Dim, String> {
    let at = |n: i64| {
        d.eval_to_i64(&SymbolValues::default().with(rows, n))
            .ok()
            .and_then(|v| usize::try_from(v).ok())
    };
    let not_linear = || format!("dimension {d} is not a multiple of the rows plus a constant");
    let (fixed, one) = (at(0).ok_or_else(not_linear)?, at(1).ok_or_else(not_linear)?);
    let per_row = one.checked_sub(fixed).ok_or_else(not_linear)?;
    let dim = Dim { per_row, fixed };
    if [2, 7, 1000].iter().all(|&n| at(n) == dim.at(n as usize)) {
        Ok(dim)
    } else {
        Err(not_linear())
    }
}

fn translate(
    model: &TypedModel,
    node: &TypedNode,
    inputs: &mut [usize],
    dim: &dyn Fn(&TDim) -> Result<Dim, String>,
) -> Result<Op, String> {
    if let Some(dense) = node.op_as::<FloatDense>() {
        return Ok(Op::Dense(dense.packed()));
    }
    if let Some(conv) = node.op_as::<FloatConv>() {
        return Ok(Op::Conv(conv.packed()));
    }
    if let Some(pool) = node.op_as::<MaxPool2d>() {
        return Ok(Op::MaxPool(pool.geometry()));
    }
    if let Some(trees) = node.op_as::<TreeEnsembleOp>() {
        let input = model.outlet_fact(node.inputs[0]).map_err(|e| e.to_string())?;
        if input.datum_type != DatumType::F32 || input.rank() != 2 {
            return Err("the runtime's trees take rows of f32".into());
        }
        return Ok(Op::Trees(trees.shared_forest()));
    }
    if let Some(dense) = node.op_as::<QuantizedDense>() {
        return Ok(Op::QuantizedDense(dense.kernel()));
    }
    if let Some(softmax) = node.op_as::<QuantizedSoftmax>() {
        return Ok(Op::QuantizedSoftmax(softmax.kernel()));
    }
    if let Some(ElementWiseOp(mini, _)) = node.op_as::<ElementWiseOp>() {
        if let Some(fq) = mini.downcast_ref::<FakeQuantize>() {
            return Ok(Op::FakeQuantize(fq.grid()));
        }
        if mini.downcast_ref::<DynamicFakeQuantize>().is_some() {
            return Ok(Op::DynamicFakeQuantize);
        }
        if let Some(leaky) = mini.downcast_ref::<tract_onnx::tract_core::ops::nn::LeakyRelu>() {
            return Ok(Op::Unary(Unary::LeakyRelu(leaky.alpha)));
        }
        if let Some(pow) = mini.downcast_ref::<tract_onnx::tract_core::ops::math::PowConst>() {
            return Ok(Op::Unary(Unary::Pow(pow.exponent)));
        }
        let f = match mini.name().as_str() {
            "Sigmoid" => Unary::Sigmoid,
            "Tanh" => Unary::Tanh,
            "Exp" => Unary::Exp,
            "Ln" => Unary::Ln,
            "Abs" => Unary::Abs,
            "Neg" => Unary::Neg,
            "Sqrt" => Unary::Sqrt,
            "Rsqrt" => Unary::Rsqrt,
            "Recip" => Unary::Recip,
            "Square" => Unary::Square,
            "Ceil" => Unary::Ceil,
            "Floor" => Unary::Floor,
            "Round" => Unary::Round,
            "RoundHalfToEven" => Unary::RoundHalfToEven,
            "Sign" => Unary::Sign,
            "Sin" => Unary::Sin,
            "Cos" => Unary::Cos,
            "IsNan" => Unary::IsNan,
            "Not" => Unary::Not,
            other => return Err(format!("the runtime has no element-wise {other}")),
        };
        return Ok(Op::Unary(f));
    }
    if let Some(TypedBinOp(mini, _)) = node.op_as::<TypedBinOp>() {
        let f = match mini.name() {
            "Add" => Binary::Add,
            "Sub" => Binary::Sub,
            "SubF" => {
                inputs.reverse();
                Binary::Sub
            }
            "Mul" => Binary::Mul,
            "Div" => Binary::Div,
            "Max" => Binary::Max,
            "Min" => Binary::Min,
            "Pow" => Binary::Pow,
            "Eq" => Binary::Eq,
            "NE" => Binary::Ne,
            "GT" => Binary::Gt,
            "GTE" => Binary::Ge,
            "LT" => Binary::Lt,
            "LTE" => Binary::Le,
            "And" => Binary::And,
            "Or" => Binary::Or,
            "Xor" => Binary::Xor,
            other => return Err(format!("the runtime has no binary {other}")),
        };
        return Ok(Op::Binary(f));
    }
    if let Some(cast) = node.op_as::<TractCast>() {
        return Ok(Op::Cast(match cast.to {
            DatumType::Bool => Cast::Bool,
            dt if dt.is_integer() || dt == DatumType::TDim => Cast::Integer,
            DatumType::F32 => Cast::Float,
            dt => return Err(format!("a cast to {dt:?}")),
        }));
    }
    if node.op_as::<Iff>().is_some() {
        return Ok(Op::Where(Where));
    }
    if let Some(axis_op) = node.op_as::<AxisOp>() {
        let rank = model.outlet_fact(node.inputs[0]).map_err(|e| e.to_string())?.rank();
        return Ok(match axis_op.clone() {
            AxisOp::Add(at) => Op::Reshape {
                at,
                from: 0,
                to: vec![Dim::fixed(1)],
            },
            AxisOp::Rm(at) => Op::Reshape {
                at,
                from: 1,
                to: vec![],
            },
            AxisOp::Move(from, to) => {
                let mut permutation: Vec<usize> = (0..rank).collect();
                if from >= rank || to >= rank {
                    return Err(format!("moving axis {from} to {to} of a rank {rank} input"));
                }
                let axis = permutation.remove(from);
                permutation.insert(to, axis);
                Op::Transpose(permutation)
            }
            AxisOp::Reshape(at, from, to) => Op::Reshape {
                at,
                from: from.len(),
                to: to.iter().map(dim).collect::<Result<_, _>>()?,
            },
        });
    }
    if let Some(concat) = node.op_as::<TypedConcat>() {
        return Ok(Op::Concat(concat.axis));
    }
    if let Some(slice) = node.op_as::<Slice>() {
        let fixed = |d: &TDim| {
            d.to_i64()
                .ok()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| format!("a slice bound {d} that depends on the rows"))
        };
        return Ok(Op::Slice {
            axis: slice.axis,
            start: fixed(&slice.start)?,
            end: fixed(&slice.end)?,
        });
    }
    if let Some(gather) = node.op_as::<Gather>() {
        return Ok(Op::Gather(gather.axis));
    }
    if let Some(reduce) = node.op_as::<Reduce>() {
        let reducer = match reduce.reducer {
            TractReducer::Sum => Reducer::Sum,
            TractReducer::Prod => Reducer::Prod,
            TractReducer::Max => Reducer::Max,
            TractReducer::Min => Reducer::Min,
            TractReducer::MeanOfSquares => Reducer::MeanOfSquares,
            TractReducer::ArgMax(last) => Reducer::ArgMax(last),
            TractReducer::ArgMin(last) => Reducer::ArgMin(last),
            other => return Err(format!("the runtime has no reduction {other:?}")),
        };
        return Ok(Op::Reduce(Reduction {
            axes: reduce.axes.to_vec(),
            reducer,
        }));
    }
    if let Some(softmax) = node.op_as::<Softmax>() {
        let (&[axis], None) = (softmax.axes.as_slice(), softmax.quant_output_dt) else {
            return Err(format!("a Softmax over axes {:?}", softmax.axes));
        };
        return Ok(Op::Softmax {
            axis,
            log: softmax.kind == SoftmaxKind::LogSoftmax,
        });
    }
    Err("the runtime has no such op".into())
}

/// An `EinSum` that multiplies the last axis of its first input by a constant matrix (ONNX
/// `MatMul` or `Gemm` with a constant weight): our float product.
fn constant_product(
    model: &TypedModel,
    node: &TypedNode,
    einsum: &EinSum,
    inputs: &mut Vec<usize>,
) -> Result<Vec<Op>, String> {
    let expression = einsum.axes.to_string();
    let not_a_product = || format!("EinSum {expression} is not a product by a constant matrix");
    let (sides, out) = expression.split_once("->").ok_or_else(not_a_product)?;
    let (a, b) = sides.split_once(',').ok_or_else(not_a_product)?;
    let (a, b, out): (Vec<char>, Vec<char>, Vec<char>) =
        (a.chars().collect(), b.chars().collect(), out.chars().collect());
    let weight = model
        .outlet_fact(node.inputs[1])
        .ok()
        .and_then(|f| f.konst.clone())
        .ok_or_else(not_a_product)?;
    if einsum.q_params.is_some() || einsum.operating_dt != DatumType::F32 || node.inputs.len() != 2 {
        return Err(not_a_product());
    }
    let (Some((&k, prefix)), Some((&m, out_prefix))) = (a.split_last(), out.split_last()) else {
        return Err(not_a_product());
    };
    // Axes of the input that the output lacks are summed over: fine when they have size 1.
    let input_shape = &model.outlet_fact(node.inputs[0]).map_err(|e| e.to_string())?.shape;
    let dropped: Vec<usize> = (0..prefix.len())
        .filter(|&i| !out_prefix.contains(&prefix[i]))
        .collect();
    if dropped.iter().any(|&i| input_shape.get(i) != Some(&TDim::Val(1))) {
        return Err(not_a_product());
    }
    let kept: Vec<char> = prefix.iter().copied().filter(|c| out_prefix.contains(c)).collect();
    if kept != out_prefix || prefix.contains(&k) || prefix.contains(&m) || k == m {
        return Err(not_a_product());
    }
    let weight = weight.cast_to::<f32>().map_err(|e| e.to_string())?;
    let plain = weight.try_as_plain_ram().map_err(|e| e.to_string())?;
    let values = plain.as_slice::<f32>().map_err(|e| e.to_string())?;
    // A vector weight (`mk,k->mn`, a one-target linear model) is a one-column matrix.
    let (rows, columns) = match *weight.shape() {
        [rows, columns] => (rows, columns),
        [rows] if b == [k] && !a.contains(&m) => (rows, 1),
        _ => return Err(not_a_product()),
    };
    let (k_len, m_len, row_major) = if b == [k, m] || b == [k] {
        (rows, columns, values.to_vec())
    } else if b == [m, k] {
        let transposed = (0..columns * rows)
            .map(|i| values[(i % rows) * columns + i / rows])
            .collect();
        (columns, rows, transposed)
    } else {
        return Err(not_a_product());
    };
    inputs.truncate(1);
    let mut ops: Vec<Op> = dropped
        .iter()
        .rev()
        .map(|&at| Op::Reshape {
            at,
            from: 1,
            to: vec![],
        })
        .collect();
    ops.push(Op::Dense(Arc::new(PackedF32::new(
        &row_major,
        k_len,
        m_len,
        &[],
        false,
    ))));
    Ok(ops)
}
