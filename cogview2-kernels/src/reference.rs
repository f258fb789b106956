//! Plain burn-ops reference of the local-attention kernels (reference-spec §7, `Sleepychord/Image-Local-Attention`
//! `similar.cu` / `weighting.cu`), generic over every backend.
//!
//! Both functions zero-pad the key grid once and then, per window offset, take one shifted slice: a query block of
//! `a_h × a_w` cells shares one key cell, so the slice is broadcast over a `[.., h, a_h, w, a_w]` view of the queries
//! instead of being upsampled. Work is `patch` tensor ops of the query size; no score tensor larger than the result
//! is ever built.

use burn::tensor::{activation::softmax, backend::Backend, Tensor};

use crate::error::Result;
use crate::geometry::{Geometry, Window};
use crate::keys::{DenseKeys, ExtraKeys, WindowKeys};

/// Score written for window cells outside the key grid (the official kernel's fill, not −∞).
pub const OUT_OF_GRID: f32 = -10000.0;

/// Scores of each query against its window of keys (`f_similar`).
///
/// # Shapes
/// - `q`: `[B, C, H, W]` (callers pre-scale by 1/√C; nothing is scaled here)
/// - `k`: `[Bk, C, h, w]`, `H % h == 0`, `W % w == 0`, `Bk ∈ {B, 1}`
/// - output: `[B, H, W, P]`, `P = kh·kw` (or `kh·kw/2 + 1` causal); cells outside the key grid hold −10000.
pub fn local_similar<B: Backend>(q: Tensor<B, 4>, k: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<B, 4>> {
    Ok(similar_checked(&similar_geometry(&q, &k, kh, kw, causal)?, q, k))
}

/// Probability-weighted sum of each query's window of values (`f_weighting`).
///
/// # Shapes
/// - `v`: `[Bv, C, h, w]`, `Bv ∈ {B, 1}`
/// - `weights`: `[B, H, W, P]` with `H % h == 0`, `W % w == 0`
/// - output: `[B, C, H, W]`; window cells outside the value grid contribute nothing.
pub fn local_weighting<B: Backend>(v: Tensor<B, 4>, weights: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<B, 4>> {
    Ok(weighting_checked(&weighting_geometry(&v, &weights, kh, kw, causal)?, v, weights))
}

/// The transpose of the windowed sums: `out[key] += coeff[q, t] · u[q]` over every query cell `q` and window cell
/// `t` that lands on `key` inside the key grid. It is the gradient of [`local_similar`] in its keys (`u` = queries,
/// `coeff` = score gradients) and of [`local_weighting`] in its values (`u` = output gradient, `coeff` = weights).
///
/// # Shapes
/// - `u`: `[B, C, H, W]`, `coeff`: `[B, H, W, P]`
/// - output: `key_dims = [Bk, C, h, w]` with `Bk ∈ {B, 1}` (a shared key grid sums over the query batch)
pub fn local_scatter<B: Backend>(u: Tensor<B, 4>, coeff: Tensor<B, 4>, key_dims: [usize; 4], kh: usize, kw: usize, causal: bool) -> Result<Tensor<B, 4>> {
    Ok(scatter_checked(&scatter_geometry(&u, &coeff, key_dims, kh, kw, causal)?, u, coeff))
}

/// Checks `local_scatter`'s arguments.
pub(crate) fn scatter_geometry<B: Backend>(u: &Tensor<B, 4>, coeff: &Tensor<B, 4>, key_dims: [usize; 4], kh: usize, kw: usize, causal: bool) -> Result<Geometry> {
    let g = Geometry::new("local_scatter", u.dims(), key_dims, "key grid", Window::new(kh, kw, causal))?;
    g.check_scores("local_scatter", "coeff", coeff.dims())?;
    Ok(g)
}

/// Checks `local_similar`'s arguments.
pub(crate) fn similar_geometry<B: Backend>(q: &Tensor<B, 4>, k: &Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Result<Geometry> {
    Geometry::new("local_similar", q.dims(), k.dims(), "k", Window::new(kh, kw, causal))
}

/// Checks `local_weighting`'s arguments.
pub(crate) fn weighting_geometry<B: Backend>(v: &Tensor<B, 4>, weights: &Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Result<Geometry> {
    let [batch, h, w, _] = weights.dims();
    let [_, channels, _, _] = v.dims();
    let g = Geometry::new("local_weighting", [batch, channels, h, w], v.dims(), "v", Window::new(kh, kw, causal))?;
    g.check_scores("local_weighting", "weights", weights.dims())?;
    Ok(g)
}

/// Zero-pads a key/value grid so that every window offset is one in-bounds slice; returns it with the matching
/// 0/1 validity grid `[1, 1, h + kh − 1, w + kw − 1]`.
fn pad_grid<B: Backend>(g: &Geometry, x: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let Window { kh, kw, .. } = g.window;
    let (rh, rw) = (g.window.rh(), g.window.rw());
    let pad = [(rh, kh - 1 - rh), (rw, kw - 1 - rw)];
    let valid = Tensor::<B, 4>::ones([1, 1, g.kh_grid, g.kw_grid], &x.device()).pad(pad, 0.0);
    (x.pad(pad, 0.0), valid)
}

/// Window offset `t` as (row, column) inside the padded grid.
fn offset(window: &Window, t: usize) -> (usize, usize) {
    (t / window.kw, t % window.kw)
}

pub(crate) fn similar_checked<B: Backend>(g: &Geometry, q: Tensor<B, 4>, k: Tensor<B, 4>) -> Tensor<B, 4> {
    let (ah, aw) = (g.ah(), g.aw());
    let (h, w) = (g.kh_grid, g.kw_grid);
    let q = q.reshape([g.batch, g.channels, h, ah, w, aw]);
    let (k, valid) = pad_grid(g, k);
    let scores = (0..g.window.patch())
        .map(|t| {
            let (i, j) = offset(&g.window, t);
            let k_t = k.clone().slice([0..g.key_batch, 0..g.channels, i..i + h, j..j + w]);
            let k_t: Tensor<B, 6> = k_t.reshape([g.key_batch, g.channels, h, 1, w, 1]);
            let s: Tensor<B, 5> = (q.clone() * k_t).sum_dim(1).squeeze_dim(1);
            let valid_t: Tensor<B, 5> = valid.clone().slice([0..1, 0..1, i..i + h, j..j + w]).reshape([1, h, 1, w, 1]);
            let invalid = valid_t.lower_elem(0.5).expand([g.batch, h, ah, w, aw]);
            s.mask_fill(invalid, OUT_OF_GRID).reshape([g.batch, g.h, g.w])
        })
        .collect::<Vec<Tensor<B, 3>>>();
    Tensor::stack(scores, 3)
}

pub(crate) fn weighting_checked<B: Backend>(g: &Geometry, v: Tensor<B, 4>, weights: Tensor<B, 4>) -> Tensor<B, 4> {
    let (ah, aw) = (g.ah(), g.aw());
    let (h, w) = (g.kh_grid, g.kw_grid);
    let (v, _) = pad_grid(g, v);
    let mut out: Tensor<B, 6> = Tensor::zeros([g.batch, g.channels, h, ah, w, aw], &v.device());
    for t in 0..g.window.patch() {
        let (i, j) = offset(&g.window, t);
        let v_t: Tensor<B, 6> = v.clone().slice([0..g.key_batch, 0..g.channels, i..i + h, j..j + w]).reshape([g.key_batch, g.channels, h, 1, w, 1]);
        let p_t: Tensor<B, 6> = weights.clone().slice([0..g.batch, 0..g.h, 0..g.w, t..t + 1]).reshape([g.batch, 1, h, ah, w, aw]);
        // Padded cells are zero, so out-of-grid window cells add nothing, as the kernel skips them.
        out = out + v_t * p_t;
    }
    out.reshape([g.batch, g.channels, g.h, g.w])
}

pub(crate) fn scatter_checked<B: Backend>(g: &Geometry, u: Tensor<B, 4>, coeff: Tensor<B, 4>) -> Tensor<B, 4> {
    let (ah, aw) = (g.ah(), g.aw());
    let (h, w) = (g.kh_grid, g.kw_grid);
    let Window { kh, kw, .. } = g.window;
    let u: Tensor<B, 6> = u.reshape([g.batch, g.channels, h, ah, w, aw]);
    // Every window offset adds one shifted slice into a zero-padded key grid; the padding (cells outside the
    // grid, whose scores are constants) is cut off at the end.
    let mut padded = Tensor::<B, 4>::zeros([g.batch, g.channels, h + kh - 1, w + kw - 1], &u.device());
    for t in 0..g.window.patch() {
        let (i, j) = offset(&g.window, t);
        let c_t: Tensor<B, 6> = coeff.clone().slice([0..g.batch, 0..g.h, 0..g.w, t..t + 1]).reshape([g.batch, 1, h, ah, w, aw]);
        let add: Tensor<B, 4> = (u.clone() * c_t).sum_dim(5).sum_dim(3).reshape([g.batch, g.channels, h, w]);
        let region = [0..g.batch, 0..g.channels, i..i + h, j..j + w];
        padded = padded.clone().slice_assign(region.clone(), padded.slice(region) + add);
    }
    let (rh, rw) = (g.window.rh(), g.window.rw());
    let out = padded.slice([0..g.batch, 0..g.channels, rh..rh + h, rw..rw + w]);
    shared_key_sum(g, out)
}

/// Sums a per-query-batch key-grid gradient over the batch when every query batch shares one key grid.
pub(crate) fn shared_key_sum<B: Backend>(g: &Geometry, x: Tensor<B, 4>) -> Tensor<B, 4> {
    if g.key_batch == 1 && g.batch > 1 {
        x.sum_dim(0)
    } else {
        x
    }
}

/// Fused local attention, reference: scores over `[extra | local window]`, ONE softmax, weighted sum of values.
///
/// DSR passes the 5×5 low-res window as `extra`, ITERSR the text keys; `None` is plain local attention.
///
/// # Shapes
/// - `q`: `[B, C, H, W]`, pre-scaled by 1/√C
/// - `local`: keys/values `[B or 1, C, h, w]` (self attention: `h, w = H, W`)
/// - output: `[B, C, H, W]`
pub fn local_attention_fused<B: Backend>(q: Tensor<B, 4>, extra: Option<ExtraKeys<B>>, local: WindowKeys<B>) -> Result<Tensor<B, 4>> {
    let ops = WindowOps { similar: |g, q, k| Ok(similar_checked(g, q, k)), weighting: |g, v, p| Ok(weighting_checked(g, v, p)) };
    fused_with(&ops, q, extra, local)
}

/// A windowed operation on checked shapes: `(geometry, query or values, keys or weights) → result`.
pub(crate) type WindowOp<B> = fn(&Geometry, Tensor<B, 4>, Tensor<B, 4>) -> Result<Tensor<B, 4>>;

/// The windowed score and sum operations a fused attention is built from (the reference's or the host loops).
pub(crate) struct WindowOps<B: Backend> {
    /// `f_similar`: `(geometry, q, k)` → scores.
    pub similar: WindowOp<B>,
    /// `f_weighting`: `(geometry, v, weights)` → context.
    pub weighting: WindowOp<B>,
}

/// [`local_attention_fused`] with the windowed parts computed by `ops`.
pub(crate) fn fused_with<B: Backend>(ops: &WindowOps<B>, q: Tensor<B, 4>, extra: Option<ExtraKeys<B>>, local: WindowKeys<B>) -> Result<Tensor<B, 4>> {
    Ok(fused_parts(ops, q, extra, local)?.0)
}

/// [`fused_with`] returning the attention probabilities `[B, H, W, extra + local]` as well (what a backward pass
/// needs).
pub(crate) fn fused_parts<B: Backend>(
    ops: &WindowOps<B>,
    q: Tensor<B, 4>,
    extra: Option<ExtraKeys<B>>,
    local: WindowKeys<B>,
) -> Result<(Tensor<B, 4>, Tensor<B, 4>)> {
    const OP: &str = "local_attention_fused";
    let query = q.dims();
    let [batch, channels, h, w] = query;
    let g_local = local.geometry(OP, query)?;
    let s_local = (ops.similar)(&g_local, q.clone(), local.k)?;
    let p_local_len = g_local.window.patch();
    let Some(extra) = extra else {
        let p = softmax(s_local, 3);
        return Ok(((ops.weighting)(&g_local, local.v, p.clone())?, p));
    };
    match extra {
        ExtraKeys::Window(cross) => {
            let g_cross = cross.geometry(OP, query)?;
            let n = g_cross.window.patch();
            let s = (ops.similar)(&g_cross, q, cross.k)?;
            let p = softmax(Tensor::cat(vec![s, s_local], 3), 3);
            let p_cross = p.clone().slice([0..batch, 0..h, 0..w, 0..n]);
            let p_local = p.clone().slice([0..batch, 0..h, 0..w, n..n + p_local_len]);
            Ok(((ops.weighting)(&g_cross, cross.v, p_cross)? + (ops.weighting)(&g_local, local.v, p_local)?, p))
        }
        ExtraKeys::Dense(text) => {
            let n = text.check(OP, query)?;
            let s = dense_scores(q.clone(), &text).reshape([batch, h, w, n]);
            let p = softmax(Tensor::cat(vec![s, s_local], 3), 3);
            let p_text: Tensor<B, 3> = p.clone().slice([0..batch, 0..h, 0..w, 0..n]).reshape([batch, h * w, n]);
            let p_local = p.clone().slice([0..batch, 0..h, 0..w, n..n + p_local_len]);
            let ctx_text = p_text.matmul(text.v).swap_dims(1, 2).reshape([batch, channels, h, w]);
            Ok((ctx_text + (ops.weighting)(&g_local, local.v, p_local)?, p))
        }
    }
}

/// Queries `[B, C, H, W]` as rows `[B, H·W, C]`.
pub(crate) fn query_rows<B: Backend>(q: Tensor<B, 4>) -> Tensor<B, 3> {
    let [batch, channels, h, w] = q.dims();
    q.reshape([batch, channels, h * w]).swap_dims(1, 2)
}

/// Scores `[B, H·W, T]` of every query against the dense keys, biased and masked as SAT does
/// (`s·m − 10000·(1 − m)`).
fn dense_scores<B: Backend>(q: Tensor<B, 4>, text: &DenseKeys<B>) -> Tensor<B, 3> {
    let mut s = query_rows(q).matmul(text.k.clone().swap_dims(1, 2));
    if let Some(bias) = &text.bias {
        s = s + bias.clone().unsqueeze_dim(1);
    }
    if let Some(mask) = &text.mask {
        let mask: Tensor<B, 3> = mask.clone().unsqueeze_dim(1);
        s = s * mask.clone() + (mask - 1.0) * (-OUT_OF_GRID);
    }
    s
}
