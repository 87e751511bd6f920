//! Always-valid inference for a dashboard that is looked at every few seconds: the asymptotic
//! confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas ("Time-uniform central
//! limit theory and asymptotic confidence sequences", 2023), the one GrowthBook's sequential
//! testing uses. Its interval holds at every sample size at once with probability 1 − α, so
//! stopping the first time it excludes zero keeps the false-positive rate at α, which the
//! fixed-horizon p-value does not.

use serde::Serialize;

/// GrowthBook's default tuning: the interval is narrowest near this many observations.
pub const DEFAULT_TUNING: f64 = 5000.0;

/// A difference's always-valid interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConfidenceSequence {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The smallest α at which the sequence excludes 0 (an always-valid p-value).
    pub p_value: f64,
}

/// ρ of the normal mixture that makes the boundary tightest at `tuning` observations.
fn rho(alpha: f64, tuning: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    ((l + (l + 1.0).ln()) / tuning).sqrt()
}

/// The half-width, at `n` observations of standard deviation `sd`, of the (1 − α) sequence.
fn half_width(sd: f64, n: f64, alpha: f64, tuning: f64) -> f64 {
    let r2 = rho(alpha, tuning).powi(2);
    let scale = 2.0 * (n * r2 + 1.0) / (n * n * r2);
    sd * (scale * ((n * r2 + 1.0).sqrt() / alpha).ln()).sqrt()
}

/// The (1 − α) confidence sequence of a difference estimated at `difference` with variance
/// `variance` from `n` observations in all (both groups): the per-observation standard deviation
/// is √(variance · n), as in GrowthBook. `None` without observations or with an unusable input.
pub fn confidence_sequence(
    difference: f64,
    variance: f64,
    n: u64,
    alpha: f64,
    tuning: f64,
) -> Option<ConfidenceSequence> {
    let valid = |x: f64| x.is_finite() && x > 0.0;
    let usable = n >= 2 && difference.is_finite() && valid(variance) && valid(tuning) && alpha > 0.0 && alpha < 1.0;
    if !usable {
        return None;
    }
    let n = n as f64;
    let sd = (variance * n).sqrt();
    let half = half_width(sd, n, alpha, tuning);
    Some(ConfidenceSequence {
        low: difference - half,
        high: difference + half,
        p_value: p_value(difference.abs(), sd, n, tuning),
    })
}

/// The smallest α whose sequence excludes 0: the half-width falls as α grows, so bisect.
fn p_value(distance: f64, sd: f64, n: f64, tuning: f64) -> f64 {
    let excludes = |alpha: f64| half_width(sd, n, alpha, tuning) < distance;
    if !excludes(1.0 - 1e-12) {
        return 1.0;
    }
    let (mut low, mut high): (f64, f64) = (1e-300, 1.0 - 1e-12);
    if excludes(low) {
        return 0.0;
    }
    // 200 halvings of a log-scale bracket reach f64 resolution from 1e-300 to 1.
    for _ in 0..200 {
        let mid = (low.ln() * 0.5 + high.ln() * 0.5).exp();
        if excludes(mid) {
            high = mid;
        } else {
            low = mid;
        }
        if high / low - 1.0 < 1e-9 {
            break;
        }
    }
    high
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::reports::stats::tests::close;

    #[test]
    fn matches_a_hand_computation() {
        // α = .05, tuning 5000: l = 5.99146, ρ² = (5.99146 + ln 6.99146) / 5000 = .00158718.
        // difference .05, variance 1e-4 (se .01), n = 2000: sd = √.2 = .447214,
        // nρ² = 3.17436; scale = 2 · 4.17436 / (4e6 · .00158718) = .00131495;
        // ln(√4.17436 / .05) = ln 40.8625 = 3.71019; half = .447214 · √(.00131495 · 3.71019) = .031237
        let cs = confidence_sequence(0.05, 1e-4, 2000, 0.05, DEFAULT_TUNING).unwrap();
        assert!(close(cs.low, 0.05 - 0.031237, 1e-5), "{cs:?}");
        assert!(close(cs.high, 0.05 + 0.031237, 1e-5), "{cs:?}");
        // wider than the fixed-horizon interval (1.96 · .01), as an always-valid one must be
        assert!(cs.high - cs.low > 2.0 * 1.96 * 0.01);
    }

    #[test]
    fn p_value_is_where_the_sequence_touches_zero() {
        let cs = confidence_sequence(0.05, 1e-4, 2000, 0.05, DEFAULT_TUNING).unwrap();
        assert!(cs.p_value < 0.05 && cs.p_value > 0.0, "{cs:?}");
        let at = confidence_sequence(0.05, 1e-4, 2000, cs.p_value, DEFAULT_TUNING).unwrap();
        assert!(close(at.low, 0.0, 1e-6), "{at:?}");
        // no difference: p = 1; a huge one: p near 0
        assert_eq!(
            confidence_sequence(0.0, 1e-4, 2000, 0.05, DEFAULT_TUNING)
                .unwrap()
                .p_value,
            1.0
        );
        assert!(
            confidence_sequence(1.0, 1e-6, 10_000, 0.05, DEFAULT_TUNING)
                .unwrap()
                .p_value
                < 1e-12
        );
        // always-valid is never more significant than the fixed-horizon z-test (p = .00000057 here)
        assert!(cs.p_value > 5.7e-7);
    }

    #[test]
    fn refuses_unusable_inputs() {
        assert!(confidence_sequence(0.1, 0.0, 100, 0.05, DEFAULT_TUNING).is_none());
        assert!(confidence_sequence(0.1, 1e-3, 1, 0.05, DEFAULT_TUNING).is_none());
        assert!(confidence_sequence(f64::NAN, 1e-3, 100, 0.05, DEFAULT_TUNING).is_none());
        assert!(confidence_sequence(0.1, 1e-3, 100, 0.0, DEFAULT_TUNING).is_none());
        assert!(confidence_sequence(0.1, 1e-3, 100, 0.05, 0.0).is_none());
    }

    /// Simulated A/A tests peeked at every 100 observations: the fixed-horizon test stops on a
    /// false positive far more often than α, the sequence does not.
    #[test]
    fn peeking_keeps_the_false_positive_rate() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (runs, peeks, step) = (400, 40, 100);
        let (mut sequential_stops, mut fixed_stops) = (0, 0);
        for _ in 0..runs {
            let (mut sa, mut sb, mut n) = (0u64, 0u64, 0u64);
            let (mut seq_stopped, mut fixed_stopped) = (false, false);
            for _ in 0..peeks {
                for _ in 0..step {
                    sa += u64::from(uniform() < 0.5);
                    sb += u64::from(uniform() < 0.5);
                }
                n += step;
                let (pa, pb) = (sa as f64 / n as f64, sb as f64 / n as f64);
                let variance = pa * (1.0 - pa) / n as f64 + pb * (1.0 - pb) / n as f64;
                let z = (pb - pa) / variance.sqrt();
                fixed_stopped |= z.abs() > 1.96;
                let cs = confidence_sequence(pb - pa, variance, 2 * n, 0.05, DEFAULT_TUNING).unwrap();
                seq_stopped |= cs.low > 0.0 || cs.high < 0.0;
            }
            fixed_stops += u32::from(fixed_stopped);
            sequential_stops += u32::from(seq_stopped);
        }
        let (fixed, sequential) = (fixed_stops as f64 / runs as f64, sequential_stops as f64 / runs as f64);
        assert!(fixed > 0.12, "peeking at a fixed-horizon test: {fixed}");
        assert!(sequential <= 0.05 + 0.03, "the sequence: {sequential}");
    }
}
