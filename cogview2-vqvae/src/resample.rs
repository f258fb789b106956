//! `Upsample`, `DownSample` and `ResidualDownSample` of ICE: icetk/vqvae/enc_dec.py (all with conv, as released).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;
use burn::tensor::Tensor;

use crate::conv::{self, conv3x3, conv3x3_stride2};

/// Nearest-neighbour ×2 (`F.interpolate(scale_factor=2, mode="nearest")`) then a 3×3 conv.
#[derive(Module, Debug)]
pub struct Upsample<B: Backend> {
    /// 3×3 conv after the upsampling.
    pub conv: Conv2d<B>,
}

impl<B: Backend> Upsample<B> {
    /// Randomly initialised upsampler over `channels`.
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self { conv: conv3x3(channels, channels, device) }
    }

    /// # Shapes
    /// `x`: `[B, C, H, W]` → `[B, C, 2H, 2W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        conv::forward(&self.conv, nearest_x2(x))
    }
}

/// Nearest ×2 as a broadcast copy: exact, and no float index arithmetic.
fn nearest_x2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1]).expand([b, c, h, 2, w, 2]).reshape([b, c, 2 * h, 2 * w])
}

/// Stride-2 3×3 conv with bottom/right zero padding (`DownSample(with_conv=True)`).
#[derive(Module, Debug)]
pub struct DownSample<B: Backend> {
    /// The stride-2 conv.
    pub conv: Conv2d<B>,
}

impl<B: Backend> DownSample<B> {
    /// Randomly initialised down-sampler over `channels`.
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self { conv: conv3x3_stride2(channels, device) }
    }

    /// # Shapes
    /// `x`: `[B, C, H, W]` → `[B, C, ⌊H/2⌋, ⌊W/2⌋]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        conv::forward(&self.conv, x)
    }
}

/// `avg_pool2x2(x) + DownSample_conv(x)`; the pooling branch (`pooling_down_sampler`) has no parameters.
#[derive(Module, Debug)]
pub struct ResidualDownSample<B: Backend> {
    /// The conv branch.
    pub conv_down_sampler: DownSample<B>,
}

impl<B: Backend> ResidualDownSample<B> {
    /// Randomly initialised residual down-sampler over `channels`.
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self { conv_down_sampler: DownSample::new(channels, device) }
    }

    /// # Shapes
    /// `x`: `[B, C, H, W]` → `[B, C, ⌊H/2⌋, ⌊W/2⌋]` (both branches floor odd sides).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let pooled = avg_pool2d(x.clone(), [2, 2], [2, 2], [0, 0], true, false);
        pooled + self.conv_down_sampler.forward(x)
    }
}
