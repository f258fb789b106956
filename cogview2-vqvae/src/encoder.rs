//! `Encoder` of ICE: icetk/vqvae/enc_dec.py: the shared trunk of the hierarchical VQ-VAE.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::attention::AttnBlock;
use crate::config::CoderParams;
use crate::conv::{self, conv3x3};
use crate::mid::Mid;
use crate::norm::{swish, GroupNorm};
use crate::resample::DownSample;
use crate::resnet::ResnetBlock;

/// One resolution level: `num_res_blocks` ResnetBlocks (each followed by an AttnBlock at attention
/// resolutions), then a stride-2 DownSample except on the last level.
#[derive(Module, Debug)]
pub struct DownLevel<B: Backend> {
    /// ResnetBlocks.
    pub block: Vec<ResnetBlock<B>>,
    /// AttnBlocks, one per ResnetBlock or none.
    pub attn: Vec<AttnBlock<B>>,
    /// Halves the resolution; absent on the last level.
    pub downsample: Option<DownSample<B>>,
}

/// `conv_in` → down levels → `mid` → `norm_out` → swish → `conv_out`.
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    /// 3×3, image channels → base channels.
    pub conv_in: Conv2d<B>,
    /// Resolution levels, finest first.
    pub down: Vec<DownLevel<B>>,
    /// Middle section.
    pub mid: Mid<B>,
    /// Final GroupNorm.
    pub norm_out: GroupNorm<B>,
    /// 3×3 to `z_channels`.
    pub conv_out: Conv2d<B>,
}

impl<B: Backend> Encoder<B> {
    /// Builds the module tree of `Encoder.__init__` (random weights); `p` must be validated.
    pub fn new(p: &CoderParams, device: &B::Device) -> Self {
        let levels = p.channels_mult.len();
        let mut resolution = p.resolution;
        let mut block_in = p.channels;
        let mut down = Vec::with_capacity(levels);
        for (i_level, mult) in p.channels_mult.iter().enumerate() {
            let block_out = p.channels * mult;
            let mut block = Vec::new();
            let mut attn = Vec::new();
            for _ in 0..p.num_res_blocks {
                block.push(ResnetBlock::new(block_in, block_out, p.norm_groups, device));
                block_in = block_out;
                if p.attn_resolutions.contains(&resolution) {
                    attn.push(AttnBlock::new(block_in, p.norm_groups, device));
                }
            }
            let downsample = (i_level + 1 != levels).then(|| DownSample::new(block_in, device));
            if downsample.is_some() {
                resolution /= 2;
            }
            down.push(DownLevel { block, attn, downsample });
        }
        Self {
            conv_in: conv3x3(p.in_channels, p.channels, device),
            down,
            mid: Mid::new(block_in, p.norm_groups, device),
            norm_out: GroupNorm::new(block_in, p.norm_groups, device),
            conv_out: conv3x3(block_in, p.z_channels, device),
        }
    }

    /// Pixels per output feature: 2^(levels − 1).
    pub fn stride(&self) -> usize {
        1 << self.down.len().saturating_sub(1)
    }

    /// # Shapes
    /// `x` (normalised image): `[B, 3, H, W]` → `[B, z_channels, H/stride, W/stride]` (sides floor at each level).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = conv::forward(&self.conv_in, x);
        for level in &self.down {
            for (i, block) in level.block.iter().enumerate() {
                h = block.forward(h);
                if let Some(attn) = level.attn.get(i) {
                    h = attn.forward(h);
                }
            }
            if let Some(downsample) = &level.downsample {
                h = downsample.forward(h);
            }
        }
        let h = self.mid.forward(h);
        conv::forward(&self.conv_out, swish(self.norm_out.forward(h)))
    }
}
