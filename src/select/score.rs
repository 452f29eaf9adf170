//! The weighted rendezvous score, computed the same way on every platform.
//!
//! `f64::ln` comes from the platform's maths library and may differ in the last bit between libcs,
//! CPUs and Rust versions; one flipped comparison would send a client network to another member on
//! one node of a fleet only. So the logarithm here is our own function built from IEEE 754 basic
//! operations (+, −, ×, ÷ and exact bit manipulation), which every conforming platform rounds
//! identically; Rust never fuses them into FMA behind our back. The golden table in
//! `tests/sticky.rs` pins the result.

use crate::net::mix;

/// ln 2, rounded to the nearest double.
const LN_2: f64 = std::f64::consts::LN_2;
/// √2, rounded to the nearest double.
const SQRT_2: f64 = std::f64::consts::SQRT_2;

/// A uniform number in (0, 1) from a hash: the top 53 bits, centred in their interval.
#[inline]
fn unit(h: u64) -> f64 {
    // (h >> 11) < 2^53, so the conversion is exact
    ((h >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// 1/(2k+1) for k = 0..12: the coefficients of the atanh series (compile-time divisions, rounded
/// exactly as at run time).
const C: [f64; 12] = [
    1.0,
    1.0 / 3.0,
    1.0 / 5.0,
    1.0 / 7.0,
    1.0 / 9.0,
    1.0 / 11.0,
    1.0 / 13.0,
    1.0 / 15.0,
    1.0 / 17.0,
    1.0 / 19.0,
    1.0 / 21.0,
    1.0 / 23.0,
];

/// The natural logarithm of a positive, normal `x`, from basic operations only.
///
/// `x = m · 2^e` with `m` in [√½, √2); `ln m = 2·atanh(s)` with `s = (m − 1)/(m + 1)`, |s| < 0.172,
/// summed to the s^23 term (the remainder is below 10^-18 relative); `ln x = e·ln 2 + ln m`. The
/// polynomial in z = s² is evaluated in Estrin's scheme, so the dependency chain is four levels
/// deep instead of Horner's eleven: this runs on the query path, once per candidate member.
#[inline]
pub(crate) fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > SQRT_2 {
        m *= 0.5; // exact
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let z2 = z * z;
    let z4 = z2 * z2;
    let z8 = z4 * z4;
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11] = C;
    let q0 = (c0 + c1 * z) + (c2 + c3 * z) * z2;
    let q1 = (c4 + c5 * z) + (c6 + c7 * z) * z2;
    let q2 = (c8 + c9 * z) + (c10 + c11 * z) * z2;
    let sum = (q0 + q1 * z4) + q2 * z8;
    f64::from(e) * LN_2 + 2.0 * s * sum
}

/// Weighted rendezvous score: the item with the highest score wins with probability
/// weight / total weight, and an item's score depends on nothing but itself and the key.
#[inline]
pub(crate) fn score(key: u64, seed: u64, item: u64, weight: f64) -> f64 {
    -weight / ln(unit(mix(key ^ mix(seed ^ item))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_matches_the_library_closely() {
        let mut h = 1u64;
        for _ in 0..100_000 {
            h = mix(h.wrapping_add(0x9e37_79b9_7f4a_7c15));
            let x = unit(h);
            let (ours, libm) = (ln(x), x.ln());
            assert!(
                (ours - libm).abs() <= 4.0 * f64::EPSILON * libm.abs(),
                "{x}: {ours} vs {libm}"
            );
        }
        assert_eq!(ln(1.0), 0.0);
        assert!((ln(0.5) + LN_2).abs() < 1e-16);
    }

    #[test]
    fn pinned_values() {
        // exact bit patterns: every build on every platform must produce these (they were computed
        // independently, by the same algorithm in Python's IEEE doubles)
        assert_eq!(ln(0.3).to_bits(), 0xbff3_4378_fcbd_a720);
        assert_eq!(score(1, 2, 3, 1.0).to_bits(), 0x3ff8_2264_d04d_406a);
    }
}
