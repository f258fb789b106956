//! Fused local attention kernel body: one unit per query `[b, y, x]`; its `[extra | local]` scores live in
//! registers (a comptime-sized array), so the `[B, H, W, 70]` score tensor never reaches memory.

use cubecl::prelude::*;

use super::window::{cell_offset, cell_valid, dot};

/// No second key set.
pub const EXTRA_NONE: u32 = 0;
/// Second key set is a window of a grid (DSR's low-res cross window).
pub const EXTRA_WINDOW: u32 = 1;
/// Second key set is dense keys `[B, T, C]` with bias and mask `[1 or B, T]` (ITERSR's text).
pub const EXTRA_DENSE: u32 = 2;

/// Score of extra key `t` for query `(b, y, x)` whose channel-0 offset in `q` is `q_base`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn extra_score<F: Float>(
    q: &Tensor<F>,
    q_base: usize,
    k_x: &Tensor<F>,
    bias: &Tensor<F>,
    mask: &Tensor<F>,
    b: usize,
    y: usize,
    x: usize,
    t: usize,
    x_kw: usize,
    x_rh: usize,
    x_rw: usize,
    #[comptime] extra: u32,
) -> F {
    let channels = q.shape(1);
    let mut s = F::new(-10000.0);
    if comptime![extra == EXTRA_WINDOW] {
        let gh = k_x.shape(2);
        let gw = k_x.shape(3);
        let ah = q.shape(2) / gh;
        let aw = q.shape(3) / gw;
        if cell_valid(y, x, t, ah, aw, x_kw, x_rh, x_rw, gh, gw) {
            let k_base = cell_offset::<F>(k_x, b, y, x, t, ah, aw, x_kw, x_rh, x_rw);
            s = dot::<F>(q, q_base, q.stride(1), k_x, k_base, k_x.stride(1), channels);
        }
    } else {
        let k_base = b * k_x.stride(0) + t * k_x.stride(1);
        let raw = dot::<F>(q, q_base, q.stride(1), k_x, k_base, k_x.stride(2), channels);
        let biased = raw + bias[(b % bias.shape(0)) * bias.stride(0) + t * bias.stride(1)];
        let m = mask[(b % mask.shape(0)) * mask.stride(0) + t * mask.stride(1)];
        // The official masking, s·m − 10000·(1 − m), not a select: identical for 0/1 masks.
        s = biased * m - F::new(10000.0) * (F::new(1.0) - m);
    }
    s
}

/// Softmax over `[extra (n_extra) | local window (n_local)]` scores, then the weighted sum of the matching values.
/// `out` is contiguous `[B, C, H, W]`; every input may be a strided view.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn fused_kernel<F: Float>(
    q: &Tensor<F>,
    k_loc: &Tensor<F>,
    v_loc: &Tensor<F>,
    k_x: &Tensor<F>,
    v_x: &Tensor<F>,
    bias: &Tensor<F>,
    mask: &Tensor<F>,
    out: &mut Tensor<F>,
    loc_kw: u32,
    loc_rh: u32,
    loc_rw: u32,
    x_kw: u32,
    x_rh: u32,
    x_rw: u32,
    #[comptime] extra: u32,
    #[comptime] n_extra: usize,
    #[comptime] n_local: usize,
    #[comptime] channels: usize,
    #[define(F)] _dtype: StorageType,
) {
    let h = out.shape(2);
    let w = out.shape(3);
    let pos = ABSOLUTE_POS;
    if pos >= out.shape(0) * h * w {
        terminate!();
    }
    let (loc_kw, loc_rh, loc_rw) = (loc_kw as usize, loc_rh as usize, loc_rw as usize);
    let (x_kw, x_rh, x_rw) = (x_kw as usize, x_rh as usize, x_rw as usize);
    let x = pos % w;
    let y = (pos / w) % h;
    let b = pos / (w * h);
    let q_base = b * q.stride(0) + y * q.stride(2) + x * q.stride(3);
    let gh = k_loc.shape(2);
    let gw = k_loc.shape(3);
    let ah = h / gh;
    let aw = w / gw;

    // Pass 1: every score into registers, and their maximum.
    let mut scores = Array::<F>::new(n_extra + n_local);
    if comptime![extra != EXTRA_NONE] {
        for t in 0..n_extra {
            scores[t] = extra_score::<F>(q, q_base, k_x, bias, mask, b, y, x, t, x_kw, x_rh, x_rw, extra);
        }
    }
    for t in 0..n_local {
        let mut s = F::new(-10000.0);
        if cell_valid(y, x, t, ah, aw, loc_kw, loc_rh, loc_rw, gh, gw) {
            let k_base = cell_offset::<F>(k_loc, b, y, x, t, ah, aw, loc_kw, loc_rh, loc_rw);
            s = dot::<F>(q, q_base, q.stride(1), k_loc, k_base, k_loc.stride(1), channels);
        }
        scores[n_extra + t] = s;
    }
    let mut top = scores[0];
    for i in 1..n_extra + n_local {
        top = F::max(top, scores[i]);
    }

    // Pass 2: exponentials, their sum, and the unnormalised weighted sum of values (out-of-grid cells add
    // exp(−10000 − max) to the sum, as the official softmax does, and nothing to the values, as f_weighting).
    let mut acc = Array::<F>::new(channels);
    for c in 0..channels {
        acc[c] = F::new(0.0);
    }
    let mut sum = F::new(0.0);
    if comptime![extra != EXTRA_NONE] {
        for t in 0..n_extra {
            let e = F::exp(scores[t] - top);
            sum += e;
            if comptime![extra == EXTRA_WINDOW] {
                let xgh = v_x.shape(2);
                let xgw = v_x.shape(3);
                let xah = h / xgh;
                let xaw = w / xgw;
                if cell_valid(y, x, t, xah, xaw, x_kw, x_rh, x_rw, xgh, xgw) {
                    let v_base = cell_offset::<F>(v_x, b, y, x, t, xah, xaw, x_kw, x_rh, x_rw);
                    for c in 0..channels {
                        acc[c] += e * v_x[v_base + c * v_x.stride(1)];
                    }
                }
            } else {
                let v_base = b * v_x.stride(0) + t * v_x.stride(1);
                for c in 0..channels {
                    acc[c] += e * v_x[v_base + c * v_x.stride(2)];
                }
            }
        }
    }
    for t in 0..n_local {
        let e = F::exp(scores[n_extra + t] - top);
        sum += e;
        if cell_valid(y, x, t, ah, aw, loc_kw, loc_rh, loc_rw, gh, gw) {
            let v_base = cell_offset::<F>(v_loc, b, y, x, t, ah, aw, loc_kw, loc_rh, loc_rw);
            for c in 0..channels {
                acc[c] += e * v_loc[v_base + c * v_loc.stride(1)];
            }
        }
    }
    let out_base = b * channels * h * w + y * w + x;
    for c in 0..channels {
        out[out_base + c * h * w] = acc[c] / sum;
    }
}
