//! The three convolution shapes enc_dec.py uses, held as `burn::nn::conv::Conv2d` modules (weights
//! `[out, in, kh, kw]` with bias, the PyTorch layout, so checkpoint tensors load unchanged), and run by [`forward`]:
//! 1×1 convs as one matmul and stride-1 3×3 convs as banded im2col + matmul.
//!
//! Why not `Conv2d::forward`: on the NdArray backend its direct convolution ran at 15–27 GFLOP/s where matmul
//! reaches ≈ 50; measured on this project's 2-core machines, im2col + matmul was 2× faster at 128 channels ×
//! 480², and 4–6× faster at 512 channels × 60²/120². The stride-2 down-sampling conv (encoder only) keeps
//! burn's path.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::backend::Backend;
use burn::tensor::ops::PadMode;
use burn::tensor::Tensor;

/// Floats of one im2col band (8 MB): small bands stayed in cache and measured fastest.
const IM2COL_BAND_FLOATS: usize = 2_000_000;

/// 3×3, stride 1, zero padding 1 (shape-preserving).
pub fn conv3x3<B: Backend>(channels_in: usize, channels_out: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([channels_in, channels_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// 1×1 (projections, attention q/k/v, `nin_shortcut`).
pub fn conv1x1<B: Backend>(channels_in: usize, channels_out: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([channels_in, channels_out], [1, 1]).init(device)
}

/// 3×3, stride 2, zero padding on the bottom and right only (`F.pad(x, (0, 1, 0, 1))` then `padding=0`):
/// a side of n becomes ⌊n/2⌋ for odd n too.
pub fn conv3x3_stride2<B: Backend>(channels: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([channels, channels], [3, 3])
        .with_stride([2, 2])
        // (top, left, bottom, right)
        .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
        .init(device)
}

/// Runs a conv built by this module: matmul paths for 1×1 and stride-1 3×3, burn's conv otherwise.
///
/// # Shapes
/// `x`: `[B, C_in, H, W]` → `[B, C_out, H', W']`.
pub fn forward<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    match (conv.kernel_size, conv.stride, conv.groups, conv.dilation) {
        ([1, 1], [1, 1], 1, _) => pointwise(conv, x),
        ([3, 3], [1, 1], 1, [1, 1]) if conv.padding == PaddingConfig2d::Explicit(1, 1, 1, 1) => im2col_3x3(conv, x),
        _ => conv.forward(x),
    }
}

fn add_bias<B: Backend>(conv: &Conv2d<B>, y: Tensor<B, 4>) -> Tensor<B, 4> {
    match &conv.bias {
        Some(bias) => {
            let c = y.dims()[1];
            y + bias.val().reshape([1, c, 1, 1])
        }
        None => y,
    }
}

/// `W[Cout, Cin] · x[B, Cin, H·W]`.
fn pointwise<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, cin, h, w] = x.dims();
    let cout = conv.weight.dims()[0];
    let weight = conv.weight.val().reshape([1, cout, cin]);
    add_bias(conv, weight.matmul(x.reshape([b, cin, h * w])).reshape([b, cout, h, w]))
}

/// Zero-pad by 1, then per band of rows: stack the 9 shifted views as `[B, 9·Cin, rows·W]` (tap-major, matching
/// the weight permuted to `[Cout, kh, kw, Cin]`) and multiply.
fn im2col_3x3<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, cin, h, w] = x.dims();
    let cout = conv.weight.dims()[0];
    let weight = conv.weight.val().permute([0, 2, 3, 1]).reshape([1, cout, 9 * cin]);
    let padded = x.pad((1, 1, 1, 1), PadMode::Constant(0.0));
    let band = (IM2COL_BAND_FLOATS / (9 * cin * w * b).max(1)).clamp(1, h);
    let mut outputs = Vec::with_capacity(h.div_ceil(band));
    for r0 in (0..h).step_by(band) {
        let rows = band.min(h - r0);
        let mut taps = Vec::with_capacity(9);
        for dy in 0..3 {
            for dx in 0..3 {
                let view = padded.clone().slice([0..b, 0..cin, r0 + dy..r0 + dy + rows, dx..dx + w]);
                taps.push(view.reshape([b, cin, rows * w]));
            }
        }
        let columns = Tensor::cat(taps, 1);
        outputs.push(weight.clone().matmul(columns).reshape([b, cout, rows, w]));
    }
    add_bias(conv, Tensor::cat(outputs, 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::Distribution;

    /// The matmul paths must equal burn's own convolution.
    #[test]
    fn matmul_paths_match_burn_conv() {
        let device = Default::default();
        // [1, 64, 100, 120]: bands of 28 rows, the last one partial; [2, 40, 19, 33]: one band, batch 2.
        for (shape, cout) in [([1, 64, 100, 120], 32), ([2, 40, 19, 33], 24)] {
            let x = Tensor::<NdArray, 4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            for conv in [conv3x3::<NdArray>(shape[1], cout, &device), conv1x1(shape[1], cout, &device)] {
                let diff: f32 = (forward(&conv, x.clone()) - conv.forward(x.clone())).abs().max().into_scalar();
                assert!(diff < 1e-4, "{shape:?}: max diff {diff}");
            }
        }
    }
}
