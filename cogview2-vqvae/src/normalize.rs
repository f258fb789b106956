//! Per-channel normalisation of ICE: icetk/image_tokenizer.py (`transforms.Normalize` in, `·std + mean` out).

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// RGB mean of the training images.
pub const MEAN: [f32; 3] = [0.79093, 0.76271, 0.75340];
/// RGB standard deviation of the training images.
pub const STD: [f32; 3] = [0.30379, 0.32279, 0.32800];

fn per_channel<B: Backend>(values: [f32; 3], device: &B::Device) -> Tensor<B, 4> {
    Tensor::<B, 1>::from_floats(values, device).reshape([1, 3, 1, 1])
}

/// `(x − mean) / std` per channel.
///
/// # Shapes
/// `x` (RGB in [0, 1]): `[B, 3, H, W]` → `[B, 3, H, W]`.
pub fn normalize<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let device = x.device();
    (x - per_channel(MEAN, &device)) / per_channel(STD, &device)
}

/// `x · std + mean` per channel; not clamped (as icetk's decode).
///
/// # Shapes
/// `x`: `[B, 3, H, W]` → `[B, 3, H, W]`.
pub fn denormalize<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let device = x.device();
    x * per_channel(STD, &device) + per_channel(MEAN, &device)
}
