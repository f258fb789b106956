//! The public wrappers the models call: dispatch to the backend's kernel or reference.

use burn::tensor::Tensor;

use crate::backend::LocalAttentionBackend;
use crate::error::Result;
use crate::keys::{ExtraKeys, WindowKeys};

/// Local scores (`f_similar`) on backend `B`; see [`crate::reference::local_similar`].
pub fn similar<B: LocalAttentionBackend>(q: Tensor<B, 4>, k: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<B, 4>> {
    B::local_similar(q, k, kh, kw, causal)
}

/// Local weighted sum (`f_weighting`) on backend `B`; see [`crate::reference::local_weighting`].
pub fn weighting<B: LocalAttentionBackend>(v: Tensor<B, 4>, weights: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<B, 4>> {
    B::local_weighting(v, weights, kh, kw, causal)
}

/// Fused local attention on backend `B`; see [`crate::reference::local_attention_fused`].
pub fn local_attention<B: LocalAttentionBackend>(q: Tensor<B, 4>, extra: Option<ExtraKeys<B>>, local: WindowKeys<B>) -> Result<Tensor<B, 4>> {
    B::local_attention_fused(q, extra, local)
}
