//! The backend extension trait (burn's custom-kernel pattern): every method defaults to the plain burn-ops
//! reference; the CPU backends run the windowed parts as host loops (`host` module), the cubecl backends every
//! method as kernels (`cube` module, features `wgpu` / `cuda`).

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::{Autodiff, Flex, NdArray};
use burn::tensor::{backend::Backend, Bool, Int, Tensor};

use crate::error::Result;
use crate::keys::{ExtraKeys, WindowKeys};
use crate::lopar::{self, StepConfig};
use crate::{host, reference};

/// A backend that runs CogView2's local attention. See [`crate::reference`] for the shapes and semantics.
pub trait LocalAttentionBackend: Backend {
    /// `f_similar`: `q [B, C, H, W]`, `k [B or 1, C, h, w]` → scores `[B, H, W, P]`.
    fn local_similar(q: Tensor<Self, 4>, k: Tensor<Self, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<Self, 4>> {
        reference::local_similar(q, k, kh, kw, causal)
    }

    /// `f_weighting`: `v [B or 1, C, h, w]`, `weights [B, H, W, P]` → `[B, C, H, W]`.
    fn local_weighting(v: Tensor<Self, 4>, weights: Tensor<Self, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<Self, 4>> {
        reference::local_weighting(v, weights, kh, kw, causal)
    }

    /// The transpose of the windowed sums (their gradient in keys / values): `u [B, C, H, W]`, `coeff [B, H, W, P]`
    /// → `[Bk, C, h, w]` (`key_dims`).
    fn local_scatter(u: Tensor<Self, 4>, coeff: Tensor<Self, 4>, key_dims: [usize; 4], kh: usize, kw: usize, causal: bool) -> Result<Tensor<Self, 4>> {
        reference::local_scatter(u, coeff, key_dims, kh, kw, causal)
    }

    /// Scores over `[extra | local window]`, one softmax, weighted sum: `q [B, C, H, W]` → `[B, C, H, W]`.
    fn local_attention_fused(q: Tensor<Self, 4>, extra: Option<ExtraKeys<Self>>, local: WindowKeys<Self>) -> Result<Tensor<Self, 4>> {
        reference::local_attention_fused(q, extra, local)
    }
}

/// The CPU backends: the windowed scores and sums as host loops, the rest of the fused attention as burn ops.
macro_rules! host_local_attention {
    ($($backend:ty),*) => {$(
        impl LocalAttentionBackend for $backend {
            fn local_similar(q: Tensor<Self, 4>, k: Tensor<Self, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<Self, 4>> {
                host::similar(&reference::similar_geometry(&q, &k, kh, kw, causal)?, q, k)
            }

            fn local_weighting(v: Tensor<Self, 4>, weights: Tensor<Self, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<Self, 4>> {
                host::weighting(&reference::weighting_geometry(&v, &weights, kh, kw, causal)?, v, weights)
            }

            fn local_scatter(u: Tensor<Self, 4>, coeff: Tensor<Self, 4>, key_dims: [usize; 4], kh: usize, kw: usize, causal: bool) -> Result<Tensor<Self, 4>> {
                host::scatter(&reference::scatter_geometry(&u, &coeff, key_dims, kh, kw, causal)?, u, coeff)
            }

            fn local_attention_fused(q: Tensor<Self, 4>, extra: Option<ExtraKeys<Self>>, local: WindowKeys<Self>) -> Result<Tensor<Self, 4>> {
                reference::fused_with(&reference::WindowOps { similar: host::similar, weighting: host::weighting }, q, extra, local)
            }
        }
    )*};
}

host_local_attention!(NdArray, Flex);

/// Training: the fused attention has its own backward pass built from the inner backend's windowed operations
/// ([`crate::autodiff`]); the separate score and sum operations differentiate through the burn-ops reference.
impl<B: LocalAttentionBackend, C: CheckpointStrategy> LocalAttentionBackend for Autodiff<B, C> {
    fn local_attention_fused(q: Tensor<Self, 4>, extra: Option<ExtraKeys<Self>>, local: WindowKeys<Self>) -> Result<Tensor<Self, 4>> {
        crate::autodiff::local_attention_fused(q, extra, local)
    }
}

/// A backend that runs the LoPAR sampling step. See [`crate::lopar::step`].
pub trait LoparBackend: Backend {
    /// `logits [B, N, V]`, `tokens [B, N]`, `mask [N]` → tokens with the masked positions drawn.
    fn lopar_step(logits: Tensor<Self, 3>, tokens: Tensor<Self, 2, Int>, mask: Tensor<Self, 1, Bool>, config: &StepConfig) -> Result<Tensor<Self, 2, Int>> {
        lopar::step(logits, tokens, mask, config)
    }
}

impl LoparBackend for NdArray {}

impl LoparBackend for Flex {}
