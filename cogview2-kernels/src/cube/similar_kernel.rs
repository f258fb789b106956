//! `f_similar` kernel body: one unit per score `[b, y, x, t]`.

use cubecl::prelude::*;

use super::window::{cell_offset, cell_valid, dot};

/// `out[b, y, x, t] = Σ_c q[b, c, y, x] · k[b % Bk, c, ky, kx]`, −10000 outside the key grid.
/// `q`, `k` may be any strided views; `out` is contiguous `[B, H, W, P]`.
#[cube(launch)]
pub fn similar_kernel<F: Float>(
    q: &Tensor<F>,
    k: &Tensor<F>,
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
    let patch = out.shape(3);
    let w = out.shape(2);
    let h = out.shape(1);
    let t = pos % patch;
    let x = (pos / patch) % w;
    let y = (pos / (patch * w)) % h;
    let b = pos / (patch * w * h);
    let gh = k.shape(2);
    let gw = k.shape(3);
    let ah = h / gh;
    let aw = w / gw;
    let mut s = F::new(-10000.0);
    if cell_valid(y, x, t, ah, aw, kw, rh, rw, gh, gw) {
        let q_base = b * q.stride(0) + y * q.stride(2) + x * q.stride(3);
        let k_base = cell_offset::<F>(k, b, y, x, t, ah, aw, kw, rh, rw);
        s = dot::<F>(q, q_base, q.stride(1), k, k_base, k.stride(1), q.shape(1));
    }
    out[pos] = s;
}
