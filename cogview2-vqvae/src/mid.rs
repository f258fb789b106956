//! The middle section (`mid.block_1`, `mid.attn_1`, `mid.block_2`) shared by Encoder and Decoder in enc_dec.py.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::attention::AttnBlock;
use crate::resnet::ResnetBlock;

/// ResnetBlock → AttnBlock → ResnetBlock at constant width.
#[derive(Module, Debug)]
pub struct Mid<B: Backend> {
    /// First ResnetBlock.
    pub block_1: ResnetBlock<B>,
    /// Full self-attention.
    pub attn_1: AttnBlock<B>,
    /// Second ResnetBlock.
    pub block_2: ResnetBlock<B>,
}

impl<B: Backend> Mid<B> {
    /// Randomly initialised middle section over `channels`.
    pub fn new(channels: usize, norm_groups: usize, device: &B::Device) -> Self {
        Self {
            block_1: ResnetBlock::new(channels, channels, norm_groups, device),
            attn_1: AttnBlock::new(channels, norm_groups, device),
            block_2: ResnetBlock::new(channels, channels, norm_groups, device),
        }
    }

    /// # Shapes
    /// `x`: `[B, C, H, W]` → `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.block_2.forward(self.attn_1.forward(self.block_1.forward(x)))
    }
}
