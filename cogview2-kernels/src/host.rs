//! Host kernels: `f_similar` / `f_weighting` written as plain loops over the tensors' memory, for the CPU backends
//! (NdArray, Flex). Same contract as [`crate::reference`], whose burn-ops form builds one full-size temporary per
//! window cell; here each query reads its window straight from a channel-last copy of the key grid, one batch ×
//! head per rayon task.

use burn::tensor::{backend::Backend, Tensor, TensorData};
use rayon::prelude::*;

use crate::error::{KernelError, Result};
use crate::geometry::Geometry;
use crate::reference::OUT_OF_GRID;

/// The tensor's values as f32 (widened or narrowed from whatever float type the backend holds).
fn values<B: Backend, const D: usize>(op: &'static str, x: Tensor<B, D>) -> Result<Vec<f32>> {
    x.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| KernelError::Backend { op, message: format!("{e:?}") })
}

/// `[B, C, H, W]` → `[B, H, W, C]` memory, so that one cell's channels are contiguous (no copy beyond the read
/// when `x` is itself a permuted view of channel-last memory, as the SR models pass it).
fn channel_last<B: Backend>(op: &'static str, x: Tensor<B, 4>) -> Result<Vec<f32>> {
    values(op, x.permute([0, 2, 3, 1]))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums so the loop vectorises (a single running sum fixes the addition order).
    let mut acc = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Key cell of window cell `t` for a query in key cell `(cy, cx)`, if it lies inside the key grid.
fn window_cell(g: &Geometry, cy: usize, cx: usize, t: usize) -> Option<usize> {
    let ky = (cy + t / g.window.kw).checked_sub(g.window.rh())?;
    let kx = (cx + t % g.window.kw).checked_sub(g.window.rw())?;
    (ky < g.kh_grid && kx < g.kw_grid).then_some(ky * g.kw_grid + kx)
}

/// [`crate::reference::local_similar`] on the host; `g` is already checked against the shapes.
pub(crate) fn similar<B: Backend>(g: &Geometry, q: Tensor<B, 4>, k: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
    const OP: &str = "local_similar";
    let device = q.device();
    let (c, hw, khw, patch) = (g.channels, g.h * g.w, g.kh_grid * g.kw_grid, g.window.patch());
    let (q, k) = (channel_last(OP, q)?, channel_last(OP, k)?);
    let mut scores = vec![0f32; g.batch * hw * patch];
    scores.par_chunks_mut(hw * patch).enumerate().for_each(|(b, out)| {
        let keys = &k[if g.key_batch == 1 { 0 } else { b } * khw * c..][..khw * c];
        for y in 0..g.h {
            for x in 0..g.w {
                let (cell, cy, cx) = (y * g.w + x, y / g.ah(), x / g.aw());
                let query = &q[(b * hw + cell) * c..][..c];
                for (t, s) in out[cell * patch..][..patch].iter_mut().enumerate() {
                    *s = match window_cell(g, cy, cx, t) {
                        Some(kc) => dot(query, &keys[kc * c..][..c]),
                        None => OUT_OF_GRID,
                    };
                }
            }
        }
    });
    Ok(Tensor::from_data(TensorData::new(scores, g.scores_shape()), &device))
}

/// [`crate::reference::local_weighting`] on the host; `g` is already checked against the shapes.
pub(crate) fn weighting<B: Backend>(g: &Geometry, v: Tensor<B, 4>, weights: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
    const OP: &str = "local_weighting";
    let device = v.device();
    let (c, hw, khw, patch) = (g.channels, g.h * g.w, g.kh_grid * g.kw_grid, g.window.patch());
    let (v, p) = (channel_last(OP, v)?, values(OP, weights)?);
    let mut out = vec![0f32; g.batch * c * hw];
    out.par_chunks_mut(c * hw).enumerate().for_each(|(b, out)| {
        let values = &v[if g.key_batch == 1 { 0 } else { b } * khw * c..][..khw * c];
        for y in 0..g.h {
            for x in 0..g.w {
                let (cell, cy, cx) = (y * g.w + x, y / g.ah(), x / g.aw());
                let acc = &mut out[cell * c..][..c];
                for (t, &p) in p[(b * hw + cell) * patch..][..patch].iter().enumerate() {
                    // Out-of-grid cells add nothing, as the official kernel skips them.
                    if let Some(kc) = window_cell(g, cy, cx, t) {
                        for (a, v) in acc.iter_mut().zip(&values[kc * c..][..c]) {
                            *a += p * v;
                        }
                    }
                }
            }
        }
    });
    // Written channel-last; handed back as an NCHW view of it.
    Ok(Tensor::<B, 4>::from_data(TensorData::new(out, [g.batch, g.h, g.w, c]), &device).permute([0, 3, 1, 2]))
}

/// [`crate::reference::local_scatter`] on the host; `g` is already checked against the shapes.
pub(crate) fn scatter<B: Backend>(g: &Geometry, u: Tensor<B, 4>, coeff: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
    const OP: &str = "local_scatter";
    let device = u.device();
    let (c, hw, khw, patch) = (g.channels, g.h * g.w, g.kh_grid * g.kw_grid, g.window.patch());
    let (u, coeff) = (channel_last(OP, u)?, values(OP, coeff)?);
    // One key grid per query batch (summed afterwards when the keys are shared), so the tasks never share memory.
    let mut out = vec![0f32; g.batch * khw * c];
    out.par_chunks_mut(khw * c).enumerate().for_each(|(b, out)| {
        for y in 0..g.h {
            for x in 0..g.w {
                let (cell, cy, cx) = (y * g.w + x, y / g.ah(), x / g.aw());
                let query = &u[(b * hw + cell) * c..][..c];
                for (t, &p) in coeff[(b * hw + cell) * patch..][..patch].iter().enumerate() {
                    if let Some(kc) = window_cell(g, cy, cx, t) {
                        for (a, u) in out[kc * c..][..c].iter_mut().zip(query) {
                            *a += p * u;
                        }
                    }
                }
            }
        }
    });
    let out = Tensor::<B, 4>::from_data(TensorData::new(out, [g.batch, g.kh_grid, g.kw_grid, c]), &device).permute([0, 3, 1, 2]);
    Ok(crate::reference::shared_key_sum(g, out))
}
