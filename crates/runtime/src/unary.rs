//! Functions of each value.

use serde::{Deserialize, Serialize};

/// A function of one value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Unary {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `e^x`.
    Exp,
    /// Natural logarithm.
    Ln,
    /// `|x|`.
    Abs,
    /// `-x`.
    Neg,
    /// Square root.
    Sqrt,
    /// `1 / sqrt(x)`.
    Rsqrt,
    /// `1 / x`.
    Recip,
    /// `x * x`.
    Square,
    /// Rounded up.
    Ceil,
    /// Rounded down.
    Floor,
    /// Rounded half away from zero.
    Round,
    /// Rounded half to even.
    RoundHalfToEven,
    /// -1, 0 or 1 (NaN stays NaN).
    Sign,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// 1 for NaN, else 0.
    IsNan,
    /// 1 for 0, else 0.
    Not,
    /// `x` for `x >= 0`, else `alpha * x`.
    LeakyRelu(f32),
    /// `x ^ exponent`.
    Pow(f32),
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid(f32, f32),
}

impl Unary {
    /// The function at `x`.
    pub fn at(self, x: f32) -> f32 {
        match self {
            Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Unary::Tanh => x.tanh(),
            Unary::Exp => x.exp(),
            Unary::Ln => x.ln(),
            Unary::Abs => x.abs(),
            Unary::Neg => -x,
            Unary::Sqrt => x.sqrt(),
            Unary::Rsqrt => 1.0 / x.sqrt(),
            Unary::Recip => 1.0 / x,
            Unary::Square => x * x,
            Unary::Ceil => x.ceil(),
            Unary::Floor => x.floor(),
            Unary::Round => x.round(),
            Unary::RoundHalfToEven => x.round_ties_even(),
            Unary::Sign if x.is_nan() => x,
            Unary::Sign if x == 0.0 => 0.0,
            Unary::Sign => x.signum(),
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::IsNan => bool_value(x.is_nan()),
            Unary::Not => bool_value(x == 0.0),
            Unary::LeakyRelu(alpha) => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Unary::Pow(exponent) => x.powf(exponent),
            Unary::HardSigmoid(alpha, beta) => (alpha * x + beta).clamp(0.0, 1.0),
        }
    }
}

/// The type a value is converted to, the result kept in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cast {
    /// A float: unchanged.
    Float,
    /// An integer: truncated toward zero (saturating, NaN to 0), as Rust's `as` does.
    Integer,
    /// A boolean: 1 unless the value is 0.
    Bool,
}

impl Cast {
    /// `x` converted.
    pub fn at(self, x: f32) -> f32 {
        match self {
            Cast::Float => x,
            Cast::Integer => x as i64 as f32,
            Cast::Bool => bool_value(x != 0.0),
        }
    }
}

pub(crate) fn bool_value(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}
