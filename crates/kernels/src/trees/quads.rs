//! Four lanes at a time, for the leaf masks: float values and `u32` masks in one SIMD register each
//! in wasm (simd128), arrays elsewhere (which the compiler may vectorize: x86-64's intrinsics
//! would need `unsafe` here). Every function is the same lane-wise formula on both.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    pub type Quad = v128;
    pub type Masks = v128;

    #[inline(always)]
    pub fn quad(v: [f32; 4]) -> Quad {
        f32x4(v[0], v[1], v[2], v[3])
    }

    #[inline(always)]
    pub fn splat(t: f32) -> Quad {
        f32x4_splat(t)
    }

    #[inline(always)]
    pub fn masks(m: u32) -> Masks {
        u32x4_splat(m)
    }

    #[inline(always)]
    pub fn at_most(x: Quad, t: Quad) -> Masks {
        f32x4_le(x, t)
    }

    #[inline(always)]
    pub fn at_most_or_nan(x: Quad, t: Quad) -> Masks {
        v128_or(f32x4_le(x, t), f32x4_ne(x, x))
    }

    #[inline(always)]
    pub fn keep(masks: Masks, if_true: Masks, if_false: Masks, cond: Masks) -> Masks {
        v128_and(masks, v128_bitselect(if_true, if_false, cond))
    }

    #[inline(always)]
    pub fn lanes(m: Masks) -> [u32; 4] {
        [
            u32x4_extract_lane::<0>(m),
            u32x4_extract_lane::<1>(m),
            u32x4_extract_lane::<2>(m),
            u32x4_extract_lane::<3>(m),
        ]
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    pub type Quad = [f32; 4];
    pub type Masks = [u32; 4];

    #[inline(always)]
    pub fn quad(v: [f32; 4]) -> Quad {
        v
    }

    #[inline(always)]
    pub fn splat(t: f32) -> Quad {
        [t; 4]
    }

    #[inline(always)]
    pub fn masks(m: u32) -> Masks {
        [m; 4]
    }

    #[inline(always)]
    pub fn at_most(x: Quad, t: Quad) -> Masks {
        std::array::from_fn(|k| u32::from(x[k] <= t[k]).wrapping_neg())
    }

    #[inline(always)]
    pub fn at_most_or_nan(x: Quad, t: Quad) -> Masks {
        std::array::from_fn(|k| u32::from(x[k] <= t[k] || x[k].is_nan()).wrapping_neg())
    }

    #[inline(always)]
    pub fn keep(masks: Masks, if_true: Masks, if_false: Masks, cond: Masks) -> Masks {
        std::array::from_fn(|k| masks[k] & ((if_true[k] & cond[k]) | (if_false[k] & !cond[k])))
    }

    #[inline(always)]
    pub fn lanes(m: Masks) -> [u32; 4] {
        m
    }
}

pub(super) use imp::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lane_follows_the_scalar_formula() {
        let values = [f32::NAN, f32::NEG_INFINITY, -1.0, -0.0, 0.0, 0.5, 1.0, f32::INFINITY];
        for t in values {
            for x in values.chunks(4) {
                let x4 = [x[0], x[1], x[2], x[3]];
                let (on_true, on_false) = (masks(0b1100), masks(0b0110));
                let le = lanes(keep(masks(0b1111), on_true, on_false, at_most(quad(x4), splat(t))));
                let le_nan = lanes(keep(
                    masks(0b0111),
                    on_true,
                    on_false,
                    at_most_or_nan(quad(x4), splat(t)),
                ));
                for k in 0..4 {
                    let pick = |c: bool| if c { 0b1100 } else { 0b0110 };
                    assert_eq!(le[k], pick(x4[k] <= t), "{} <= {t}", x4[k]);
                    assert_eq!(
                        le_nan[k],
                        0b0111 & pick(x4[k] <= t || x4[k].is_nan()),
                        "{} <= {t} or NaN",
                        x4[k]
                    );
                }
            }
        }
    }
}
