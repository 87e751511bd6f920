//! What the fusions of our product ops share: a graph's constant tensors read as f32, the bias
//! `Add` and `Relu` that fuse into a product, the weight's row layout, and the search that
//! replaces chains until none is left.

use std::collections::HashSet;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};

use crate::graph_edit::{attribute, is_standard, only_reader};

/// A constant tensor, in f32.
pub(crate) struct Constant {
    pub(crate) dims: Vec<usize>,
    pub(crate) values: Vec<f32>,
}

/// What follows a product and fuses into it: the node where the chain ends, its output, and
/// whether a Relu is part of it.
pub(crate) struct Epilogue {
    pub(crate) last: usize,
    pub(crate) output: String,
    pub(crate) relu: bool,
}

/// Takes the bias `Add` of a constant (when `add_bias` takes the constant into the bias) and the
/// `Relu` that may follow the product at `p`, each only when it is the only reader; adds them to
/// `remove`.
pub(crate) fn epilogue(
    graph: &GraphProto,
    p: usize,
    mut add_bias: impl FnMut(&Constant) -> Option<()>,
    remove: &mut HashSet<usize>,
) -> Option<Epilogue> {
    let mut last = p;
    let mut output = graph.node[p].output.first()?.clone();
    if let Some(a) = only_reader(graph, &output).filter(|&a| is_standard(&graph.node[a], "Add")) {
        let add = &graph.node[a];
        let other = add.input.iter().find(|i| **i != output);
        if let Some(c) = other.and_then(|o| constant(graph, o, 0)) {
            if add.input.len() == 2 && add_bias(&c).is_some() {
                remove.insert(a);
                last = a;
                output = add.output.first()?.clone();
            }
        }
    }
    let relu = match only_reader(graph, &output) {
        Some(r) if is_standard(&graph.node[r], "Relu") => {
            remove.insert(r);
            last = r;
            output = graph.node[r].output.first()?.clone();
            true
        }
        _ => false,
    };
    Some(Epilogue { last, output, relu })
}

/// A product's weight `[k, m]` row-major, from the values as stored: `[k, m]`, or `[m, k]` for a
/// Gemm with `transB`.
pub(crate) fn weight_rows<T: Copy>(values: &[T], k: usize, m: usize, transposed: bool) -> Vec<T> {
    (0..k)
        .flat_map(|d| (0..m).map(move |c| (d, c)))
        .filter_map(|(d, c)| values.get(if transposed { c * k + d } else { d * m + c }).copied())
        .collect()
}

/// Adds a constant of `bias.len()` values (shape `[m]` or `[1, m]`, or one value) to the bias.
pub(crate) fn add_row(bias: &mut [f32], c: &Constant) -> Option<()> {
    let leading_ones = c.dims.iter().rev().skip(1).all(|&d| d == 1);
    match c.values.len() {
        1 => bias.iter_mut().for_each(|b| *b += c.values[0]),
        n if n == bias.len() && leading_ones => bias.iter_mut().zip(&c.values).for_each(|(b, v)| *b += v),
        _ => return None,
    }
    Some(())
}

pub(crate) fn initializer<'a>(graph: &'a GraphProto, name: &str) -> Option<&'a TensorProto> {
    graph.initializer.iter().find(|t| t.name == name)
}

/// The value of a constant tensor: an initializer, or `Cast`/`Identity`/`Reshape`/`Mul`/`Sub`/
/// `Add`/`DequantizeLinear` of constants.
pub(crate) fn constant(graph: &GraphProto, name: &str, depth: usize) -> Option<Constant> {
    if let Some(t) = initializer(graph, name) {
        return decode(t);
    }
    if depth > 8 {
        return None;
    }
    let node = graph
        .node
        .iter()
        .find(|n| n.output.first().is_some_and(|o| o == name))?;
    let arg = |i: usize| constant(graph, node.input.get(i)?, depth + 1);
    match node.op_type.as_str() {
        "Identity" if is_standard(node, "Identity") => arg(0),
        "Cast" if attribute(node, "to").is_some_and(|a| a.i == DataType::Float as i64) => arg(0),
        "Reshape" if is_standard(node, "Reshape") => {
            let (data, shape) = (arg(0)?, arg(1)?);
            let count = data.values.len();
            let mut dims = Vec::with_capacity(shape.values.len());
            for (i, &d) in shape.values.iter().enumerate() {
                dims.push(match d {
                    0.0 => *data.dims.get(i)?,
                    d if d >= 1.0 => d as usize,
                    _ => 0,
                });
            }
            let known: usize = dims.iter().filter(|&&d| d > 0).product();
            if let Some(unknown) = dims.iter_mut().find(|d| **d == 0) {
                *unknown = count.checked_div(known)?;
            }
            (dims.iter().product::<usize>() == count).then_some(Constant {
                dims,
                values: data.values,
            })
        }
        "Mul" | "Sub" | "Add" if node.input.len() == 2 => {
            let op = match node.op_type.as_str() {
                "Mul" => |a: f32, b: f32| a * b,
                "Sub" => |a: f32, b: f32| a - b,
                _ => |a: f32, b: f32| a + b,
            };
            broadcast(&arg(0)?, &arg(1)?, op)
        }
        "DequantizeLinear" => {
            let (x, scale) = (arg(0)?, arg(1)?);
            let zp = match node.input.get(2).filter(|z| !z.is_empty()) {
                Some(_) => arg(2)?,
                None => Constant {
                    dims: vec![],
                    values: vec![0.0],
                },
            };
            if scale.values.len() == 1 && zp.values.len() == 1 {
                let values = x.values.iter().map(|v| (v - zp.values[0]) * scale.values[0]).collect();
                Some(Constant { dims: x.dims, values })
            } else if x.dims.len() >= 2 && [1, scale.values.len()].contains(&zp.values.len()) {
                // Per channel along `axis` (default 1): a product's `[k, m]` weight, a
                // convolution's `[out, in, kh, kw]` one.
                let rank = x.dims.len() as i64;
                let axis = attribute(node, "axis").map_or(1, |a| a.i);
                let axis = usize::try_from(if axis < 0 { axis + rank } else { axis })
                    .ok()
                    .filter(|&a| a < x.dims.len())?;
                if scale.values.len() != x.dims[axis] {
                    return None;
                }
                let inner: usize = x.dims[axis + 1..].iter().product();
                let values = x
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let channel = i / inner.max(1) % x.dims[axis];
                        let zero_point = zp.values[channel.min(zp.values.len() - 1)];
                        (v - zero_point) * scale.values[channel]
                    })
                    .collect();
                Some(Constant { dims: x.dims, values })
            } else if x.dims.len() == 1 && scale.values.len() == x.values.len() {
                if ![1, x.values.len()].contains(&zp.values.len()) {
                    return None;
                }
                let zp_at = |i: usize| zp.values[i.min(zp.values.len() - 1)];
                let values = x
                    .values
                    .iter()
                    .zip(&scale.values)
                    .enumerate()
                    .map(|(i, (v, s))| (v - zp_at(i)) * s)
                    .collect();
                Some(Constant { dims: x.dims, values })
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `op(a, b)` with ONNX's multidirectional broadcasting.
fn broadcast(a: &Constant, b: &Constant, op: fn(f32, f32) -> f32) -> Option<Constant> {
    let rank = a.dims.len().max(b.dims.len());
    let pad = |d: &[usize]| -> Vec<usize> {
        std::iter::repeat_n(1, rank - d.len())
            .chain(d.iter().copied())
            .collect()
    };
    let (da, db) = (pad(&a.dims), pad(&b.dims));
    let mut dims = Vec::with_capacity(rank);
    for (&x, &y) in da.iter().zip(&db) {
        dims.push(match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        });
    }
    let count: usize = dims.iter().product();
    let index = |flat: usize, d: &[usize]| {
        let (mut rest, mut at, mut stride) = (flat, 0, 1);
        for axis in (0..rank).rev() {
            let coordinate = rest % dims[axis];
            rest /= dims[axis];
            if d[axis] != 1 {
                at += coordinate * stride;
            }
            stride *= d[axis];
        }
        at
    };
    let values = (0..count)
        .map(|i| op(a.values[index(i, &da)], b.values[index(i, &db)]))
        .collect();
    Some(Constant { dims, values })
}

/// The values of a float, int8, uint8, int32 or int64 initializer held in the file.
pub(crate) fn decode(t: &TensorProto) -> Option<Constant> {
    let dims: Vec<usize> = t.dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    let count: usize = dims.iter().product();
    let raw = &t.raw_data;
    let values: Vec<f32> = match DataType::try_from(t.data_type).ok()? {
        DataType::Float if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DataType::Float => t.float_data.clone(),
        DataType::Int8 if !raw.is_empty() => raw.iter().map(|&b| b as i8 as f32).collect(),
        DataType::Uint8 if !raw.is_empty() => raw.iter().map(|&b| b as f32).collect(),
        DataType::Int8 | DataType::Uint8 | DataType::Int32 if raw.is_empty() => {
            t.int32_data.iter().map(|&v| v as f32).collect()
        }
        DataType::Int32 => raw
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
            .collect(),
        DataType::Int64 if raw.is_empty() => t.int64_data.iter().map(|&v| v as f32).collect(),
        DataType::Int64 => raw
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        _ => return None,
    };
    (values.len() == count).then_some(Constant { dims, values })
}

/// Replaces, until none is left, every chain that `chain_at` finds starting at a node: it gives
/// the nodes to remove, the position the fused node takes, and the fused node. Then drops the
/// constants' nodes the fusions left unread.
pub(crate) fn fuse_chains(
    graph: &mut GraphProto,
    chain_at: impl Fn(&GraphProto, usize) -> Option<(HashSet<usize>, usize, NodeProto)>,
) {
    let mut fused_any = false;
    let mut at = 0;
    while at < graph.node.len() {
        let Some((remove, last, node)) = chain_at(graph, at) else {
            at += 1;
            continue;
        };
        let mut nodes = Vec::with_capacity(graph.node.len());
        for (i, n) in std::mem::take(&mut graph.node).into_iter().enumerate() {
            if i == last {
                nodes.push(node.clone());
            } else if !remove.contains(&i) {
                nodes.push(n);
            }
        }
        graph.node = nodes;
        fused_any = true;
        at = 0;
    }
    if fused_any {
        drop_dead_nodes(graph);
    }
}

/// Removes nodes none of whose outputs is read or is a graph output (the weights' dequantization
/// a fusion left behind).
pub(crate) fn drop_dead_nodes(graph: &mut GraphProto) {
    loop {
        let read: HashSet<&str> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter())
            .chain(graph.output.iter().map(|o| &o.name))
            .map(String::as_str)
            .collect();
        let dead: Vec<bool> = graph
            .node
            .iter()
            .map(|n| n.output.iter().all(|o| !read.contains(o.as_str())))
            .collect();
        if !dead.iter().any(|&d| d) {
            return;
        }
        let mut flags = dead.into_iter();
        graph.node.retain(|_| !flags.next().unwrap_or(false));
    }
}
