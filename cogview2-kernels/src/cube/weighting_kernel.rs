//! `f_weighting` kernel body: one unit per output `[b, c, y, x]`.

use cubecl::prelude::*;

use super::window::{cell_offset, cell_valid};

/// `out[b, c, y, x] = Σ_t p[b, y, x, t] · v[b % Bv, c, ky, kx]` over window cells inside the grid.
/// `v`, `p` may be any strided views; `out` is contiguous `[B, C, H, W]`.
#[cube(launch)]
pub fn weighting_kernel<F: Float>(
    v: &Tensor<F>,
    p: &Tensor<F>,
    out: &mut Tensor<F>,
    kw: u32,
    rh: u32,
    rw: u32,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= out.len() {
        terminate!();
    }
    let (kw, rh, rw) = (kw as usize, rh as usize, rw as usize);
    let w = out.shape(3);
    let h = out.shape(2);
    let channels = out.shape(1);
    let x = pos % w;
    let y = (pos / w) % h;
    let c = (pos / (w * h)) % channels;
    let b = pos / (w * h * channels);
    let gh = v.shape(2);
    let gw = v.shape(3);
    let ah = h / gh;
    let aw = w / gw;
    let p_base = b * p.stride(0) + y * p.stride(1) + x * p.stride(2);
    let mut acc = F::new(0.0);
    for t in 0..p.shape(3) {
        if cell_valid(y, x, t, ah, aw, kw, rh, rw, gh, gw) {
            let v_at = cell_offset::<F>(v, b, y, x, t, ah, aw, kw, rh, rw) + c * v.stride(1);
            acc += p[p_base + t * p.stride(3)] * v[v_at];
        }
    }
    out[pos] = acc;
}
