//! Training through the fused local attention. burn-ops autodiff of the reference keeps one full-size temporary
//! per window cell and walks them all back; this backward pass is written with the same windowed operations as the
//! forward (scores, weighted sums and their transpose, [`LocalAttentionBackend::local_scatter`]), so the CPU
//! backends' host loops serve both directions.
//!
//! With `p = softmax([s_extra | s_local])`, `out = Σ p·v` and `g = ∂L/∂out`:
//! `∂p = g·v` (a score op of `g` against the values), `∂s = p ⊙ (∂p − Σ_t p_t ∂p_t)` where `Σ_t p_t ∂p_t = g·out`,
//! `∂q = Σ ∂s·k` (a weighted sum), `∂k = scatter(q, ∂s)`, `∂v = scatter(g, p)`. Dense extra keys use matmuls.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

use crate::backend::LocalAttentionBackend;
use crate::error::Result;
use crate::geometry::Window;
use crate::keys::{DenseKeys, ExtraKeys, WindowKeys};
use crate::reference::{self, query_rows, WindowOps};

type Ad<B, C> = Autodiff<B, C>;

/// The inner backend's windowed operations, as the forward pass of the fused attention uses them.
fn inner_ops<B: LocalAttentionBackend>() -> WindowOps<B> {
    WindowOps {
        similar: |g, q, k| B::local_similar(q, k, g.window.kh, g.window.kw, g.window.causal),
        weighting: |g, v, p| B::local_weighting(v, p, g.window.kh, g.window.kw, g.window.causal),
    }
}

fn inner<B: Backend, C: CheckpointStrategy, const D: usize>(x: &Tensor<Ad<B, C>, D>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(x.clone().into_primitive().tensor().primitive))
}

fn wrap<B: Backend, const D: usize>(x: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

fn raw<B: Backend, const D: usize>(x: Tensor<B, D>) -> FloatTensor<B> {
    x.into_primitive().tensor()
}

/// How the second key set was scored, for the backward pass.
#[derive(Debug, Clone)]
enum ExtraKind<B: Backend> {
    /// A window of a grid.
    Window(Window),
    /// Dense keys, with SAT's 0/1 key mask `[B or 1, T]` (a constant here).
    Dense(Option<FloatTensor<B>>),
}

/// What the backward pass reads: the inputs, the probabilities and the output (all of the inner backend).
#[derive(Debug, Clone)]
struct FusedState<B: Backend> {
    q: FloatTensor<B>,
    extra_k: FloatTensor<B>,
    extra_v: FloatTensor<B>,
    local_k: FloatTensor<B>,
    local_v: FloatTensor<B>,
    probs: FloatTensor<B>,
    out: FloatTensor<B>,
    extra: ExtraKind<B>,
    local: Window,
}

/// Parents: `[q, extra k, extra v, local k, local v]`.
#[derive(Debug)]
struct FusedBackward;

impl<B: LocalAttentionBackend> Backward<B, 5> for FusedBackward {
    type State = FusedState<B>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let grad = wrap::<B, 4>(grads.consume::<B>(&ops.node));
        let grads_in = fused_backward(grad, ops.state)
            // The shapes were checked by the forward pass; the inner ops fail only if the backend cannot hand
            // out its values, which the forward pass of the same tensors already did.
            .expect("local attention backward on shapes checked by its forward pass");
        for (parent, value) in ops.parents.into_iter().zip(grads_in) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, raw(value));
            }
        }
    }
}

/// `[∂q, ∂k, ∂v]` of one windowed key set whose probabilities are `p`.
fn window_backward<B: LocalAttentionBackend>(
    grad: &Tensor<B, 4>,
    q: &Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    p: Tensor<B, 4>,
    g_dot_out: Tensor<B, 4>,
    win: Window,
) -> Result<[Tensor<B, 4>; 3]> {
    let Window { kh, kw, causal } = win;
    let ds = p.clone() * (B::local_similar(grad.clone(), v.clone(), kh, kw, causal)? - g_dot_out);
    let dq = B::local_weighting(k.clone(), ds.clone(), kh, kw, causal)?;
    let dk = B::local_scatter(q.clone(), ds, k.dims(), kh, kw, causal)?;
    let dv = B::local_scatter(grad.clone(), p, v.dims(), kh, kw, causal)?;
    Ok([dq, dk, dv])
}

/// `[∂q, ∂extra k, ∂extra v, ∂local k, ∂local v]`.
fn fused_backward<B: LocalAttentionBackend>(grad: Tensor<B, 4>, state: FusedState<B>) -> Result<[Tensor<B, 4>; 5]> {
    let (q, local_k, local_v) = (wrap::<B, 4>(state.q), wrap::<B, 4>(state.local_k), wrap::<B, 4>(state.local_v));
    let (probs, out) = (wrap::<B, 4>(state.probs), wrap::<B, 4>(state.out));
    let [batch, channels, h, w] = q.dims();
    let local = state.local;
    let n_local = local.patch();
    let n_extra = probs.dims()[3] - n_local;
    let p_extra = probs.clone().slice([0..batch, 0..h, 0..w, 0..n_extra]);
    let p_local = probs.clone().slice([0..batch, 0..h, 0..w, n_extra..n_extra + n_local]);
    // Σ_t p_t ∂p_t = g·out, per query.
    let g_dot_out = (grad.clone() * out).sum_dim(1).permute([0, 2, 3, 1]);

    let [mut dq, d_local_k, d_local_v] = window_backward(&grad, &q, local_k, local_v, p_local, g_dot_out.clone(), local)?;

    let (extra_k, extra_v) = (wrap::<B, 4>(state.extra_k), wrap::<B, 4>(state.extra_v));
    let (d_extra_k, d_extra_v) = match state.extra {
        ExtraKind::Window(win) => {
            let [dq_extra, dk, dv] = window_backward(&grad, &q, extra_k, extra_v, p_extra, g_dot_out, win)?;
            dq = dq + dq_extra;
            (dk, dv)
        }
        ExtraKind::Dense(mask) => {
            // Dense keys travel as [B, T, C] inside rank-4 state: [B, T, C, 1].
            let [kb, t, kc, _] = extra_k.dims();
            let (k, v) = (extra_k.reshape([kb, t, kc]), extra_v.reshape([kb, t, kc]));
            let g_rows = query_rows(grad);
            let p_text: Tensor<B, 3> = p_extra.reshape([batch, h * w, t]);
            let dp = g_rows.clone().matmul(v.swap_dims(1, 2));
            let mut ds = p_text.clone() * (dp - g_dot_out.reshape([batch, h * w, 1]));
            if let Some(mask) = mask {
                // s·m − 10000·(1 − m): the raw scores reach the softmax scaled by the mask.
                ds = ds * wrap::<B, 2>(mask).unsqueeze_dim(1);
            }
            let dq_rows = ds.clone().matmul(k);
            dq = dq + dq_rows.swap_dims(1, 2).reshape([batch, channels, h, w]);
            let dk = ds.swap_dims(1, 2).matmul(query_rows(q));
            let dv = p_text.swap_dims(1, 2).matmul(g_rows);
            (dk.reshape([kb, t, kc, 1]), dv.reshape([kb, t, kc, 1]))
        }
    };
    Ok([dq, d_extra_k, d_extra_v, d_local_k, d_local_v])
}

/// Whether a tensor takes part in the graph (needs a gradient).
fn tracked<B: Backend, C: CheckpointStrategy, const D: usize>(x: &Tensor<Ad<B, C>, D>) -> bool {
    x.clone().into_primitive().tensor().is_tracked()
}

/// The fused local attention under autodiff with the windowed backward pass; dense keys with a tracked bias or
/// mask (never the case in CogView2) and plain local attention go through the reference's autodiff.
pub(crate) fn local_attention_fused<B: LocalAttentionBackend, C: CheckpointStrategy>(
    q: Tensor<Ad<B, C>, 4>,
    extra: Option<ExtraKeys<Ad<B, C>>>,
    local: WindowKeys<Ad<B, C>>,
) -> Result<Tensor<Ad<B, C>, 4>> {
    // Shapes are checked by the inner forward pass below, before anything is recorded.
    let (extra_k, extra_v, kind, inner_extra) = match extra {
        Some(ExtraKeys::Window(cross)) => {
            let inner_extra = ExtraKeys::Window(WindowKeys { k: inner(&cross.k), v: inner(&cross.v), window: cross.window });
            (cross.k, cross.v, ExtraKind::Window(cross.window), inner_extra)
        }
        Some(ExtraKeys::Dense(text)) if !text.bias.as_ref().is_some_and(tracked) && !text.mask.as_ref().is_some_and(tracked) => {
            let inner_extra = ExtraKeys::Dense(DenseKeys {
                k: inner(&text.k),
                v: inner(&text.v),
                bias: text.bias.as_ref().map(inner),
                mask: text.mask.as_ref().map(inner),
            });
            let kind = ExtraKind::Dense(text.mask.as_ref().map(|m| raw(inner(m))));
            (text.k.unsqueeze_dim(3), text.v.unsqueeze_dim(3), kind, inner_extra)
        }
        other => return reference::local_attention_fused(q, other, local),
    };
    let local_window = local.window;
    let inner_local = WindowKeys { k: inner(&local.k), v: inner(&local.v), window: local_window };
    let (out, probs) = reference::fused_parts(&inner_ops::<B>(), inner(&q), Some(inner_extra), inner_local)?;

    let [q, extra_k, extra_v, local_k, local_v] = [q, extra_k, extra_v, local.k, local.v].map(|x| x.into_primitive().tensor());
    let nodes = [&q, &extra_k, &extra_v, &local_k, &local_v].map(|x| x.node.clone());
    let out = match FusedBackward.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let state = FusedState {
                q: q.primitive,
                extra_k: extra_k.primitive,
                extra_v: extra_v.primitive,
                local_k: local_k.primitive,
                local_v: local_v.primitive,
                probs: raw(probs),
                out: raw(out.clone()),
                extra: kind,
                local: local_window,
            };
            prep.finish(state, raw(out))
        }
        OpsKind::UnTracked(prep) => prep.finish(raw(out)),
    };
    Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
}
