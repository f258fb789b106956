//! `#[cube]` helpers shared by the kernels: the window geometry of reference-spec §7 on the device.
//!
//! Kept in its own module with only `cubecl::prelude` in scope (`Tensor` here is cubecl's, not burn's).

use cubecl::prelude::*;

/// Whether window cell `t` of query `(y, x)` lies inside a `gh × gw` key grid. Offsets are kept unsigned by
/// comparing `y/ah + t/kw` with `rh` instead of subtracting first.
#[cube]
#[allow(clippy::too_many_arguments)]
pub fn cell_valid(y: usize, x: usize, t: usize, ah: usize, aw: usize, kw: usize, rh: usize, rw: usize, gh: usize, gw: usize) -> bool {
    let ry = y / ah + t / kw;
    let rx = x / aw + t % kw;
    ry >= rh && ry < gh + rh && rx >= rw && rx < gw + rw
}

/// Buffer offset of channel 0 of that (valid) cell in a grid tensor `[Bk, C, h, w]`; key batch `b % Bk`.
#[cube]
#[allow(clippy::too_many_arguments)]
pub fn cell_offset<F: Float>(g: &Tensor<F>, b: usize, y: usize, x: usize, t: usize, ah: usize, aw: usize, kw: usize, rh: usize, rw: usize) -> usize {
    let ky = y / ah + t / kw - rh;
    let kx = x / aw + t % kw - rw;
    (b % g.shape(0)) * g.stride(0) + ky * g.stride(2) + kx * g.stride(3)
}

/// Dot product over `channels` of two strided channel vectors.
#[cube]
pub fn dot<F: Float>(a: &Tensor<F>, a_base: usize, a_step: usize, b: &Tensor<F>, b_base: usize, b_step: usize, channels: usize) -> F {
    let mut s = F::new(0.0);
    for c in 0..channels {
        s += a[a_base + c * a_step] * b[b_base + c * b_step];
    }
    s
}
