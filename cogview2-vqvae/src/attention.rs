//! `AttnBlock` of ICE: icetk/vqvae/enc_dec.py: single-head self-attention over all H·W positions.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::conv::{self, conv1x1};
use crate::norm::GroupNorm;

/// `x + proj_out(v · softmax(qᵀk · C^-½)ᵀ)` with q, k, v 1×1 convs of `norm(x)`.
#[derive(Module, Debug)]
pub struct AttnBlock<B: Backend> {
    /// GroupNorm before the projections.
    pub norm: GroupNorm<B>,
    /// Query 1×1 conv.
    pub q: Conv2d<B>,
    /// Key 1×1 conv.
    pub k: Conv2d<B>,
    /// Value 1×1 conv.
    pub v: Conv2d<B>,
    /// Output 1×1 conv.
    pub proj_out: Conv2d<B>,
}

impl<B: Backend> AttnBlock<B> {
    /// Randomly initialised block over `channels`.
    pub fn new(channels: usize, norm_groups: usize, device: &B::Device) -> Self {
        Self {
            norm: GroupNorm::new(channels, norm_groups, device),
            q: conv1x1(channels, channels, device),
            k: conv1x1(channels, channels, device),
            v: conv1x1(channels, channels, device),
            proj_out: conv1x1(channels, channels, device),
        }
    }

    /// # Shapes
    /// `x`: `[B, C, H, W]` → `[B, C, H, W]`; memory grows with (H·W)².
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, c, h, w] = x.dims();
        let normed = self.norm.forward(x.clone());
        let q = conv::forward(&self.q, normed.clone()).reshape([b, c, h * w]).swap_dims(1, 2);
        let k = conv::forward(&self.k, normed.clone()).reshape([b, c, h * w]);
        let v = conv::forward(&self.v, normed).reshape([b, c, h * w]);
        // [B, HW(query), HW(key)], softmax over keys.
        let weights = softmax(q.matmul(k) * (c as f64).powf(-0.5), 2);
        let out = v.matmul(weights.swap_dims(1, 2)).reshape([b, c, h, w]);
        x + conv::forward(&self.proj_out, out)
    }
}
