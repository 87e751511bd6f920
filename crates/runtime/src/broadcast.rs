//! Functions of two or three tensors, with numpy broadcasting.

use serde::{Deserialize, Serialize};

use crate::unary::bool_value;

/// A function of two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Binary {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// The larger (NaN if either is NaN, as onnxruntime's `Max`).
    Max,
    /// The smaller (NaN if either is NaN).
    Min,
    /// `a ^ b`.
    Pow,
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// Both non-zero.
    And,
    /// Either non-zero.
    Or,
    /// Exactly one non-zero.
    Xor,
}

impl Binary {
    /// The function at `(a, b)`.
    #[inline]
    pub fn at(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Max if a.is_nan() || b.is_nan() => f32::NAN,
            Binary::Max => a.max(b),
            Binary::Min if a.is_nan() || b.is_nan() => f32::NAN,
            Binary::Min => a.min(b),
            Binary::Pow => a.powf(b),
            Binary::Eq => bool_value(a == b),
            Binary::Ne => bool_value(a != b),
            Binary::Gt => bool_value(a > b),
            Binary::Ge => bool_value(a >= b),
            Binary::Lt => bool_value(a < b),
            Binary::Le => bool_value(a <= b),
            Binary::And => bool_value(a != 0.0 && b != 0.0),
            Binary::Or => bool_value(a != 0.0 || b != 0.0),
            Binary::Xor => bool_value((a != 0.0) != (b != 0.0)),
        }
    }

    /// Computes `a op b` into `out`, `a` and `b` broadcast to `shape`.
    pub(crate) fn apply(self, a: (&[f32], &[usize]), b: (&[f32], &[usize]), shape: &[usize], out: &mut Vec<f32>) {
        out.clear();
        let (x, y) = (a.0, b.0);
        if a.1 == shape && b.1 == shape {
            out.extend(x.iter().zip(y).map(|(&p, &q)| self.at(p, q)));
        } else if a.1 == shape && y.len() == 1 {
            let q = y[0];
            out.extend(x.iter().map(|&p| self.at(p, q)));
        } else if b.1 == shape && x.len() == 1 {
            let p = x[0];
            out.extend(y.iter().map(|&q| self.at(p, q)));
        } else if a.1 == shape && repeats_along_rows(b.1, shape) {
            for row in x.chunks(y.len().max(1)) {
                out.extend(row.iter().zip(y).map(|(&p, &q)| self.at(p, q)));
            }
        } else if b.1 == shape && repeats_along_rows(a.1, shape) {
            for row in y.chunks(x.len().max(1)) {
                out.extend(x.iter().zip(row).map(|(&p, &q)| self.at(p, q)));
            }
        } else {
            // The last axis as an inner loop, the others through the index walk.
            let (sa, sb) = (strides(a.1, shape), strides(b.1, shape));
            let Some((&inner, outer)) = shape.split_last() else {
                out.push(self.at(
                    x.first().copied().unwrap_or(f32::NAN),
                    y.first().copied().unwrap_or(f32::NAN),
                ));
                return;
            };
            let (ia, ib) = (sa.last().copied().unwrap_or(0), sb.last().copied().unwrap_or(0));
            let rank = outer.len();
            for_each_index(outer, &[&sa[..rank], &sb[..rank]], |o| {
                for i in 0..inner {
                    out.push(self.at(
                        x.get(o[0] + i * ia).copied().unwrap_or(f32::NAN),
                        y.get(o[1] + i * ib).copied().unwrap_or(f32::NAN),
                    ));
                }
            });
        }
    }
}

/// `condition ? a : b`, element by element, with broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Where;

impl Where {
    pub(crate) fn apply(
        self,
        condition: (&[f32], &[usize]),
        a: (&[f32], &[usize]),
        b: (&[f32], &[usize]),
        shape: &[usize],
        out: &mut Vec<f32>,
    ) {
        out.clear();
        let (sc, sa, sb) = (strides(condition.1, shape), strides(a.1, shape), strides(b.1, shape));
        for_each_index(shape, &[&sc, &sa, &sb], |o| {
            let pick = if condition.0.get(o[0]).copied().unwrap_or(0.0) != 0.0 {
                a.0.get(o[1])
            } else {
                b.0.get(o[2])
            };
            out.push(pick.copied().unwrap_or(f32::NAN));
        });
    }
}

/// Whether a tensor of `small` shape, broadcast to `shape`, repeats whole along the leading axes
/// (a bias `[1, m]` over `[n, m]`): its shape without leading ones is a tail of `shape`.
fn repeats_along_rows(small: &[usize], shape: &[usize]) -> bool {
    let first = small.iter().position(|&d| d != 1).unwrap_or(small.len());
    let tail = &small[first..];
    !tail.is_empty() && shape.ends_with(tail)
}

/// The shape that `shapes` broadcast to (numpy's rules), or why they do not.
pub(crate) fn broadcast_shape(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut shape = vec![1; rank];
    for s in shapes {
        for (i, &d) in s.iter().enumerate() {
            let at = &mut shape[rank - s.len() + i];
            if *at == 1 {
                *at = d;
            } else if d != 1 && d != *at {
                return Err(format!("shapes {shapes:?} do not broadcast"));
            }
        }
    }
    Ok(shape)
}

/// The strides of a tensor of `shape` read as `target` (0 along broadcast axes).
pub(crate) fn strides(shape: &[usize], target: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; target.len()];
    let mut step = 1;
    let offset = target.len().saturating_sub(shape.len());
    for (i, &d) in shape.iter().enumerate().rev() {
        if let Some(s) = strides.get_mut(offset + i) {
            *s = if d == 1 { 0 } else { step };
        }
        step *= d;
    }
    strides
}

/// Calls `f` for every index of `shape` in row-major order, with the offsets the `strides` give.
pub(crate) fn for_each_index(shape: &[usize], strides: &[&[usize]], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut index = vec![0; shape.len()];
    let mut offsets = vec![0; strides.len()];
    loop {
        f(&offsets);
        let mut axis = shape.len();
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            for (o, s) in offsets.iter_mut().zip(strides) {
                *o += s.get(axis).copied().unwrap_or(0);
            }
            if index[axis] < shape[axis] {
                break;
            }
            for (o, s) in offsets.iter_mut().zip(strides) {
                *o -= s.get(axis).copied().unwrap_or(0) * shape[axis];
            }
            index[axis] = 0;
        }
    }
}
