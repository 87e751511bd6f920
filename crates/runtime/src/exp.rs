//! `e^x` for `x <= 0`, as softmax takes it (of its inputs less their maximum): Cephes' `expf`
//! (a degree-7 polynomial after taking out powers of two), about 2 ulp from the exact value, and
//! without a call into the platform's math library, which in wasm took 18 ns an exponential and
//! most of a small classifier's softmax.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` in two parts, the first exact in few bits, so `x - n ln 2` loses nothing.
const LN2_HIGH: f32 = 0.693_359_4;
const LN2_LOW: f32 = -2.121_944_4e-4;
/// Adding and subtracting it rounds a float of magnitude under 2^22 to the nearest integer.
const ROUND: f32 = 12_582_912.0;
/// Just above `ln 2^-126` (-87.3365), where `e^x` stops being a normal float: below it 0 is
/// returned (off by under 1.2e-38; softmax's probabilities that small become 0).
const SMALLEST: f32 = -87.33;

/// `e^x` for `x <= 0` (and NaN for NaN); see the module documentation.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x < SMALLEST {
        return 0.0;
    }
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n, n from -126 to 0, built from its exponent bits.
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    e * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_3_ulp_of_the_exact_value_and_0_below_the_normal_floats() {
        let mut worst = 0.0f64;
        for i in 0..=1_000_000 {
            let x = -87.33 * i as f32 / 1e6;
            let exact = f64::from(x).exp();
            let relative = (f64::from(exp_nonpositive(x)) - exact).abs() / exact;
            worst = worst.max(relative);
        }
        assert!(worst < 3.0 * f64::from(f32::EPSILON), "relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
        assert_eq!(exp_nonpositive(-90.0), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }
}
