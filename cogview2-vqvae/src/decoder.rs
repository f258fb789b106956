//! `Decoder` of ICE: icetk/vqvae/enc_dec.py: one per code level (`decs.0/1/2`).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::attention::AttnBlock;
use crate::config::CoderParams;
use crate::conv::{self, conv3x3};
use crate::mid::Mid;
use crate::norm::{swish, GroupNorm};
use crate::resample::Upsample;
use crate::resnet::ResnetBlock;

/// One resolution level: `num_res_blocks + 1` ResnetBlocks (each followed by an AttnBlock where the nominal
/// resolution is an attention resolution), then a nearest ×2 Upsample except on level 0.
#[derive(Module, Debug)]
pub struct UpLevel<B: Backend> {
    /// ResnetBlocks.
    pub block: Vec<ResnetBlock<B>>,
    /// AttnBlocks, one per ResnetBlock or none.
    pub attn: Vec<AttnBlock<B>>,
    /// Doubles the resolution; absent on level 0.
    pub upsample: Option<Upsample<B>>,
}

/// `conv_in` → `mid` → up levels (coarsest first) → `norm_out` → swish → `conv_out`.
#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    /// 3×3, `z_channels` → widest channels.
    pub conv_in: Conv2d<B>,
    /// Middle section.
    pub mid: Mid<B>,
    /// Levels indexed as in the checkpoint (`up.0` is the finest, run last).
    pub up: Vec<UpLevel<B>>,
    /// Final GroupNorm.
    pub norm_out: GroupNorm<B>,
    /// 3×3 to image channels.
    pub conv_out: Conv2d<B>,
}

impl<B: Backend> Decoder<B> {
    /// Builds the module tree of `Decoder.__init__` (random weights); `p` must be validated.
    pub fn new(p: &CoderParams, device: &B::Device) -> Self {
        let levels = p.channels_mult.len();
        let mut block_in = p.channels * p.channels_mult[levels - 1];
        let mut resolution = p.resolution >> (levels - 1);
        let conv_in = conv3x3(p.z_channels, block_in, device);
        let mid = Mid::new(block_in, p.norm_groups, device);
        // Built coarsest first (the order of the Python loop), stored finest first (its `insert(0, ..)`).
        let mut up = Vec::with_capacity(levels);
        for i_level in (0..levels).rev() {
            let block_out = p.channels * p.channels_mult[i_level];
            let mut block = Vec::new();
            let mut attn = Vec::new();
            for _ in 0..=p.num_res_blocks {
                block.push(ResnetBlock::new(block_in, block_out, p.norm_groups, device));
                block_in = block_out;
                if p.attn_resolutions.contains(&resolution) {
                    attn.push(AttnBlock::new(block_in, p.norm_groups, device));
                }
            }
            let upsample = (i_level != 0).then(|| Upsample::new(block_in, device));
            if upsample.is_some() {
                resolution *= 2;
            }
            up.push(UpLevel { block, attn, upsample });
        }
        up.reverse();
        Self {
            conv_in,
            mid,
            up,
            norm_out: GroupNorm::new(block_in, p.norm_groups, device),
            conv_out: conv3x3(block_in, p.out_channels, device),
        }
    }

    /// Pixels per input code along each side: 2^(levels − 1).
    pub fn upscale(&self) -> usize {
        1 << self.up.len().saturating_sub(1)
    }

    /// # Shapes
    /// `z`: `[B, z_channels, h, w]` → `[B, 3, h·upscale, w·upscale]` (normalised image space).
    pub fn forward(&self, z: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = self.mid.forward(conv::forward(&self.conv_in, z));
        for level in self.up.iter().rev() {
            for (i, block) in level.block.iter().enumerate() {
                h = block.forward(h);
                if let Some(attn) = level.attn.get(i) {
                    h = attn.forward(h);
                }
            }
            if let Some(upsample) = &level.upsample {
                h = upsample.forward(h);
            }
        }
        conv::forward(&self.conv_out, swish(self.norm_out.forward(h)))
    }
}
