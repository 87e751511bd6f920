//! What a compiled model is: its ops, in order, over numbered values.

use serde::{Deserialize, Serialize};

use std::fmt;
use std::sync::Arc;

use wasm_predict_kernels::conv_f32::{Geometry, PackedConv};
use wasm_predict_kernels::dense_f32::PackedF32;
use wasm_predict_kernels::quantized::{QuantizedDense, QuantizedSoftmax};
use wasm_predict_kernels::trees::Forest;
use wasm_predict_kernels::Grid;

use crate::broadcast::{Binary, Where};
use crate::layout::Reduction;
use crate::unary::{Cast, Unary};

/// One dimension of a shape, as a function of the number of rows `n`: `per_row * n + fixed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dim {
    /// What each row adds.
    pub per_row: usize,
    /// The constant part.
    pub fixed: usize,
}

impl Dim {
    /// A dimension that does not depend on the rows.
    pub fn fixed(value: usize) -> Dim {
        Dim {
            per_row: 0,
            fixed: value,
        }
    }

    /// Its value for `rows` rows, `None` on overflow.
    pub fn at(self, rows: usize) -> Option<usize> {
        self.per_row.checked_mul(rows)?.checked_add(self.fixed)
    }
}

/// What a node computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Op {
    /// The input times a constant weight along the last axis, with its bias and Relu.
    Dense(Arc<PackedF32>),
    /// A two-dimensional convolution of NCHW images by a constant weight.
    Conv(Arc<PackedConv>),
    /// Two-dimensional max pooling of NCHW images.
    MaxPool(Geometry),
    /// A tree ensemble's scores for rows `[rows, features]`: `[rows, targets]`.
    Trees(Arc<Forest>),
    /// Rounds every value to an 8-bit grid and back.
    FakeQuantize(Grid),
    /// The same, on a uint8 grid taken from the tensor's range (ONNX `DynamicQuantizeLinear`).
    DynamicFakeQuantize,
    /// Softmax (or log-Softmax) along one axis.
    Softmax {
        /// The axis.
        axis: usize,
        /// Log-Softmax instead.
        log: bool,
    },
    /// A function of each value.
    Unary(Unary),
    /// A conversion of each value to another type, in f32.
    Cast(Cast),
    /// A function of two values, with broadcasting.
    Binary(Binary),
    /// `condition ? a : b`, with broadcasting.
    Where(Where),
    /// The same values in another shape: `to` replaces the dimensions `at..at + from` of the input.
    Reshape {
        /// The first replaced axis.
        at: usize,
        /// How many axes are replaced.
        from: usize,
        /// The new dimensions.
        to: Vec<Dim>,
    },
    /// Axes permuted: output axis `i` is input axis `permutation[i]`.
    Transpose(Vec<usize>),
    /// The inputs joined along an axis.
    Concat(usize),
    /// `start..end` along an axis.
    Slice {
        /// The axis.
        axis: usize,
        /// First index kept.
        start: usize,
        /// One past the last.
        end: usize,
    },
    /// A reduction over axes, which are kept with size 1.
    Reduce(Reduction),
    /// The slices of the first input along an axis at the indices the second input holds.
    Gather(usize),
    /// A row rounded to an 8-bit grid times an int8 weight, in integers, along the last axis.
    QuantizedDense(Arc<QuantizedDense>),
    /// A Softmax of values rounded to an 8-bit grid.
    QuantizedSoftmax(Arc<QuantizedSoftmax>),
}

/// A node: its op, the values it reads and the value it writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// The model's name for the node, for errors.
    pub name: String,
    /// What it computes.
    pub op: Op,
    /// The values it reads, by number.
    pub inputs: Vec<usize>,
    /// The value it writes.
    pub output: usize,
}

/// A compiled model: one input `[rows, row_shape...]`, constants, nodes in the order they run,
/// and one output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// How many values there are (input, constants, node outputs).
    pub values: usize,
    /// The input's value.
    pub input: usize,
    /// The input's shape: its first dimension (or more) follow the rows.
    pub input_shape: Vec<Dim>,
    /// Constant values: number, shape, contents.
    pub constants: Vec<(usize, Vec<usize>, Vec<f32>)>,
    /// The nodes, each after those it reads from.
    pub nodes: Vec<Node>,
    /// The output's value.
    pub output: usize,
}

impl Default for Plan {
    /// A plan with nothing but its input.
    fn default() -> Plan {
        Plan {
            values: 1,
            input: 0,
            input_shape: Vec::new(),
            constants: Vec::new(),
            nodes: Vec::new(),
            output: 0,
        }
    }
}

/// Why a plan is not runnable, or why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

/// Most values a tensor of a plan may hold (a gigabyte of f32): beyond, a plan or a batch is
/// refused rather than left to exhaust the memory.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The number of values of a tensor of `shape`, if it is within [`MAX_ELEMENTS`].
pub fn elements(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
}

impl Plan {
    /// Checks that every value is written once before it is read, and that the shapes agree for
    /// one row and for several.
    pub fn check(&self) -> Result<(), PlanError> {
        // Every value is the input, a constant or a node's output.
        let most = 1 + self.constants.len() + self.nodes.len();
        if self.values > most {
            return Err(PlanError(format!(
                "{} values, more than the input, {} constants and {} nodes make",
                self.values,
                self.constants.len(),
                self.nodes.len()
            )));
        }
        let mut written = vec![false; self.values];
        fn write(written: &mut [bool], v: usize, what: &str) -> Result<(), PlanError> {
            match written.get_mut(v) {
                Some(w) if !*w => {
                    *w = true;
                    Ok(())
                }
                Some(_) => Err(PlanError(format!("{what} writes value {v}, already written"))),
                None => Err(PlanError(format!("{what} writes value {v} of {}", written.len()))),
            }
        }
        write(&mut written, self.input, "the input")?;
        for (v, shape, values) in &self.constants {
            if elements(shape) != Some(values.len()) {
                return Err(PlanError(format!(
                    "constant {v} has {} values for shape {shape:?}",
                    values.len()
                )));
            }
            write(&mut written, *v, "a constant")?;
        }
        for node in &self.nodes {
            if let Some(v) = node.inputs.iter().find(|&&v| !written.get(v).copied().unwrap_or(false)) {
                return Err(PlanError(format!(
                    "node {:?} reads value {v} before it is written",
                    node.name
                )));
            }
            write(&mut written, node.output, &format!("node {:?}", node.name))?;
        }
        if !written.get(self.output).copied().unwrap_or(false) {
            return Err(PlanError(format!(
                "the output, value {}, is never written",
                self.output
            )));
        }
        for rows in [1, 3] {
            self.shapes(rows)?;
        }
        Ok(())
    }

    /// Every value's shape for `rows` rows.
    pub fn shapes(&self, rows: usize) -> Result<Vec<Vec<usize>>, PlanError> {
        let mut shapes = vec![Vec::new(); self.values];
        let overflow = || {
            PlanError(format!(
                "at {rows} rows a tensor would hold more than {MAX_ELEMENTS} values"
            ))
        };
        let input: Option<Vec<usize>> = self.input_shape.iter().map(|d| d.at(rows)).collect();
        let input = input.filter(|s| elements(s).is_some()).ok_or_else(overflow)?;
        *shapes.get_mut(self.input).ok_or_else(overflow)? = input;
        for (v, shape, _) in &self.constants {
            elements(shape).ok_or_else(overflow)?;
            *shapes.get_mut(*v).ok_or_else(overflow)? = shape.clone();
        }
        for node in &self.nodes {
            let inputs: Vec<&[usize]> = node
                .inputs
                .iter()
                .map(|&v| shapes.get(v).map(Vec::as_slice).unwrap_or_default())
                .collect();
            let shape = node
                .op
                .output_shape(&inputs, rows)
                .map_err(|e| PlanError(format!("node {:?}: {e}", node.name)))?;
            elements(&shape).ok_or_else(overflow)?;
            *shapes.get_mut(node.output).ok_or_else(overflow)? = shape;
        }
        Ok(shapes)
    }
}
