//! The attention of DSR and ITERSR: dense attention for the text / low-res part, and for each hi-res query ONE
//! softmax over a second key set and its local window of hi-res keys (CogView2 `sr_pipeline/dsr_model.py`
//! `sparse_attention_2d_light`, `itersr_model.py` `sparse_attention_2d_text`; reference-spec §5.3, §6.3).
//!
//! The windowed scores and sums are `cogview2-kernels`' `local_similar` / `local_weighting` (the official
//! `f_similar` / `f_weighting`); out-of-grid window cells score −10000, as in the official kernel.

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use cogview2_core::attention::{attention_probs, AttentionBias, MASKED_SCORE};
use cogview2_kernels::{local_similar, local_weighting};

use crate::error::Result;

/// Per-head queries, keys and values `[batch, heads, seq, head_dim]`.
pub type Qkv<B> = (Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>);

/// Grids and windows of one hi-res attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalGeometry {
    /// Hi-res grid `[rows, cols]` of the queries and self keys.
    pub hi_grid: [usize; 2],
    /// Self window `[rows, cols]` (9 × 5 in CogView2).
    pub self_window: [usize; 2],
}

/// `[batch, heads, H·W, d]` (raster order) → `[batch·heads, d, H, W]`, the kernels' NCHW layout.
fn to_grid<B: Backend>(x: Tensor<B, 4>, grid: [usize; 2]) -> Tensor<B, 4> {
    let [b, n, _, d] = x.dims();
    x.swap_dims(2, 3).reshape([b * n, d, grid[0], grid[1]])
}

/// `[batch·heads, d, H, W]` → `[batch, heads, H·W, d]`.
fn from_grid<B: Backend>(x: Tensor<B, 4>, batch: usize) -> Tensor<B, 4> {
    let [bn, d, h, w] = x.dims();
    x.reshape([batch, bn / batch, d, h * w]).swap_dims(2, 3)
}

/// Rows `range` of the sequence axis of `[batch, heads, seq, d]`.
fn rows<B: Backend>(x: &Tensor<B, 4>, range: std::ops::Range<usize>) -> Tensor<B, 4> {
    let [b, n, _, d] = x.dims();
    x.clone().slice([0..b, 0..n, range, 0..d])
}

/// The last dimension of `[.., P]` split at `at`.
fn split_last<B: Backend>(p: Tensor<B, 4>, at: usize) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let [a, b, c, total] = p.dims();
    (p.clone().slice([0..a, 0..b, 0..c, 0..at]), p.slice([0..a, 0..b, 0..c, at..total]))
}

/// DSR attention of one layer.
///
/// - level 0 (`[pad + text | low-res]`, `level0`): dense attention under `mask0` (`[1, 1, t1, t1]`, 1 = visible);
/// - level 1 (hi-res, `level1`): per query, scores to a `cross_window` of the low-res keys (the last
///   `lo_grid` rows of level 0) and to the `self_window` of hi-res keys, ONE softmax over `[cross | self]`.
///
/// Returns the per-head contexts of both levels (before the two output projections).
///
/// # Shapes
/// - `level0`: `[batch, heads, t1, d]` each, `level1`: `[batch, heads, H·W, d]` each
/// - output: `([batch, heads, t1, d], [batch, heads, H·W, d])`
pub fn dsr_attention<B: Backend>(
    level0: Qkv<B>,
    level1: Qkv<B>,
    mask0: &Tensor<B, 4>,
    lo_grid: [usize; 2],
    cross_window: [usize; 2],
    local: LocalGeometry,
) -> Result<(Tensor<B, 4>, Tensor<B, 4>)> {
    let (q0, k0, v0) = level0;
    let (q1, k1, v1) = level1;
    let [b, _, t1, d] = q0.dims();
    let probs = attention_probs(q0, k0.clone(), &AttentionBias { mask: Some(mask0.clone()), log_weights: None }, None);
    let context0 = probs.matmul(v0.clone());

    let lo = lo_grid[0] * lo_grid[1];
    let q = to_grid(q1.div_scalar((d as f64).sqrt()), local.hi_grid);
    let k_lo = to_grid(rows(&k0, t1 - lo..t1), lo_grid);
    let v_lo = to_grid(rows(&v0, t1 - lo..t1), lo_grid);
    let [ch, cw] = cross_window;
    let [sh, sw] = local.self_window;
    let cross = local_similar(q.clone(), k_lo, ch, cw, false)?;
    let own = local_similar(q, to_grid(k1, local.hi_grid), sh, sw, false)?;
    let (p_cross, p_self) = split_last(softmax(Tensor::cat(vec![cross, own], 3), 3), ch * cw);
    let context1 = local_weighting(v_lo, p_cross, ch, cw, false)?
        + local_weighting(to_grid(v1, local.hi_grid), p_self, sh, sw, false)?;
    Ok((context0, from_grid(context1, b)))
}

/// ITERSR attention of one layer over `[text slots | hi-res]` (`qkv` from the one base projection).
///
/// - text queries: dense attention over the text keys, pad keys hidden by `text_key_mask` (`[text]`, 1 = visible);
/// - hi-res queries: scores to every text key (same mask) and to the `self_window` of hi-res keys, ONE softmax over
///   `[text | self]`.
///
/// # Shapes
/// - `qkv`: `[batch, heads, text + H·W, d]` each; `text_key_mask`: `[1, 1, 1, text]`
/// - output: `[batch, heads, text + H·W, d]` (per-head context, before the output projection)
pub fn itersr_attention<B: Backend>(qkv: Qkv<B>, text_key_mask: &Tensor<B, 4>, local: LocalGeometry) -> Result<Tensor<B, 4>> {
    let (q, k, v) = qkv;
    let [b, n, len, d] = q.dims();
    let t0 = text_key_mask.dims()[3];
    let [hh, hw] = local.hi_grid;
    let (q0, k0, v0) = (rows(&q, 0..t0), rows(&k, 0..t0), rows(&v, 0..t0));
    let (q1, k1, v1) = (rows(&q, t0..len), rows(&k, t0..len), rows(&v, t0..len));
    let text_bias = AttentionBias { mask: Some(text_key_mask.clone().expand([1, 1, t0, t0])), log_weights: None };
    let context0 = attention_probs(q0, k0.clone(), &text_bias, None).matmul(v0.clone());

    let q1 = q1.div_scalar((d as f64).sqrt());
    // Text scores, masked as SAT does (`s·m − 10000·(1 − m)`); the zero log-attention bias is left out.
    let mask = text_key_mask.clone().expand([b, n, hh * hw, t0]);
    let s_text = q1.clone().matmul(k0.swap_dims(2, 3));
    let s_text = s_text * mask.clone() + (mask - 1.0).mul_scalar(-MASKED_SCORE);
    let [sh, sw] = local.self_window;
    let own = local_similar(to_grid(q1, local.hi_grid), to_grid(k1, local.hi_grid), sh, sw, false)?;
    let probs = softmax(Tensor::cat(vec![s_text.reshape([b * n, hh, hw, t0]), own], 3), 3);
    let (p_text, p_self) = split_last(probs, t0);
    let context_text = p_text.reshape([b, n, hh * hw, t0]).matmul(v0);
    let context_self = from_grid(local_weighting(to_grid(v1, local.hi_grid), p_self, sh, sw, false)?, b);
    Ok(Tensor::cat(vec![context0, context_text + context_self], 2))
}
