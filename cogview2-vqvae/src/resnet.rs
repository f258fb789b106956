//! `ResnetBlock` of ICE: icetk/vqvae/enc_dec.py (dropout 0, no conv shortcut).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::conv::{self, conv1x1, conv3x3};
use crate::norm::{swish, GroupNorm};

/// `h = conv2(swish(norm2(conv1(swish(norm1(x)))))); out = shortcut(x) + h`.
#[derive(Module, Debug)]
pub struct ResnetBlock<B: Backend> {
    /// GroupNorm over the input channels.
    pub norm1: GroupNorm<B>,
    /// 3×3, in → out.
    pub conv1: Conv2d<B>,
    /// GroupNorm over the output channels.
    pub norm2: GroupNorm<B>,
    /// 3×3, out → out.
    pub conv2: Conv2d<B>,
    /// 1×1 projection of the skip path, present only when in ≠ out.
    pub nin_shortcut: Option<Conv2d<B>>,
}

impl<B: Backend> ResnetBlock<B> {
    /// Randomly initialised block (weights are replaced when a checkpoint is loaded).
    pub fn new(channels_in: usize, channels_out: usize, norm_groups: usize, device: &B::Device) -> Self {
        Self {
            norm1: GroupNorm::new(channels_in, norm_groups, device),
            conv1: conv3x3(channels_in, channels_out, device),
            norm2: GroupNorm::new(channels_out, norm_groups, device),
            conv2: conv3x3(channels_out, channels_out, device),
            nin_shortcut: (channels_in != channels_out).then(|| conv1x1(channels_in, channels_out, device)),
        }
    }

    /// # Shapes
    /// `x`: `[B, C_in, H, W]` → `[B, C_out, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let h = conv::forward(&self.conv1, swish(self.norm1.forward(x.clone())));
        let h = conv::forward(&self.conv2, swish(self.norm2.forward(h)));
        let skip = match &self.nin_shortcut {
            Some(shortcut) => conv::forward(shortcut, x),
            None => x,
        };
        skip + h
    }
}
