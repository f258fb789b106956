//! LayerNorm with the official parameter names (`weight`, `bias`) and optional PB-relax.

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::error::Result;
use crate::weights::SafetensorsWeights;

/// LayerNorm over the last dimension: `(x − mean) / sqrt(var + eps) · weight + bias` (biased variance).
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// Scale `γ`, `[hidden]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Shift `β`, `[hidden]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Variance epsilon.
    pub epsilon: f64,
    /// PB-relax α: when set, the input is first divided by `max|x| / α` (per row) and `eps` rescaled to match.
    pub pb_relax_alpha: Option<f64>,
}

impl<B: Backend> LayerNorm<B> {
    /// A LayerNorm with `weight = 1`, `bias = 0`.
    pub fn new(size: usize, epsilon: f64, pb_relax_alpha: Option<f64>, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([size], device)),
            bias: Param::from_tensor(Tensor::zeros([size], device)),
            epsilon,
            pb_relax_alpha,
        }
    }

    /// Takes `<prefix>.weight` and `<prefix>.bias`.
    pub fn load(
        weights: &mut SafetensorsWeights,
        prefix: &str,
        size: usize,
        epsilon: f64,
        pb_relax_alpha: Option<f64>,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            weight: Param::from_tensor(weights.take(&format!("{prefix}.weight"), [size], device)?),
            bias: Param::from_tensor(weights.take(&format!("{prefix}.bias"), [size], device)?),
            epsilon,
            pb_relax_alpha,
        })
    }

    /// # Shapes
    /// - input `[..., hidden]` → output of the same shape.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        layer_norm(x, self.weight.val(), self.bias.val(), self.epsilon, self.pb_relax_alpha)
    }
}

/// LayerNorm as a function, so it can be run in any dtype (the PB-relax tests run it in f16).
///
/// With `pb_relax_alpha = Some(α)` the input is divided by `max|x|/α` along the normalised dimension first. LN is
/// scale invariant up to `eps`, so this is an identity in exact arithmetic that keeps `x²` finite in f16. The max is
/// taken per row (SAT takes it over the whole tensor) so that a sample's output never depends on its batch mates.
pub fn layer_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    epsilon: f64,
    pb_relax_alpha: Option<f64>,
) -> Tensor<B, D> {
    let (var, mean, x, epsilon) = match pb_relax_alpha {
        Some(alpha) => {
            let scale = x.clone().abs().max_dim(D - 1).detach().div_scalar(alpha);
            // An all-zero row stays zero instead of becoming 0/0.
            let zero = scale.clone().equal_elem(0.0);
            let scale = scale.mask_fill(zero, 1.0);
            let x = x / scale.clone();
            let (var, mean) = x.clone().var_mean_bias(D - 1);
            // eps / scale² keeps the result exactly LN(x): (x−μ)/c / sqrt(var/c² + eps/c²).
            let epsilon = scale.powi_scalar(2).recip().mul_scalar(epsilon);
            (var, mean, x, epsilon)
        }
        None => {
            let (var, mean) = x.clone().var_mean_bias(D - 1);
            let epsilon = var.zeros_like().add_scalar(epsilon);
            (var, mean, x, epsilon)
        }
    };
    let denominator = (var + epsilon).sqrt();
    // Only a constant row in half precision (eps/c² underflowing) has a zero denominator; its numerator is 0 too.
    let zero = denominator.clone().equal_elem(0.0);
    let normed = (x - mean) / denominator.mask_fill(zero, 1.0);
    normed * weight.unsqueeze::<D>() + bias.unsqueeze::<D>()
}
