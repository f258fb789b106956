//! The attention of DSR and ITERSR: dense attention for the text / low-res part, and for each hi-res query ONE
//! softmax over a second key set and its local window of hi-res keys (CogView2 `sr_pipeline/dsr_model.py`
//! `sparse_attention_2d_light`, `itersr_model.py` `sparse_attention_2d_text`; reference-spec §5.3, §6.3).
//!
//! The hi-res part is `cogview2-kernels`' fused `local_attention` (the official `f_similar` / `f_weighting` around
//! one softmax), run by the backend's [`LocalAttentionBackend`]: host loops on the CPU backends, the cubecl kernel
//! on wgpu / CUDA, the differentiable burn-ops reference under autodiff. Out-of-grid window cells score −10000, as
//! in the official kernel.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use cogview2_core::attention::{attention_probs, AttentionBias};
use cogview2_kernels::{local_attention, DenseKeys, ExtraKeys, LocalAttentionBackend, WindowKeys};

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

impl LocalGeometry {
    /// The hi-res keys and values `[batch, heads, H·W, d]` as the self window of the fused attention.
    fn keys<B: Backend>(&self, k: Tensor<B, 4>, v: Tensor<B, 4>) -> WindowKeys<B> {
        let [sh, sw] = self.self_window;
        WindowKeys::new(to_grid(k, self.hi_grid), to_grid(v, self.hi_grid), sh, sw)
    }
}

/// `[batch, heads, H·W, d]` (raster order) → `[batch·heads, d, H, W]`, the kernels' NCHW layout, as a permuted
/// view of the channel-last memory (the host loops and the kernels read it without another copy).
fn to_grid<B: Backend>(x: Tensor<B, 4>, grid: [usize; 2]) -> Tensor<B, 4> {
    let [b, n, _, d] = x.dims();
    x.reshape([b * n, grid[0], grid[1], d]).permute([0, 3, 1, 2])
}

/// `[batch·heads, d, H, W]` → `[batch, heads, H·W, d]`.
fn from_grid<B: Backend>(x: Tensor<B, 4>, batch: usize) -> Tensor<B, 4> {
    let [bn, d, h, w] = x.dims();
    x.permute([0, 2, 3, 1]).reshape([batch, bn / batch, h * w, d])
}

/// Rows `range` of the sequence axis of `[batch, heads, seq, d]`.
fn rows<B: Backend>(x: &Tensor<B, 4>, range: std::ops::Range<usize>) -> Tensor<B, 4> {
    let [b, n, _, d] = x.dims();
    x.clone().slice([0..b, 0..n, range, 0..d])
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
pub fn dsr_attention<B: LocalAttentionBackend>(
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
    let [ch, cw] = cross_window;
    let cross = WindowKeys::new(to_grid(rows(&k0, t1 - lo..t1), lo_grid), to_grid(rows(&v0, t1 - lo..t1), lo_grid), ch, cw);
    let context1 = local_attention(q, Some(ExtraKeys::Window(cross)), local.keys(k1, v1))?;
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
pub fn itersr_attention<B: LocalAttentionBackend>(qkv: Qkv<B>, text_key_mask: &Tensor<B, 4>, local: LocalGeometry) -> Result<Tensor<B, 4>> {
    let (q, k, v) = qkv;
    let [b, n, len, d] = q.dims();
    let t0 = text_key_mask.dims()[3];
    let (q0, k0, v0) = (rows(&q, 0..t0), rows(&k, 0..t0), rows(&v, 0..t0));
    let (q1, k1, v1) = (rows(&q, t0..len), rows(&k, t0..len), rows(&v, t0..len));
    let text_bias = AttentionBias { mask: Some(text_key_mask.clone().expand([1, 1, t0, t0])), log_weights: None };
    let context0 = attention_probs(q0, k0.clone(), &text_bias, None).matmul(v0.clone());

    let q1 = to_grid(q1.div_scalar((d as f64).sqrt()), local.hi_grid);
    // Text keys masked as SAT does (`s·m − 10000·(1 − m)`); the zero log-attention bias is left out.
    let text = DenseKeys { k: k0.reshape([b * n, t0, d]), v: v0.reshape([b * n, t0, d]), bias: None, mask: Some(text_key_mask.clone().reshape([1, t0])) };
    let context1 = local_attention(q1, Some(ExtraKeys::Dense(text)), local.keys(k1, v1))?;
    Ok(Tensor::cat(vec![context0, from_grid(context1, b)], 2))
}
