//! What the benches share: incompressible data, and medians with their
//! spread as ratios to a baseline.

#![allow(dead_code)]

use std::time::Duration;

/// `len` bytes of xorshift64* output from `seed`: gzip cannot shrink it.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x1000_0000_01B3);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Print `label`, the median of `v` with p10–p90, and its ratio to
/// `base`; returns the ratio.
pub fn report(label: &str, v: &mut [Duration], base: Duration) -> f64 {
    v.sort();
    let m = v[v.len() / 2];
    let ratio = m.as_secs_f64() / base.as_secs_f64();
    let spread = format!(
        "{:.1}–{:.1} ms",
        ms(v[v.len() / 10]),
        ms(v[v.len() * 9 / 10])
    );
    println!(
        "  {label:<50} {:>8.1} ms  {spread:>19}  {ratio:>6.2}×",
        ms(m)
    );
    ratio
}
