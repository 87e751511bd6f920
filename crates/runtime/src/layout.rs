//! Ops that move values or reduce them along axes.

use serde::{Deserialize, Serialize};

use crate::broadcast::{for_each_index, strides};
use crate::exp::exp_nonpositive;

/// How a reduction combines values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reducer {
    /// The sum.
    Sum,
    /// The product.
    Prod,
    /// The largest.
    Max,
    /// The smallest.
    Min,
    /// The mean of the squares.
    MeanOfSquares,
    /// The index of the largest (of the last largest when `true`); NaN counts as largest.
    ArgMax(bool),
    /// The index of the smallest (of the last smallest when `true`).
    ArgMin(bool),
}

/// A reduction over some axes, which stay with size 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reduction {
    /// The axes reduced.
    pub axes: Vec<usize>,
    /// How.
    pub reducer: Reducer,
}

impl Reduction {
    pub(crate) fn output_shape(&self, shape: &[usize]) -> Result<Vec<usize>, String> {
        if matches!(self.reducer, Reducer::ArgMax(_) | Reducer::ArgMin(_)) && self.axes.len() != 1 {
            return Err(format!("{:?} over {} axes", self.reducer, self.axes.len()));
        }
        let mut out = shape.to_vec();
        for &axis in &self.axes {
            *out.get_mut(axis)
                .ok_or_else(|| format!("axis {axis} of a rank {} input", shape.len()))? = 1;
        }
        Ok(out)
    }

    pub(crate) fn apply(&self, x: &[f32], shape: &[usize], out_shape: &[usize], out: &mut Vec<f32>) {
        if let (Reducer::ArgMax(last) | Reducer::ArgMin(last), &[axis]) = (self.reducer, self.axes.as_slice()) {
            let max = matches!(self.reducer, Reducer::ArgMax(_));
            return arg_extreme(x, shape, axis, max, last, out);
        }
        let (start, combine): (f32, fn(f32, f32) -> f32) = match self.reducer {
            Reducer::Sum | Reducer::MeanOfSquares => (0.0, |a, b| a + b),
            Reducer::Prod => (1.0, |a, b| a * b),
            Reducer::Max => (f32::NEG_INFINITY, |a, b| {
                if !a.is_nan() && (b.is_nan() || b > a) {
                    b
                } else {
                    a
                }
            }),
            Reducer::Min => (
                f32::INFINITY,
                |a, b| if !a.is_nan() && (b.is_nan() || b < a) { b } else { a },
            ),
            // Over several axes: refused when the plan is checked.
            Reducer::ArgMax(_) | Reducer::ArgMin(_) => (f32::NAN, |a, _| a),
        };
        out.clear();
        out.resize(out_shape.iter().product(), start);
        let square = self.reducer == Reducer::MeanOfSquares;
        let value = |v: f32| if square { v * v } else { v };
        if let &[axis] = self.axes.as_slice() {
            let length = shape.get(axis).copied().unwrap_or(1);
            let inner: usize = shape.iter().skip(axis + 1).product();
            for (o, block) in x.chunks((length * inner).max(1)).enumerate() {
                for run in block.chunks(inner.max(1)).take(length) {
                    let acc = out.get_mut(o * inner..(o + 1) * inner).unwrap_or_default();
                    for (a, &v) in acc.iter_mut().zip(run) {
                        *a = combine(*a, value(v));
                    }
                }
            }
        } else {
            let target = strides(out_shape, shape);
            let mut i = 0;
            for_each_index(shape, &[&target], |o| {
                let v = x.get(i).copied().unwrap_or(f32::NAN);
                if let Some(acc) = out.get_mut(o[0]) {
                    *acc = combine(*acc, value(v));
                }
                i += 1;
            });
        }
        if square {
            let count = (shape.iter().product::<usize>() / out.len().max(1)).max(1) as f32;
            out.iter_mut().for_each(|v| *v /= count);
        }
    }
}

/// Softmax (or log-Softmax) along `axis` of `x` of `shape`.
pub(crate) fn softmax(x: &[f32], shape: &[usize], axis: usize, log: bool, out: &mut Vec<f32>) {
    out.clear();
    out.extend_from_slice(x);
    let length = shape.get(axis).copied().unwrap_or(1);
    let stride: usize = shape.iter().skip(axis + 1).product();
    let outer: usize = shape.iter().take(axis).product();
    if stride == 1 && length > 0 {
        // Along the last axis (a classifier's probabilities): each row in place, contiguous.
        for (row, x) in out.chunks_exact_mut(length).zip(x.chunks_exact(length)) {
            // NaN never compares greater, so it is skipped as `f32::max` skips it.
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = exp_nonpositive(*v - max);
                sum += *v;
            }
            if log {
                let log_sum = sum.ln();
                row.iter_mut()
                    .zip(x)
                    .for_each(|(v, &original)| *v = original - max - log_sum);
            } else {
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
        return;
    }
    for block in 0..outer {
        for within in 0..stride {
            let first = block * length * stride + within;
            let at = |j: usize| first + j * stride;
            let max = (0..length).fold(f32::NEG_INFINITY, |m, j| m.max(out.get(at(j)).copied().unwrap_or(m)));
            let mut sum = 0.0;
            for j in 0..length {
                if let Some(v) = out.get_mut(at(j)) {
                    *v = exp_nonpositive(*v - max);
                    sum += *v;
                }
            }
            for j in 0..length {
                if let (Some(v), Some(&original)) = (out.get_mut(at(j)), x.get(at(j))) {
                    *v = if log { original - max - sum.ln() } else { *v / sum };
                }
            }
        }
    }
}

/// The output shape of a transposition.
pub(crate) fn transposed_shape(shape: &[usize], permutation: &[usize]) -> Result<Vec<usize>, String> {
    let mut seen = vec![false; shape.len()];
    if permutation.len() != shape.len() {
        return Err(format!(
            "a permutation of {} axes for a rank {} input",
            permutation.len(),
            shape.len()
        ));
    }
    permutation
        .iter()
        .map(|&p| match seen.get_mut(p) {
            Some(s) if !*s => {
                *s = true;
                Ok(shape[p])
            }
            _ => Err(format!("{permutation:?} is not a permutation")),
        })
        .collect()
}

/// `x` of `shape` with its axes permuted.
pub(crate) fn transpose(x: &[f32], shape: &[usize], permutation: &[usize], out: &mut Vec<f32>) {
    out.clear();
    let input_strides = strides(shape, shape);
    let read: Vec<usize> = permutation
        .iter()
        .map(|&p| input_strides.get(p).copied().unwrap_or(0))
        .collect();
    let out_shape: Vec<usize> = permutation
        .iter()
        .map(|&p| shape.get(p).copied().unwrap_or(0))
        .collect();
    for_each_index(&out_shape, &[&read], |o| {
        out.push(x.get(o[0]).copied().unwrap_or(f32::NAN))
    });
}

/// The inputs joined along `axis`.
pub(crate) fn concat(inputs: &[(&[f32], &[usize])], axis: usize, out: &mut Vec<f32>) {
    out.clear();
    let Some(first) = inputs.first() else { return };
    let outer: usize = first.1.iter().take(axis).product();
    for block in 0..outer {
        for (x, shape) in inputs {
            let run: usize = shape.iter().skip(axis).product();
            out.extend_from_slice(x.get(block * run..(block + 1) * run).unwrap_or_default());
        }
    }
}

/// `start..end` along `axis` of `x` of `shape`.
pub(crate) fn slice(x: &[f32], shape: &[usize], axis: usize, start: usize, end: usize, out: &mut Vec<f32>) {
    out.clear();
    let outer: usize = shape.iter().take(axis).product();
    let inner: usize = shape.iter().skip(axis + 1).product();
    let length = shape.get(axis).copied().unwrap_or(0);
    for block in 0..outer {
        let base = block * length * inner;
        out.extend_from_slice(x.get(base + start * inner..base + end * inner).unwrap_or_default());
    }
}

/// The index of the largest (`max`) or smallest value along `axis`, the first or the `last` of
/// equals; onnxruntime's ArgMax takes a NaN as the largest.
fn arg_extreme(x: &[f32], shape: &[usize], axis: usize, max: bool, last: bool, out: &mut Vec<f32>) {
    out.clear();
    let length = shape.get(axis).copied().unwrap_or(1);
    let stride: usize = shape.iter().skip(axis + 1).product();
    let outer: usize = shape.iter().take(axis).product();
    for block in 0..outer {
        for within in 0..stride {
            let at = |j: usize| {
                x.get(block * length * stride + within + j * stride)
                    .copied()
                    .unwrap_or(f32::NAN)
            };
            let mut best = 0;
            for j in 1..length {
                let (v, b) = (at(j), at(best));
                let better = if b.is_nan() {
                    false
                } else if v.is_nan() {
                    max
                } else if max {
                    v > b || (last && v == b)
                } else {
                    v < b || (last && v == b)
                };
                if better {
                    best = j;
                }
            }
            out.push(best as f32);
        }
    }
}

/// The output shape of a gather of `indices` along `axis` of `data`.
pub(crate) fn gathered_shape(data: &[usize], indices: &[usize], axis: usize) -> Result<Vec<usize>, String> {
    if axis >= data.len() {
        return Err(format!("axis {axis} of a rank {} input", data.len()));
    }
    Ok([&data[..axis], indices, &data[axis + 1..]].concat())
}

/// The slices of `data` along `axis` at `indices` (negative ones count from the end); an index
/// out of range is an error.
pub(crate) fn gather(
    data: &[f32],
    shape: &[usize],
    indices: &[f32],
    axis: usize,
    out: &mut Vec<f32>,
) -> Result<(), String> {
    out.clear();
    let length = shape.get(axis).copied().unwrap_or(0);
    let inner: usize = shape.iter().skip(axis + 1).product();
    let outer: usize = shape.iter().take(axis).product();
    for block in 0..outer {
        for &index in indices {
            let i = index as i64;
            let i = if i < 0 { i + length as i64 } else { i };
            let i = usize::try_from(i)
                .ok()
                .filter(|&i| i < length && index.fract() == 0.0)
                .ok_or_else(|| format!("index {index} out of 0..{length}"))?;
            let start = (block * length + i) * inner;
            out.extend_from_slice(data.get(start..start + inner).unwrap_or_default());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Softmax of `row` in f64, by its definition (NaN when the row holds one or `+inf`).
    fn softmax_f64(row: &[f32], log: bool) -> Vec<f64> {
        let max = row
            .iter()
            .filter(|v| !v.is_nan())
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
        row.iter()
            .map(|&v| match log {
                true => f64::from(v) - max - sum.ln(),
                false => (f64::from(v) - max).exp() / sum,
            })
            .collect()
    }

    #[test]
    fn softmax_along_the_last_axis_and_another_follows_its_definition() {
        let rows: [[f32; 4]; 5] = [
            [1.0, 2.0, 3.0, 4.0],
            [-100.0, 0.0, 50.0, 0.5],
            [f32::NEG_INFINITY, 0.0, 1.0, f32::NEG_INFINITY],
            [f32::NAN, 1.0, 2.0, 3.0],
            [-1e-3, 1e-3, 0.0, -0.0],
        ];
        let x: Vec<f32> = rows.iter().flatten().copied().collect();
        // The same rows as columns of a [4, 5] tensor: softmax along axis 0, strided.
        let columns: Vec<f32> = (0..4).flat_map(|j| rows.iter().map(move |r| r[j])).collect();
        for log in [false, true] {
            let (mut along_last, mut along_first) = (vec![], vec![]);
            softmax(&x, &[5, 4], 1, log, &mut along_last);
            softmax(&columns, &[4, 5], 0, log, &mut along_first);
            for (r, row) in rows.iter().enumerate() {
                for (j, want) in softmax_f64(row, log).into_iter().enumerate() {
                    for got in [along_last[r * 4 + j], along_first[j * 5 + r]] {
                        let ok = match want.is_nan() {
                            true => got.is_nan(),
                            false => {
                                f64::from(got) == want || (f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1.0)
                            }
                        };
                        assert!(ok, "row {r} column {j} log {log}: {got} against {want}");
                    }
                }
            }
        }
    }
}
