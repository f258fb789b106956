//! The public wrappers the models call: dispatch to the backend's kernel or reference.

use burn::tensor::{Bool, Int, Tensor};

use crate::backend::{LocalAttentionBackend, LoparBackend};
use crate::error::Result;
use crate::keys::{ExtraKeys, WindowKeys};
use crate::lopar::StepConfig;

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

/// One LoPAR sampling step on backend `B`; see [`crate::lopar::step`].
pub fn lopar_step<B: LoparBackend>(logits: Tensor<B, 3>, tokens: Tensor<B, 2, Int>, mask: Tensor<B, 1, Bool>, config: &StepConfig) -> Result<Tensor<B, 2, Int>> {
    B::lopar_step(logits, tokens, mask, config)
}
